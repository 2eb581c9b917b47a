//! `heymarket-step`: send SMS and MMS through Heymarket from the command line, with the
//! heymarket-sms component run in an embedded, sandboxed wasmtime. See `--help`.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("heymarket-step: internal: starting the async runtime: {e}");
            return ExitCode::from(cli::report::code::INTERNAL);
        }
    };
    ExitCode::from(runtime.block_on(cli::run(cli)))
}
