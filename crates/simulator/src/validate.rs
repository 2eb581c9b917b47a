//! The body rules of `POST /v1/message/send`, from the vendor's reference page. The first
//! broken rule is reported, as `<field>: <reason>`.

use serde_json::{Map, Value};

/// A broken rule: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadData {
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl BadData {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        BadData {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    PositiveInt,
    Text,
    PhoneList,
    Bool,
}

/// Every documented field, in the order the reference page lists them.
const FIELDS: [(&str, Kind); 14] = [
    ("inbox_id", Kind::PositiveInt),
    ("creator_id", Kind::PositiveInt),
    ("phone_number", Kind::Text),
    ("targets", Kind::PhoneList),
    ("chat_id", Kind::PositiveInt),
    ("list_id", Kind::PositiveInt),
    ("text", Kind::Text),
    ("media_url", Kind::Text),
    ("template_id", Kind::PositiveInt),
    ("local_id", Kind::Text),
    ("activity_id", Kind::Text),
    ("private", Kind::Bool),
    ("author", Kind::Text),
    ("survey_id", Kind::PositiveInt),
];

const RECIPIENTS: [&str; 4] = ["phone_number", "chat_id", "list_id", "targets"];

/// Parses and checks a send body; answers the JSON object when every rule holds.
pub(crate) fn check(body: &[u8]) -> Result<Map<String, Value>, BadData> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadData::new("body", format!("not valid JSON ({e})")))?;
    let Value::Object(map) = value else {
        return Err(BadData::new("body", "must be a JSON object"));
    };
    check_types(&map)?;
    check_required(&map)?;
    check_recipients(&map)?;
    check_content(&map)?;
    Ok(map)
}

fn check_types(map: &Map<String, Value>) -> Result<(), BadData> {
    if let Some(unknown) = map
        .keys()
        .find(|key| !FIELDS.iter().any(|(name, _)| name == key))
    {
        // The name is client data and may be anything; keep the answer bounded.
        let shown: String = unknown.chars().take(64).collect();
        return Err(BadData::new(&shown, "unknown field"));
    }
    for (field, kind) in FIELDS {
        let Some(value) = map.get(field) else {
            continue;
        };
        let fits = match kind {
            Kind::PositiveInt => value.as_u64().is_some_and(|n| n > 0),
            Kind::Text => value.is_string(),
            Kind::PhoneList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Kind::Bool => value.is_boolean(),
        };
        if !fits {
            let expected = match kind {
                Kind::PositiveInt => "must be a positive integer",
                Kind::Text => "must be a string",
                Kind::PhoneList => "must be an array of strings",
                Kind::Bool => "must be a boolean",
            };
            return Err(BadData::new(field, expected));
        }
    }
    Ok(())
}

fn check_required(map: &Map<String, Value>) -> Result<(), BadData> {
    for field in ["inbox_id", "creator_id"] {
        if !map.contains_key(field) {
            return Err(BadData::new(field, "is required"));
        }
    }
    if map
        .get("local_id")
        .and_then(Value::as_str)
        .is_some_and(str::is_empty)
    {
        return Err(BadData::new("local_id", "must not be empty"));
    }
    Ok(())
}

fn check_recipients(map: &Map<String, Value>) -> Result<(), BadData> {
    let given: Vec<&'static str> = RECIPIENTS
        .into_iter()
        .filter(|field| map.contains_key(*field))
        .collect();
    match given.as_slice() {
        [] => {
            return Err(BadData::new(
                "phone_number",
                "a recipient is required: phone_number, chat_id, list_id or targets",
            ));
        }
        ["phone_number", "chat_id", ..] => {
            return Err(BadData::new(
                "chat_id",
                "give phone_number or chat_id, not both",
            ));
        }
        [first, second, ..] => {
            return Err(BadData::new(
                second,
                format!("only one recipient family per request; {first} was also given"),
            ));
        }
        [_] => {}
    }

    if let Some(phone) = map.get("phone_number").and_then(Value::as_str) {
        check_phone("phone_number", phone)?;
    }
    if let Some(targets) = map.get("targets").and_then(Value::as_array) {
        if targets.is_empty() {
            return Err(BadData::new("targets", "must not be empty"));
        }
        for target in targets.iter().filter_map(Value::as_str) {
            check_phone("targets", target)?;
        }
    }
    if map.contains_key("list_id") && !map.contains_key("local_id") {
        return Err(BadData::new(
            "local_id",
            "is required with list_id (it makes the broadcast idempotent)",
        ));
    }
    let private = map.get("private").and_then(Value::as_bool) == Some(true);
    if private && (map.contains_key("list_id") || map.contains_key("targets")) {
        return Err(BadData::new(
            "private",
            "private comments belong in an existing conversation: use phone_number or chat_id",
        ));
    }
    Ok(())
}

fn check_phone(field: &'static str, phone: &str) -> Result<(), BadData> {
    let digits_only = phone.bytes().all(|b| b.is_ascii_digit());
    if digits_only && (7..=15).contains(&phone.len()) && !phone.starts_with('0') {
        return Ok(());
    }
    Err(BadData::new(
        field,
        "must be an E.164 number without the leading +: 7 to 15 digits, e.g. 14155551234",
    ))
}

fn check_content(map: &Map<String, Value>) -> Result<(), BadData> {
    let has_text = map
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|text| !text.is_empty());
    let has_other = ["media_url", "template_id", "survey_id"]
        .iter()
        .any(|field| map.contains_key(*field));
    if !has_text && !has_other {
        return Err(BadData::new(
            "text",
            "nothing to send: give text, media_url, template_id or survey_id",
        ));
    }
    if let Some(url) = map.get("media_url").and_then(Value::as_str)
        && !is_absolute_http_url(url)
    {
        return Err(BadData::new(
            "media_url",
            "must be an absolute http or https URL",
        ));
    }
    Ok(())
}

fn is_absolute_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !url.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> Option<String> {
        check(body.as_bytes()).err().map(|bad| bad.field)
    }

    #[test]
    fn a_plain_sms_passes() {
        let body = r#"{"inbox_id":1,"creator_id":2,"phone_number":"14155551234","text":"hi"}"#;
        assert_eq!(field_of(body), None);
    }

    #[test]
    fn e164_numbers_need_7_to_15_digits_without_plus_or_leading_zero() {
        assert!(check_phone("p", "14155551234").is_ok());
        assert!(check_phone("p", "1234567").is_ok());
        assert!(check_phone("p", "123456789012345").is_ok());
        for bad in [
            "+14155551234",
            "123456",
            "1234567890123456",
            "04155551234",
            "1415-555",
        ] {
            assert!(check_phone("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn media_urls_must_be_absolute_http_urls() {
        assert!(is_absolute_http_url("https://example.com/a.png"));
        assert!(is_absolute_http_url("HTTP://example.com"));
        for bad in ["ftp://x/y", "https://", "/relative.png", "https://a b.com/"] {
            assert!(!is_absolute_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn floats_are_not_integers() {
        let body = r#"{"inbox_id":1.0,"creator_id":2,"chat_id":3,"text":"hi"}"#;
        assert_eq!(field_of(body).as_deref(), Some("inbox_id"));
    }
}
