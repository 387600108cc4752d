//! Showing strings that came from elsewhere (the daemon, the SSO portal, an identity provider)
//! on a terminal: control characters are escaped, so a hostile portal cannot move the cursor,
//! rewrite what was printed before, set the window title or fake a line of output.

use std::fmt::Write as _;

/// `s` with every control character (C0, DEL, C1) and every bidirectional-override character
/// written as an escape (`\n`, `\t`, `\x1b`, `\u{202e}`), and everything else as it is.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `s` holds anything [`escape_controls`] would escape.
pub fn has_controls(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || is_bidi_control(c))
}

/// The characters that reorder how text is shown (Trojan Source, CVE-2021-42574).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        for s in [
            "https://device.sso.us-east-1.amazonaws.com/?user_code=ABCD-EFGH",
            "dev.ReadOnly",
            "Compte de développement — équipe",
            "",
        ] {
            assert_eq!(escape_controls(s), s);
            assert!(!has_controls(s));
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_controls("ok\x1b[2J\x1b]0;pwned\x07\n[profile zz]\r\t\x7f"),
            "ok\\x1b[2J\\x1b]0;pwned\\x07\\n[profile zz]\\r\\t\\x7f"
        );
        assert_eq!(escape_controls("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(escape_controls("\0"), "\\x00");
        assert!(has_controls("x\x1b"));
    }

    #[test]
    fn bidi_overrides_are_escaped() {
        assert_eq!(escape_controls("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape_controls("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert!(has_controls("\u{200f}"));
    }

    #[test]
    fn the_output_has_no_control_characters_left() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let e = escape_controls(&all);
        assert!(!has_controls(&e), "{e:?}");
    }
}
