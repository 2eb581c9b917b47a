//! The little JSON the component speaks: it writes a few fixed shapes and reads the
//! message, Heymarket's answers and nothing else.
//!
//! Hand-written rather than serde_json because serde_json, serde and the float
//! formatting their error texts pull in were a fifth of the `.wasm`; the shapes here
//! never hold a float, so neither does this module.
//!
//! Writing escapes exactly as serde_json did (`"`, `\`, and the C0 controls: `\b`,
//! `\t`, `\n`, `\f`, `\r` in short form, the others as lowercase `\u00xx`; everything
//! else, non-ASCII included, as is), so that bodies are byte for byte what they were.
//!
//! Reading is a pull parser over the whole input, checked as UTF-8 up front (RFC 8259
//! §8.1): the caller asks for an object and then for each member's value by the type it
//! wants, so no tree is built and a type error can name the field and its position.
//! Values nobody asked for are skipped, but still checked, so that a document either
//! parses in full or is refused. Arrays and objects nest at most [`MAX_DEPTH`] deep,
//! which bounds the recursion of skipping within the component's small stack.
//! Numbers are only ever read as `u64`: a sign, a fraction or an exponent is refused by
//! name, never rounded. Duplicate keys: readers of a fixed shape ([`crate::message`],
//! the success body) refuse a field given twice; [`Reader::object`]'s callers that only
//! look a key up take its last value, as serde_json's `Value` and JavaScript do.

use core::fmt::{self, Write as _};

/// How deep arrays and objects may nest, as serde_json's default; the message itself
/// needs two levels.
pub const MAX_DEPTH: usize = 128;

/// Appends `text` as a JSON string.
pub fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let mut run = 0;
    for (i, byte) in text.bytes().enumerate() {
        let short = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'\n' => 'n',
            b'\r' => 'r',
            b'\t' => 't',
            0x08 => 'b',
            0x0c => 'f',
            0..0x20 => 'u',
            _ => continue,
        };
        out.push_str(&text[run..i]);
        out.push('\\');
        out.push(short);
        if short == 'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
        run = i + 1;
    }
    out.push_str(&text[run..]);
    out.push('"');
}

/// Builds one JSON object, members in the order they are added.
pub struct Object {
    out: String,
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

impl Object {
    pub fn new() -> Object {
        Object {
            out: String::from("{"),
        }
    }

    /// Starts a member and returns the buffer to write its value into.
    fn key(&mut self, key: &str) -> &mut String {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        write_str(&mut self.out, key);
        self.out.push(':');
        &mut self.out
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Object {
        write_str(self.key(key), value);
        self
    }

    pub fn u64(&mut self, key: &str, value: u64) -> &mut Object {
        let _ = write!(self.key(key), "{value}");
        self
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Object {
        self.key(key).push_str(if value { "true" } else { "false" });
        self
    }

    /// An array of strings.
    pub fn strs(&mut self, key: &str, values: &[String]) -> &mut Object {
        let out = self.key(key);
        out.push('[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, value);
        }
        out.push(']');
        self
    }

    /// A value that is already JSON (an array of objects, say).
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Object {
        self.key(key).push_str(json);
        self
    }

    pub fn finish(&mut self) -> String {
        let mut out = core::mem::take(&mut self.out);
        out.push('}');
        out
    }
}

/// Why a document was refused, and where. Boxed, so that every `Result` the reader
/// passes along stays one word wide: copying the whole refusal at each `?` made the
/// reader a few KB larger in the component.
pub type Error = Box<Refusal>;

/// The contents of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// True when the input is not JSON at all; false when it is JSON of the wrong shape.
    pub syntax: bool,
    /// The field a shape error is about, as the caller names it (`targets[2]`, say).
    pub field: Option<String>,
    /// What is wrong with the field, worded to follow its name ("is required").
    pub field_reason: String,
    /// The whole explanation, without the position.
    pub message: String,
    /// 1-based line, and column in characters, of the offending byte.
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

/// What a value turned out to be, as error texts name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// A pull parser over one complete document.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

/// The members of one object, read one key at a time; see [`Reader::object`].
pub struct Members {
    first: bool,
}

impl<'a> Reader<'a> {
    /// Refuses input that is not UTF-8, naming the first bad byte.
    pub fn new(bytes: &'a [u8]) -> Result<Reader<'a>, Error> {
        match core::str::from_utf8(bytes) {
            Ok(text) => Ok(Reader {
                text,
                pos: 0,
                depth: 0,
            }),
            Err(e) => {
                let at = e.valid_up_to();
                let valid = core::str::from_utf8(&bytes[..at]).unwrap_or_default();
                let message = format!("invalid UTF-8 (byte 0x{:02x})", bytes[at]);
                Err(error_at(valid, at, true, None, String::new(), message))
            }
        }
    }

    /// The byte offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.byte() {
            self.pos += 1;
        }
    }

    /// A syntax error at byte `at`.
    pub fn syntax_error(&self, at: usize, message: impl Into<String>) -> Error {
        error_at(self.text, at, true, None, String::new(), message.into())
    }

    /// A shape error about `field` at byte `at`: `message` is the whole explanation,
    /// `reason` what follows the field's name in a list of field errors.
    pub fn shape_error(
        &self,
        at: usize,
        field: &str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        let field = Some(field.to_owned());
        error_at(self.text, at, false, field, reason.into(), message.into())
    }

    /// The value `field` has the wrong type: `expected` names what it must be. An empty
    /// `field` is the document itself.
    pub fn type_error(&mut self, field: &str, expected: &str) -> Error {
        let at = self.pos;
        // A scalar is read in full first, so that broken JSON is called broken rather
        // than mistyped; arrays and objects are not entered.
        let found = match self.kind() {
            Ok(kind @ (Kind::Array | Kind::Object)) => kind,
            Ok(kind) => match self.skip() {
                Ok(()) => kind,
                Err(e) => return e,
            },
            Err(e) => return e,
        };
        let reason = format!("expected {expected}, found {}", found.name());
        if field.is_empty() {
            return error_at(self.text, at, false, None, String::new(), reason);
        }
        let message = format!("invalid type for `{field}`: {reason}");
        self.shape_error(at, field, reason, message)
    }

    fn unexpected(&self, wanted: &str) -> Error {
        let found = self
            .text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next());
        self.syntax_error(
            self.pos,
            format!("expected {wanted}, found {}", describe(found)),
        )
    }

    /// The kind of the next value, without reading it.
    pub fn kind(&mut self) -> Result<Kind, Error> {
        self.skip_whitespace();
        Ok(match self.byte() {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => return Err(self.unexpected("a value")),
        })
    }

    /// Reads `null` when it comes next; the fields that may be absent take it as absent.
    pub fn null(&mut self) -> Result<bool, Error> {
        if self.kind()? != Kind::Null {
            return Ok(false);
        }
        self.literal("null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &str) -> Result<(), Error> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            let wanted = format!("`{word}`");
            // Point at the first byte that differs.
            let same = self.text.as_bytes()[self.pos..]
                .iter()
                .zip(word.as_bytes())
                .take_while(|(a, b)| a == b)
                .count();
            self.pos += same;
            Err(self.unexpected(&wanted))
        }
    }

    /// Reads `true` or `false`; anything else is a type error about `field`.
    pub fn bool(&mut self, field: &str) -> Result<bool, Error> {
        match self.kind()? {
            Kind::Bool if self.byte() == Some(b't') => self.literal("true").map(|()| true),
            Kind::Bool => self.literal("false").map(|()| false),
            _ => Err(self.type_error(field, "true or false")),
        }
    }

    /// Reads a string; anything else is a type error about `field`.
    pub fn string(&mut self, field: &str) -> Result<String, Error> {
        if self.kind()? != Kind::String {
            return Err(self.type_error(field, "a string"));
        }
        self.string_value()
    }

    /// Reads an unsigned integer no larger than `u64::MAX`; any other number or type is
    /// an error about `field` that says why.
    pub fn u64(&mut self, field: &str) -> Result<u64, Error> {
        const EXPECTED: &str = "an unsigned integer";
        if self.kind()? != Kind::Number {
            return Err(self.type_error(field, EXPECTED));
        }
        let at = self.pos;
        let text = self.number()?;
        let why = if text.starts_with('-') {
            "a negative number"
        } else if text.contains('.') {
            "a number with a fraction"
        } else if text.contains(['e', 'E']) {
            "a number with an exponent"
        } else {
            match text.bytes().try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            }) {
                Some(n) => return Ok(n),
                None => "a number above 18446744073709551615",
            }
        };
        let shown = if text.len() > 40 {
            format!("{}…", &text[..40])
        } else {
            text.to_owned()
        };
        let reason =
            format!("expected {EXPECTED} (0 to 18446744073709551615), found {why}: {shown}");
        let message = format!("invalid value for `{field}`: {reason}");
        Err(self.shape_error(at, field, reason, message))
    }

    /// Checks and returns the text of the number that comes next (RFC 8259 §6).
    fn number(&mut self) -> Result<&'a str, Error> {
        let start = self.pos;
        let text = self.text;
        if self.byte() == Some(b'-') {
            self.pos += 1;
        }
        match self.byte() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.byte() {
                    return Err(
                        self.syntax_error(self.pos, "a number must not have a leading zero")
                    );
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.unexpected("a digit")),
        }
        if self.byte() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
        }
        if let Some(b'e' | b'E') = self.byte() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.byte() {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        Ok(&text[start..self.pos])
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.byte() {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), Error> {
        if !matches!(self.byte(), Some(b'0'..=b'9')) {
            return Err(self.unexpected("a digit"));
        }
        self.digits();
        Ok(())
    }

    /// Reads the string that starts at the current byte, a `"`.
    fn string_value(&mut self) -> Result<String, Error> {
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(byte) = self.byte() else {
                return Err(self.syntax_error(self.pos, "the input ends inside a string"));
            };
            match byte {
                b'"' => {
                    out.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.pos]);
                    out.push(self.escape()?);
                    run = self.pos;
                }
                0..0x20 => {
                    let message = format!(
                        "the control character U+{byte:04X} must be escaped inside a string"
                    );
                    return Err(self.syntax_error(self.pos, message));
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Reads one escape, starting at its `\`.
    fn escape(&mut self) -> Result<char, Error> {
        let at = self.pos;
        self.pos += 1;
        let Some(byte) = self.byte() else {
            return Err(self.syntax_error(self.pos, "the input ends inside a string"));
        };
        self.pos += 1;
        let short = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(at),
            _ => {
                let found = self.text.get(at + 1..).and_then(|rest| rest.chars().next());
                let message = format!(
                    "invalid escape: a backslash followed by {}; the JSON escapes are \\\" \\\\ \
                     \\/ \\b \\f \\n \\r \\t and \\uXXXX",
                    describe(found)
                );
                return Err(self.syntax_error(at, message));
            }
        };
        Ok(short)
    }

    /// Reads the four hex digits after `\u` (and a second escape for a surrogate pair);
    /// `at` is the offset of the backslash.
    fn unicode_escape(&mut self, at: usize) -> Result<char, Error> {
        let high = self.hex4()?;
        let code = match high {
            0xd800..=0xdbff => {
                let low = if self.text[self.pos..].starts_with("\\u") {
                    self.pos += 2;
                    Some(self.hex4()?)
                } else {
                    None
                };
                match low {
                    Some(low @ 0xdc00..=0xdfff) => {
                        0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(low) - 0xdc00)
                    }
                    _ => {
                        let message = format!(
                            "lone surrogate \\u{high:04X}: a high surrogate must be followed \
                             by a low one (\\uDC00 to \\uDFFF)"
                        );
                        return Err(self.syntax_error(at, message));
                    }
                }
            }
            0xdc00..=0xdfff => {
                let message = format!(
                    "lone surrogate \\u{high:04X}: a low surrogate must follow a high one \
                     (\\uD800 to \\uDBFF)"
                );
                return Err(self.syntax_error(at, message));
            }
            _ => u32::from(high),
        };
        // Surrogates were handled above, so every remaining code is a char.
        Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u16, Error> {
        let mut code = 0u16;
        for _ in 0..4 {
            let digit = self.byte().and_then(|b| char::from(b).to_digit(16));
            let Some(digit) = digit else {
                return Err(self.unexpected("a hex digit of a \\u escape"));
            };
            code = code << 4 | digit as u16;
            self.pos += 1;
        }
        Ok(code)
    }

    fn enter(&mut self) -> Result<(), Error> {
        if self.depth == MAX_DEPTH {
            let message = format!("arrays and objects nest more than {MAX_DEPTH} deep");
            return Err(self.syntax_error(self.pos, message));
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    /// Starts reading an object; anything else is a type error about `field`. Then
    /// [`Reader::key`] gives each member's key, after which the caller reads or skips
    /// its value.
    pub fn object(&mut self, field: &str) -> Result<Members, Error> {
        if self.kind()? != Kind::Object {
            return Err(self.type_error(field, "an object"));
        }
        self.enter()?;
        Ok(Members { first: true })
    }

    /// The next member's key and its offset, or `None` after the closing `}`.
    pub fn key(&mut self, members: &mut Members) -> Result<Option<(String, usize)>, Error> {
        self.skip_whitespace();
        if self.byte() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(None);
        }
        if !core::mem::take(&mut members.first) {
            if self.byte() != Some(b',') {
                return Err(self.unexpected("`,` or `}`"));
            }
            self.pos += 1;
            self.skip_whitespace();
        }
        if self.byte() != Some(b'"') {
            return Err(self.unexpected("a key (a string in double quotes)"));
        }
        let at = self.pos;
        let key = self.string_value()?;
        self.skip_whitespace();
        if self.byte() != Some(b':') {
            return Err(self.unexpected("`:` after a key"));
        }
        self.pos += 1;
        Ok(Some((key, at)))
    }

    /// Starts reading an array; anything else is a type error about `field`. Then
    /// [`Reader::next_item`] says whether another item follows.
    pub fn array(&mut self, field: &str) -> Result<Members, Error> {
        if self.kind()? != Kind::Array {
            return Err(self.type_error(field, "an array"));
        }
        self.enter()?;
        Ok(Members { first: true })
    }

    /// True when another item follows (the caller reads it), false after the `]`.
    pub fn next_item(&mut self, items: &mut Members) -> Result<bool, Error> {
        self.skip_whitespace();
        if self.byte() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(false);
        }
        if !core::mem::take(&mut items.first) {
            if self.byte() != Some(b',') {
                return Err(self.unexpected("`,` or `]`"));
            }
            self.pos += 1;
        }
        Ok(true)
    }

    /// Reads and checks the next value, whatever it is, and drops it.
    pub fn skip(&mut self) -> Result<(), Error> {
        match self.kind()? {
            Kind::Null => self.literal("null"),
            Kind::Bool => self.bool("").map(drop),
            Kind::Number => self.number().map(drop),
            Kind::String => self.string_value().map(drop),
            Kind::Array => {
                let mut items = self.array("")?;
                while self.next_item(&mut items)? {
                    self.skip()?;
                }
                Ok(())
            }
            Kind::Object => {
                let mut members = self.object("")?;
                while self.key(&mut members)?.is_some() {
                    self.skip()?;
                }
                Ok(())
            }
        }
    }

    /// Checks that nothing but whitespace follows the document.
    pub fn end(&mut self) -> Result<(), Error> {
        self.skip_whitespace();
        if self.byte().is_some() {
            return Err(self.unexpected("the end of the input after the JSON value"));
        }
        Ok(())
    }
}

/// Names a character in an error text; control and invisible characters by code point.
fn describe(found: Option<char>) -> String {
    match found {
        None => "the end of the input".to_owned(),
        Some(c) if c.is_ascii_graphic() => format!("`{c}`"),
        Some(c) => format!("U+{:04X}", u32::from(c)),
    }
}

/// Makes an error, counting the line and column of byte `at` in `text`.
fn error_at(
    text: &str,
    at: usize,
    syntax: bool,
    field: Option<String>,
    field_reason: String,
    message: String,
) -> Error {
    let before = text.get(..at).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Box::new(Refusal {
        syntax,
        field,
        field_reason,
        message,
        line: 1 + before.matches('\n').count(),
        column: 1 + before[line_start..].chars().count(),
    })
}

/// Reads a whole document with `read` and checks that nothing follows it.
pub fn read<T>(
    bytes: &[u8],
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut reader = Reader::new(bytes)?;
    let value = read(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// The string members named in `keys` of the JSON object `bytes` holds, each the last
/// one given; `None` for a key that is absent or not a string, and for a document that
/// is not a JSON object.
pub fn strings<const N: usize>(bytes: &[u8], keys: [&str; N]) -> Option<[Option<String>; N]> {
    read(bytes, |reader| {
        let mut found = [const { None }; N];
        let mut members = reader.object("")?;
        while let Some((key, _)) = reader.key(&mut members)? {
            match keys.iter().position(|k| *k == key) {
                Some(i) if reader.kind()? == Kind::String => found[i] = Some(reader.string("")?),
                Some(i) => {
                    found[i] = None;
                    reader.skip()?;
                }
                None => reader.skip()?,
            }
        }
        Ok(found)
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        write_str(&mut out, text);
        out
    }

    /// The Display of the error reading `input` as one value of any kind.
    fn refusal(input: &str) -> String {
        read(input.as_bytes(), |r| r.skip())
            .unwrap_err()
            .to_string()
    }

    fn string_of(input: &str) -> Result<String, Error> {
        read(input.as_bytes(), |r| r.string("s"))
    }

    fn u64_of(input: &str) -> Result<u64, Error> {
        read(input.as_bytes(), |r| r.u64("n"))
    }

    #[test]
    fn strings_are_escaped_as_rfc_8259_requires_and_nothing_more() {
        assert_eq!(
            quoted("a\"b\\c/d\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}é😀"),
            "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}é😀\""
        );
        assert_eq!(quoted(""), "\"\"");
    }

    #[test]
    fn escaping_matches_serde_json_for_every_ascii_character_and_beyond() {
        let mut text: String = (0u8..0x80).map(char::from).collect();
        text.push_str("\u{80}\u{a0}\u{2028}\u{2029}\u{fffd}\u{10ffff}");
        assert_eq!(quoted(&text), serde_json::to_string(&text).unwrap());
    }

    #[test]
    fn objects_keep_the_order_members_are_added_in() {
        let body = Object::new()
            .u64("b", u64::MAX)
            .str("a", "x\"y")
            .bool("t", true)
            .bool("f", false)
            .strs("l", &["1".into(), "2".into()])
            .strs("e", &[])
            .raw("r", "[{}]")
            .finish();
        assert_eq!(
            body,
            concat!(
                r#"{"b":18446744073709551615,"a":"x\"y","t":true,"f":false,"#,
                r#""l":["1","2"],"e":[],"r":[{}]}"#
            )
        );
        assert_eq!(Object::new().finish(), "{}");
    }

    #[test]
    fn escapes_and_unicode_are_decoded() {
        let text = r#""a\"\\\/\b\f\n\r\t\u0041\u00e9\u00E9\u20AC\ud83d\ude00\u0000é😀""#;
        assert_eq!(
            string_of(text).unwrap(),
            "a\"\\/\u{8}\u{c}\n\r\t\u{41}éé€😀\u{0}é😀"
        );
        assert_eq!(string_of(r#""\uDBFF\uDFFF""#).unwrap(), "\u{10ffff}");
        assert_eq!(string_of(r#""\uD800\uDC00""#).unwrap(), "\u{10000}");
    }

    #[test]
    fn lone_and_reversed_surrogates_are_refused_by_position() {
        let high = "lone surrogate \\uD800: a high surrogate must be followed by a low one \
                    (\\uDC00 to \\uDFFF)";
        let low = "lone surrogate \\uDFFF: a low surrogate must follow a high one (\\uD800 to \
                   \\uDBFF)";
        for (input, message, column) in [
            (r#""\ud800""#, high, 2),
            (r#""ab\ud800x""#, high, 4),
            (r#""\ud800\u0041""#, high, 2),
            (r#""\ud800\ud800""#, high, 2),
            (r#""a\udfffb""#, low, 3),
            (r#""\udfff\ud800""#, low, 2),
        ] {
            let error = string_of(input).unwrap_err();
            assert!(error.syntax, "{input}");
            assert_eq!(error.message, message, "{input}");
            assert_eq!((error.line, error.column), (1, column), "{input}");
        }
        let reversed = string_of(r#""\ude00\ud83d""#).unwrap_err();
        assert!(
            reversed
                .message
                .starts_with("lone surrogate \\uDE00: a low")
        );
    }

    #[test]
    fn unsigned_integers_are_read_up_to_u64_max_and_no_further() {
        assert_eq!(u64_of("0"), Ok(0));
        assert_eq!(u64_of(" 42 "), Ok(42));
        assert_eq!(u64_of("18446744073709551615"), Ok(u64::MAX));
        let above = "invalid value for `n`: expected an unsigned integer (0 to \
                     18446744073709551615), found a number above 18446744073709551615";
        for (input, found) in [
            (
                "18446744073709551616",
                "a number above 18446744073709551615",
            ),
            (
                "99999999999999999999999",
                "a number above 18446744073709551615",
            ),
            ("-1", "a negative number"),
            ("-0", "a negative number"),
            ("1.0", "a number with a fraction"),
            ("-1.5", "a negative number"),
            ("1e3", "a number with an exponent"),
            ("1E+3", "a number with an exponent"),
            ("0e0", "a number with an exponent"),
        ] {
            let error = u64_of(input).unwrap_err();
            assert!(!error.syntax, "{input}");
            assert_eq!(error.field.as_deref(), Some("n"));
            assert_eq!(
                error.field_reason,
                format!(
                    "expected an unsigned integer (0 to 18446744073709551615), found {found}: \
                     {input}"
                )
            );
            assert_eq!(
                error.message,
                format!("invalid value for `n`: {}", error.field_reason)
            );
            assert_eq!((error.line, error.column), (1, 1));
        }
        assert!(
            u64_of("18446744073709551616")
                .unwrap_err()
                .message
                .starts_with(above)
        );
        let long = "1".repeat(100);
        let error = u64_of(&long).unwrap_err();
        assert!(error.message.ends_with(&format!("{}…", "1".repeat(40))));
    }

    #[test]
    fn numbers_must_follow_the_grammar() {
        assert_eq!(
            refusal("01"),
            "a number must not have a leading zero at line 1 column 2"
        );
        assert_eq!(
            refusal("-01"),
            "a number must not have a leading zero at line 1 column 3"
        );
        assert_eq!(
            refusal("1."),
            "expected a digit, found the end of the input at line 1 column 3"
        );
        assert_eq!(
            refusal("1.e5"),
            "expected a digit, found `e` at line 1 column 3"
        );
        assert_eq!(
            refusal("1e"),
            "expected a digit, found the end of the input at line 1 column 3"
        );
        assert_eq!(
            refusal("1e+"),
            "expected a digit, found the end of the input at line 1 column 4"
        );
        assert_eq!(
            refusal("-"),
            "expected a digit, found the end of the input at line 1 column 2"
        );
        assert_eq!(
            refusal("-a"),
            "expected a digit, found `a` at line 1 column 2"
        );
        assert_eq!(
            refusal(".5"),
            "expected a value, found `.` at line 1 column 1"
        );
        assert_eq!(
            refusal("+1"),
            "expected a value, found `+` at line 1 column 1"
        );
        for good in ["0", "-0", "12.5e-3", "1E9", "-1.0E+2", "0.000"] {
            assert_eq!(read(good.as_bytes(), |r| r.skip()), Ok(()), "{good}");
        }
    }

    #[test]
    fn a_wrong_type_names_the_field_what_was_expected_and_what_was_found() {
        for (input, found) in [
            (r#""7""#, "a string"),
            ("true", "a boolean"),
            ("null", "null"),
            ("[1]", "an array"),
            ("{}", "an object"),
        ] {
            let error = u64_of(input).unwrap_err();
            assert!(!error.syntax);
            assert_eq!(error.field.as_deref(), Some("n"));
            assert_eq!(
                error.field_reason,
                format!("expected an unsigned integer, found {found}")
            );
            assert_eq!(
                error.to_string(),
                format!(
                    "invalid type for `n`: expected an unsigned integer, found {found} at line 1 \
                     column 1"
                )
            );
        }
        let error = string_of("12").unwrap_err();
        assert_eq!(error.field_reason, "expected a string, found a number");
        let error = read(b"\"x\"", |r| r.bool("b")).unwrap_err();
        assert_eq!(error.field_reason, "expected true or false, found a string");
        // A broken scalar is broken JSON, not a value of the wrong type.
        let error = string_of("tru").unwrap_err();
        assert!(error.syntax);
        assert_eq!(
            error.to_string(),
            "expected `true`, found the end of the input at line 1 column 4"
        );
        assert_eq!(
            refusal("nul!"),
            "expected `null`, found `!` at line 1 column 4"
        );
        assert_eq!(
            refusal("fals"),
            "expected `false`, found the end of the input at line 1 column 5"
        );
    }

    #[test]
    fn syntax_errors_say_what_was_expected_and_where() {
        let cases = [
            (
                "",
                "expected a value, found the end of the input at line 1 column 1",
            ),
            (
                "   ",
                "expected a value, found the end of the input at line 1 column 4",
            ),
            ("hello", "expected a value, found `h` at line 1 column 1"),
            (
                "\u{feff}{}",
                "expected a value, found U+FEFF at line 1 column 1",
            ),
            (
                "{",
                "expected a key (a string in double quotes), found the end of the input \
                 at line 1 column 2",
            ),
            (
                "{a:1}",
                "expected a key (a string in double quotes), found `a` at line 1 column 2",
            ),
            (
                "{\"a\" 1}",
                "expected `:` after a key, found `1` at line 1 column 6",
            ),
            (
                "{\"a\":1 \"b\":2}",
                "expected `,` or `}`, found `\"` at line 1 column 8",
            ),
            (
                "{\"a\":1,}",
                "expected a key (a string in double quotes), found `}` at line 1 column 8",
            ),
            ("{\"a\":}", "expected a value, found `}` at line 1 column 6"),
            ("[1 2]", "expected `,` or `]`, found `2` at line 1 column 4"),
            ("[1,]", "expected a value, found `]` at line 1 column 4"),
            ("[,1]", "expected a value, found `,` at line 1 column 2"),
            (
                "[1",
                "expected `,` or `]`, found the end of the input at line 1 column 3",
            ),
            ("\"abc", "the input ends inside a string at line 1 column 5"),
            (
                "\"abc\\",
                "the input ends inside a string at line 1 column 6",
            ),
            (
                "\"a\nb\"",
                "the control character U+000A must be escaped inside a string at line 1 column 3",
            ),
            (
                "\"a\u{1}\"",
                "the control character U+0001 must be escaped inside a string at line 1 column 3",
            ),
            (
                "\"\\u12\"",
                "expected a hex digit of a \\u escape, found `\"` at line 1 column 6",
            ),
            (
                "\"\\u12G4\"",
                "expected a hex digit of a \\u escape, found `G` at line 1 column 6",
            ),
            (
                "\"\\x\"",
                "invalid escape: a backslash followed by `x`; the JSON escapes are \\\" \\\\ \
                 \\/ \\b \\f \\n \\r \\t and \\uXXXX at line 1 column 2",
            ),
            (
                "\"\\é\"",
                "invalid escape: a backslash followed by U+00E9; the JSON escapes are \\\" \\\\ \
                 \\/ \\b \\f \\n \\r \\t and \\uXXXX at line 1 column 2",
            ),
            (
                "{} x",
                "expected the end of the input after the JSON value, found `x` at line 1 column 4",
            ),
            (
                "{}{}",
                "expected the end of the input after the JSON value, found `{` at line 1 column 3",
            ),
            (
                "1 2",
                "expected the end of the input after the JSON value, found `2` at line 1 column 3",
            ),
            (
                "\"x\"\u{0}",
                "expected the end of the input after the JSON value, found U+0000 \
                 at line 1 column 4",
            ),
        ];
        for (input, expected) in cases {
            let error = read(input.as_bytes(), |r| r.skip()).unwrap_err();
            assert!(error.syntax, "{input:?}");
            assert_eq!(error.field, None);
            assert_eq!(error.to_string(), expected, "{input:?}");
        }
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let input = "{\n  \"é😀\": 1,\n\t\"b\": x\n}";
        let error = read(input.as_bytes(), |r| r.skip()).unwrap_err();
        assert_eq!((error.line, error.column), (3, 7));
        let error = read("\r\n\r\n  ]".as_bytes(), |r| r.skip()).unwrap_err();
        assert_eq!((error.line, error.column), (3, 3));
    }

    #[test]
    fn invalid_utf8_is_refused_with_the_byte_and_its_position() {
        let error = read(b"{\"a\":\"x\xff\"}", |r| r.skip()).unwrap_err();
        assert!(error.syntax);
        assert_eq!(
            error.to_string(),
            "invalid UTF-8 (byte 0xff) at line 1 column 8"
        );
        let error = read(b"\"\xc3\"", |r| r.skip()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid UTF-8 (byte 0xc3) at line 1 column 2"
        );
        // An encoded surrogate is not UTF-8 either.
        let error = read(b"\"\xed\xa0\x80\"", |r| r.skip()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid UTF-8 (byte 0xed) at line 1 column 2"
        );
    }

    #[test]
    fn only_the_four_json_whitespace_characters_separate_tokens() {
        let input = " \t\r\n{ \"a\" :\n[ 1 ,\t2 ] , \"b\" : { } }\r\n ";
        assert_eq!(read(input.as_bytes(), |r| r.skip()), Ok(()));
        for other in ["\u{c}1", "\u{a0}1", "1\u{b}", "\u{2028}1"] {
            assert!(read(other.as_bytes(), |r| r.skip()).is_err(), "{other:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(read(nested(MAX_DEPTH).as_bytes(), |r| r.skip()), Ok(()));
        let error = read(nested(MAX_DEPTH + 1).as_bytes(), |r| r.skip()).unwrap_err();
        assert!(error.syntax);
        assert_eq!(
            error.to_string(),
            "arrays and objects nest more than 128 deep at line 1 column 129"
        );
        let objects = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(read(objects.as_bytes(), |r| r.skip()).is_err());
        // Far deeper input ends at the limit without exhausting the stack.
        assert!(read(nested(1_000_000).as_bytes(), |r| r.skip()).is_err());
        // Depth is given back as arrays close.
        let siblings = format!("[{}]", vec![nested(MAX_DEPTH - 1); 3].join(","));
        assert_eq!(read(siblings.as_bytes(), |r| r.skip()), Ok(()));
    }

    #[test]
    fn looking_up_strings_takes_the_last_of_duplicate_keys() {
        let body = br#"{"error":"a","message":"m","error":"b","x":[{"error":"c"}]}"#;
        assert_eq!(
            strings(body, ["error", "message", "absent"]),
            Some([Some("b".into()), Some("m".into()), None])
        );
        assert_eq!(
            strings(br#"{"error":"a","error":7}"#, ["error"]),
            Some([None])
        );
        for not_an_object in [
            &b"[]"[..],
            b"\"error\"",
            b"{\"error\":\"a\"} x",
            b"{\"error\"",
        ] {
            assert_eq!(strings(not_an_object, ["error"]), None);
        }
    }
}
