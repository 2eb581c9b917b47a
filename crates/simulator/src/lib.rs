//! A loopback HTTP/1.1 server that behaves like Heymarket's `POST /v1/message/send`, as far
//! as the vendor documents it, and that tests can script to misbehave.
//!
//! The project's WebAssembly component, its Python and Node hosts, `wasmtime serve` demos
//! and the benchmarks all talk to this server instead of the real API. It is written to be
//! *faithful* (same auth schemes, same status codes, same body rules, idempotency by
//! `local_id`, a per-credential rate limit) and *scriptable* (a queue of faults: scripted
//! answers, delays, dropped connections, raw bytes).
//!
//! # Use from Rust
//!
//! ```no_run
//! use heymarket_simulator::{Config, Fault, Simulator};
//!
//! let sim = Simulator::start(Config::default()).unwrap();
//! sim.script([Fault::Respond { status: 500, headers: vec![], body: "{}".into() }]);
//! // ... point the client at sim.base_url() with the API key "sim-api-key" ...
//! assert!(sim.messages().is_empty());
//! ```
//!
//! The API is synchronous: the server runs on its own multi-threaded tokio runtime on a
//! background thread, so it works from plain `#[test]` functions, from async code and from
//! the `heymarket-simulator` command-line tool alike. Dropping the [`Simulator`] stops it.
//!
//! # What `POST /v1/message/send` does
//!
//! For each request, in this order:
//!
//! 1. The fault queue is consulted (one fault per request, first in first out).
//! 2. Authentication: `Authorization: Bearer <API key>`, `Bearer <JWT>` (HS256, `iss` = a
//!    secret id, `iat` within the last 300 s and not more than 60 s ahead, signed with
//!    `"<secret id>||<secret key>"`), or HTTP Basic with the API key as user name and an
//!    empty password. Failures answer 401 `unauthorized`.
//! 3. Rate limit per credential over a sliding 60 s window: 429 `rate_limited`, without
//!    `Retry-After` (the vendor documents none). Refused requests do not count.
//! 4. Body rules: 400 `bad_data` with `"message": "<field>: <reason>"` and `"field"`.
//!    `null` is never accepted as a value: clients should omit fields they do not set.
//! 5. Inboxes listed in [`Config::denied_inboxes`]: 403 `denied`.
//! 6. Idempotency: a repeated `local_id` from the same credential answers the first
//!    receipt again and stores nothing.
//! 7. Success: 200 `{"id", "date"}`, plus `"gallery_url"` when `media_url` was sent.
//!
//! Every response carries `X-Request-Id`, `Content-Length` and, for JSON, `Content-Type:
//! application/json`. Other paths answer 404 and other methods 405, both as JSON. Request
//! bodies over [`MAX_BODY_BYTES`] answer 413.
//!
//! # Control paths (no auth)
//!
//! - `GET /_sim/messages`: the stored messages, as an array of
//!   `{"id", "date", "local_id", "credential", "body", "gallery_url"}`.
//! - `GET /_sim/requests`: the recorded requests, as an array of
//!   `{"method", "path", "headers": [[name, value]], "body" (UTF-8, lossy), "status",
//!   "credential"}`.
//! - `POST /_sim/script`: appends a JSON array of faults (below) to the queue; answers
//!   `{"queued": n}`, or 400 `bad_data` when the script does not parse.
//! - `POST /_sim/reset`: the same as [`Simulator::reset`].
//! - `GET /healthz`: 200 `{"status":"ok"}`.
//!
//! Requests to `/_sim/*` are neither recorded nor do they consume faults, so a test that
//! inspects the simulator over HTTP sees only the traffic of the client under test. In
//! `GET /_sim/requests` the credential part of `Authorization` is replaced by
//! `[redacted]`; [`Simulator::requests`] keeps the header as sent so Rust tests can check it.
//!
//! # Fault script format
//!
//! `POST /_sim/script` takes a JSON array; each element is one [`Fault`]:
//!
//! ```json
//! [
//!   {"respond": {"status": 429, "headers": [["Retry-After", "1"]], "body": "{}"}},
//!   {"respond_after_store": {"status": 500, "body": "oops"}},
//!   {"delay_ms": 2000},
//!   "drop_before_store",
//!   "drop_after_store",
//!   {"raw_after_store": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnot json"},
//!   {"raw_after_store": [72, 84, 84, 80]}
//! ]
//! ```
//!
//! In `respond`, `headers` and `body` may be left out (none, empty). In
//! `respond_after_store`, `body` may be left out. `raw_after_store` takes a string (sent as
//! its UTF-8 bytes) or an array of byte values.
//!
//! Faults that store (`respond_after_store`, `drop_after_store`, `raw_after_store`) still
//! need a request that would succeed: when auth, rate limit or body rules refuse it, the
//! normal error is answered and the fault is used up all the same, so a script stays in
//! step with the requests the client makes.

mod auth;
mod clock;
mod fault;
mod http;
mod server;
mod validate;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

pub use auth::sign_jwt;
pub use fault::Fault;

/// The API key accepted by [`Config::default`].
pub const DEFAULT_API_KEY: &str = "sim-api-key";
/// The JWT secret id accepted by [`Config::default`].
pub const DEFAULT_SECRET_ID: &str = "sim-secret-id";
/// The JWT secret key accepted by [`Config::default`].
pub const DEFAULT_SECRET_KEY: &str = "sim-secret-key";
/// The vendor's documented limit: requests per minute per credential.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 500;
/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The id given to the first stored message; later ones count up from it.
pub const FIRST_MESSAGE_ID: u64 = 1000;
/// A JWT is refused once this many seconds have passed since its `iat`.
pub const JWT_LIFETIME_SECS: i64 = 300;
/// A JWT whose `iat` is further ahead than this (clock skew allowance) is refused.
pub const JWT_MAX_FUTURE_SKEW_SECS: i64 = 60;

/// What the simulator accepts and how strict it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Accepted API keys, sent as `Bearer <key>` or as the Basic user name.
    pub api_keys: Vec<String>,
    /// Accepted `(secret id, secret key)` pairs for JWT auth.
    pub jwt_secrets: Vec<(String, String)>,
    /// Requests allowed per credential in any 60 s window; `0` turns the limit off.
    pub rate_limit_per_minute: u32,
    /// Inbox ids the credentials may not send from: such sends answer 403.
    pub denied_inboxes: Vec<u64>,
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_keys: vec![DEFAULT_API_KEY.to_owned()],
            jwt_secrets: vec![(DEFAULT_SECRET_ID.to_owned(), DEFAULT_SECRET_KEY.to_owned())],
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            denied_inboxes: Vec::new(),
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        }
    }
}

/// A message the simulator accepted and stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    /// The id answered to the client.
    pub id: u64,
    /// The ISO 8601 UTC time answered to the client, e.g. `2026-12-03T18:10:00Z`.
    pub date: String,
    /// The client's idempotency key, when it sent one.
    pub local_id: Option<String>,
    /// Which credential sent it: `api-key:#<index in Config::api_keys>` or
    /// `jwt:<secret id>`; never the key itself.
    pub credential: String,
    /// The JSON body exactly as received.
    pub body: serde_json::Value,
    /// The gallery URL answered to the client, present when the body had `media_url`.
    pub gallery_url: Option<String>,
}

/// One HTTP request the simulator received, whatever became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The request method, e.g. `POST`.
    pub method: String,
    /// The request target as sent, query string included.
    pub path: String,
    /// Headers in the order received, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body after any chunked transfer coding was removed.
    pub body: Vec<u8>,
    /// The status answered; `None` when the connection was dropped without an answer or
    /// the answer was raw bytes without a readable status line.
    pub status: Option<u16>,
    /// The credential that authenticated the request (same form as
    /// [`StoredMessage::credential`]), when auth was checked and passed.
    pub credential: Option<String>,
}

impl RecordedRequest {
    /// The first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A running simulator. Dropping it stops the server and its background thread.
pub struct Simulator {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds `config.bind` and starts serving on a background thread.
    ///
    /// Fails only when the address cannot be bound or the runtime cannot start.
    pub fn start(config: Config) -> std::io::Result<Simulator> {
        let listener = std::net::TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;

        // A few workers are plenty for loopback tests; more would only multiply threads when
        // many tests each start their own simulator on a large machine.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("heymarket-simulator")
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };

        let shared = Arc::new(server::Shared::new(config));
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let task_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("heymarket-simulator".to_owned())
            .spawn(move || {
                runtime.block_on(server::accept_loop(listener, task_shared, stopped));
                // Connection tasks are cancelled here; none of them blocks, so this is quick.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;

        Ok(Simulator {
            shared,
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The URL to send to, e.g. `http://127.0.0.1:41234`, without a trailing slash.
    ///
    /// When bound to an unspecified address (`0.0.0.0`, `::`), names loopback instead.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The messages stored so far, oldest first.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.shared.messages()
    }

    /// Every request received outside `/_sim/*`, in the order they arrived, including
    /// refused and faulted ones.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Appends faults to the queue; each applies to one later `POST /v1/message/send`.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.script(faults);
    }

    /// How many scripted faults have not been used yet.
    pub fn pending_faults(&self) -> usize {
        self.shared.pending_faults()
    }

    /// Forgets messages, recorded requests, idempotency keys, queued faults and rate-limit
    /// windows. Message ids keep counting up, so ids stay unique for the server's life.
    pub fn reset(&self) {
        self.shared.reset();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
