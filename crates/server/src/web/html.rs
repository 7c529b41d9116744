//! The smallest HTML toolkit that keeps pages safe: `Esc` escapes every interpolated value
//! (names, tags, annotations and descriptions are written by whoever pushed), `w!` appends
//! formatted text to a page, and `layout` fills `web/templates/layout.html` in one pass.

use std::fmt::{self, Display, Write as _};

/// The page shell, and the assets built into the binary (no build step besides `cargo`).
const LAYOUT: &str = include_str!("../../../../web/templates/layout.html");
pub const STYLE: &str = include_str!("../../../../web/static/style.css");
pub const APP_JS: &str = include_str!("../../../../web/static/app.js");

/// Appends formatted text to a `String` (writing to a `String` cannot fail).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = ::std::fmt::Write::write_fmt($out, format_args!($($arg)*));
    }};
}
pub(crate) use w;

/// Text made safe for HTML element content and quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// The whole document around `main` (already-escaped HTML). `title` and `q` are plain text.
pub fn layout(title: &str, q: &str, main: &str, account: &super::Account) -> String {
    let mut out = String::with_capacity(LAYOUT.len() + STYLE.len() + main.len());
    let mut rest = LAYOUT;
    // One pass over the template: substituted text is never scanned again, so a value that
    // happens to contain `{{main}}` stays literal text.
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else { break };
        match &rest[start + 2..start + len] {
            "title" => w!(&mut out, "{}", Esc(title)),
            "q" => w!(&mut out, "{}", Esc(q)),
            "style" => out.push_str(STYLE),
            "main" => out.push_str(main),
            "account" => account_links(&mut out, account),
            other => unreachable!("layout.html names an unknown slot {other}"),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The header's account corner: who is signed in, with settings and sign-out; or a link to
/// sign in. Sign-out is a POST form (a link could be followed by a prefetching crawler).
fn account_links(out: &mut String, account: &super::Account) {
    match account {
        super::Account::Hidden => {}
        super::Account::Anonymous => out.push_str("<a class=\"account\" href=\"/login\">Sign in</a>"),
        super::Account::User(name) => w!(
            out,
            "<span class=\"account\">Signed in as <a href=\"/namespaces/{n}\">{n}</a> · <a href=\"/settings\">Settings</a> \
             <form action=\"/logout\" method=\"post\"><button type=\"submit\">Sign out</button></form></span>",
            n = Esc(name)
        ),
    }
}

/// A query string built from `pairs`, empty values dropped (for shareable, minimal URLs).
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if !value.is_empty() {
            serializer.append_pair(key, value);
        }
    }
    serializer.finish()
}

/// Bytes for people: `1.5 KiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Unix milliseconds as `2024-05-01 12:00 UTC`.
pub fn time(millis: i64) -> String {
    let t = crate::time::civil(millis);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year, t.month, t.day, t.hour, t.minute)
}

/// A `<time>` element for `millis`.
pub fn time_element(out: &mut String, millis: i64) {
    let text = time(millis);
    let _ =
        write!(out, "<time datetime=\"{}\">{}</time>", Esc(&text.replace(" UTC", "Z").replace(' ', "T")), Esc(&text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_markup_character() {
        assert_eq!(
            Esc("<script>alert('x')&\"</script>").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
        );
        assert_eq!(Esc("plain").to_string(), "plain");
    }

    #[test]
    fn layout_never_rescans_substituted_values() {
        let page = layout("{{main}}", "<q>", "<p>body</p>", &crate::web::Account::User("<b>".into()));
        assert!(page.contains("Signed in as <a href=\"/namespaces/&lt;b&gt;\">&lt;b&gt;</a>"), "{page}");
        assert!(page.contains("<title>{{main}} · wasmhub</title>"), "{page}");
        assert!(page.contains("value=\"&lt;q&gt;\""));
        assert_eq!(page.matches("<p>body</p>").count(), 1);
    }

    #[test]
    fn formats_sizes_times_and_queries() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(time(1_714_564_800_123), "2024-05-01 12:00 UTC");
        assert_eq!(query_string([("q", "a b"), ("type", ""), ("abi", "0.2.1")]), "q=a+b&abi=0.2.1");
    }
}
