//! heymarket-sms: a WebAssembly component that sends SMS and MMS through Heymarket's
//! `POST /v1/message/send`.
//!
//! The modules below the exports are pure (no WASI calls) and unit-test natively; only
//! `component` (the WIT bindings and the `wasi:http` glue) needs a component host.
//! The path of one send: validate ([`message`]) → render ([`message::ValidMessage`]) →
//! settings ([`settings`]) → attempt loop ([`send`], [`retry`]) over [`send::Io`].
//! The HTTP gateway ([`gateway`]) is one more caller of the same path.

pub mod auth;
pub mod error;
pub mod gateway;
pub mod json;
pub mod limits;
pub mod message;
pub mod retry;
pub mod segments;
pub mod send;
pub mod settings;
pub mod text;

#[cfg(target_arch = "wasm32")]
mod component;

use error::{Permanent, SendError};
use message::Message;

/// What `preview-message` returns: the exact body and the text's cost in segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub body: String,
    pub segments: segments::Segments,
}

/// Validates and renders `message` without sending it or reading any setting.
pub fn preview(message: Message) -> Result<Preview, SendError> {
    let valid = message
        .validate()
        .map_err(|errors| SendError::Permanent(Permanent::InvalidMessage(errors)))?;
    let segments = segments::count(valid.message().text.as_deref().unwrap_or_default());
    Ok(Preview {
        body: valid.body(),
        segments,
    })
}

/// Validates `message`, reads the settings through `var`, and sends it through `io`.
///
/// The message is checked first: a caller with a broken message and a broken
/// configuration learns about the message, which is theirs to fix.
pub fn send_message(
    message: Message,
    var: impl Fn(&str) -> Option<String>,
    io: &mut impl send::Io,
) -> Result<error::Sent, SendError> {
    send_message_once(message, &var, io)
}

// One copy for both callers (the export and the gateway, each with its own `Io`
// and environment): the attempt loop is too large to have twice in the component.
fn send_message_once(
    message: Message,
    var: &dyn Fn(&str) -> Option<String>,
    io: &mut dyn send::Io,
) -> Result<error::Sent, SendError> {
    let valid = message
        .validate()
        .map_err(|errors| SendError::Permanent(Permanent::InvalidMessage(errors)))?;
    let settings = settings::Settings::from_env(var)
        .map_err(|text| SendError::Permanent(Permanent::Configuration(text)))?;
    send::send(&valid, &settings, io)
}
