//! The baseline: the same send written natively with `reqwest`, as a Rust service
//! would do it without the component.
//!
//! It posts the same bytes: the body is rendered and the `Authorization` value signed
//! by the component's own pure code compiled natively, with the same headers, and the
//! answer is read the same way (status, then `{id, date}` from the JSON).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use heymarket_sms::message::Message;
use heymarket_sms::settings::{Credentials, Secret};
use heymarket_sms::{auth, limits};

/// A native client for `POST /v1/message/send`.
pub struct Native {
    client: reqwest::Client,
    url: String,
    credentials: Credentials,
    keys: AtomicU64,
}

impl Native {
    /// A client of `base_url` that signs a JWT per request. With `keep_alive` off
    /// every send opens its own connection (`reqwest` keeps them by default, and so
    /// does the component's host).
    pub fn new(base_url: &str, secret_id: &str, secret_key: &str, keep_alive: bool) -> Native {
        // The component's own per-attempt default, so that no send can hang a loop.
        let mut builder = reqwest::Client::builder().timeout(limits::DEFAULT_TIMEOUT);
        if !keep_alive {
            builder = builder.pool_max_idle_per_host(0);
        }
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Native {
            // Without TLS or proxy features nothing in the builder can fail.
            client: builder.build().expect("a plain-HTTP client"),
            url: format!("{}{}", base_url.trim_end_matches('/'), limits::SEND_PATH),
            credentials: Credentials::Jwt {
                secret_id: secret_id.to_owned(),
                secret_key: Secret::new(secret_key.to_owned()),
            },
            keys: AtomicU64::new(seed),
        }
    }

    /// Validates, renders, signs and posts `message`; returns the message id.
    pub async fn send(&self, message: &Message) -> anyhow::Result<u64> {
        let valid = message
            .clone()
            .validate()
            .map_err(|errors| anyhow::anyhow!("invalid message: {errors:?}"))?;
        let body = valid.body_with_local_id(&self.local_id());
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let authorization = auth::authorization(&self.credentials, now);
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("user-agent", limits::USER_AGENT)
            .header("authorization", authorization.expose())
            .body(body)
            .send()
            .await
            .context("posting the message")?;
        let status = response.status();
        let bytes = response.bytes().await.context("reading the answer")?;
        if !status.is_success() {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
        }
        let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
        match (answer["id"].as_u64(), answer["date"].as_str()) {
            (Some(id), Some(_)) => Ok(id),
            _ => bail!("HTTP {status} without {{id, date}}"),
        }
    }

    /// A fresh key in the component's format, `hm-` and 32 hex digits.
    fn local_id(&self) -> String {
        // A Weyl sequence through a mixer: distinct per call, with no shared RNG lock.
        let n = self
            .keys
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        format!("hm-{:016x}{:016x}", mix(n), mix(!n))
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
