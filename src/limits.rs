//! Every limit and default in one place, so the component, the gateway and the hosts
//! agree on them.

use core::time::Duration;

/// Where requests go when `HEYMARKET_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.heymarket.com";
/// The endpoint's path below the base URL.
pub const SEND_PATH: &str = "/v1/message/send";

/// How long one attempt may take, from connecting to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The bounds accepted for `HEYMARKET_TIMEOUT_MS`.
pub const TIMEOUT_MS_RANGE: (u64, u64) = (1, 600_000);
/// How many requests one call may make, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// The bounds accepted for `HEYMARKET_MAX_ATTEMPTS`.
pub const MAX_ATTEMPTS_RANGE: (u32, u32) = (1, 10);
/// How long one call may take in all, attempts and waits between them included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
/// The bounds accepted for `HEYMARKET_DEADLINE_MS`.
pub const DEADLINE_MS_RANGE: (u64, u64) = (1, 3_600_000);
/// The first backoff ceiling; it doubles with each retry.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The bounds accepted for `HEYMARKET_BACKOFF_BASE_MS`.
pub const BACKOFF_BASE_MS_RANGE: (u64, u64) = (1, 60_000);
/// No wait between attempts is longer than this, whatever the backoff or the server's
/// `Retry-After` says; a longer `Retry-After` ends the call as `rate-limited` so the
/// caller can schedule the retry itself.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How much of a response body is read; the rest is discarded unread.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How much of an error body is kept in `api-error.body`.
pub const MAX_ERROR_BODY_BYTES: usize = 4096;

/// Ids are JSON integers on the wire; the vendor's are signed 64-bit.
pub const MAX_ID: u64 = i64::MAX as u64;
/// E.164 allows at most 15 digits; the shortest numbers in use have 7.
pub const PHONE_DIGITS: (usize, usize) = (7, 15);
/// The most numbers one group message takes.
pub const MAX_TARGETS: usize = 100;
/// The longest text accepted, in characters (ten UCS-2 segments is 670, ten GSM-7
/// segments 1530; carriers refuse longer concatenations).
pub const MAX_TEXT_CHARS: usize = 1600;
/// The longest `media_url`, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The longest `local_id` or `activity_id`, in bytes.
pub const MAX_KEY_BYTES: usize = 255;
/// The longest `author` label, in bytes.
pub const MAX_AUTHOR_CHARS: usize = 255;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!(
    "heymarket-sms/",
    env!("CARGO_PKG_VERSION"),
    " (wasm32-wasip2)"
);

/// The largest request body the gateway reads; it stops reading one byte past it and
/// answers 413. A message at every field's limit is far smaller.
pub const MAX_GATEWAY_BODY_BYTES: usize = 64 * 1024;
/// How long the gateway waits for a request body to arrive in full before answering
/// 408, so that a stalled client cannot hold an instance.
pub const GATEWAY_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The `Retry-After` the gateway sends with a 429 when Heymarket gave none: its limit
/// is counted per minute, so a full minute always finds a fresh budget.
pub const DEFAULT_GATEWAY_RETRY_AFTER: Duration = Duration::from_secs(60);
