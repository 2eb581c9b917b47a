//! An Obelisk workflow that sends one message through the heymarket-sms activity.
//!
//! The activity is called through its imported WIT interface; Obelisk records the call
//! as a child execution of the workflow, retries it on `transient(...)` errors and
//! replays its stored result if the workflow itself is replayed. What makes those
//! retries safe is the `local-id`: derived here from the workflow's own execution id, it
//! is the same on every attempt and every replay, so Heymarket creates one message.

wit_bindgen::generate!({
    // The activity's contract first, so the workflow's package can refer to it.
    path: ["../../../wit", "wit"],
    world: "heymarket:sms-workflow/workflow",
    // The imported interfaces live in other packages; bind them here too.
    generate_all,
});

use exports::heymarket::sms_workflow::notify::Guest;
use heymarket::sms::messages::{Message, SendError, SentMessage, send_message};
use obelisk::workflow::workflow_support::execution_id_current;

/// The idempotency key of this workflow's single send step.
///
/// One workflow execution sends one message, so the execution id alone identifies the
/// step; the suffix names the step so a workflow that grows more sends can add keys
/// like `<id>/reminder` without colliding with this one.
fn step_key(execution_id: &str) -> String {
    format!("{execution_id}/send")
}

struct Workflow;

impl Guest for Workflow {
    fn send_once(mut message: Message) -> Result<SentMessage, SendError> {
        if message.local_id.is_none() {
            message.local_id = Some(step_key(&execution_id_current().id));
        }
        send_message(&message)
    }
}

export!(Workflow);
