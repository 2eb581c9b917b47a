//! What every measurement sends, and to whom: the simulator with its rate limit off,
//! its credentials, the message. Shared by the harness and the `hotloop` example.

use heymarket_simulator::{Config, Simulator};

/// The simulator's default JWT secret, which every client here signs with.
pub const SECRET_ID: &str = "sim-secret-id";
pub const SECRET_KEY: &str = "sim-secret-key";

/// A simulator on a loopback port that never rate-limits: the clients are measured,
/// not its limiter.
pub fn simulator() -> std::io::Result<Simulator> {
    Simulator::start(Config {
        rate_limit_per_minute: 0,
        ..Config::default()
    })
}

/// The component's environment for sending to the simulator at `base_url`.
pub fn step_env(base_url: &str) -> Vec<(String, String)> {
    vec![
        ("HEYMARKET_BASE_URL".to_owned(), base_url.to_owned()),
        ("HEYMARKET_SECRET_ID".to_owned(), SECRET_ID.to_owned()),
        ("HEYMARKET_SECRET_KEY".to_owned(), SECRET_KEY.to_owned()),
    ]
}

/// The message every send uses: an SMS to one number, a fresh `local_id` per send.
pub fn native_message() -> heymarket_sms::message::Message {
    heymarket_sms::message::Message {
        inbox_id: 1,
        creator_id: 2,
        phone_number: Some("14155551234".into()),
        text: Some("Your order #1234 has shipped and arrives on Friday.".into()),
        ..Default::default()
    }
}

/// [`native_message`] as the step takes it.
pub fn step_message() -> heymarket_step::Message {
    let m = native_message();
    heymarket_step::Message {
        inbox_id: m.inbox_id,
        creator_id: m.creator_id,
        phone_number: m.phone_number,
        targets: None,
        chat_id: None,
        list_id: None,
        text: m.text,
        media_url: None,
        template_id: None,
        local_id: None,
        activity_id: None,
        private: None,
        author: None,
        survey_id: None,
    }
}
