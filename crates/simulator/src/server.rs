//! The simulator's state and its routes: the vendor endpoint and the `/_sim` control paths.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::http::Head;
use crate::{Config, FIRST_MESSAGE_ID, Fault, RecordedRequest, StoredMessage};

const SEND_PATH: &str = "/v1/message/send";
const CONTROL_PREFIX: &str = "/_sim/";
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// One request read whole from a connection.
pub(crate) struct Incoming {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response to write; `Content-Length`, `Date` and `Connection` are added when written.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    fn error(status: u16, error: &str, message: &str) -> Response {
        Response::json(status, &json!({ "error": error, "message": message }))
    }

    /// A scripted answer: JSON bodies are labelled JSON, anything else plain text.
    fn scripted(status: u16, mut headers: Vec<(String, String)>, body: String) -> Response {
        let has_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if !has_type {
            let kind = if serde_json::from_str::<Value>(&body).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            headers.push(("Content-Type".to_owned(), kind.to_owned()));
        }
        Response {
            status,
            headers,
            body: body.into_bytes(),
        }
    }
}

/// What to do with the connection after a request.
pub(crate) enum Reply {
    Http(Response),
    /// Close without answering.
    Drop,
    /// Write these bytes as the whole response, then close.
    Raw(Vec<u8>),
}

/// The answer to a send that got past every check.
#[derive(Debug, Clone)]
struct Receipt {
    id: u64,
    date: String,
    gallery_url: Option<String>,
}

#[derive(Default)]
struct State {
    messages: Vec<StoredMessage>,
    /// Each record with a sequence number, so a late status lands on the right record.
    requests: Vec<(u64, RecordedRequest)>,
    faults: VecDeque<Fault>,
    windows: HashMap<String, VecDeque<Instant>>,
    receipts: HashMap<(String, String), Receipt>,
    next_id: u64,
    next_sequence: u64,
}

/// Everything the connection tasks and the [`crate::Simulator`] handle share.
pub(crate) struct Shared {
    config: Config,
    state: Mutex<State>,
    request_ids: AtomicU64,
    random: RandomState,
}

/// Accepts connections until `stop` fires or its sender is dropped.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(crate::http::serve_connection(stream, Arc::clone(&shared)));
                }
                // Usually out of file descriptors: pause instead of spinning on the error.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// Routes one request; records it (outside `/_sim/`) with the status it got.
pub(crate) async fn handle(shared: &Shared, request: Incoming) -> Reply {
    let path = request.target.split('?').next().unwrap_or("").to_owned();
    if path.starts_with(CONTROL_PREFIX) {
        return Reply::Http(shared.finish(control(shared, &request, &path)));
    }

    let sequence = shared.record(&request);
    let (reply, credential) = match (request.method.as_str(), path.as_str()) {
        ("POST", SEND_PATH) => send(shared, &request).await,
        (_, SEND_PATH) => (Reply::Http(method_not_allowed("POST")), None),
        ("GET" | "HEAD", "/healthz") => {
            let ok = Response::json(200, &json!({ "status": "ok" }));
            (Reply::Http(ok), None)
        }
        (_, "/healthz") => (Reply::Http(method_not_allowed("GET")), None),
        _ => (Reply::Http(not_found(&path)), None),
    };
    let reply = match reply {
        Reply::Http(response) => Reply::Http(shared.finish(response)),
        other => other,
    };
    let status = match &reply {
        Reply::Http(response) => Some(response.status),
        Reply::Drop => None,
        Reply::Raw(bytes) => raw_status(bytes),
    };
    // Record before the answer is written, so a client that has its answer can rely on
    // `requests()` already showing it.
    shared.complete(sequence, status, credential);
    reply
}

async fn send(shared: &Shared, request: &Incoming) -> (Reply, Option<String>) {
    let fault = shared.lock().faults.pop_front();
    let after_store = match fault {
        None => None,
        Some(Fault::Respond {
            status,
            headers,
            body,
        }) => return (Reply::Http(Response::scripted(status, headers, body)), None),
        Some(Fault::DropBeforeStore) => return (Reply::Drop, None),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        Some(after @ (Fault::RespondAfterStore { .. } | Fault::DropAfterStore)) => Some(after),
        Some(after @ Fault::RawAfterStore(_)) => Some(after),
    };

    let (outcome, credential) = shared.process(request);
    let reply = match (outcome, after_store) {
        (Err(refusal), _) => Reply::Http(refusal),
        (Ok(_), Some(Fault::RespondAfterStore { status, body })) => {
            Reply::Http(Response::scripted(status, Vec::new(), body))
        }
        (Ok(_), Some(Fault::DropAfterStore)) => Reply::Drop,
        (Ok(_), Some(Fault::RawAfterStore(bytes))) => Reply::Raw(bytes),
        (Ok(receipt), _) => Reply::Http(success(&receipt)),
    };
    (reply, credential)
}

fn success(receipt: &Receipt) -> Response {
    let mut body = json!({ "id": receipt.id, "date": receipt.date });
    if let Some(url) = &receipt.gallery_url {
        body["gallery_url"] = json!(url);
    }
    Response::json(200, &body)
}

fn control(shared: &Shared, request: &Incoming, path: &str) -> Response {
    match (request.method.as_str(), path) {
        ("GET", "/_sim/messages") => {
            let messages = serde_json::to_value(shared.messages()).unwrap_or_default();
            Response::json(200, &messages)
        }
        ("GET", "/_sim/requests") => {
            let requests: Vec<Value> = shared.requests().iter().map(request_json).collect();
            Response::json(200, &Value::Array(requests))
        }
        ("POST", "/_sim/script") => match serde_json::from_slice::<Vec<Fault>>(&request.body) {
            Ok(faults) => {
                let queued = faults.len();
                shared.script(faults);
                Response::json(200, &json!({ "queued": queued }))
            }
            Err(e) => Response::error(
                400,
                "bad_data",
                &format!("body: invalid fault script ({e})"),
            ),
        },
        ("POST", "/_sim/reset") => {
            shared.reset();
            Response::json(200, &json!({ "reset": true }))
        }
        (_, "/_sim/messages" | "/_sim/requests") => method_not_allowed("GET"),
        (_, "/_sim/script" | "/_sim/reset") => method_not_allowed("POST"),
        _ => not_found(path),
    }
}

/// The control-path view of a request: the credential in `Authorization` is hidden so the
/// simulator never hands a secret back over HTTP.
fn request_json(request: &RecordedRequest) -> Value {
    let headers: Vec<(&str, String)> = request
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if name == "authorization" {
                let scheme = value.split(' ').next().unwrap_or("");
                format!("{scheme} [redacted]")
            } else {
                value.clone()
            };
            (name.as_str(), shown)
        })
        .collect();
    json!({
        "method": request.method,
        "path": request.path,
        "headers": headers,
        "body": String::from_utf8_lossy(&request.body),
        "status": request.status,
        "credential": request.credential,
    })
}

fn method_not_allowed(allow: &str) -> Response {
    let mut response = Response::error(
        405,
        "method_not_allowed",
        &format!("use {allow} on this path"),
    );
    response
        .headers
        .push(("Allow".to_owned(), allow.to_owned()));
    response
}

fn not_found(path: &str) -> Response {
    let shown: String = path.chars().take(200).collect();
    Response::error(404, "not_found", &format!("no such path: {shown}"))
}

/// The status code of a raw response, when its first line looks like HTTP.
fn raw_status(bytes: &[u8]) -> Option<u16> {
    let line = bytes.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        Shared {
            config,
            state: Mutex::new(State {
                next_id: FIRST_MESSAGE_ID,
                ..State::default()
            }),
            request_ids: AtomicU64::new(1),
            random: RandomState::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock, but a poisoned simulator should keep
        // answering rather than fail every later test with a confusing error.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn messages(&self) -> Vec<StoredMessage> {
        self.lock().messages.clone()
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub(crate) fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.extend(faults);
    }

    pub(crate) fn pending_faults(&self) -> usize {
        self.lock().faults.len()
    }

    pub(crate) fn reset(&self) {
        let mut state = self.lock();
        state.messages.clear();
        state.requests.clear();
        state.faults.clear();
        state.windows.clear();
        state.receipts.clear();
    }

    /// Answers a request that could not be read whole, recording it when its head is known.
    pub(crate) fn refuse(&self, head: Option<&Head>, status: u16, message: &str) -> Response {
        let error = match status {
            413 => "payload_too_large",
            431 => "headers_too_large",
            _ => "bad_request",
        };
        let response = self.finish(Response::error(status, error, message));
        if let Some(head) = head.filter(|h| !h.target.starts_with(CONTROL_PREFIX)) {
            let mut state = self.lock();
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            state.requests.push((
                sequence,
                RecordedRequest {
                    method: head.method.clone(),
                    path: head.target.clone(),
                    headers: head.headers.clone(),
                    body: Vec::new(),
                    status: Some(status),
                    credential: None,
                },
            ));
        }
        response
    }

    /// Adds the `X-Request-Id` every vendor response carries, unless a fault set one.
    fn finish(&self, mut response: Response) -> Response {
        let has_id = response
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-request-id"));
        if !has_id {
            let counter = self.request_ids.fetch_add(1, Ordering::Relaxed);
            let mut hasher = self.random.build_hasher();
            hasher.write_u64(counter);
            let id = format!("sim-{counter}-{:016x}", hasher.finish());
            response.headers.push(("X-Request-Id".to_owned(), id));
        }
        response
    }

    fn record(&self, request: &Incoming) -> u64 {
        let mut state = self.lock();
        let sequence = state.next_sequence;
        state.next_sequence += 1;
        state.requests.push((
            sequence,
            RecordedRequest {
                method: request.method.clone(),
                path: request.target.clone(),
                headers: request.headers.clone(),
                body: request.body.clone(),
                status: None,
                credential: None,
            },
        ));
        sequence
    }

    fn complete(&self, sequence: u64, status: Option<u16>, credential: Option<String>) {
        let mut state = self.lock();
        // Records are pushed in sequence order under this lock, so a binary search finds
        // one without scanning every request recorded since the last reset (a linear scan
        // made the simulator slower with every request, skewing long benchmarks). A reset
        // while the request was in flight removed its record; nothing to update.
        if let Ok(at) = state.requests.binary_search_by_key(&sequence, |(s, _)| *s) {
            let record = &mut state.requests[at].1;
            record.status = status;
            record.credential = credential;
        }
    }

    /// Auth, rate limit, body rules, inbox access, idempotency, storing: the normal path.
    fn process(&self, request: &Incoming) -> (Result<Receipt, Response>, Option<String>) {
        let now = crate::clock::now_unix();
        let authorization = request.header("authorization");
        let credential = match crate::auth::authenticate(&self.config, authorization, now) {
            Ok(credential) => credential,
            Err(message) => return (Err(Response::error(401, "unauthorized", &message)), None),
        };
        let outcome = self.process_as(&credential, &request.body, now);
        (outcome, Some(credential))
    }

    fn process_as(&self, credential: &str, body: &[u8], now: i64) -> Result<Receipt, Response> {
        if !self.admit(credential) {
            let message = format!(
                "more than {} requests per minute; retry with exponential backoff",
                self.config.rate_limit_per_minute
            );
            return Err(Response::error(429, "rate_limited", &message));
        }
        let fields = crate::validate::check(body).map_err(|bad| {
            let message = format!("{}: {}", bad.field, bad.reason);
            let body = json!({ "error": "bad_data", "message": message, "field": bad.field });
            Response::json(400, &body)
        })?;
        let inbox = fields.get("inbox_id").and_then(Value::as_u64).unwrap_or(0);
        if self.config.denied_inboxes.contains(&inbox) {
            let message = format!("these credentials may not send from inbox {inbox}");
            return Err(Response::error(403, "denied", &message));
        }
        let local_id = fields
            .get("local_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let has_media = fields.contains_key("media_url");
        Ok(self.store(credential, local_id, has_media, Value::Object(fields), now))
    }

    /// Counts the request in the credential's window, unless the window is full.
    fn admit(&self, credential: &str) -> bool {
        let limit = self.config.rate_limit_per_minute;
        if limit == 0 {
            return true;
        }
        let now = Instant::now();
        let mut state = self.lock();
        let window = state.windows.entry(credential.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|&t| now.duration_since(t) >= RATE_WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }

    fn store(
        &self,
        credential: &str,
        local_id: Option<String>,
        has_media: bool,
        body: Value,
        now: i64,
    ) -> Receipt {
        let mut state = self.lock();
        let key = local_id.clone().map(|l| (credential.to_owned(), l));
        if let Some(receipt) = key.as_ref().and_then(|k| state.receipts.get(k)) {
            return receipt.clone();
        }
        let id = state.next_id;
        state.next_id += 1;
        let receipt = Receipt {
            id,
            date: crate::clock::iso8601(now),
            gallery_url: has_media.then(|| format!("https://gallery.sim.heymarket.invalid/m/{id}")),
        };
        state.messages.push(StoredMessage {
            id,
            date: receipt.date.clone(),
            local_id,
            credential: credential.to_owned(),
            body,
            gallery_url: receipt.gallery_url.clone(),
        });
        if let Some(key) = key {
            state.receipts.insert(key, receipt.clone());
        }
        receipt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_status_reads_the_code_of_an_http_status_line() {
        assert_eq!(
            raw_status(b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n"),
            Some(302)
        );
        assert_eq!(raw_status(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(raw_status(b"garbage"), None);
        assert_eq!(raw_status(b""), None);
    }

    #[test]
    fn the_window_admits_up_to_the_limit_per_credential() {
        let shared = Shared::new(Config {
            rate_limit_per_minute: 2,
            ..Config::default()
        });
        assert!(shared.admit("a"));
        assert!(shared.admit("a"));
        assert!(!shared.admit("a"));
        assert!(shared.admit("b"));
    }
}
