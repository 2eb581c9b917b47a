//! What the tool prints: results as JSON, failures as one line (or JSON), exit codes.

use heymarket_step::{
    CallError, Encoding, MessagePreview, SendError, SentMessage, api_error, describe, error_kind,
    request_id,
};
use serde_json::{Value, json};

/// The exit codes, one per thing a script would do differently.
pub mod code {
    /// Everything was sent (or previewed).
    pub const OK: u8 = 0;
    /// A failure of the tool or the sandbox itself (unreadable component, trap).
    pub const INTERNAL: u8 = 1;
    /// Bad flags, unreadable input, or a message that breaks the endpoint's rules.
    pub const INVALID_INPUT: u8 = 2;
    /// Credentials, base URL or another setting missing or unusable.
    pub const CONFIGURATION: u8 = 3;
    /// Heymarket refused: 401, 403 or another 4xx. Retrying the same call cannot help.
    pub const REJECTED: u8 = 4;
    /// A transient failure (429, 5xx, timeout, connection): retrying later may work.
    pub const RETRYABLE: u8 = 5;
    /// A batch stopped by Ctrl-C before every row was tried.
    pub const INTERRUPTED: u8 = 130;
}

/// A failure as the tool reports it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: u8,
    /// A stable name: a `send-error` kind such as `transient.server`, or `invalid-input`,
    /// `permanent.configuration`, `internal` for failures before the component ran.
    pub kind: &'static str,
    pub message: String,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub fields: Box<[(String, String)]>,
    pub guest_output: Option<Box<str>>,
}

impl Failure {
    fn plain(code: u8, kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            kind,
            message: message.into(),
            status: None,
            request_id: None,
            fields: Box::default(),
            guest_output: None,
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Failure {
        Failure::plain(code::INVALID_INPUT, "invalid-input", message)
    }

    pub fn configuration(message: impl Into<String>) -> Failure {
        Failure::plain(code::CONFIGURATION, "permanent.configuration", message)
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::plain(code::INTERNAL, "internal", message)
    }

    /// A `send-error` from the component.
    pub fn from_send(error: &SendError) -> Failure {
        let kind = error_kind(error);
        let fields = match error {
            SendError::Permanent(heymarket_step::PermanentFailure::InvalidMessage(errors)) => {
                errors
                    .iter()
                    .map(|e| (e.field.clone(), e.reason.clone()))
                    .collect()
            }
            _ => Box::default(),
        };
        Failure {
            code: code_of_kind(kind),
            kind,
            message: describe(error),
            status: api_error(error).map(|e| e.status),
            request_id: request_id(error).map(str::to_owned),
            fields,
            guest_output: None,
        }
    }

    /// A failure of the sandbox while running the component.
    pub fn from_call(error: CallError) -> Failure {
        let mut failure = Failure::internal(format!("the component failed: {}", error.reason));
        if !error.guest_output.is_empty() {
            failure.guest_output = Some(error.guest_output.into());
        }
        failure
    }

    /// One readable line (plus the guest's output, when there was any).
    pub fn line(&self) -> String {
        let mut line = format!("heymarket-step: {}: {}", self.kind, self.message);
        if let Some(id) = &self.request_id {
            line.push_str(&format!(" (request id {id})"));
        }
        if let Some(output) = &self.guest_output {
            line.push_str(&format!("\nguest output:\n{output}"));
        }
        line
    }

    pub fn to_json(&self) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|(field, reason)| json!({"field": field, "reason": reason}))
            .collect();
        json!({"error": {
            "kind": self.kind,
            "message": self.message,
            "status": self.status,
            "request_id": self.request_id,
            "fields": fields,
            "exit_code": self.code,
            "guest_output": self.guest_output,
        }})
    }
}

/// The exit code for a `send-error` kind.
pub fn code_of_kind(kind: &str) -> u8 {
    match kind {
        "permanent.invalid-message" | "invalid-input" => code::INVALID_INPUT,
        "permanent.configuration" => code::CONFIGURATION,
        k if k.starts_with("permanent.") => code::REJECTED,
        k if k.starts_with("transient.") => code::RETRYABLE,
        _ => code::INTERNAL,
    }
}

pub fn sent_json(sent: &SentMessage) -> Value {
    json!({
        "id": sent.id,
        "date": sent.date,
        "gallery_url": sent.gallery_url,
        "local_id": sent.local_id,
        "request_id": sent.request_id,
        "attempts": sent.attempts,
    })
}

pub fn preview_json(preview: &MessagePreview) -> Value {
    json!({
        "body": preview.body,
        "encoding": match preview.encoding {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        },
        "characters": preview.characters,
        "segments": preview.segments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_its_documented_exit_code() {
        let cases = [
            ("permanent.invalid-message", 2),
            ("invalid-input", 2),
            ("permanent.configuration", 3),
            ("permanent.unauthorized", 4),
            ("permanent.forbidden", 4),
            ("permanent.rejected", 4),
            ("transient.rate-limited", 5),
            ("transient.server", 5),
            ("transient.timeout", 5),
            ("transient.connection", 5),
            ("transient.invalid-response", 5),
            ("execution-failed", 1),
            ("internal", 1),
        ];
        for (kind, code) in cases {
            assert_eq!(code_of_kind(kind), code, "{kind}");
        }
    }
}
