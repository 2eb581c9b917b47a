//! The message as the caller gave it, the rules it must meet, and its JSON body.
//!
//! Validation reports every broken rule at once and changes nothing: a value is either
//! sent exactly as given or reported as a [`FieldError`].

use crate::json::{self, Kind, Reader};
use crate::limits;

/// The body of `POST /v1/message/send`, field for field, in wire (snake_case) names.
///
/// Unknown fields are refused when parsing JSON, so that a misspelt field is an error
/// rather than a silently dropped setting.
///
/// Native builds also derive `serde::Serialize` (identical output to
/// [`Message::to_json`], which a test checks) for the host crates that render messages
/// with serde_json; the component itself carries no serde.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
pub struct Message {
    pub inbox_id: u64,
    pub creator_id: u64,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub phone_number: Option<String>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub targets: Option<Vec<String>>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub chat_id: Option<u64>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub list_id: Option<u64>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub text: Option<String>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub media_url: Option<String>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub template_id: Option<u64>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub local_id: Option<String>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub activity_id: Option<String>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub private: Option<bool>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub author: Option<String>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        serde(skip_serializing_if = "Option::is_none")
    )]
    pub survey_id: Option<u64>,
}

/// The wire names of [`Message`]'s fields, in the order of the body.
pub const FIELDS: [&str; 14] = [
    "inbox_id",
    "creator_id",
    "phone_number",
    "targets",
    "chat_id",
    "list_id",
    "text",
    "media_url",
    "template_id",
    "local_id",
    "activity_id",
    "private",
    "author",
    "survey_id",
];

/// [`FIELDS`] as a sentence lists them (a test keeps the two in step).
const FIELD_LIST: &str = "inbox_id, creator_id, phone_number, targets, chat_id, list_id, text, \
                          media_url, template_id, local_id, activity_id, private, author, \
                          survey_id";

/// How an unknown field is explained in a list of field errors.
pub const UNKNOWN_FIELD_REASON: &str =
    "is not a field of the message (names are snake_case, e.g. phone_number)";

impl Message {
    /// The JSON body: every field that is set, in [`FIELDS`] order.
    pub fn to_json(&self) -> String {
        let mut body = json::Object::new();
        body.u64("inbox_id", self.inbox_id);
        body.u64("creator_id", self.creator_id);
        let text = |body: &mut json::Object, key, value: &Option<String>| {
            if let Some(value) = value {
                body.str(key, value);
            }
        };
        let id = |body: &mut json::Object, key, value: Option<u64>| {
            if let Some(value) = value {
                body.u64(key, value);
            }
        };
        text(&mut body, "phone_number", &self.phone_number);
        if let Some(targets) = &self.targets {
            body.strs("targets", targets);
        }
        id(&mut body, "chat_id", self.chat_id);
        id(&mut body, "list_id", self.list_id);
        text(&mut body, "text", &self.text);
        text(&mut body, "media_url", &self.media_url);
        id(&mut body, "template_id", self.template_id);
        text(&mut body, "local_id", &self.local_id);
        text(&mut body, "activity_id", &self.activity_id);
        if let Some(private) = self.private {
            body.bool("private", private);
        }
        text(&mut body, "author", &self.author);
        id(&mut body, "survey_id", self.survey_id);
        body.finish()
    }

    /// Reads the endpoint's JSON body: an object of [`FIELDS`], `inbox_id` and
    /// `creator_id` required, `null` the same as absent for the others. The first
    /// unknown, repeated or mistyped field, or the first syntax error, is the error.
    pub fn from_json(bytes: &[u8]) -> Result<Message, json::Error> {
        json::read(bytes, read_message)
    }
}

fn read_message(reader: &mut Reader<'_>) -> Result<Message, json::Error> {
    if reader.kind()? != Kind::Object {
        return Err(reader.type_error("", "an object (the message)"));
    }
    let mut message = Message::default();
    let mut seen = 0u16;
    let mut members = reader.object("")?;
    while let Some((key, at)) = reader.key(&mut members)? {
        let Some(index) = FIELDS.iter().position(|f| *f == key) else {
            let message = format!("unknown field `{key}`; the fields are {FIELD_LIST}");
            return Err(reader.shape_error(at, &key, UNKNOWN_FIELD_REASON, message));
        };
        if seen & 1 << index != 0 {
            let message = format!("duplicate field `{key}`");
            return Err(reader.shape_error(at, &key, "is given more than once", message));
        }
        seen |= 1 << index;
        if index >= 2 && reader.null()? {
            continue;
        }
        match message.slot(index) {
            Slot::Id(id) => *id = reader.u64(&key)?,
            Slot::OptionalId(id) => *id = Some(reader.u64(&key)?),
            Slot::Text(text) => *text = Some(reader.string(&key)?),
            Slot::Flag(flag) => *flag = Some(reader.bool(&key)?),
            Slot::List(list) => *list = Some(read_targets(reader)?),
        }
    }
    // The closing brace, where the missing field should have been.
    let end = reader.offset() - 1;
    for (index, field) in FIELDS[..2].iter().enumerate() {
        if seen & 1 << index == 0 {
            let message = format!("missing field `{field}`");
            return Err(reader.shape_error(end, field, "is required", message));
        }
    }
    Ok(message)
}

/// Where the value of a field goes, by its type: one call site per type keeps the
/// reader small in the component.
enum Slot<'m> {
    Id(&'m mut u64),
    OptionalId(&'m mut Option<u64>),
    Text(&'m mut Option<String>),
    Flag(&'m mut Option<bool>),
    List(&'m mut Option<Vec<String>>),
}

impl Message {
    /// The field `FIELDS[index]`.
    fn slot(&mut self, index: usize) -> Slot<'_> {
        match index {
            0 => Slot::Id(&mut self.inbox_id),
            1 => Slot::Id(&mut self.creator_id),
            2 => Slot::Text(&mut self.phone_number),
            3 => Slot::List(&mut self.targets),
            4 => Slot::OptionalId(&mut self.chat_id),
            5 => Slot::OptionalId(&mut self.list_id),
            6 => Slot::Text(&mut self.text),
            7 => Slot::Text(&mut self.media_url),
            8 => Slot::OptionalId(&mut self.template_id),
            9 => Slot::Text(&mut self.local_id),
            10 => Slot::Text(&mut self.activity_id),
            11 => Slot::Flag(&mut self.private),
            12 => Slot::Text(&mut self.author),
            _ => Slot::OptionalId(&mut self.survey_id),
        }
    }
}

fn read_targets(reader: &mut Reader<'_>) -> Result<Vec<String>, json::Error> {
    let mut targets = Vec::new();
    let mut items = reader.array("targets")?;
    while reader.next_item(&mut items)? {
        if reader.kind()? != Kind::String {
            let field = format!("targets[{}]", targets.len());
            return Err(reader.type_error(&field, "a string"));
        }
        targets.push(reader.string("")?);
    }
    Ok(targets)
}

/// One broken rule: the wire name of the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A message that met every rule. Only [`Message::validate`] makes one, so nothing
/// unchecked can be rendered or sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMessage(Message);

impl ValidMessage {
    pub fn message(&self) -> &Message {
        &self.0
    }

    /// The caller's idempotency key, if they gave one.
    pub fn local_id(&self) -> Option<&str> {
        self.0.local_id.as_deref()
    }

    /// The exact JSON body to post, with `local_id` set to `key` when the caller gave
    /// none (the caller's own key is never replaced).
    pub fn body_with_local_id(&self, key: &str) -> String {
        if self.0.local_id.is_some() {
            return self.body();
        }
        let mut with_key = self.0.clone();
        with_key.local_id = Some(key.to_owned());
        render(&with_key)
    }

    /// The exact JSON body, as the caller gave it.
    pub fn body(&self) -> String {
        render(&self.0)
    }
}

fn render(message: &Message) -> String {
    message.to_json()
}

/// The names of the fields that choose the recipients, in the order reported.
const RECIPIENT_FAMILIES: &str = "phone_number, chat_id, list_id or targets";

impl Message {
    /// Checks every rule and returns all broken ones, or the message as valid.
    pub fn validate(self) -> Result<ValidMessage, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.check_ids(&mut errors);
        self.check_recipients(&mut errors);
        self.check_content(&mut errors);
        self.check_labels(&mut errors);
        if errors.is_empty() {
            Ok(ValidMessage(self))
        } else {
            Err(errors)
        }
    }

    fn check_ids(&self, errors: &mut Vec<FieldError>) {
        let ids = [
            ("inbox_id", Some(self.inbox_id)),
            ("creator_id", Some(self.creator_id)),
            ("chat_id", self.chat_id),
            ("list_id", self.list_id),
            ("template_id", self.template_id),
            ("survey_id", self.survey_id),
        ];
        for (field, value) in ids {
            if value == Some(0) {
                errors.push(FieldError::new(field, "must be a positive id, not 0"));
            } else if value.is_some_and(|id| id > limits::MAX_ID) {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {} (a signed 64-bit id)", limits::MAX_ID),
                ));
            }
        }
    }

    fn check_recipients(&self, errors: &mut Vec<FieldError>) {
        let given: Vec<&str> = [
            ("phone_number", self.phone_number.is_some()),
            ("chat_id", self.chat_id.is_some()),
            ("list_id", self.list_id.is_some()),
            ("targets", self.targets.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, present)| present.then_some(field))
        .collect();

        match given.as_slice() {
            [] => errors.push(FieldError::new(
                "message",
                format!("no recipient: give exactly one of {RECIPIENT_FAMILIES}"),
            )),
            [_] => {}
            [first, rest @ ..] => {
                for field in rest {
                    errors.push(FieldError::new(
                        *field,
                        format!(
                            "cannot be combined with {first}: give exactly one of \
                             {RECIPIENT_FAMILIES}"
                        ),
                    ));
                }
            }
        }

        if let Some(number) = &self.phone_number {
            check_phone_number("phone_number", number, errors);
        }
        if let Some(targets) = &self.targets {
            check_targets(targets, errors);
        }
        if self.list_id.is_some() && self.local_id.is_none() {
            errors.push(FieldError::new(
                "local_id",
                "is required with list_id: give a unique key for this broadcast",
            ));
        }
        if self.private == Some(true) && (self.list_id.is_some() || self.targets.is_some()) {
            errors.push(FieldError::new(
                "private",
                "a private comment belongs in one conversation: use it only with \
                 chat_id or phone_number",
            ));
        }
    }

    fn check_content(&self, errors: &mut Vec<FieldError>) {
        let nothing = self.text.is_none()
            && self.media_url.is_none()
            && self.template_id.is_none()
            && self.survey_id.is_none();
        if nothing {
            errors.push(FieldError::new(
                "message",
                "nothing to send: give text, media_url, template_id or survey_id",
            ));
        }
        if let Some(text) = &self.text {
            check_text(text, errors);
        }
        if let Some(Err(reason)) = self.media_url.as_deref().map(check_media_url) {
            errors.push(FieldError::new("media_url", reason));
        }
    }

    fn check_labels(&self, errors: &mut Vec<FieldError>) {
        let labels = [
            ("local_id", &self.local_id, limits::MAX_KEY_BYTES),
            ("activity_id", &self.activity_id, limits::MAX_KEY_BYTES),
            ("author", &self.author, limits::MAX_AUTHOR_CHARS),
        ];
        for (field, value, max) in labels {
            if let Some(Err(reason)) = value.as_deref().map(|v| check_label(v, max)) {
                errors.push(FieldError::new(field, reason));
            }
        }
    }
}

/// Checks an E.164 number written as Heymarket wants it: digits only, no `+`.
fn check_phone_number(field: &str, number: &str, errors: &mut Vec<FieldError>) {
    if let Err(reason) = phone_number_rule(number) {
        errors.push(FieldError::new(field, reason));
    }
}

fn phone_number_rule(number: &str) -> Result<(), String> {
    if number.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(rest) = number.strip_prefix('+') {
        return Err(format!(
            "drop the leading '+': Heymarket expects E.164 digits without it, e.g. {}",
            if is_digits(rest) && !rest.is_empty() {
                rest
            } else {
                "14155551234"
            }
        ));
    }
    if !is_digits(number) {
        return Err(
            "must be E.164 digits only, without spaces, dashes, brackets or \
                    letters, e.g. 14155551234"
                .into(),
        );
    }
    if number.starts_with('0') {
        return Err("must start with the country code, not 0, e.g. 14155551234".into());
    }
    let (min, max) = limits::PHONE_DIGITS;
    if !(min..=max).contains(&number.len()) {
        return Err(format!(
            "must have {min} to {max} digits including the country code, not {}",
            number.len()
        ));
    }
    Ok(())
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn check_targets(targets: &[String], errors: &mut Vec<FieldError>) {
    if targets.is_empty() {
        errors.push(FieldError::new(
            "targets",
            "must list at least one phone number",
        ));
    }
    if targets.len() > limits::MAX_TARGETS {
        errors.push(FieldError::new(
            "targets",
            format!(
                "lists {} numbers; a group message takes at most {}",
                targets.len(),
                limits::MAX_TARGETS
            ),
        ));
    }
    for (index, number) in targets.iter().enumerate() {
        let field = format!("targets[{index}]");
        check_phone_number(&field, number, errors);
        if targets[..index].contains(number) {
            errors.push(FieldError::new(field, "repeats an earlier number"));
        }
    }
}

fn check_text(text: &str, errors: &mut Vec<FieldError>) {
    if text.is_empty() {
        errors.push(FieldError::new(
            "text",
            "must not be empty; omit it instead",
        ));
        return;
    }
    let chars = text.chars().count();
    if chars > limits::MAX_TEXT_CHARS {
        errors.push(FieldError::new(
            "text",
            format!(
                "has {chars} characters; at most {} are accepted",
                limits::MAX_TEXT_CHARS
            ),
        ));
    }
    // Line breaks and tabs are ordinary text; other control characters are never
    // meant for a phone screen and usually come from a broken template.
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(
            "text",
            format!("contains the control character U+{:04X}", u32::from(c)),
        ));
    }
}

/// Media must be fetchable by Heymarket: an absolute http(s) URL with a host.
fn check_media_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("must not be empty; omit it instead".into());
    }
    if url.len() > limits::MAX_URL_BYTES {
        return Err(format!(
            "is {} bytes long; at most {} are accepted",
            url.len(),
            limits::MAX_URL_BYTES
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters; percent-encode them".into());
    }
    let Some((scheme, rest)) = crate::text::split_once(url, "://") else {
        return Err("must be an absolute URL starting with https:// or http://".into());
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "must use https or http, not {}: Heymarket fetches the media from it",
            crate::text::quoted(scheme)
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(
            "must not contain credentials (user:password@): the URL is shared \
                    with Heymarket and the recipient's carrier"
                .into(),
        );
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| is_digits(port))
        .map_or(authority, |(host, _)| host);
    if host.is_empty() {
        return Err("must name a host, e.g. https://example.com/picture.jpg".into());
    }
    Ok(())
}

fn check_label(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty; omit it instead".into());
    }
    if value.len() > max {
        return Err(format!(
            "is {} bytes long; at most {max} are accepted",
            value.len()
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains the control character U+{:04X}",
            u32::from(c)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms() -> Message {
        Message {
            inbox_id: 101,
            creator_id: 55,
            phone_number: Some("14155551234".into()),
            text: Some("Hi".into()),
            ..Message::default()
        }
    }

    fn fields(message: Message) -> Vec<String> {
        message
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_plain_sms_is_valid_and_renders_only_given_fields() {
        let valid = sms().validate().unwrap();
        assert_eq!(
            valid.body(),
            r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"Hi"}"#
        );
    }

    #[test]
    fn generated_key_is_added_but_a_callers_key_is_kept() {
        let valid = sms().validate().unwrap();
        assert!(
            valid
                .body_with_local_id("k1")
                .ends_with(r#""local_id":"k1"}"#)
        );
        let mut own = sms();
        own.local_id = Some("mine".into());
        let valid = own.validate().unwrap();
        assert!(
            valid
                .body_with_local_id("k1")
                .contains(r#""local_id":"mine""#)
        );
        assert!(!valid.body_with_local_id("k1").contains("k1"));
    }

    #[test]
    fn a_leading_plus_is_refused_with_the_number_to_use() {
        let mut m = sms();
        m.phone_number = Some("+14155551234".into());
        let errors = m.validate().unwrap_err();
        assert_eq!(errors[0].field, "phone_number");
        assert!(errors[0].reason.contains("drop the leading '+'"));
        assert!(errors[0].reason.contains("14155551234"));
    }

    #[test]
    fn phone_numbers_of_wrong_shapes_are_refused() {
        for bad in [
            "",
            "1415 555 1234",
            "1-415-5551234",
            "0415551234",
            "123",
            "1234567890123456",
        ] {
            let mut m = sms();
            m.phone_number = Some(bad.into());
            assert_eq!(fields(m), ["phone_number"], "{bad:?}");
        }
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let m = Message {
            inbox_id: 0,
            creator_id: 0,
            ..Message::default()
        };
        assert_eq!(fields(m), ["inbox_id", "creator_id", "message", "message"]);
    }

    #[test]
    fn two_recipient_families_are_refused() {
        let mut m = sms();
        m.chat_id = Some(9);
        m.targets = Some(vec!["14155550000".into()]);
        assert_eq!(fields(m), ["chat_id", "targets"]);
    }

    #[test]
    fn list_broadcast_without_local_id_is_refused() {
        let mut m = sms();
        m.phone_number = None;
        m.list_id = Some(4);
        assert_eq!(fields(m), ["local_id"]);
    }

    #[test]
    fn private_comment_to_a_list_is_refused() {
        let mut m = sms();
        m.phone_number = None;
        m.list_id = Some(4);
        m.local_id = Some("b-1".into());
        m.private = Some(true);
        assert_eq!(fields(m), ["private"]);
    }

    #[test]
    fn targets_are_checked_one_by_one() {
        let mut m = sms();
        m.phone_number = None;
        m.targets = Some(vec![
            "14155550000".into(),
            "+1415".into(),
            "14155550000".into(),
        ]);
        assert_eq!(fields(m), ["targets[1]", "targets[2]"]);
        let mut m = sms();
        m.phone_number = None;
        m.targets = Some(vec![]);
        assert_eq!(fields(m), ["targets"]);
    }

    #[test]
    fn media_urls_must_be_absolute_http_without_credentials() {
        for bad in [
            "",
            "example.com/a.png",
            "ftp://example.com/a.png",
            "javascript://x",
            "https://user:pw@example.com/a.png",
            "https:///a.png",
            "https://example.com/a b.png",
        ] {
            let mut m = sms();
            m.media_url = Some(bad.into());
            assert_eq!(fields(m), ["media_url"], "{bad:?}");
        }
        let mut m = sms();
        m.media_url = Some("https://cdn.example.com:8443/a.png?x=1".into());
        assert!(m.validate().is_ok());
    }

    #[test]
    fn empty_strings_and_control_characters_are_refused() {
        let mut m = sms();
        m.text = Some(String::new());
        m.author = Some(String::new());
        m.activity_id = Some("a\u{0}b".into());
        assert_eq!(fields(m), ["text", "activity_id", "author"]);
        let mut m = sms();
        m.text = Some("line\nbreak\tand tab".into());
        assert!(m.validate().is_ok());
        let mut m = sms();
        m.text = Some("bell\u{7}".into());
        assert_eq!(fields(m), ["text"]);
    }

    #[test]
    fn overlong_text_is_refused() {
        let mut m = sms();
        m.text = Some("x".repeat(limits::MAX_TEXT_CHARS + 1));
        assert_eq!(fields(m), ["text"]);
    }

    fn every_field() -> Message {
        Message {
            inbox_id: u64::MAX,
            creator_id: 55,
            phone_number: Some("14155551234".into()),
            targets: Some(vec!["1\"2".into(), "é\n😀".into()]),
            chat_id: Some(1),
            list_id: Some(2),
            text: Some("tab\t quote\" backslash\\ nul\u{0} del\u{7f} /".into()),
            media_url: Some("https://cdn.example.com/a.png".into()),
            template_id: Some(3),
            local_id: Some("k-1".into()),
            activity_id: Some("a-1".into()),
            private: Some(false),
            author: Some("Front desk".into()),
            survey_id: Some(4),
        }
    }

    #[test]
    fn the_body_is_rendered_field_for_field_in_the_endpoints_order() {
        assert_eq!(
            every_field().to_json(),
            "{\"inbox_id\":18446744073709551615,\"creator_id\":55,\
             \"phone_number\":\"14155551234\",\"targets\":[\"1\\\"2\",\"é\\n😀\"],\
             \"chat_id\":1,\"list_id\":2,\
             \"text\":\"tab\\t quote\\\" backslash\\\\ nul\\u0000 del\u{7f} /\",\
             \"media_url\":\"https://cdn.example.com/a.png\",\"template_id\":3,\
             \"local_id\":\"k-1\",\"activity_id\":\"a-1\",\"private\":false,\
             \"author\":\"Front desk\",\"survey_id\":4}"
        );
        assert_eq!(
            Message::default().to_json(),
            r#"{"inbox_id":0,"creator_id":0}"#
        );
    }

    #[test]
    fn the_native_serde_rendering_is_the_same_as_the_components() {
        let only_targets = Message {
            targets: Some(vec![]),
            private: Some(true),
            ..Message::default()
        };
        for message in [every_field(), sms(), Message::default(), only_targets] {
            assert_eq!(serde_json::to_string(&message).unwrap(), message.to_json());
        }
    }

    #[test]
    fn a_rendered_body_reads_back_unchanged() {
        for message in [every_field(), sms(), Message::default()] {
            assert_eq!(
                Message::from_json(message.to_json().as_bytes()),
                Ok(message)
            );
        }
    }

    #[test]
    fn null_is_absent_and_whitespace_is_free() {
        let body = br#"
            { "inbox_id" : 1 , "creator_id":2, "phone_number":null, "targets":null,
              "chat_id":null, "list_id":null, "text":null, "media_url":null,
              "template_id":null, "local_id":null, "activity_id":null, "private":null,
              "author":null, "survey_id":null }
        "#;
        let message = Message::from_json(body).unwrap();
        assert_eq!(
            message,
            Message {
                inbox_id: 1,
                creator_id: 2,
                ..Message::default()
            }
        );
    }

    /// The field, its reason and the whole text of the error reading `body`.
    fn refusal(body: &str) -> (Option<String>, String, String) {
        let error = Message::from_json(body.as_bytes()).unwrap_err();
        assert!(!error.syntax, "{body}: {error}");
        (
            error.field.clone(),
            error.field_reason.clone(),
            error.to_string(),
        )
    }

    #[test]
    fn json_that_is_not_a_message_is_refused_by_field_and_rule() {
        let (field, reason, text) = refusal(r#"{"creator_id":55,"text":"x"}"#);
        assert_eq!(field.as_deref(), Some("inbox_id"));
        assert_eq!(reason, "is required");
        assert_eq!(text, "missing field `inbox_id` at line 1 column 28");

        let (field, _, text) = refusal(r#"{"inbox_id":1}"#);
        assert_eq!(field.as_deref(), Some("creator_id"));
        assert_eq!(text, "missing field `creator_id` at line 1 column 14");

        let (field, reason, text) = refusal(r#"{"inbox_id":1,"inbox_id":2,"creator_id":3}"#);
        assert_eq!(field.as_deref(), Some("inbox_id"));
        assert_eq!(reason, "is given more than once");
        assert_eq!(text, "duplicate field `inbox_id` at line 1 column 15");
        let (field, _, _) = refusal(r#"{"inbox_id":1,"creator_id":3,"text":null,"text":"x"}"#);
        assert_eq!(field.as_deref(), Some("text"));

        let (field, reason, text) = refusal(r#"{"inbox_id":1,"creator_id":2,"phoneNumber":"1"}"#);
        assert_eq!(field.as_deref(), Some("phoneNumber"));
        assert_eq!(reason, UNKNOWN_FIELD_REASON);
        assert_eq!(
            text,
            "unknown field `phoneNumber`; the fields are inbox_id, creator_id, phone_number, \
             targets, chat_id, list_id, text, media_url, template_id, local_id, activity_id, \
             private, author, survey_id at line 1 column 30"
        );

        let (field, reason, text) = refusal(r#"{"inbox_id":"101","creator_id":2}"#);
        assert_eq!(field.as_deref(), Some("inbox_id"));
        assert_eq!(reason, "expected an unsigned integer, found a string");
        assert_eq!(
            text,
            "invalid type for `inbox_id`: expected an unsigned integer, found a string at line 1 \
             column 13"
        );
        let (_, reason, _) = refusal(r#"{"inbox_id":null,"creator_id":2}"#);
        assert_eq!(reason, "expected an unsigned integer, found null");
        let (field, reason, _) = refusal(r#"{"inbox_id":1,"creator_id":2,"private":"yes"}"#);
        assert_eq!(field.as_deref(), Some("private"));
        assert_eq!(reason, "expected true or false, found a string");
        let (field, reason, _) = refusal(r#"{"inbox_id":1,"creator_id":2,"text":7}"#);
        assert_eq!(field.as_deref(), Some("text"));
        assert_eq!(reason, "expected a string, found a number");
        let (field, reason, _) = refusal(r#"{"inbox_id":1,"creator_id":2,"targets":"1"}"#);
        assert_eq!(field.as_deref(), Some("targets"));
        assert_eq!(reason, "expected an array, found a string");
        let (field, reason, text) =
            refusal(r#"{"inbox_id":1,"creator_id":2,"targets":["14155550000",14155550001]}"#);
        assert_eq!(field.as_deref(), Some("targets[1]"));
        assert_eq!(reason, "expected a string, found a number");
        assert!(text.starts_with("invalid type for `targets[1]`"), "{text}");
        let (field, reason, _) = refusal(r#"{"inbox_id":1,"creator_id":2,"chat_id":-5}"#);
        assert_eq!(field.as_deref(), Some("chat_id"));
        assert_eq!(
            reason,
            "expected an unsigned integer (0 to 18446744073709551615), found a negative number: -5"
        );

        for not_an_object in ["[1,2]", "null", "\"x\"", "7"] {
            let error = Message::from_json(not_an_object.as_bytes()).unwrap_err();
            assert!(!error.syntax);
            assert_eq!(error.field, None, "{not_an_object}");
            assert!(
                error
                    .message
                    .starts_with("expected an object (the message), found "),
                "{error}"
            );
        }
    }

    #[test]
    fn ids_are_read_up_to_u64_max_and_left_to_the_rules_above_i64() {
        let body = format!(r#"{{"inbox_id":{},"creator_id":0}}"#, u64::MAX);
        let message = Message::from_json(body.as_bytes()).unwrap();
        assert_eq!(message.inbox_id, u64::MAX);
        assert_eq!(
            fields(message),
            ["inbox_id", "creator_id", "message", "message"]
        );
        let body = r#"{"inbox_id":18446744073709551616,"creator_id":1}"#;
        let error = Message::from_json(body.as_bytes()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("inbox_id"));
        assert!(
            error
                .field_reason
                .contains("found a number above 18446744073709551615")
        );
    }

    #[test]
    fn broken_json_is_a_syntax_error_even_inside_a_known_field() {
        for body in [
            r#"{"inbox_id":1,"creator_id":2,"text":"\ud800"}"#,
            r#"{"inbox_id":1,"creator_id":2,"text":tru}"#,
            r#"{"inbox_id":01,"creator_id":2}"#,
            r#"{"inbox_id":1,"creator_id":2} {}"#,
            r#"{"inbox_id":1,"creator_id":2"#,
        ] {
            let error = Message::from_json(body.as_bytes()).unwrap_err();
            assert!(error.syntax, "{body}: {error}");
            assert_eq!(error.field, None);
        }
    }

    #[test]
    fn the_field_list_names_every_field_in_order() {
        assert_eq!(FIELD_LIST, FIELDS.join(", "));
    }

    #[test]
    fn unknown_json_fields_are_refused() {
        let err =
            Message::from_json(br#"{"inbox_id":1,"creator_id":2,"phone_nmber":"14155551234"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("phone_nmber"));
        assert_eq!(err.field.as_deref(), Some("phone_nmber"));
        assert!(!err.syntax);
    }
}
