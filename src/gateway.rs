//! The HTTP gateway: `wasi:http/incoming-handler` requests mapped onto the same
//! validation and send path as `send-message`, and the results onto HTTP answers.
//!
//! Pure like the rest of the core: the component's glue hands over the request head, a
//! way to read the body, the environment and an [`Io`], and writes back the [`Reply`].
//! Errors are RFC 9457 problem details whose `type` is
//! [`PROBLEM_TYPE_PREFIX`] followed by a stable name: the `send-error` case names
//! ([`SendError::kind`]) for failures of the send itself, `gateway.*` for the gateway's
//! own refusals.

use core::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Permanent, SendError, Transient};
use crate::json;
use crate::message::{FieldError, Message};
use crate::segments::Encoding;
use crate::send::{self, Io, Outcome, Request};
use crate::{Preview, limits, retry};

/// The bearer token callers must present; without it the gateway refuses to send.
pub const TOKEN_VAR: &str = "HEYMARKET_GATEWAY_TOKEN";
/// Set to `1` to run without a token, for local testing only.
pub const ALLOW_UNAUTHENTICATED_VAR: &str = "HEYMARKET_GATEWAY_ALLOW_UNAUTHENTICATED";
/// Every problem `type` starts with this; a URN, since no page is served at it.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:heymarket-sms:problem:";

/// The routes, each with the one method it answers.
pub const ROUTES: [(&str, &str); 3] = [
    ("POST", "/v1/message/send"),
    ("POST", "/v1/message/preview"),
    ("GET", "/healthz"),
];

/// The parts of an incoming request read before its body.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// The method as sent, e.g. `POST`.
    pub method: &'a str,
    /// The path with its query, if any; the query is ignored.
    pub path: &'a str,
    /// Every header line; names compare case-insensitively.
    pub headers: &'a [(String, Vec<u8>)],
}

impl Head<'_> {
    fn values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The header's value when it occurs exactly once.
    fn single(&self, name: &str) -> Option<&[u8]> {
        let mut values = self.values(name);
        let first = values.next()?;
        values.next().is_none().then_some(first)
    }
}

/// How reading the request body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The whole body, no longer than the cap.
    Complete(Vec<u8>),
    /// More than the cap arrived; reading stopped there.
    TooLarge,
    /// The body did not arrive in full within [`limits::GATEWAY_BODY_TIMEOUT`].
    TimedOut,
    /// The stream failed before its end.
    Broken(String),
}

/// One HTTP answer, complete with its `content-type` and `content-length`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Lowercase names, in the order to send.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, content_type: &str, body: String) -> Reply {
        let body = body.into_bytes();
        Reply {
            status,
            headers: vec![
                ("content-type", content_type.to_owned()),
                ("content-length", body.len().to_string()),
                ("cache-control", "no-store".to_owned()),
            ],
            body,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The problem `type` without [`PROBLEM_TYPE_PREFIX`], for a problem answer.
    pub fn problem_type(&self) -> Option<String> {
        let [kind] = json::strings(&self.body, ["type"])?;
        kind?.strip_prefix(PROBLEM_TYPE_PREFIX).map(str::to_owned)
    }
}

/// Who may use the send and preview routes, from the environment.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Callers must present this bearer token.
    Token(Vec<u8>),
    /// Anyone may: the operator set the local-testing switch and no token.
    Open,
    /// Nobody may: neither a token nor the switch is set.
    Refusing,
}

impl core::fmt::Debug for Access {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl Access {
    /// A token wins over the switch, so setting both never opens the gateway. An empty
    /// token counts as none: it would match an empty bearer.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Access {
        match var(TOKEN_VAR).filter(|t| !t.is_empty()) {
            Some(token) => Access::Token(token.into_bytes()),
            None if var(ALLOW_UNAUTHENTICATED_VAR).as_deref() == Some("1") => Access::Open,
            None => Access::Refusing,
        }
    }

    /// How `/healthz` reports the mode; never the token.
    pub fn name(&self) -> &'static str {
        match self {
            Access::Token(_) => "token",
            Access::Open => "unauthenticated",
            Access::Refusing => "refusing",
        }
    }
}

/// Answers one request. `read_body` is called at most once, with the cap, and only
/// after the route, the caller and the content type were accepted.
pub fn handle(
    head: &Head<'_>,
    read_body: impl FnOnce(usize) -> Body,
    var: impl Fn(&str) -> Option<String>,
    io: &mut impl Io,
) -> Reply {
    let access = Access::from_env(&var);
    let preview = match route(head) {
        Ok(Route::Health) => return health(&access),
        Ok(Route::Send) => false,
        Ok(Route::Preview) => true,
        Err(reply) => return reply,
    };
    let message = match admit(head, &access).and_then(|()| read_message(read_body)) {
        Ok(message) => message,
        Err(reply) => return reply,
    };
    if preview {
        preview_reply(crate::preview(message))
    } else {
        send_reply(message, var, io)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Send,
    Preview,
    Health,
}

fn route(head: &Head<'_>) -> Result<Route, Reply> {
    let path = head.path.split(['?', '#']).next().unwrap_or_default();
    let (route, allowed) = match path {
        "/v1/message/send" => (Route::Send, "POST"),
        "/v1/message/preview" => (Route::Preview, "POST"),
        "/healthz" => (Route::Health, "GET"),
        _ => {
            let mut detail = format!(
                "no route {}; the routes are ",
                send::bounded_text(path.as_bytes(), 200)
            );
            for (i, (method, path)) in ROUTES.iter().enumerate() {
                if i > 0 {
                    detail.push_str(", ");
                }
                detail.push_str(method);
                detail.push(' ');
                detail.push_str(path);
            }
            return Err(problem("gateway.not-found", 404, detail));
        }
    };
    if head.method != allowed {
        let detail = format!(
            "{path} answers {allowed} only, not {}",
            send::bounded_text(head.method.as_bytes(), 32)
        );
        return Err(problem("gateway.method-not-allowed", 405, detail).with("allow", allowed));
    }
    Ok(route)
}

fn health(access: &Access) -> Reply {
    // Members in name order, as every answer has them.
    let body = json::Object::new()
        .str("gateway_auth", access.name())
        .str("name", "heymarket-sms")
        .str("status", "ok")
        .str("version", env!("CARGO_PKG_VERSION"))
        .finish();
    Reply::json(200, "application/json", body)
}

/// Checks the caller, the content type and the declared length, before any body byte
/// is read.
fn admit(head: &Head<'_>, access: &Access) -> Result<(), Reply> {
    authorize(head, access)?;
    let media_type = head
        .single("content-type")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let is_json = media_type.as_deref().is_some_and(|v| {
        let essence = v.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
    });
    if !is_json {
        let given = match &media_type {
            Some(v) => format!("Content-Type {}", send::bounded_text(v.as_bytes(), 100)),
            None => "no single Content-Type".to_owned(),
        };
        let detail = format!("the body must be application/json; the request has {given}");
        return Err(problem("gateway.unsupported-media-type", 415, detail)
            .with("accept-post", "application/json"));
    }
    let declared = head
        .single("content-length")
        .and_then(|v| core::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits::MAX_GATEWAY_BODY_BYTES as u64) {
        return Err(too_large());
    }
    Ok(())
}

fn authorize(head: &Head<'_>, access: &Access) -> Result<(), Reply> {
    let token = match access {
        Access::Open => return Ok(()),
        Access::Token(token) => token,
        Access::Refusing => {
            let detail = format!(
                "this gateway has no {TOKEN_VAR}, so it refuses to send: set it and have \
                 callers send Authorization: Bearer <token>, or set \
                 {ALLOW_UNAUTHENTICATED_VAR}=1 for local testing only"
            );
            return Err(problem("gateway.unconfigured", 500, detail));
        }
    };
    let presented = head.single("authorization").and_then(bearer);
    let detail = match presented {
        Some(given) if same_secret(given, token) => return Ok(()),
        Some(_) => "the bearer token does not match this gateway's token",
        None => "send the gateway's token as Authorization: Bearer <token> (one header)",
    };
    Err(problem("gateway.unauthenticated", 401, detail.to_owned())
        .with("www-authenticate", "Bearer realm=\"heymarket-sms\""))
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    Some(&rest[start..])
}

/// Compares digests rather than the values, so the time taken depends on neither the
/// length nor the first differing byte of the presented token.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    let difference = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(difference) == 0
}

fn too_large() -> Reply {
    let detail = format!(
        "the body is larger than {} bytes; one message is far smaller",
        limits::MAX_GATEWAY_BODY_BYTES
    );
    problem("gateway.body-too-large", 413, detail)
}

fn read_message(read_body: impl FnOnce(usize) -> Body) -> Result<Message, Reply> {
    let bytes = match read_body(limits::MAX_GATEWAY_BODY_BYTES) {
        Body::Complete(bytes) => bytes,
        Body::TooLarge => return Err(too_large()),
        Body::TimedOut => {
            let detail = format!(
                "the body did not arrive in full within {} s",
                limits::GATEWAY_BODY_TIMEOUT.as_secs()
            );
            return Err(problem("gateway.body-timeout", 408, detail));
        }
        Body::Broken(why) => {
            let detail = format!("reading the body failed: {why}");
            return Err(problem("gateway.incomplete-body", 400, detail));
        }
    };
    Message::from_json(&bytes).map_err(json_problem)
}

fn json_problem(error: json::Error) -> Reply {
    if error.syntax {
        let detail = format!("the body is not valid JSON: {error}");
        return problem("gateway.malformed-json", 400, detail);
    }
    let detail = format!(
        "the JSON is not a message: {error}; the body is the JSON of POST /v1/message/send, \
         with snake_case field names"
    );
    let json::Refusal {
        field,
        field_reason,
        ..
    } = *error;
    let errors = field.map(|field| {
        field_errors(&[FieldError {
            field,
            reason: field_reason,
        }])
    });
    let members = Members {
        errors,
        ..Members::default()
    };
    problem_with("gateway.invalid-json", 400, detail, members)
}

fn preview_reply(result: Result<Preview, SendError>) -> Reply {
    match result {
        Ok(preview) => {
            let encoding = match preview.segments.encoding {
                Encoding::Gsm7 => "gsm7",
                Encoding::Ucs2 => "ucs2",
            };
            let body = json::Object::new()
                .str("body", &preview.body)
                .u64("characters", preview.segments.characters.into())
                .str("encoding", encoding)
                .u64("segments", preview.segments.segments.into())
                .finish();
            Reply::json(200, "application/json", body)
        }
        Err(error) => error_reply(&error, None, None),
    }
}

fn send_reply(
    mut message: Message,
    var: impl Fn(&str) -> Option<String>,
    io: &mut impl Io,
) -> Reply {
    // The key is chosen here, after the rules passed (so `list_id` still demands the
    // caller's own), so that every failure can name the key a safe retry must reuse.
    if let Err(errors) = message.clone().validate() {
        let error = SendError::Permanent(Permanent::InvalidMessage(errors));
        return error_reply(&error, None, None);
    }
    let local_id = match &message.local_id {
        Some(key) => key.clone(),
        None => message.local_id.insert(send::new_local_id(io)).clone(),
    };
    let mut observed = Observed {
        io,
        retry_after: None,
    };
    match crate::send_message(message, var, &mut observed) {
        Ok(sent) => {
            let mut body = json::Object::new();
            body.str("date", &sent.date);
            if let Some(url) = &sent.gallery_url {
                body.str("gallery_url", url);
            }
            body.u64("id", sent.id).str("local_id", &sent.local_id);
            let reply = Reply::json(200, "application/json", body.finish());
            match sent.request_id {
                Some(id) => reply.with("x-request-id", id),
                None => reply,
            }
        }
        Err(error) => {
            let wait = match &error {
                SendError::Transient(Transient::RateLimited(_)) => {
                    let now = observed.io.unix_time();
                    let server = observed
                        .retry_after
                        .and_then(|v| retry::parse_retry_after(&v, now));
                    Some(server.unwrap_or(limits::DEFAULT_GATEWAY_RETRY_AFTER))
                }
                _ => None,
            };
            error_reply(&error, Some(&local_id), wait)
        }
    }
}

/// Passes everything through, keeping the last answer's `Retry-After` for a 429.
struct Observed<'a, I> {
    io: &'a mut I,
    retry_after: Option<String>,
}

impl<I: Io> Io for Observed<'_, I> {
    fn monotonic(&mut self) -> Duration {
        self.io.monotonic()
    }

    fn unix_time(&mut self) -> u64 {
        self.io.unix_time()
    }

    fn random_u64(&mut self) -> u64 {
        self.io.random_u64()
    }

    fn sleep(&mut self, duration: Duration) {
        self.io.sleep(duration)
    }

    fn perform(&mut self, request: &Request<'_>, timeout: Duration) -> Outcome {
        let outcome = self.io.perform(request, timeout);
        self.retry_after = match &outcome {
            Outcome::Response(response) => response.retry_after.clone(),
            _ => None,
        };
        outcome
    }
}

/// The HTTP status of each `send-error` case: whose fault it is, and what to do.
pub fn status_of(error: &SendError) -> u16 {
    match error {
        SendError::Permanent(p) => match p {
            Permanent::InvalidMessage(_) | Permanent::Rejected(_) => 400,
            Permanent::Configuration(_) => 500,
            Permanent::Unauthorized(_) => 401,
            Permanent::Forbidden(_) => 403,
        },
        SendError::Transient(t) => match t {
            Transient::RateLimited(_) => 429,
            Transient::Timeout(_) => 504,
            Transient::Server(_) | Transient::Connection(_) | Transient::InvalidResponse(_) => 502,
        },
    }
}

fn error_reply(error: &SendError, local_id: Option<&str>, wait: Option<Duration>) -> Reply {
    let detail = error.to_string();
    let detail = detail
        .strip_prefix(error.kind())
        .and_then(|d| d.strip_prefix(": "))
        .unwrap_or(&detail);
    let members = Members {
        errors: match error {
            SendError::Permanent(Permanent::InvalidMessage(errors)) => Some(field_errors(errors)),
            _ => None,
        },
        local_id,
        request_id: error.api_error().and_then(|api| api.request_id.as_deref()),
        upstream_status: error.api_error().map(|api| api.status),
    };
    let detail = match (error, local_id) {
        (SendError::Transient(_), Some(key)) => {
            format!("{detail}; retrying with local_id {key} cannot send twice")
        }
        _ => detail.to_owned(),
    };
    let reply = problem_with(error.kind(), status_of(error), detail, members);
    let reply = match error.api_error().and_then(|api| api.request_id.clone()) {
        Some(id) => reply.with("x-request-id", id),
        None => reply,
    };
    match wait {
        Some(wait) => reply.with("retry-after", wait.as_secs().max(1).to_string()),
        None => reply,
    }
}

/// The `errors` member: `[{field, reason}, ...]`.
fn field_errors(errors: &[FieldError]) -> String {
    let mut out = String::from("[");
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let error = json::Object::new()
            .str("field", &e.field)
            .str("reason", &e.reason)
            .finish();
        out.push_str(&error);
    }
    out.push(']');
    out
}

/// The short, fixed title of each problem type.
pub fn title(kind: &str) -> &'static str {
    match kind {
        "permanent.invalid-message" => "The message breaks the endpoint's rules",
        "permanent.configuration" => "The gateway's Heymarket settings are unusable",
        "permanent.unauthorized" => "Heymarket refused the gateway's credentials",
        "permanent.forbidden" => "Heymarket denied access to the inbox or action",
        "permanent.rejected" => "Heymarket rejected the message",
        "transient.rate-limited" => "Heymarket's rate limit was reached",
        "transient.server" => "Heymarket failed with a server error",
        "transient.timeout" => "Heymarket did not answer in time",
        "transient.connection" => "The connection to Heymarket failed",
        "transient.invalid-response" => "Heymarket's answer was not the documented shape",
        "gateway.not-found" => "No such route",
        "gateway.method-not-allowed" => "Method not allowed on this route",
        "gateway.unsupported-media-type" => "The body must be JSON",
        "gateway.body-too-large" => "The body is too large",
        "gateway.body-timeout" => "The body arrived too slowly",
        "gateway.incomplete-body" => "The body broke off",
        "gateway.malformed-json" => "The body is not valid JSON",
        "gateway.invalid-json" => "The JSON is not a message",
        "gateway.unauthenticated" => "Missing or wrong gateway token",
        "gateway.unconfigured" => "The gateway has no token and refuses to send",
        _ => "Error",
    }
}

fn problem(kind: &str, status: u16, detail: String) -> Reply {
    problem_with(kind, status, detail, Members::default())
}

/// The extension members a problem answer may have beside the standard ones.
#[derive(Default)]
struct Members<'a> {
    /// Already JSON: the array of field errors.
    errors: Option<String>,
    local_id: Option<&'a str>,
    request_id: Option<&'a str>,
    upstream_status: Option<u16>,
}

/// A problem answer. Members come in name order, as they always have.
fn problem_with(kind: &str, status: u16, detail: String, members: Members<'_>) -> Reply {
    let mut body = json::Object::new();
    body.str("detail", &detail);
    if let Some(errors) = &members.errors {
        body.raw("errors", errors);
    }
    if let Some(key) = members.local_id {
        body.str("local_id", key);
    }
    if let Some(id) = members.request_id {
        body.str("request_id", id);
    }
    body.u64("status", status.into())
        .str("title", title(kind))
        .str("type", &format!("{PROBLEM_TYPE_PREFIX}{kind}"));
    if let Some(upstream) = members.upstream_status {
        body.u64("upstream_status", upstream.into());
    }
    Reply::json(status, "application/problem+json", body.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::Response;
    use serde_json::Value;
    use std::collections::VecDeque;

    const TOKEN: &str = "gw-token-3b9f";

    /// A scripted world: each `perform` takes the next outcome and records the body.
    #[derive(Default)]
    struct Script {
        outcomes: VecDeque<Outcome>,
        sent: Vec<String>,
        clock: Duration,
    }

    impl Io for Script {
        fn monotonic(&mut self) -> Duration {
            self.clock
        }
        fn unix_time(&mut self) -> u64 {
            1_700_000_000
        }
        fn random_u64(&mut self) -> u64 {
            0x1234
        }
        fn sleep(&mut self, duration: Duration) {
            self.clock += duration;
        }
        fn perform(&mut self, request: &Request<'_>, _: Duration) -> Outcome {
            self.sent
                .push(String::from_utf8_lossy(request.body).into_owned());
            self.outcomes.pop_front().expect("a scripted outcome")
        }
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Outcome {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        Outcome::Response(Response {
            status,
            request_id: header("x-request-id"),
            retry_after: header("retry-after"),
            location: None,
            body: body.as_bytes().to_vec(),
        })
    }

    fn env(name: &str) -> Option<String> {
        let value = match name {
            TOKEN_VAR => TOKEN,
            "HEYMARKET_API_KEY" => "upstream-key",
            "HEYMARKET_BASE_URL" => "http://127.0.0.1:9",
            "HEYMARKET_MAX_ATTEMPTS" => "1",
            _ => return None,
        };
        Some(value.to_owned())
    }

    const SMS: &str =
        r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"hi"}"#;

    struct Call<'a> {
        method: &'a str,
        path: &'a str,
        headers: Vec<(String, Vec<u8>)>,
        body: Body,
    }

    fn post<'a>(path: &'a str, body: &str) -> Call<'a> {
        Call {
            method: "POST",
            path,
            headers: vec![
                ("content-type".into(), b"application/json".to_vec()),
                (
                    "authorization".into(),
                    format!("Bearer {TOKEN}").into_bytes(),
                ),
            ],
            body: Body::Complete(body.as_bytes().to_vec()),
        }
    }

    impl Call<'_> {
        fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.retain(|(n, _)| n != name);
            self.headers.push((name.into(), value.as_bytes().to_vec()));
            self
        }
        fn without(mut self, name: &str) -> Self {
            self.headers.retain(|(n, _)| n != name);
            self
        }
    }

    /// Runs `call`, checking what every answer must have, and reports whether the body
    /// was read.
    fn run_with(
        call: Call<'_>,
        var: impl Fn(&str) -> Option<String>,
        io: &mut Script,
    ) -> (Reply, Value, bool) {
        let head = Head {
            method: call.method,
            path: call.path,
            headers: &call.headers,
        };
        let mut read = false;
        let reply = handle(
            &head,
            |cap| {
                assert_eq!(cap, limits::MAX_GATEWAY_BODY_BYTES);
                read = true;
                call.body
            },
            var,
            io,
        );
        assert_eq!(
            reply.header("content-length"),
            Some(reply.body.len().to_string().as_str())
        );
        let text = String::from_utf8_lossy(&reply.body);
        assert!(!text.contains(TOKEN), "the gateway token leaked: {text}");
        let value: Value = serde_json::from_slice(&reply.body).expect("every answer is JSON");
        // serde_json writes members in name order with the same escaping: the bytes are
        // what they were when the gateway used it.
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
        if reply.status >= 400 {
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json")
            );
            assert_eq!(value["status"], reply.status);
            assert!(value["title"].as_str().is_some_and(|t| t != "Error"));
        }
        (reply, value, read)
    }

    fn run(call: Call<'_>, io: &mut Script) -> (Reply, Value) {
        let (reply, value, _) = run_with(call, env, io);
        (reply, value)
    }

    fn kind(reply: &Reply) -> String {
        reply.problem_type().expect("a problem answer")
    }

    #[test]
    fn a_sent_message_answers_like_heymarket_with_the_local_id_and_request_id() {
        let mut io = Script::default();
        io.outcomes.push_back(answer(
            200,
            &[("x-request-id", "req-1")],
            r#"{"id":42,"date":"2024-05-01T10:00:00Z"}"#,
        ));
        let (reply, body) = run(post("/v1/message/send", SMS), &mut io);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-request-id"), Some("req-1"));
        assert_eq!(body["id"], 42);
        assert_eq!(body["date"], "2024-05-01T10:00:00Z");
        assert!(body.get("gallery_url").is_none());
        let key = body["local_id"].as_str().unwrap();
        assert!(io.sent[0].contains(&format!("\"local_id\":\"{key}\"")));
    }

    #[test]
    fn the_callers_local_id_is_used_as_given() {
        let mut io = Script::default();
        io.outcomes.push_back(answer(
            200,
            &[],
            r#"{"id":1,"date":"d","gallery_url":"https://g/1"}"#,
        ));
        let sms = SMS.replace("\"text\"", "\"local_id\":\"mine-1\",\"text\"");
        let (_, body) = run(post("/v1/message/send", &sms), &mut io);
        assert_eq!(body["local_id"], "mine-1");
        assert_eq!(body["gallery_url"], "https://g/1");
    }

    #[test]
    fn an_invalid_message_lists_every_field_error_and_sends_nothing() {
        let mut io = Script::default();
        let bad = r#"{"inbox_id":0,"creator_id":55,"phone_number":"+14155551234"}"#;
        let (reply, body) = run(post("/v1/message/send", bad), &mut io);
        assert_eq!(reply.status, 400);
        assert_eq!(kind(&reply), "permanent.invalid-message");
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["inbox_id", "phone_number", "message"]);
        assert!(io.sent.is_empty());
    }

    #[test]
    fn a_list_broadcast_without_local_id_is_still_refused() {
        let mut io = Script::default();
        let bad = r#"{"inbox_id":1,"creator_id":2,"list_id":3,"text":"x"}"#;
        let (reply, body) = run(post("/v1/message/send", bad), &mut io);
        assert_eq!(kind(&reply), "permanent.invalid-message");
        assert_eq!(body["errors"][0]["field"], "local_id");
        assert!(io.sent.is_empty());
    }

    #[test]
    fn malformed_json_and_json_that_is_not_a_message_are_told_apart() {
        let mut io = Script::default();
        let (reply, _) = run(post("/v1/message/send", "{\"inbox_id\":"), &mut io);
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (400, "gateway.malformed-json")
        );

        let unknown = SMS.replace("\"text\"", "\"phoneNumber\":\"1\",\"text\"");
        let (reply, body) = run(post("/v1/message/send", &unknown), &mut io);
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (400, "gateway.invalid-json")
        );
        assert_eq!(body["errors"][0]["field"], "phoneNumber");

        let missing = r#"{"creator_id":55,"phone_number":"14155551234","text":"hi"}"#;
        let (_, body) = run(post("/v1/message/preview", missing), &mut io);
        assert_eq!(body["errors"][0]["field"], "inbox_id");
        assert!(io.sent.is_empty());
    }

    #[test]
    fn upstream_failures_map_to_statuses_that_say_whose_fault_it_is() {
        let cases = [
            (
                answer(401, &[("x-request-id", "r")], "{}"),
                401,
                "permanent.unauthorized",
            ),
            (answer(403, &[], "{}"), 403, "permanent.forbidden"),
            (
                answer(400, &[], r#"{"error":"bad_data"}"#),
                400,
                "permanent.rejected",
            ),
            (
                answer(500, &[("x-request-id", "r5")], "x"),
                502,
                "transient.server",
            ),
            (
                answer(200, &[], "not json"),
                502,
                "transient.invalid-response",
            ),
            (
                Outcome::Connection("reset".into()),
                502,
                "transient.connection",
            ),
            (Outcome::Timeout("slow".into()), 504, "transient.timeout"),
            (answer(429, &[], "{}"), 429, "transient.rate-limited"),
        ];
        for (outcome, status, expected) in cases {
            let mut io = Script::default();
            io.outcomes.push_back(outcome);
            let (reply, body) = run(post("/v1/message/send", SMS), &mut io);
            assert_eq!((reply.status, kind(&reply).as_str()), (status, expected));
            assert!(
                body["local_id"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("hm-"))
            );
            assert!(reply.header("www-authenticate").is_none());
        }
    }

    #[test]
    fn the_request_id_of_a_failure_is_in_the_body_and_the_header() {
        let mut io = Script::default();
        io.outcomes
            .push_back(answer(500, &[("x-request-id", "req-500")], "oops"));
        let (reply, body) = run(post("/v1/message/send", SMS), &mut io);
        assert_eq!(body["request_id"], "req-500");
        assert_eq!(body["upstream_status"], 500);
        assert_eq!(reply.header("x-request-id"), Some("req-500"));
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(body["local_id"].as_str().unwrap()),
            "{detail}"
        );
    }

    #[test]
    fn a_rate_limit_passes_on_heymarkets_retry_after_or_a_minute() {
        let mut io = Script::default();
        io.outcomes
            .push_back(answer(429, &[("retry-after", "7")], "{}"));
        let (reply, _) = run(post("/v1/message/send", SMS), &mut io);
        assert_eq!(reply.header("retry-after"), Some("7"));

        let mut io = Script::default();
        io.outcomes.push_back(answer(429, &[], "{}"));
        let (reply, _) = run(post("/v1/message/send", SMS), &mut io);
        assert_eq!(reply.header("retry-after"), Some("60"));
    }

    #[test]
    fn missing_heymarket_credentials_are_a_configuration_error() {
        let var = |name: &str| (name == TOKEN_VAR).then(|| TOKEN.to_owned());
        let mut io = Script::default();
        let (reply, body, _) = run_with(post("/v1/message/send", SMS), var, &mut io);
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (500, "permanent.configuration")
        );
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("HEYMARKET_API_KEY")
        );
        assert!(io.sent.is_empty());
    }

    #[test]
    fn a_preview_renders_without_any_request() {
        let mut io = Script::default();
        let (reply, body) = run(post("/v1/message/preview", SMS), &mut io);
        assert_eq!(reply.status, 200);
        assert_eq!(body["encoding"], "gsm7");
        assert_eq!(body["segments"], 1);
        assert_eq!(body["characters"], 2);
        let rendered = Message::from_json(body["body"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(rendered.text.as_deref(), Some("hi"));
        assert!(io.sent.is_empty());
    }

    #[test]
    fn unknown_paths_and_wrong_methods_get_their_own_answers() {
        let mut io = Script::default();
        let (reply, _) = run(post("/v1/message/sendx", SMS), &mut io);
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (404, "gateway.not-found")
        );

        let mut call = post("/v1/message/send", SMS);
        call.method = "GET";
        let (reply, _) = run(call, &mut io);
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header("allow"), Some("POST"));

        let mut call = post("/healthz", "");
        call.method = "DELETE";
        let (reply, _) = run(call, &mut io);
        assert_eq!(reply.header("allow"), Some("GET"));
    }

    #[test]
    fn health_answers_the_version_without_a_token_or_a_request() {
        let mut io = Script::default();
        let mut call = post("/healthz?probe=1", "").without("authorization");
        call.method = "GET";
        let (reply, body, read) = run_with(call, |_| None, &mut io);
        assert_eq!(reply.status, 200);
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(body["gateway_auth"], "refusing");
        assert!(!read && io.sent.is_empty());
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused_before_the_body_is_read() {
        let calls = [
            post("/v1/message/send", SMS).without("authorization"),
            post("/v1/message/send", SMS).header("authorization", "Bearer nope"),
            post("/v1/message/send", SMS).header("authorization", &format!("Basic {TOKEN}")),
            post("/v1/message/preview", SMS).header("authorization", &format!("Bearer {TOKEN}x")),
        ];
        for call in calls {
            let mut io = Script::default();
            let (reply, _, read) = run_with(call, env, &mut io);
            assert_eq!(
                (reply.status, kind(&reply).as_str()),
                (401, "gateway.unauthenticated")
            );
            assert!(
                reply
                    .header("www-authenticate")
                    .unwrap()
                    .starts_with("Bearer")
            );
            assert!(!read && io.sent.is_empty());
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut io = Script::default();
        let call =
            post("/v1/message/preview", SMS).header("authorization", &format!("bearer {TOKEN}"));
        let (reply, _) = run(call, &mut io);
        assert_eq!(reply.status, 200);
    }

    #[test]
    fn without_a_token_the_gateway_refuses_unless_the_testing_switch_is_set() {
        let mut io = Script::default();
        let (reply, _, read) = run_with(post("/v1/message/preview", SMS), |_| None, &mut io);
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (500, "gateway.unconfigured")
        );
        assert!(!read);

        let open = |name: &str| (name == ALLOW_UNAUTHENTICATED_VAR).then(|| "1".to_owned());
        let call = post("/v1/message/preview", SMS).without("authorization");
        let (reply, _, _) = run_with(call, open, &mut io);
        assert_eq!(reply.status, 200);

        let yes = |name: &str| (name == ALLOW_UNAUTHENTICATED_VAR).then(|| "yes".to_owned());
        let (reply, _, _) = run_with(post("/v1/message/preview", SMS), yes, &mut io);
        assert_eq!(reply.status, 500);
    }

    #[test]
    fn a_token_wins_over_the_testing_switch() {
        let both = |name: &str| match name {
            TOKEN_VAR => Some(TOKEN.to_owned()),
            ALLOW_UNAUTHENTICATED_VAR => Some("1".to_owned()),
            _ => None,
        };
        assert_eq!(
            Access::from_env(both),
            Access::Token(TOKEN.as_bytes().to_vec())
        );
        assert_eq!(format!("{:?}", Access::from_env(both)), "token");
    }

    #[test]
    fn only_json_bodies_are_accepted() {
        for content_type in [None, Some("text/plain"), Some("application/jsonx")] {
            let mut call = post("/v1/message/send", SMS);
            call = match content_type {
                Some(v) => call.header("content-type", v),
                None => call.without("content-type"),
            };
            let mut io = Script::default();
            let (reply, _, read) = run_with(call, env, &mut io);
            assert_eq!(reply.status, 415, "{content_type:?}");
            assert!(!read);
        }
        let call = post("/v1/message/preview", SMS)
            .header("content-type", "Application/JSON; charset=utf-8");
        let (reply, _) = run(call, &mut Script::default());
        assert_eq!(reply.status, 200);
    }

    #[test]
    fn oversized_bodies_are_refused_by_their_declared_or_actual_length() {
        let declared = (limits::MAX_GATEWAY_BODY_BYTES + 1).to_string();
        let call = post("/v1/message/send", SMS).header("content-length", &declared);
        let (reply, _, read) = run_with(call, env, &mut Script::default());
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (413, "gateway.body-too-large")
        );
        assert!(!read);

        let mut call = post("/v1/message/send", SMS);
        call.body = Body::TooLarge;
        let (reply, _) = run(call, &mut Script::default());
        assert_eq!(reply.status, 413);
    }

    #[test]
    fn a_slow_or_broken_body_gets_its_own_answer() {
        let mut call = post("/v1/message/send", SMS);
        call.body = Body::TimedOut;
        let (reply, _) = run(call, &mut Script::default());
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (408, "gateway.body-timeout")
        );

        let mut call = post("/v1/message/send", SMS);
        call.body = Body::Broken("reset".into());
        let (reply, _) = run(call, &mut Script::default());
        assert_eq!(
            (reply.status, kind(&reply).as_str()),
            (400, "gateway.incomplete-body")
        );
    }

    #[test]
    fn every_problem_type_has_a_title() {
        let kinds = [
            "permanent.invalid-message",
            "permanent.configuration",
            "permanent.unauthorized",
            "permanent.forbidden",
            "permanent.rejected",
            "transient.rate-limited",
            "transient.server",
            "transient.timeout",
            "transient.connection",
            "transient.invalid-response",
        ];
        for kind in kinds {
            assert_ne!(title(kind), "Error", "{kind}");
        }
    }

    #[test]
    fn comparing_secrets_needs_every_byte() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"abc"));
    }
}
