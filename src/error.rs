//! The outcomes of a call, mirroring the WIT `sent-message` and `send-error`.

use core::fmt;

use crate::message::FieldError;

/// A message Heymarket accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub id: u64,
    pub date: String,
    pub gallery_url: Option<String>,
    pub local_id: String,
    pub request_id: Option<String>,
    pub attempts: u32,
}

/// An answer from Heymarket that was not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub request_id: Option<String>,
    /// The raw body, cut to [`crate::limits::MAX_ERROR_BODY_BYTES`].
    pub body: String,
}

/// Why a call failed, split by whether retrying the same call can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    Permanent(Permanent),
    Transient(Transient),
}

/// Retrying the same call cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permanent {
    InvalidMessage(Vec<FieldError>),
    Configuration(String),
    Unauthorized(ApiError),
    Forbidden(ApiError),
    Rejected(ApiError),
}

/// The same call, with the same `local_id`, may succeed later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transient {
    RateLimited(ApiError),
    Server(ApiError),
    Timeout(String),
    Connection(String),
    InvalidResponse(ApiError),
}

impl SendError {
    /// The stable name of the case, as `permanent.invalid-message`; the gateway uses it
    /// in problem types and hosts in logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Permanent(p) => match p {
                Permanent::InvalidMessage(_) => "permanent.invalid-message",
                Permanent::Configuration(_) => "permanent.configuration",
                Permanent::Unauthorized(_) => "permanent.unauthorized",
                Permanent::Forbidden(_) => "permanent.forbidden",
                Permanent::Rejected(_) => "permanent.rejected",
            },
            SendError::Transient(t) => match t {
                Transient::RateLimited(_) => "transient.rate-limited",
                Transient::Server(_) => "transient.server",
                Transient::Timeout(_) => "transient.timeout",
                Transient::Connection(_) => "transient.connection",
                Transient::InvalidResponse(_) => "transient.invalid-response",
            },
        }
    }

    /// The Heymarket answer behind the error, when there was one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            SendError::Permanent(
                Permanent::Unauthorized(e) | Permanent::Forbidden(e) | Permanent::Rejected(e),
            )
            | SendError::Transient(
                Transient::RateLimited(e) | Transient::Server(e) | Transient::InvalidResponse(e),
            ) => Some(e),
            _ => None,
        }
    }

    /// Replaces every occurrence of each secret in the error's text, so that a server
    /// that echoes a credential back cannot make the component return it.
    pub fn redact(mut self, secrets: &[&str]) -> Self {
        let scrub = |text: &mut String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if let Some(redacted) = crate::text::replace(text, secret, "[redacted]") {
                    *text = redacted;
                }
            }
        };
        match &mut self {
            SendError::Permanent(Permanent::InvalidMessage(errors)) => {
                for e in errors {
                    scrub(&mut e.reason);
                }
            }
            SendError::Permanent(Permanent::Configuration(text))
            | SendError::Transient(Transient::Timeout(text) | Transient::Connection(text)) => {
                scrub(text)
            }
            SendError::Permanent(
                Permanent::Unauthorized(e) | Permanent::Forbidden(e) | Permanent::Rejected(e),
            )
            | SendError::Transient(
                Transient::RateLimited(e) | Transient::Server(e) | Transient::InvalidResponse(e),
            ) => {
                scrub(&mut e.message);
                scrub(&mut e.body);
                if let Some(id) = &mut e.request_id {
                    scrub(id);
                }
            }
        }
        self
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind())?;
        match self {
            SendError::Permanent(Permanent::InvalidMessage(errors)) => {
                for (i, e) in errors.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{}: {}", e.field, e.reason)?;
                }
                Ok(())
            }
            SendError::Permanent(Permanent::Configuration(text))
            | SendError::Transient(Transient::Timeout(text) | Transient::Connection(text)) => {
                f.write_str(text)
            }
            SendError::Permanent(
                Permanent::Unauthorized(e) | Permanent::Forbidden(e) | Permanent::Rejected(e),
            )
            | SendError::Transient(
                Transient::RateLimited(e) | Transient::Server(e) | Transient::InvalidResponse(e),
            ) => {
                write!(f, "HTTP {}: {}", e.status, e.message)?;
                if let Some(id) = &e.request_id {
                    write!(f, " (request id {id})")?;
                }
                Ok(())
            }
        }
    }
}
