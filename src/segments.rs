//! SMS segment counting after 3GPP TS 23.038, so a caller sees what a text costs
//! before sending it.

/// The encoding a text needs on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The size of a text in its encoding's units and in segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub characters: u32,
    pub segments: u32,
}

/// The GSM 03.38 default alphabet, one septet each (the escape code itself excluded).
/// One line per 32-entry row of the table; the space that opens the second row ends
/// the first line, since a line continuation drops leading whitespace.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ \
                          !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§\
                          ¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: an escape septet plus one, so two septets each.
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

const GSM7_SINGLE: u32 = 160;
const GSM7_MULTI: u32 = 153;
const UCS2_SINGLE: u32 = 70;
const UCS2_MULTI: u32 = 67;

/// Counts `text`; an empty text takes no segment.
pub fn count(text: &str) -> Segments {
    match gsm7_units(text) {
        Some(units) => pack(Encoding::Gsm7, &units, GSM7_SINGLE, GSM7_MULTI),
        None => {
            let units: Vec<u32> = text.chars().map(|c| c.len_utf16() as u32).collect();
            pack(Encoding::Ucs2, &units, UCS2_SINGLE, UCS2_MULTI)
        }
    }
}

/// The septets each character takes, or `None` when one is outside GSM-7.
fn gsm7_units(text: &str) -> Option<Vec<u32>> {
    text.chars()
        .map(|c| match ASCII_SEPTETS.get(c as usize) {
            Some(0) => None,
            Some(&septets) => Some(u32::from(septets)),
            // `chars().any` rather than `contains`: for a non-ASCII char, `contains`
            // searches for its UTF-8 as a substring, which costs the component 4 KB of
            // string-search code that nothing else needs.
            None if GSM7_BASIC.chars().any(|g| g == c) => Some(1),
            None if GSM7_EXTENSION.chars().any(|g| g == c) => Some(2),
            None => None,
        })
        .collect()
}

/// The septets of each ASCII character (0 when outside GSM-7), derived from the tables
/// above when compiling. Most texts are ASCII, and searching the tables char by char
/// for each of their characters made `preview-message` spend half its time here.
const ASCII_SEPTETS: [u8; 128] = mark(mark([0; 128], GSM7_BASIC, 1), GSM7_EXTENSION, 2);

/// `septets` with each ASCII character of `table` set to `value`. A UTF-8 byte below
/// 0x80 is always a whole character, so the ASCII entries can be picked out byte by byte.
const fn mark(mut septets: [u8; 128], table: &str, value: u8) -> [u8; 128] {
    let bytes = table.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            septets[bytes[i] as usize] = value;
        }
        i += 1;
    }
    septets
}

/// Packs characters into segments without splitting one across two, as phones do: an
/// escape pair or a surrogate pair never straddles a segment boundary, which can make
/// a split text one segment longer than a plain division says.
fn pack(encoding: Encoding, units: &[u32], single: u32, multi: u32) -> Segments {
    let characters: u32 = units.iter().sum();
    let segments = if characters == 0 {
        0
    } else if characters <= single {
        1
    } else {
        let mut segments = 1;
        let mut used = 0;
        for &unit in units {
            if used + unit > multi {
                segments += 1;
                used = 0;
            }
            used += unit;
        }
        segments
    };
    Segments {
        encoding,
        characters,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_basic_table_has_its_127_entries_each_once_the_space_included() {
        let entries: Vec<char> = GSM7_BASIC.chars().collect();
        assert_eq!(entries.len(), 127);
        let mut unique = entries.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 127);
        assert_eq!(entries[31..33], [' ', '!']);
    }

    #[test]
    fn the_ascii_shortcut_agrees_with_the_tables_for_every_ascii_character() {
        for byte in 0u8..128 {
            let c = char::from(byte);
            let expected = if GSM7_BASIC.contains(c) {
                1
            } else if GSM7_EXTENSION.contains(c) {
                2
            } else {
                0
            };
            assert_eq!(ASCII_SEPTETS[usize::from(byte)], expected, "{c:?}");
        }
        let septets = |c: char| ASCII_SEPTETS[c as usize];
        assert_eq!(
            [septets('A'), septets('@'), septets('\n'), septets('[')],
            [1, 1, 1, 2]
        );
        assert_eq!([septets('`'), septets('\t'), septets('\0')], [0, 0, 0]);
    }

    fn check(text: &str, encoding: Encoding, characters: u32, segments: u32) {
        assert_eq!(
            count(text),
            Segments {
                encoding,
                characters,
                segments
            },
            "{text:?}"
        );
    }

    #[test]
    fn plain_text_fits_160_septets_in_one_segment() {
        check("", Encoding::Gsm7, 0, 0);
        check("Hello", Encoding::Gsm7, 5, 1);
        check(&"a".repeat(160), Encoding::Gsm7, 160, 1);
        check(&"a".repeat(161), Encoding::Gsm7, 161, 2);
        check(&"a".repeat(306), Encoding::Gsm7, 306, 2);
        check(&"a".repeat(307), Encoding::Gsm7, 307, 3);
    }

    #[test]
    fn extension_characters_take_two_septets() {
        check("€", Encoding::Gsm7, 2, 1);
        check("[]{}^~|\\\u{c}", Encoding::Gsm7, 18, 1);
        check(&"€".repeat(80), Encoding::Gsm7, 160, 1);
        check(&"€".repeat(81), Encoding::Gsm7, 162, 2);
    }

    #[test]
    fn an_escape_pair_is_never_split_across_segments() {
        // 152 septets, then a two-septet character that cannot fit in the 153rd slot.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        check(&text, Encoding::Gsm7, 164, 2);
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        check(&text, Encoding::Gsm7, 306, 3);
    }

    #[test]
    fn one_emoji_makes_the_whole_text_ucs2() {
        check("Hi 👋", Encoding::Ucs2, 5, 1);
        check(&format!("{}👋", "a".repeat(68)), Encoding::Ucs2, 70, 1);
        check(&format!("{}👋", "a".repeat(69)), Encoding::Ucs2, 71, 2);
        check(&"é".repeat(10), Encoding::Gsm7, 10, 1);
        check(&"ê".repeat(70), Encoding::Ucs2, 70, 1);
        check(&"ê".repeat(134), Encoding::Ucs2, 134, 2);
        check(&"ê".repeat(135), Encoding::Ucs2, 135, 3);
    }

    #[test]
    fn a_tab_is_not_gsm7() {
        check("a\tb", Encoding::Ucs2, 3, 1);
    }
}
