//! The message as the caller gave it, the rules it must meet, and its JSON body.
//!
//! Validation reports every broken rule at once and changes nothing: a value is either
//! sent exactly as given or reported as a [`FieldError`].

use serde::{Deserialize, Serialize};

use crate::limits;

/// The body of `POST /v1/message/send`, field for field, in wire (snake_case) names.
///
/// Unknown fields are refused when parsing JSON, so that a misspelt field is an error
/// rather than a silently dropped setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub inbox_id: u64,
    pub creator_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey_id: Option<u64>,
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
    // Serializing plain strings, integers and booleans cannot fail.
    serde_json::to_string(message).unwrap_or_default()
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
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("must be an absolute URL starting with https:// or http://".into());
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "must use https or http, not {scheme:?}: Heymarket fetches the media from it"
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

    #[test]
    fn unknown_json_fields_are_refused() {
        let err = serde_json::from_str::<Message>(
            r#"{"inbox_id":1,"creator_id":2,"phone_nmber":"14155551234"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("phone_nmber"));
    }
}
