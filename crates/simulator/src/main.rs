//! `heymarket-simulator`: runs the simulator as a process, for hosts and demos that cannot
//! link the library (Python, Node, `wasmtime serve`).

use std::io::Write as _;
use std::process::ExitCode;

use heymarket_simulator::{
    Config, DEFAULT_API_KEY, DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY,
    Simulator,
};

fn help() -> String {
    format!(
        "heymarket-simulator: a local stand-in for Heymarket's POST /v1/message/send

Usage: heymarket-simulator [OPTIONS]

Prints `listening on http://ADDR` on the first line of stdout, then serves until killed.

Options:
  --bind ADDR          address to listen on (default 127.0.0.1:0, a free port)
  --api-key KEY        accept this API key (repeatable)
  --secret-id ID       accept JWTs from this API secret id (pair with --secret-key;
  --secret-key KEY       repeatable)
  --rate-limit N       requests per minute per credential
                       (default {DEFAULT_RATE_LIMIT_PER_MINUTE}; 0 turns the limit off)
  --deny-inbox ID      answer 403 for sends from this inbox (repeatable)
  -h, --help           print this help

Without --api-key or --secret-id/--secret-key, these defaults are accepted:
  API key            {DEFAULT_API_KEY}
  JWT secret id      {DEFAULT_SECRET_ID}
  JWT secret key     {DEFAULT_SECRET_KEY}
Given any of them, only the credentials given are accepted.

Control paths (no auth): GET /_sim/messages, GET /_sim/requests, POST /_sim/script,
POST /_sim/reset, GET /healthz.
"
    )
}

enum Command {
    Help,
    Run(Config),
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let defaults = Config::default();
    let mut config = Config {
        api_keys: Vec::new(),
        jwt_secrets: Vec::new(),
        ..defaults.clone()
    };
    let mut secret_ids = Vec::new();
    let mut secret_keys = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--bind" => {
                let text = value()?;
                config.bind = text
                    .parse()
                    .map_err(|_| format!("--bind: not an address: {text}"))?;
            }
            "--api-key" => config.api_keys.push(value()?),
            "--secret-id" => secret_ids.push(value()?),
            "--secret-key" => secret_keys.push(value()?),
            "--rate-limit" => {
                let text = value()?;
                config.rate_limit_per_minute = text
                    .parse()
                    .map_err(|_| format!("--rate-limit: not a number: {text}"))?;
            }
            "--deny-inbox" => {
                let text = value()?;
                let inbox = text
                    .parse()
                    .map_err(|_| format!("--deny-inbox: not an id: {text}"))?;
                config.denied_inboxes.push(inbox);
            }
            other => return Err(format!("unknown argument: {other} (try --help)")),
        }
    }
    if secret_ids.len() != secret_keys.len() {
        return Err("give --secret-id and --secret-key the same number of times".to_owned());
    }
    config.jwt_secrets = secret_ids.into_iter().zip(secret_keys).collect();
    if config.api_keys.is_empty() && config.jwt_secrets.is_empty() {
        config.api_keys = defaults.api_keys;
        config.jwt_secrets = defaults.jwt_secrets;
    }
    Ok(Command::Run(config))
}

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(config)) => config,
        Err(message) => {
            eprintln!("heymarket-simulator: {message}");
            return ExitCode::from(2);
        }
    };
    let simulator = match Simulator::start(config) {
        Ok(simulator) => simulator,
        Err(e) => {
            eprintln!("heymarket-simulator: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    // Hosts wait for this exact line to learn the port; it must arrive even through a pipe.
    if writeln!(stdout, "listening on {}", simulator.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    // The server runs on its own thread; this one only keeps the process alive until a
    // signal ends it.
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse(args.iter().map(|s| (*s).to_owned()))? {
            Command::Run(config) => Ok(config),
            Command::Help => Err("help".to_owned()),
        }
    }

    #[test]
    fn no_credential_flags_keep_the_default_credentials() {
        assert_eq!(run(&[]).unwrap(), Config::default());
    }

    #[test]
    fn credential_flags_replace_the_defaults() {
        let config = run(&["--api-key", "k1", "--api-key=k2", "--rate-limit", "3"]).unwrap();
        assert_eq!(config.api_keys, ["k1", "k2"]);
        assert!(config.jwt_secrets.is_empty());
        assert_eq!(config.rate_limit_per_minute, 3);
        let config = run(&["--secret-id", "id", "--secret-key", "key"]).unwrap();
        assert_eq!(config.jwt_secrets, [("id".to_owned(), "key".to_owned())]);
        assert!(config.api_keys.is_empty());
    }

    #[test]
    fn unpaired_secrets_and_unknown_flags_are_errors() {
        assert!(run(&["--secret-id", "id"]).is_err());
        assert!(run(&["--what"]).is_err());
        assert!(run(&["--bind", "nowhere"]).is_err());
    }
}
