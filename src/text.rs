//! Small text helpers, written out because their `core` counterparts are large in the
//! component: `str`'s substring search (two-way) is about 4 KB, and `str`'s `Debug`
//! brings Unicode printability tables.

use core::fmt::Write as _;

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `text` split around the first `separator`, as [`str::split_once`].
pub fn split_once<'a>(text: &'a str, separator: &str) -> Option<(&'a str, &'a str)> {
    // A match of one UTF-8 string in another starts and ends on character boundaries.
    let at = find(text.as_bytes(), separator.as_bytes())?;
    Some((&text[..at], &text[at + separator.len()..]))
}

/// `text` with every `needle` replaced by `with`, as [`str::replace`]; `None` when it
/// has none.
pub fn replace(text: &str, needle: &str, with: &str) -> Option<String> {
    let mut at = find(text.as_bytes(), needle.as_bytes())?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[at + needle.len()..];
        match find(rest.as_bytes(), needle.as_bytes()) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.push_str(rest);
    Some(out)
}

/// `text` in double quotes for an error message: `"`, `\`, tab, CR, LF and NUL escaped
/// as `Debug` escapes them, and every other character outside printable ASCII as
/// `\u{…}`, so that an invisible or look-alike character in a refused value is shown
/// for what it is. (`Debug` shows printable non-ASCII as is, but needs Unicode tables
/// to tell which is which.)
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => out.push_str("\\0"),
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_are_found_split_and_replaced_as_str_does() {
        for (text, needle) in [
            ("a://b://c", "://"),
            ("", "x"),
            ("abc", "abc"),
            ("aaaa", "aa"),
            ("é€😀é", "😀"),
            ("key-123 and key-123", "key-123"),
            ("short", "longer than short"),
        ] {
            assert_eq!(find(text.as_bytes(), needle.as_bytes()), text.find(needle));
            assert_eq!(split_once(text, needle), text.split_once(needle));
            let replaced = text.contains(needle).then(|| text.replace(needle, "[r]"));
            assert_eq!(replace(text, needle, "[r]"), replaced);
        }
        assert_eq!(find(b"abc", b""), Some(0));
    }

    #[test]
    fn quoting_matches_debug_for_ascii_and_spells_out_everything_else() {
        let ascii: String = (' '..='~').chain(['\t', '\r', '\n', '\0']).collect();
        assert_eq!(quoted(&ascii), format!("{ascii:?}"));
        assert_eq!(quoted("30\u{7}"), "\"30\\u{7}\"");
        assert_eq!(quoted("\u{ff13}\u{ff10}"), "\"\\u{ff13}\\u{ff10}\"");
        assert_eq!(
            quoted("caf\u{e9} \u{200b}\u{1f600}"),
            "\"caf\\u{e9} \\u{200b}\\u{1f600}\""
        );
    }
}
