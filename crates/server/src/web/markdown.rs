//! Just enough Markdown for a module's README: headings, paragraphs, fenced code, lists,
//! block quotes, rules, and inline code, emphasis and links. Every piece of text is escaped;
//! raw HTML in the source stays visible text, and only `http(s)` links become links. What
//! this does not understand is shown as the text it is, which is still readable.

use super::html::{w, Esc};

/// The HTML for `source`. Headings start at `<h3>`: the README sits under the page's `<h2>`.
pub fn render(source: &str) -> String {
    let mut out = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Option<&str> = None;
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let item = list_item(trimmed);
        if list.is_some() && item.is_none_or(|(tag, _)| Some(tag) != list) {
            w!(&mut out, "</{}>", list.take().unwrap_or("ul"));
        }
        if trimmed.is_empty() || item.is_some() || block_start(trimmed) {
            flush(&mut out, &mut paragraph);
        }
        if let Some(fence) = trimmed.strip_prefix("```") {
            let language = fence.trim();
            let class =
                if language.is_empty() { String::new() } else { format!(" class=\"language-{}\"", Esc(language)) };
            w!(&mut out, "<pre><code{class}>");
            for code in lines.by_ref() {
                if code.trim_start().starts_with("```") {
                    break;
                }
                w!(&mut out, "{}\n", Esc(code));
            }
            out.push_str("</code></pre>");
        } else if let Some((level, text)) = heading(trimmed) {
            let level = (level + 2).min(6);
            w!(&mut out, "<h{level}>{}</h{level}>", inline(text));
        } else if let Some((tag, text)) = item {
            if list.is_none() {
                w!(&mut out, "<{tag}>");
                list = Some(tag);
            }
            w!(&mut out, "<li>{}</li>", inline(text));
        } else if let Some(quote) = trimmed.strip_prefix('>') {
            w!(&mut out, "<blockquote><p>{}</p></blockquote>", inline(quote.trim()));
        } else if is_rule(trimmed) {
            out.push_str("<hr>");
        } else if !trimmed.is_empty() {
            paragraph.push(trimmed);
        }
    }
    flush(&mut out, &mut paragraph);
    if let Some(tag) = list {
        w!(&mut out, "</{tag}>");
    }
    out
}

fn flush(out: &mut String, paragraph: &mut Vec<&str>) {
    if !paragraph.is_empty() {
        w!(out, "<p>{}</p>", inline(&paragraph.join(" ")));
        paragraph.clear();
    }
}

fn block_start(line: &str) -> bool {
    line.starts_with("```") || heading(line).is_some() || line.starts_with('>') || is_rule(line)
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' '))).then(|| (level, rest.trim()))
}

fn is_rule(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 3 && (line.chars().all(|c| c == '-') || line.chars().all(|c| c == '*'))
}

/// `("ul", text)` for `- text`, `* text`, `+ text`; `("ol", text)` for `1. text`.
fn list_item(line: &str) -> Option<(&'static str, &str)> {
    for bullet in ["- ", "* ", "+ "] {
        if let Some(text) = line.strip_prefix(bullet) {
            return Some(("ul", text));
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = &line[digits..];
    (digits > 0 && digits < 10).then(|| rest.strip_prefix(". ")).flatten().map(|text| ("ol", text))
}

/// Farthest (in bytes) an inline span may close after it opens. Each opening `[`, `` ` ``, `*`
/// or `_` looks ahead for its close: without a bound, a README of 64 KiB of `[` cost billions
/// of steps on every view of its page. Real links and emphasis close well within this.
const MAX_SPAN: usize = 2048;

/// The first `MAX_SPAN` bytes of `text`, cut at a character boundary.
fn span_window(text: &str) -> &str {
    let mut end = text.len().min(MAX_SPAN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Inline code, links, strong and emphasis; everything else escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(['`', '[', '*', '_']) {
        out.push_str(&Esc(&rest[..at]).to_string());
        // `_` inside a word (snake_case) is not emphasis.
        let in_word = rest[..at].chars().next_back().is_some_and(char::is_alphanumeric);
        let tail = &rest[at..];
        let window = span_window(tail);
        if let Some((html, used)) = code(window).or_else(|| link(window)).or_else(|| emphasis(window, in_word)) {
            out.push_str(&html);
            rest = &tail[used..];
        } else {
            out.push_str(&Esc(&tail[..1]).to_string());
            rest = &tail[1..];
        }
    }
    out.push_str(&Esc(rest).to_string());
    out
}

fn code(tail: &str) -> Option<(String, usize)> {
    let body = tail.strip_prefix('`')?;
    let end = body.find('`')?;
    Some((format!("<code>{}</code>", Esc(&body[..end])), end + 2))
}

fn link(tail: &str) -> Option<(String, usize)> {
    let body = tail.strip_prefix('[')?;
    let close = body.find("](")?;
    let url_start = close + 2;
    let url_len = body[url_start..].find(')')?;
    let (label, url) = (&body[..close], body[url_start..url_start + url_len].trim());
    let used = 1 + url_start + url_len + 1;
    if url.starts_with("https://") || url.starts_with("http://") {
        Some((format!("<a href=\"{}\" rel=\"nofollow noopener\">{}</a>", Esc(url), inline(label)), used))
    } else {
        // Anything else (`javascript:`, `data:`, relative paths) stays text.
        Some((format!("{} ({})", inline(label), Esc(url)), used))
    }
}

fn emphasis(tail: &str, in_word: bool) -> Option<(String, usize)> {
    for (marker, tag) in [("**", "strong"), ("__", "strong"), ("*", "em"), ("_", "em")] {
        let Some(body) = tail.strip_prefix(marker) else { continue };
        if in_word && marker.starts_with('_') {
            continue;
        }
        if body.starts_with(' ') {
            continue;
        }
        if let Some(end) = body.find(marker).filter(|end| *end > 0 && !body[..*end].ends_with(' ')) {
            return Some((format!("<{tag}>{}</{tag}>", inline(&body[..end])), marker.len() * 2 + end));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::render;
    use proptest::prelude::*;

    proptest! {
        /// Whatever was pushed, no element comes through except those the renderer writes,
        /// and no link other than http(s).
        #[test]
        fn never_panics_or_lets_markup_through(source in "[#*_`\\[\\]()<>\"'&a-zé:/. \n1-]{0,300}") {
            let html = render(&source);
            let allowed = ["h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "pre", "code", "blockquote", "hr", "strong", "em", "a"];
            for tag in html.split('<').skip(1) {
                let name: String = tag.trim_start_matches('/').chars().take_while(char::is_ascii_alphanumeric).collect();
                prop_assert!(allowed.contains(&name.as_str()), "<{} in {}", name, html);
            }
            for href in html.split("href=\"").skip(1) {
                prop_assert!(href.starts_with("http://") || href.starts_with("https://"), "{}", html);
            }
        }
    }

    #[test]
    fn renders_the_common_blocks() {
        let html = render("# Add header\n\nAdds `x-hello` to **every** request.\nSee [docs](https://example.com).\n\n- one\n- two\n\n1. first\n\n```yaml\nkey: <v>\n```\n---\n> note");
        assert_eq!(
            html,
            "<h3>Add header</h3><p>Adds <code>x-hello</code> to <strong>every</strong> request. See \
             <a href=\"https://example.com\" rel=\"nofollow noopener\">docs</a>.</p><ul><li>one</li><li>two</li></ul>\
             <ol><li>first</li></ol><pre><code class=\"language-yaml\">key: &lt;v&gt;\n</code></pre><hr>\
             <blockquote><p>note</p></blockquote>"
        );
    }

    #[test]
    fn spans_close_within_a_bounded_distance_or_stay_text() {
        let near = format!("[a](https://x/{})", "p".repeat(100));
        assert!(render(&near).contains("<a href="), "a link of ordinary length is one");
        let far = format!("[a](https://x/{})", "p".repeat(super::MAX_SPAN));
        assert!(!render(&far).contains("<a href="), "one that closes too far away stays text");
        let brackets = "[".repeat(64 * 1024);
        assert_eq!(render(&brackets), format!("<p>{brackets}</p>"), "a page of openers renders as text");
    }

    #[test]
    fn markup_and_script_links_stay_text() {
        let html = render("<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=y>");
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("href=\"javascript"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(render("[a](https://x\" onmouseover=\"y)").contains("href=\"https://x&quot; onmouseover=&quot;y\""));
    }

    #[test]
    fn unmatched_markers_are_literal() {
        assert_eq!(render("2 * 3 = 6_ and `open"), "<p>2 * 3 = 6_ and `open</p>");
        assert_eq!(render("snake_case_name and _this_"), "<p>snake_case_name and <em>this</em></p>");
    }
}
