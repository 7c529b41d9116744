// Progressive enhancement only: every page works and reads the same without this file.
// 1. Copy buttons (hidden in the HTML) copy the snippet they point at.
// 2. Export and import lists get a filter box that hides names not containing the text.
// 3. On /search, the text box updates the results as you type (the same GET URL the form
//    would load, fetched and swapped in; the address bar follows, so it stays shareable).
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });

  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("data-filter"));
    var count = document.querySelector("[data-filter-count='" + input.getAttribute("data-filter") + "']");
    if (!list) return;
    var items = Array.prototype.slice.call(list.children);
    input.closest(".filter").hidden = false;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      var shown = 0;
      items.forEach(function (item) {
        var match = !needle || item.textContent.toLowerCase().indexOf(needle) !== -1;
        item.hidden = !match;
        if (match) shown += 1;
      });
      if (count) count.textContent = needle ? shown + " of " + items.length + " shown" : "";
    });
  });

  var form = document.querySelector("form.filters");
  var results = document.getElementById("results");
  var text = document.getElementById("f-q");
  if (form && results && text && window.fetch && window.DOMParser && window.URLSearchParams) {
    var timer = null;
    var latest = 0;
    text.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var params = new URLSearchParams(new FormData(form));
        Array.from(params.keys()).forEach(function (key) {
          if (!params.get(key)) params.delete(key);
        });
        var url = "/search" + (params.toString() ? "?" + params.toString() : "");
        var ticket = ++latest;
        fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) {
            if (html === null || ticket !== latest) return;
            var page = new DOMParser().parseFromString(html, "text/html");
            ["results", "found", "heading"].forEach(function (id) {
              var fresh = page.getElementById(id);
              var old = document.getElementById(id);
              if (fresh && old) old.replaceWith(document.importNode(fresh, true));
            });
            document.querySelectorAll("aside .facets").forEach(function (old, i) {
              var fresh = page.querySelectorAll("aside .facets")[i];
              if (fresh) old.replaceWith(document.importNode(fresh, true));
            });
            history.replaceState(null, "", url);
          })
          .catch(function () { /* the form still works: submitting reloads the page */ });
      }, 250);
    });
  }
})();
