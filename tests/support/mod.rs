//! Shared by the integration tests: the component built once, a simulator, and a step
//! configured to reach it.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use heymarket_simulator::{Config, Fault, Simulator};
pub use heymarket_step::{
    Message, PermanentFailure, SendError, SentMessage, Step, StepConfig, TransientFailure,
    error_kind as kind,
};

pub const API_KEY: &str = "test-api-key-7f3a9c";
pub const SECRET_ID: &str = "test-secret-id";
pub const SECRET_KEY: &str = "test-secret-key-5e1d0b";

/// The component, built once per test binary.
pub fn wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| heymarket_step::component_wasm().expect("the component builds"))
        .clone()
}

/// Compiled components are cached here, so that each test's step loads in milliseconds.
fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("heymarket-sms-test-cache")
}

pub fn simulator() -> Simulator {
    Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        jwt_secrets: vec![(SECRET_ID.into(), SECRET_KEY.into())],
        denied_inboxes: vec![666],
        ..Config::default()
    })
    .expect("the simulator starts")
}

/// A step that reaches `sim` with the API key, fast backoff, and `extra` settings.
pub fn step(sim: &Simulator, extra: &[(&str, &str)]) -> Step {
    let mut env = vec![
        ("HEYMARKET_API_KEY".to_string(), API_KEY.to_string()),
        ("HEYMARKET_BASE_URL".to_string(), sim.base_url()),
        ("HEYMARKET_BACKOFF_BASE_MS".to_string(), "20".to_string()),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        if !v.is_empty() {
            env.push((k.to_string(), v.to_string()));
        }
    }
    step_with_env(env)
}

pub fn step_with_env(env: Vec<(String, String)>) -> Step {
    Step::load(
        &wasm(),
        StepConfig {
            env,
            cache_dir: Some(cache_dir()),
            max_instances: 16,
            call_limit: Duration::from_secs(60),
            ..StepConfig::default()
        },
    )
    .expect("the step loads")
}

/// A plain SMS that meets every rule.
pub fn sms() -> Message {
    Message {
        inbox_id: 101,
        creator_id: 55,
        phone_number: Some("14155551234".into()),
        targets: None,
        chat_id: None,
        list_id: None,
        text: Some("Your appointment is confirmed.".into()),
        media_url: None,
        template_id: None,
        local_id: None,
        activity_id: None,
        private: None,
        author: None,
        survey_id: None,
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `message` through `step`, failing the test on a host-side failure.
pub fn send(step: &Step, message: &Message) -> Result<SentMessage, SendError> {
    runtime()
        .block_on(step.send(message))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The field names of an `invalid-message` error.
pub fn fields(error: &SendError) -> Vec<String> {
    match error {
        SendError::Permanent(PermanentFailure::InvalidMessage(errors)) => {
            errors.iter().map(|e| e.field.clone()).collect()
        }
        other => panic!("expected invalid-message, got {other:?}"),
    }
}
