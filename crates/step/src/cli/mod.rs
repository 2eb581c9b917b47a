//! The command line: flags, subcommands, and what each prints.

use std::io::Read as _;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod batch;
pub mod fields;
pub mod host;
pub mod journal;
pub mod limiter;
pub mod report;

use fields::Fields;
use report::{Failure, code};

const EXIT_CODES: &str = "\
Exit codes:
  0    success (batch: every row sent or already sent)
  1    internal failure of the tool or the sandbox (unreadable component, trap)
  2    invalid input: bad flags, unreadable JSON or CSV, a message that breaks a rule
  3    configuration: credentials, base URL or another HEYMARKET_* setting unusable
  4    rejected by Heymarket: 401, 403 or another 4xx (retrying cannot help)
  5    retryable failure: 429, 5xx, timeout, connection (retrying later may work)
  130  batch interrupted by Ctrl-C (re-run it: sent rows are skipped)
A batch with failed rows exits with the highest code among them, so 5 means a re-run
may finish it.

Environment: HEYMARKET_API_KEY, or HEYMARKET_SECRET_ID and HEYMARKET_SECRET_KEY;
HEYMARKET_BASE_URL, HEYMARKET_TIMEOUT_MS, HEYMARKET_MAX_ATTEMPTS, HEYMARKET_DEADLINE_MS.
Only HEYMARKET_* variables reach the component. With no credentials and no base URL,
send and batch use an embedded Heymarket simulator: nothing leaves the machine.";

/// Send SMS and MMS through Heymarket with the heymarket-sms WebAssembly component,
/// run in an embedded, sandboxed wasmtime.
#[derive(Parser)]
#[command(name = "heymarket-step", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every subcommand.
#[derive(Args, Clone)]
pub struct Global {
    /// `text`: results as JSON on stdout, errors as one line on stderr. `json`: errors
    /// too go to stdout, as one JSON object (`{"error": {...}}`).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Heymarket's base URL (overrides HEYMARKET_BASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// A host:port the component may reach, instead of the base URL's (repeatable).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub allow_host: Vec<String>,
    /// The component to run (default: HEYMARKET_SMS_WASM, else built with cargo).
    #[arg(long, global = true, env = "HEYMARKET_SMS_WASM", value_name = "WASM")]
    pub component: Option<PathBuf>,
    /// Where compiled components are cached (default: $HEYMARKET_CACHE/compiled, else
    /// $XDG_CACHE_HOME/heymarket-sms/compiled, else ~/.cache/heymarket-sms/compiled).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the component on every start.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Say on stderr how the component was loaded and how long it took.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Send one message and print Heymarket's receipt as JSON.
    Send(SendArgs),
    /// Validate and render one message without sending it (no network, no credentials):
    /// the exact body, its encoding, characters and segments.
    Preview(SendArgs),
    /// Send one message per row of a CSV (with a header of field names) or NDJSON file.
    Batch(BatchArgs),
}

/// One message's fields, each named after the endpoint's field.
#[derive(Args, Clone, Default)]
pub struct MessageFlags {
    /// inbox_id: the inbox to send from.
    #[arg(long = "inbox", value_name = "ID")]
    pub inbox_id: Option<u64>,
    /// creator_id: the user the message is sent as.
    #[arg(long = "creator", value_name = "ID")]
    pub creator_id: Option<u64>,
    /// phone_number: the recipient, E.164 digits without `+` (e.g. 14155551234).
    #[arg(long = "to", value_name = "PHONE")]
    pub phone_number: Option<String>,
    /// chat_id: an existing conversation.
    #[arg(long = "chat", value_name = "ID")]
    pub chat_id: Option<u64>,
    /// list_id: a contact list (needs --local-id).
    #[arg(long = "list", value_name = "ID")]
    pub list_id: Option<u64>,
    /// targets: several recipients (comma-separated or repeated).
    #[arg(long = "targets", value_name = "TARGET", value_delimiter = ',')]
    pub targets: Vec<String>,
    /// text: the message text.
    #[arg(long)]
    pub text: Option<String>,
    /// media_url: an absolute http(s) URL to attach (MMS).
    #[arg(long = "media-url", value_name = "URL")]
    pub media_url: Option<String>,
    /// template_id: a saved template to send.
    #[arg(long = "template", value_name = "ID")]
    pub template_id: Option<u64>,
    /// local_id: your idempotency key; the same key never sends twice.
    #[arg(long = "local-id", value_name = "KEY")]
    pub local_id: Option<String>,
    /// activity_id: an activity to attach the message to.
    #[arg(long = "activity", value_name = "ID")]
    pub activity_id: Option<String>,
    /// private: an internal note rather than a message to the recipient.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub private: Option<bool>,
    /// author: the label shown as the message's author.
    #[arg(long)]
    pub author: Option<String>,
    /// survey_id: a survey to send.
    #[arg(long = "survey", value_name = "ID")]
    pub survey_id: Option<u64>,
}

impl MessageFlags {
    pub fn into_fields(self) -> Fields {
        Fields {
            inbox_id: self.inbox_id,
            creator_id: self.creator_id,
            phone_number: self.phone_number,
            targets: (!self.targets.is_empty()).then_some(self.targets),
            chat_id: self.chat_id,
            list_id: self.list_id,
            text: self.text,
            media_url: self.media_url,
            template_id: self.template_id,
            local_id: self.local_id,
            activity_id: self.activity_id,
            private: self.private,
            author: self.author,
            survey_id: self.survey_id,
        }
    }
}

#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub fields: MessageFlags,
    /// The endpoint's own JSON body (snake_case fields) from FILE, or `-` for stdin.
    /// Flags add to it; a field in both with different values is an error.
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// From the file name (.csv, .ndjson, .jsonl, .json), else from the first byte.
    Auto,
    Csv,
    Ndjson,
}

#[derive(Args)]
pub struct BatchArgs {
    /// The rows: CSV with a header of the endpoint's field names, or NDJSON (one JSON
    /// body per line); `-` reads stdin (then --journal is required).
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Defaults for fields a row leaves empty (a row's own value wins).
    #[command(flatten)]
    pub defaults: MessageFlags,
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// How many sends may be in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// The most sends to start per minute (Heymarket allows 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,
    /// The journal of finished rows (default: FILE.journal). Re-running a batch with
    /// its journal skips the rows recorded as sent.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

fn read_json_arg(source: &str) -> Result<String, Failure> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::invalid_input(format!("reading the JSON from stdin: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| Failure::invalid_input(format!("reading {source}: {e}")))
    }
}

fn message_of(args: SendArgs) -> Result<heymarket_step::Message, Failure> {
    let mut fields = args.fields.into_fields();
    if let Some(source) = &args.json {
        let from_json = Fields::from_json_text(&read_json_arg(source)?)
            .map_err(|e| Failure::invalid_input(format!("--json {source}: {e}")))?;
        fields = fields.merge(from_json).map_err(Failure::invalid_input)?;
    }
    fields.into_message().map_err(Failure::invalid_input)
}

/// Runs the command and returns the exit code.
pub async fn run(cli: Cli) -> u8 {
    let global = cli.global.clone();
    let result = match cli.command {
        Command::Send(args) => send(&global, args).await,
        Command::Preview(args) => preview(&global, args).await,
        Command::Batch(args) => batch::run(&global, args).await,
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            match global.output {
                Output::Text => eprintln!("{}", failure.line()),
                Output::Json => println!("{}", failure.to_json()),
            }
            failure.code
        }
    }
}

async fn send(global: &Global, args: SendArgs) -> Result<u8, Failure> {
    let message = message_of(args)?;
    let host = host::open(global, true, 2)?;
    let result = host.step.send(&message).await;
    host.finish();
    match result.map_err(Failure::from_call)? {
        Ok(sent) => {
            println!("{}", report::sent_json(&sent));
            Ok(code::OK)
        }
        Err(error) => Err(Failure::from_send(&error)),
    }
}

async fn preview(global: &Global, args: SendArgs) -> Result<u8, Failure> {
    let message = message_of(args)?;
    let host = host::open(global, false, 2)?;
    match host
        .step
        .preview(&message)
        .await
        .map_err(Failure::from_call)?
    {
        Ok(preview) => {
            println!("{}", report::preview_json(&preview));
            Ok(code::OK)
        }
        Err(error) => Err(Failure::from_send(&error)),
    }
}
