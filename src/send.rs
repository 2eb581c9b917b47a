//! One send: the attempt loop and the reading of Heymarket's answers.
//!
//! Everything here is pure; the outside world (clocks, randomness, sleeping and the
//! HTTP exchange itself) comes through [`Io`], which the component implements with
//! `wasi:http` and the unit tests with a script of outcomes.

use core::time::Duration;

use crate::auth;
use crate::error::{ApiError, Permanent, SendError, Sent, Transient};
use crate::json::{self, Kind, Reader};
use crate::limits;
use crate::message::ValidMessage;
use crate::retry::{self, Decision};
use crate::settings::{Secret, Settings};

/// One request, ready for the wire.
pub struct Request<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub path: &'a str,
    /// Header names in lowercase. `authorization` holds a credential.
    pub headers: Vec<(&'static str, String)>,
    pub authorization: Secret,
    pub body: &'a [u8],
}

/// What came back from one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(Response),
    /// No complete answer within the attempt's time.
    Timeout(String),
    /// The connection failed or closed before a complete answer.
    Connection(String),
    /// The host refused to make the request (its sandbox, or a URL it cannot use).
    Refused(String),
}

/// A complete answer; the body is cut at [`limits::MAX_RESPONSE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub status: u16,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// The outside world, as one send needs it.
pub trait Io {
    /// Time since an arbitrary fixed point; only differences are used.
    fn monotonic(&mut self) -> Duration;
    /// Seconds since the Unix epoch, for signing tokens and reading HTTP dates.
    fn unix_time(&mut self) -> u64;
    fn random_u64(&mut self) -> u64;
    fn sleep(&mut self, duration: Duration);
    /// Makes one request, giving up after `timeout`.
    fn perform(&mut self, request: &Request<'_>, timeout: Duration) -> Outcome;
}

/// Makes a fresh idempotency key from the host's randomness.
pub fn new_local_id(io: &mut dyn Io) -> String {
    format!("hm-{:016x}{:016x}", io.random_u64(), io.random_u64())
}

/// Posts `message`, retrying what is safe to retry, and reads the answer.
///
/// Every attempt carries the same `local_id`, so Heymarket creates at most one message
/// however many attempts are made.
pub fn send(
    message: &ValidMessage,
    settings: &Settings,
    io: &mut dyn Io,
) -> Result<Sent, SendError> {
    let local_id = match message.local_id() {
        Some(key) => key.to_owned(),
        None => new_local_id(io),
    };
    let body = message.body_with_local_id(&local_id);
    let path = format!("{}{}", settings.base_url.path_prefix, limits::SEND_PATH);
    let started = io.monotonic();
    let mut secrets: Vec<String> = settings
        .credentials
        .secrets()
        .iter()
        .map(|s| s.to_string())
        .collect();

    let mut attempt = 0;
    let error = loop {
        attempt += 1;
        let elapsed = io.monotonic().saturating_sub(started);
        let Some(remaining) = settings
            .deadline
            .checked_sub(elapsed)
            .filter(|d| !d.is_zero())
        else {
            break deadline_passed(settings, attempt - 1);
        };

        let authorization = auth::authorization(&settings.credentials, io.unix_time());
        let mut token = authorization.expose();
        while let Some(rest) = token.strip_prefix("Bearer ") {
            token = rest;
        }
        secrets.push(token.to_owned());
        let request = Request {
            https: settings.base_url.https,
            authority: &settings.base_url.authority,
            path: &path,
            headers: vec![
                ("content-type", "application/json".into()),
                ("accept", "application/json".into()),
                ("user-agent", limits::USER_AGENT.into()),
                ("content-length", body.len().to_string()),
            ],
            authorization,
            body: body.as_bytes(),
        };
        let mut outcome = io.perform(&request, settings.timeout.min(remaining));
        if let Outcome::Response(response) = &mut outcome {
            scrub_response(response, &secrets);
        }
        let retry_after = match &outcome {
            Outcome::Response(response) => response.retry_after.clone(),
            _ => None,
        };

        let error = match interpret(outcome, &settings.base_url.url(&path)) {
            Ok(answer) => {
                return Ok(Sent {
                    id: answer.id,
                    date: answer.date,
                    gallery_url: answer.gallery_url,
                    local_id,
                    request_id: answer.request_id,
                    attempts: attempt,
                });
            }
            Err(error) => error,
        };
        if attempt >= settings.max_attempts {
            break error;
        }
        let elapsed = io.monotonic().saturating_sub(started);
        let remaining = settings.deadline.saturating_sub(elapsed);
        let jitter = io.random_u64();
        let now = io.unix_time();
        let server_wait = retry_after.and_then(|value| retry::parse_retry_after(&value, now));
        let base = settings.backoff_base;
        match retry::decide(&error, attempt, base, jitter, remaining, server_wait) {
            Decision::Retry(wait) => io.sleep(wait),
            Decision::Stop => break error,
        }
    };
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    Err(error.redact(&secrets))
}

/// Takes every credential out of an answer before anything reads it, so that a server
/// echoing the `Authorization` header (in the body, `X-Request-Id` or `Location`) can
/// make the component return it neither in an error nor in a success. A value cut at a
/// length cap may end in the first part of a secret; that part goes too.
fn scrub_response(response: &mut Response, secrets: &[String]) {
    let secrets: Vec<&[u8]> = secrets
        .iter()
        .map(|s| s.as_bytes())
        .filter(|s| !s.is_empty())
        .collect();
    scrub_bytes(&mut response.body, &secrets);
    for value in [
        &mut response.request_id,
        &mut response.retry_after,
        &mut response.location,
    ]
    .into_iter()
    .flatten()
    {
        let mut bytes = core::mem::take(value).into_bytes();
        scrub_bytes(&mut bytes, &secrets);
        // Only whole secrets and trailing parts of them were removed, and the
        // replacement is ASCII, so the bytes are still UTF-8.
        *value = String::from_utf8_lossy(&bytes).into_owned();
    }
}

const REDACTED: &[u8] = b"[redacted]";
/// A trailing piece of a secret this short says too little to be worth removing.
const MIN_SECRET_PIECE: usize = 4;

fn scrub_bytes(bytes: &mut Vec<u8>, secrets: &[&[u8]]) {
    for secret in secrets {
        let mut from = 0;
        while let Some(at) = crate::text::find(&bytes[from..], secret) {
            let start = from + at;
            bytes.splice(start..start + secret.len(), REDACTED.iter().copied());
            from = start + REDACTED.len();
        }
        // A cut secret at the very end of a bounded value.
        let longest = secret.len().saturating_sub(1).min(bytes.len());
        if let Some(len) = (MIN_SECRET_PIECE..=longest)
            .rev()
            .find(|&len| bytes.ends_with(&secret[..len]))
        {
            bytes.truncate(bytes.len() - len);
            bytes.extend_from_slice(REDACTED);
        }
    }
}

fn deadline_passed(settings: &Settings, attempts: u32) -> SendError {
    SendError::Transient(Transient::Timeout(format!(
        "no answer within the overall deadline of {} ms after {attempts} attempt(s); \
         retry later with the same local_id, or raise HEYMARKET_DEADLINE_MS",
        u64::try_from(settings.deadline.as_millis()).unwrap_or(u64::MAX)
    )))
}

/// A success, read from a 2xx answer.
struct Answer {
    id: u64,
    date: String,
    gallery_url: Option<String>,
    request_id: Option<String>,
}

/// Reads the documented success body `{id, date, gallery_url}`. Unknown fields are
/// allowed (a new field from Heymarket must not turn a sent message into an error);
/// a documented field given twice is not.
fn success_body(reader: &mut Reader<'_>) -> Result<(u64, String, Option<String>), json::Error> {
    if reader.kind()? != Kind::Object {
        return Err(reader.type_error("", "an object"));
    }
    let (mut id, mut date, mut gallery_url) = (None, None, None);
    let mut seen = 0u8;
    let mut members = reader.object("")?;
    while let Some((key, at)) = reader.key(&mut members)? {
        let Some(index) = SUCCESS_FIELDS.iter().position(|f| *f == key) else {
            reader.skip()?;
            continue;
        };
        if seen & 1 << index != 0 {
            let message = format!("duplicate field `{key}`");
            return Err(reader.shape_error(at, &key, "is given more than once", message));
        }
        seen |= 1 << index;
        match index {
            0 => id = Some(reader.u64(&key)?),
            1 => date = Some(reader.string(&key)?),
            _ if reader.null()? => {}
            _ => gallery_url = Some(reader.string(&key)?),
        }
    }
    let end = reader.offset() - 1;
    let missing = |field: &str| {
        let message = format!("missing field `{field}`");
        reader.shape_error(end, field, "is required", message)
    };
    let id = id.ok_or_else(|| missing("id"))?;
    let date = date.ok_or_else(|| missing("date"))?;
    Ok((id, date, gallery_url))
}

const SUCCESS_FIELDS: [&str; 3] = ["id", "date", "gallery_url"];

/// Maps one attempt's outcome to a success or the matching error.
fn interpret(outcome: Outcome, url: &str) -> Result<Answer, SendError> {
    let response = match outcome {
        Outcome::Response(response) => response,
        Outcome::Timeout(text) => {
            return Err(SendError::Transient(Transient::Timeout(format!(
                "{url}: {text}"
            ))));
        }
        Outcome::Connection(text) => {
            return Err(SendError::Transient(Transient::Connection(format!(
                "{url}: {text}"
            ))));
        }
        Outcome::Refused(text) => {
            return Err(SendError::Permanent(Permanent::Configuration(format!(
                "the host refused the request to {url}: {text}; allow this host in the \
                 host's outgoing HTTP policy or fix HEYMARKET_BASE_URL"
            ))));
        }
    };
    let status = response.status;
    match status {
        200..=299 => match json::read(&response.body, success_body) {
            Ok((id, date, gallery_url)) => Ok(Answer {
                id,
                date,
                gallery_url,
                request_id: response.request_id,
            }),
            Err(e) => Err(SendError::Transient(Transient::InvalidResponse(api_error(
                &response,
                format!(
                    "HTTP {status} but the body is not the documented {{id, date, \
                     gallery_url}}: {e}; the message may have been created, so retry only \
                     with the same local_id"
                ),
            )))),
        },
        300..=399 => {
            let target = response.location.as_deref().unwrap_or("no location");
            let message = format!(
                "redirect to {target} not followed (credentials are only sent to the \
                 configured host); check HEYMARKET_BASE_URL"
            );
            Err(SendError::Transient(Transient::InvalidResponse(api_error(
                &response, message,
            ))))
        }
        401 => Err(SendError::Permanent(Permanent::Unauthorized(vendor_error(
            &response,
        )))),
        403 => Err(SendError::Permanent(Permanent::Forbidden(vendor_error(
            &response,
        )))),
        429 => Err(SendError::Transient(Transient::RateLimited(vendor_error(
            &response,
        )))),
        400..=499 => Err(SendError::Permanent(Permanent::Rejected(vendor_error(
            &response,
        )))),
        500..=599 => Err(SendError::Transient(Transient::Server(vendor_error(
            &response,
        )))),
        _ => Err(SendError::Transient(Transient::InvalidResponse(api_error(
            &response,
            format!("unexpected HTTP status {status}"),
        )))),
    }
}

/// An error carrying Heymarket's own message when its body has one.
fn vendor_error(response: &Response) -> ApiError {
    let message = vendor_message(&response.body)
        .unwrap_or_else(|| format!("HTTP {} {}", response.status, reason(response.status)));
    api_error(response, message)
}

fn api_error(response: &Response, message: String) -> ApiError {
    ApiError {
        status: response.status,
        message,
        request_id: response.request_id.clone(),
        body: bounded_text(&response.body, limits::MAX_ERROR_BODY_BYTES),
    }
}

/// Reads `error` and `message` from a JSON object body; the shape is undocumented, so
/// anything else yields nothing.
fn vendor_message(body: &[u8]) -> Option<String> {
    let [error, message] = json::strings(body, ["error", "message"])?;
    let text = |value: Option<String>| {
        value
            .filter(|s| !s.is_empty())
            .map(|s| bounded_text(s.as_bytes(), 512))
    };
    match (text(error), text(message)) {
        (Some(error), Some(message)) if error != message => Some(format!("{error}: {message}")),
        (Some(one), _) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

/// Lossy UTF-8 of at most `max` bytes, cut on a character boundary.
pub fn bounded_text(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= max {
        return text.into_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use std::collections::VecDeque;

    /// A scripted world: each `perform` takes the next outcome.
    struct Script {
        outcomes: VecDeque<Outcome>,
        now: Duration,
        sleeps: Vec<Duration>,
        requests: Vec<(String, String, String)>,
    }

    impl Script {
        fn new(outcomes: impl IntoIterator<Item = Outcome>) -> Self {
            Script {
                outcomes: outcomes.into_iter().collect(),
                now: Duration::ZERO,
                sleeps: vec![],
                requests: vec![],
            }
        }
    }

    impl Io for Script {
        fn monotonic(&mut self) -> Duration {
            self.now
        }
        fn unix_time(&mut self) -> u64 {
            1_700_000_000 + self.now.as_secs()
        }
        fn random_u64(&mut self) -> u64 {
            u64::MAX / 2
        }
        fn sleep(&mut self, duration: Duration) {
            self.sleeps.push(duration);
            self.now += duration;
        }
        fn perform(&mut self, request: &Request<'_>, timeout: Duration) -> Outcome {
            self.requests.push((
                request.path.to_owned(),
                request.authorization.expose().to_owned(),
                String::from_utf8(request.body.to_vec()).unwrap(),
            ));
            let outcome = self
                .outcomes
                .pop_front()
                .expect("no more outcomes scripted");
            if matches!(outcome, Outcome::Timeout(_)) {
                self.now += timeout;
            }
            outcome
        }
    }

    fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut vars = vec![
            ("HEYMARKET_API_KEY", "key-123"),
            ("HEYMARKET_BASE_URL", "http://127.0.0.1:9/api/"),
        ];
        vars.extend_from_slice(extra);
        Settings::from_env(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    fn message() -> ValidMessage {
        Message {
            inbox_id: 1,
            creator_id: 2,
            phone_number: Some("14155551234".into()),
            text: Some("hi".into()),
            ..Message::default()
        }
        .validate()
        .unwrap()
    }

    fn status(status: u16, body: &str) -> Outcome {
        Outcome::Response(Response {
            status,
            request_id: Some(format!("req-{status}")),
            body: body.as_bytes().to_vec(),
            ..Response::default()
        })
    }

    fn ok() -> Outcome {
        status(200, r#"{"id":7,"date":"2026-01-01T00:00:00Z","extra":1}"#)
    }

    #[test]
    fn a_success_reports_the_generated_key_and_one_attempt() {
        let mut io = Script::new([ok()]);
        let sent = send(&message(), &settings(&[]), &mut io).unwrap();
        assert_eq!(sent.id, 7);
        assert_eq!(sent.attempts, 1);
        assert_eq!(sent.request_id.as_deref(), Some("req-200"));
        assert_eq!(sent.local_id, "hm-7fffffffffffffff7fffffffffffffff");
        let (path, auth, body) = &io.requests[0];
        assert_eq!(path, "/api/v1/message/send");
        assert_eq!(auth, "Bearer key-123");
        assert!(body.contains(r#""local_id":"hm-7fffffffffffffff7fffffffffffffff""#));
    }

    #[test]
    fn retries_reuse_the_same_body_and_key() {
        let mut io = Script::new([status(500, ""), Outcome::Connection("reset".into()), ok()]);
        let sent = send(&message(), &settings(&[]), &mut io).unwrap();
        assert_eq!(sent.attempts, 3);
        assert_eq!(io.requests[0].2, io.requests[2].2);
        assert_eq!(io.sleeps.len(), 2);
    }

    #[test]
    fn rate_limit_waits_as_long_as_retry_after_says() {
        let mut limited = status(429, "{}");
        if let Outcome::Response(r) = &mut limited {
            r.retry_after = Some("2".into());
        }
        let mut io = Script::new([limited, ok()]);
        send(&message(), &settings(&[]), &mut io).unwrap();
        assert_eq!(io.sleeps, [Duration::from_secs(2)]);
    }

    #[test]
    fn client_errors_are_never_retried() {
        for (code, kind) in [
            (400, "permanent.rejected"),
            (401, "permanent.unauthorized"),
            (403, "permanent.forbidden"),
            (404, "permanent.rejected"),
            (422, "permanent.rejected"),
        ] {
            let mut io = Script::new([status(code, r#"{"error":"bad_data","message":"x"}"#)]);
            let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
            assert_eq!(err.kind(), kind);
            assert_eq!(io.requests.len(), 1);
            assert_eq!(err.api_error().unwrap().message, "bad_data: x");
            assert_eq!(
                err.api_error().unwrap().request_id.as_deref(),
                Some(&*format!("req-{code}"))
            );
        }
    }

    #[test]
    fn the_last_server_error_is_returned_after_max_attempts() {
        let mut io = Script::new([status(503, "a"), status(502, "b")]);
        let err = send(
            &message(),
            &settings(&[("HEYMARKET_MAX_ATTEMPTS", "2")]),
            &mut io,
        )
        .unwrap_err();
        assert_eq!(err.kind(), "transient.server");
        assert_eq!(err.api_error().unwrap().status, 502);
        assert_eq!(err.api_error().unwrap().message, "HTTP 502 Bad Gateway");
    }

    #[test]
    fn a_2xx_without_an_id_is_an_invalid_response() {
        for body in [
            "",
            "not json",
            r#"{"id":"7","date":"x"}"#,
            r#"{"date":"x"}"#,
        ] {
            let mut io = Script::new([status(200, body)]);
            let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
            assert_eq!(err.kind(), "transient.invalid-response", "{body}");
            assert_eq!(io.requests.len(), 1);
        }
    }

    #[test]
    fn a_redirect_is_not_followed() {
        let mut io = Script::new([status(307, "")]);
        let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
        assert_eq!(err.kind(), "transient.invalid-response");
        assert_eq!(io.requests.len(), 1);
    }

    #[test]
    fn timeouts_stop_at_the_overall_deadline() {
        let mut io = Script::new([
            Outcome::Timeout("slow".into()),
            Outcome::Timeout("slow".into()),
            Outcome::Timeout("slow".into()),
        ]);
        let s = settings(&[
            ("HEYMARKET_TIMEOUT_MS", "1000"),
            ("HEYMARKET_DEADLINE_MS", "1500"),
        ]);
        let err = send(&message(), &s, &mut io).unwrap_err();
        assert_eq!(err.kind(), "transient.timeout");
        assert!(io.now <= Duration::from_millis(1500), "{:?}", io.now);
    }

    #[test]
    fn a_refused_request_is_a_configuration_error() {
        let mut io = Script::new([Outcome::Refused("not allowed".into())]);
        let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
        assert_eq!(err.kind(), "permanent.configuration");
    }

    #[test]
    fn an_echoed_secret_is_redacted() {
        let mut io = Script::new([status(401, r#"{"message":"bad key key-123"}"#)]);
        let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("key-123"), "{text}");
        assert!(text.contains("[redacted]"));
    }

    #[test]
    fn an_echoed_key_is_taken_out_of_every_part_of_an_answer() {
        let mut echo = status(
            200,
            r#"{"id":7,"date":"key-123","gallery_url":"https://g.example/key-123"}"#,
        );
        if let Outcome::Response(r) = &mut echo {
            r.request_id = Some("req-key-123".into());
        }
        let mut io = Script::new([echo]);
        let sent = send(&message(), &settings(&[]), &mut io).unwrap();
        assert!(!format!("{sent:?}").contains("key-1"), "{sent:?}");
        assert_eq!(sent.request_id.as_deref(), Some("req-[redacted]"));

        let mut cut = status(400, &format!("{}key-12", "x".repeat(10)));
        if let Outcome::Response(r) = &mut cut {
            r.request_id = Some("req-key-1".into());
            r.location = Some("https://elsewhere/?k=key-123".into());
        }
        let mut io = Script::new([cut]);
        let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
        assert!(!format!("{err:?}").contains("key-1"), "{err:?}");
    }

    #[test]
    fn an_echoed_jwt_is_redacted() {
        let s = settings(&[
            ("HEYMARKET_SECRET_ID", "sid"),
            ("HEYMARKET_SECRET_KEY", "skey"),
        ]);
        let mut io = Script::new([]);
        let token = auth::sign_token("sid", &Secret::new("skey".into()), 1_700_000_000);
        io.outcomes
            .push_back(status(401, &format!(r#"{{"message":"expired {token}"}}"#)));
        let err = send(&message(), &s, &mut io).unwrap_err();
        assert!(!format!("{err:?}").contains(&token));
    }

    #[test]
    fn error_bodies_are_bounded() {
        let mut io = Script::new([status(400, &"é".repeat(5000))]);
        let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
        assert!(err.api_error().unwrap().body.len() <= limits::MAX_ERROR_BODY_BYTES);
    }

    #[test]
    fn the_success_body_is_read_strictly_but_tolerates_new_fields() {
        let read = |body: &str| json::read(body.as_bytes(), success_body);
        assert_eq!(
            read(concat!(
                r#"{"new":{"deep":[1,{"x":null}]},"#,
                r#""id":18446744073709551615,"date":"d","gallery_url":null}"#
            )),
            Ok((u64::MAX, "d".into(), None))
        );
        assert_eq!(
            read(r#"{"id":1,"date":"d","gallery_url":"https://g/1"}"#),
            Ok((1, "d".into(), Some("https://g/1".into())))
        );
        for (body, expected) in [
            (r#"{"id":1}"#, "missing field `date` at line 1 column 8"),
            (r#"{"date":"d"}"#, "missing field `id` at line 1 column 12"),
            (
                r#"{"id":1,"id":2,"date":"d"}"#,
                "duplicate field `id` at line 1 column 9",
            ),
            (
                r#"{"id":-7,"date":"d"}"#,
                "invalid value for `id`: expected an unsigned integer (0 to \
                 18446744073709551615), found a negative number: -7 at line 1 column 7",
            ),
            (
                r#"{"id":7.5,"date":"d"}"#,
                "invalid value for `id`: expected an unsigned integer (0 to \
                 18446744073709551615), found a number with a fraction: 7.5 at line 1 column 7",
            ),
            (
                r#"{"id":1,"date":5}"#,
                "invalid type for `date`: expected a string, found a number at line 1 column 16",
            ),
            (
                "[7,\"d\"]",
                "expected an object, found an array at line 1 column 1",
            ),
            (
                "",
                "expected a value, found the end of the input at line 1 column 1",
            ),
        ] {
            assert_eq!(read(body).unwrap_err().to_string(), expected, "{body}");
        }
        let deep = format!(
            r#"{{"id":1,"date":"d","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(read(&deep).unwrap_err().syntax);
    }

    #[test]
    fn an_invalid_success_body_is_explained_in_the_error() {
        let mut io = Script::new([status(200, r#"{"id":"7","date":"x"}"#)]);
        let err = send(&message(), &settings(&[]), &mut io).unwrap_err();
        let text = err.api_error().unwrap().message.clone();
        assert!(
            text.contains("invalid type for `id`: expected an unsigned integer, found a string"),
            "{text}"
        );
    }

    #[test]
    fn the_vendor_message_is_read_from_any_json_object() {
        let message = |body: &str| vendor_message(body.as_bytes());
        assert_eq!(
            message(r#"{"error":"e","message":"m"}"#),
            Some("e: m".into())
        );
        assert_eq!(
            message(r#"{"error":"same","message":"same"}"#),
            Some("same".into())
        );
        assert_eq!(message(r#"{"message":"m","error":""}"#), Some("m".into()));
        assert_eq!(message(r#"{"error":7,"message":[1]}"#), None);
        assert_eq!(message(r#"{"error":"a","error":"b"}"#), Some("b".into()));
        assert_eq!(
            message(r#"{"error":"\u00e9\ud83d\ude00"}"#),
            Some("é😀".into())
        );
        for not_json in ["", "oops", r#"{"error":"e"} trailing"#, r#"["error"]"#] {
            assert_eq!(message(not_json), None, "{not_json}");
        }
        let long = format!(r#"{{"error":"{}"}}"#, "é".repeat(600));
        assert_eq!(message(&long).unwrap().len(), 512);
    }
}
