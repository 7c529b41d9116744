//! The Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE` lines, then
//! one `name{label="value",...} value` line per sample.

use std::fmt::Write;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    // In HELP text only backslash and newline are escaped.
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub(crate) fn sample<'a>(
    out: &mut String,
    name: &str,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    extra: Option<(&str, &str)>,
    value: &str,
) {
    out.push_str(name);
    let mut first = true;
    let mut pair = |out: &mut String, label: &str, text: &str| {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(label);
        out.push_str("=\"");
        escape_label_value(out, text);
        out.push('"');
    };
    for (label, text) in labels {
        pair(out, label, text);
    }
    if let Some((label, text)) = extra {
        pair(out, label, text);
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// Label values escape backslash, double quote and newline.
fn escape_label_value(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Floats as Prometheus reads them (`+Inf`, `-Inf`, `NaN`; Rust's shortest round-trip
/// formatting otherwise, which Go's `ParseFloat` accepts).
pub(crate) fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values_and_help() {
        let mut out = String::new();
        header(&mut out, "m", "a \\ b\nc", "counter");
        sample(&mut out, "m", [("repository", "a\"b\\c\nd")].into_iter(), Some(("le", "0.5")), "1");
        assert_eq!(out, "# HELP m a \\\\ b\\nc\n# TYPE m counter\nm{repository=\"a\\\"b\\\\c\\nd\",le=\"0.5\"} 1\n");
    }

    #[test]
    fn formats_floats_for_prometheus() {
        assert_eq!(float(0.005), "0.005");
        assert_eq!(float(1.0), "1");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NAN), "NaN");
    }

    #[test]
    fn labelless_samples_have_no_braces() {
        let mut out = String::new();
        sample(&mut out, "m", std::iter::empty(), None, "3");
        assert_eq!(out, "m 3\n");
    }
}
