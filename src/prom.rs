//! Prometheus text exposition format (version 0.0.4): what must be escaped in it.

/// `value` escaped for use between the double quotes of a label value: backslash, double
/// quote and line feed become `\\`, `\"` and `\n`, as the text format requires; everything
/// else (any UTF-8) stays as it is. Label values that come from configuration (upstream names
/// from a policy file) go through this, so no name can end a label, a line or a series.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escaped_per_the_text_format() {
        assert_eq!(
            escape_label_value("9.9.9.9:853#dns.quad9.net"),
            "9.9.9.9:853#dns.quad9.net"
        );
        assert_eq!(escape_label_value(r"a\b"), r"a\\b");
        assert_eq!(escape_label_value(r#"a"b"#), r#"a\"b"#);
        assert_eq!(escape_label_value("a\nb"), r"a\nb");
        assert_eq!(
            escape_label_value("x\"} 1\nevil{a=\"\\"),
            r#"x\"} 1\nevil{a=\"\\"#
        );
        // Only those three: other control characters and non-ASCII pass unchanged.
        assert_eq!(escape_label_value("tab\tcr\ré"), "tab\tcr\ré");
        assert_eq!(escape_label_value(""), "");
    }
}
