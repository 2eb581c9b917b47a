//! Scripted misbehaviour, and its JSON form for `POST /_sim/script`.

use std::time::Duration;

use serde::Deserialize;

/// One scripted misbehaviour; each applies to exactly one `POST /v1/message/send`, in the
/// order they were scripted.
///
/// Deserializes from the JSON shapes described in the crate docs, e.g.
/// `{"respond": {"status": 429, "headers": [["Retry-After", "1"]], "body": "{}"}}`,
/// `{"delay_ms": 2000}` or `"drop_before_store"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "FaultSpec")]
pub enum Fault {
    /// Answer with this status, these extra headers and this body, without checking auth
    /// and without storing anything. `X-Request-Id`, `Content-Type` (JSON when the body
    /// parses as JSON, else text) and `Content-Length` are added unless given here.
    Respond {
        /// The status code to answer.
        status: u16,
        /// Extra headers, e.g. `("Retry-After", "1")`.
        headers: Vec<(String, String)>,
        /// The body to answer.
        body: String,
    },
    /// Handle the request normally (auth, rules, dedup, storing), then answer this status
    /// and body instead of the success receipt.
    RespondAfterStore {
        /// The status code to answer.
        status: u16,
        /// The body to answer.
        body: String,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Close the connection without answering and without storing.
    DropBeforeStore,
    /// Store the message normally, then close the connection without answering.
    DropAfterStore,
    /// Store the message normally, then write exactly these bytes as the whole response
    /// and close: for truncated bodies, non-JSON 2xx, wrong `Content-Length`, redirects.
    RawAfterStore(Vec<u8>),
}

/// The wire shape: externally tagged, snake_case, with friendlier field forms.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultSpec {
    Respond {
        status: u16,
        #[serde(default)]
        headers: Vec<(String, String)>,
        #[serde(default)]
        body: String,
    },
    RespondAfterStore {
        status: u16,
        #[serde(default)]
        body: String,
    },
    DelayMs(u64),
    DropBeforeStore,
    DropAfterStore,
    RawAfterStore(RawBytes),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawBytes {
    Text(String),
    Bytes(Vec<u8>),
}

impl From<FaultSpec> for Fault {
    fn from(spec: FaultSpec) -> Self {
        match spec {
            FaultSpec::Respond {
                status,
                headers,
                body,
            } => Fault::Respond {
                status,
                headers,
                body,
            },
            FaultSpec::RespondAfterStore { status, body } => {
                Fault::RespondAfterStore { status, body }
            }
            FaultSpec::DelayMs(ms) => Fault::Delay(Duration::from_millis(ms)),
            FaultSpec::DropBeforeStore => Fault::DropBeforeStore,
            FaultSpec::DropAfterStore => Fault::DropAfterStore,
            FaultSpec::RawAfterStore(RawBytes::Text(text)) => Fault::RawAfterStore(text.into()),
            FaultSpec::RawAfterStore(RawBytes::Bytes(bytes)) => Fault::RawAfterStore(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_json_shape_deserializes() {
        let script = r#"[
            {"respond": {"status": 429, "headers": [["Retry-After", "1"]], "body": "{}"}},
            {"respond": {"status": 503}},
            {"respond_after_store": {"status": 500, "body": "oops"}},
            {"delay_ms": 2000},
            "drop_before_store",
            "drop_after_store",
            {"raw_after_store": "HTTP/1.1 200 OK\r\n\r\n"},
            {"raw_after_store": [72, 73]}
        ]"#;
        let faults: Vec<Fault> = serde_json::from_str(script).unwrap();
        assert_eq!(
            faults,
            [
                Fault::Respond {
                    status: 429,
                    headers: vec![("Retry-After".into(), "1".into())],
                    body: "{}".into()
                },
                Fault::Respond {
                    status: 503,
                    headers: vec![],
                    body: String::new()
                },
                Fault::RespondAfterStore {
                    status: 500,
                    body: "oops".into()
                },
                Fault::Delay(Duration::from_secs(2)),
                Fault::DropBeforeStore,
                Fault::DropAfterStore,
                Fault::RawAfterStore(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()),
                Fault::RawAfterStore(b"HI".to_vec()),
            ]
        );
    }

    #[test]
    fn an_unknown_fault_kind_is_an_error() {
        assert!(serde_json::from_str::<Fault>(r#""explode""#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"respond": {}}"#).is_err());
    }
}
