//! `heymarket-step batch`: many messages from a CSV or NDJSON file, concurrently, under a
//! rate limit, with a journal that makes a re-run send nothing twice.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use heymarket_step::{Message, SentMessage, Step};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::task::JoinSet;

use super::fields::{Fields, check_name};
use super::journal::{Entry, Journal, Outcome};
use super::limiter::Limiter;
use super::report::{Failure, code};
use super::{BatchArgs, Format, Global, host};

/// One input row, parsed or not.
struct Row {
    number: usize,
    fields: Result<Fields, String>,
}

/// The first 64 bits of the input's SHA-256, in hex: the batch's identity, part of every
/// generated `local_id`.
fn batch_id(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key a row is sent with when it has none: stable across re-runs of the same input,
/// distinct across rows and across inputs.
fn generated_local_id(batch: &str, row: usize) -> String {
    format!("hm-{batch}-{row}")
}

fn parse(bytes: &[u8], format: Format, name: &str) -> Result<Vec<Row>, Failure> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let format = match format {
        Format::Auto if name.ends_with(".csv") => Format::Csv,
        Format::Auto
            if [".ndjson", ".jsonl", ".json"]
                .iter()
                .any(|e| name.ends_with(e)) =>
        {
            Format::Ndjson
        }
        Format::Auto => match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Ndjson,
            _ => Format::Csv,
        },
        other => other,
    };
    match format {
        Format::Ndjson => {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| Failure::invalid_input(format!("{name} is not UTF-8: {e}")))?;
            Ok(text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .enumerate()
                .map(|(i, line)| Row {
                    number: i + 1,
                    fields: Fields::from_json_text(line),
                })
                .collect())
        }
        Format::Csv | Format::Auto => {
            let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
            let headers = reader
                .headers()
                .map_err(|e| Failure::invalid_input(format!("{name}: the header: {e}")))?
                .clone();
            let mut seen = Vec::new();
            for column in &headers {
                check_name(column)
                    .map_err(|e| Failure::invalid_input(format!("{name}: column {e}")))?;
                if seen.contains(&column) {
                    return Err(Failure::invalid_input(format!(
                        "{name}: column `{column}` appears twice"
                    )));
                }
                seen.push(column);
            }
            Ok(reader
                .records()
                .enumerate()
                .map(|(i, record)| Row {
                    number: i + 1,
                    fields: record
                        .map_err(|e| format!("the row does not parse: {e}"))
                        .and_then(|r| Fields::from_cells(headers.iter().zip(r.iter()))),
                })
                .collect())
        }
    }
}

/// Shows progress: a bar on a terminal, one line per row otherwise.
enum Progress {
    Bar(ProgressBar),
    Lines { total: usize, done: usize },
}

impl Progress {
    fn new(total: usize) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            Progress::Bar(bar)
        } else {
            Progress::Lines { total, done: 0 }
        }
    }

    fn row(&mut self, row: usize, result: &Result<SentMessage, Failure>) {
        match self {
            Progress::Bar(bar) => {
                bar.inc(1);
                if let Err(failure) = result {
                    bar.println(format!("row {row}: {}", failure.line()));
                }
            }
            Progress::Lines { total, done } => {
                *done += 1;
                match result {
                    Ok(sent) => eprintln!("[{done}/{total}] row {row}: sent, id {}", sent.id),
                    Err(failure) => eprintln!("[{done}/{total}] row {row}: {}", failure.line()),
                }
            }
        }
    }

    fn note(&self, text: &str) {
        match self {
            Progress::Bar(bar) => bar.println(text),
            Progress::Lines { .. } => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn send_row(
    step: Arc<Step>,
    limiter: Arc<Limiter>,
    message: Message,
) -> Result<SentMessage, Failure> {
    limiter.wait().await;
    match step.send(&message).await {
        Ok(Ok(sent)) => Ok(sent),
        Ok(Err(error)) => Err(Failure::from_send(&error)),
        Err(call) => Err(Failure::from_call(call)),
    }
}

/// Runs the batch and returns the exit code; the summary goes to stdout as JSON and to
/// stderr as a line.
pub async fn run(global: &Global, args: BatchArgs) -> Result<u8, Failure> {
    if args.defaults.local_id.is_some() {
        return Err(Failure::invalid_input(
            "--local-id cannot be a batch default: every row would share one key and \
             Heymarket would store only the first; put local_id in the rows instead",
        ));
    }
    let defaults = args.defaults.into_fields();
    let from_stdin = args.file == "-";
    let bytes = if from_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::invalid_input(format!("reading stdin: {e}")))?;
        bytes
    } else {
        std::fs::read(&args.file)
            .map_err(|e| Failure::invalid_input(format!("reading {}: {e}", args.file)))?
    };
    let journal_path = match (args.journal, from_stdin) {
        (Some(path), _) => path,
        (None, false) => PathBuf::from(format!("{}.journal", args.file)),
        (None, true) => {
            return Err(Failure::invalid_input(
                "a batch read from stdin needs --journal PATH",
            ));
        }
    };
    let batch = batch_id(&bytes);
    let rows = parse(&bytes, args.format, &args.file)?;
    let mut journal = Journal::open(&journal_path, &batch).map_err(Failure::invalid_input)?;

    let total = rows.len();
    let (skipped, pending): (Vec<Row>, Vec<Row>) = rows
        .into_iter()
        .partition(|row| journal.was_sent(row.number));
    let mut sent = 0usize;
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    let mut worst = code::OK;
    let mut interrupted = false;
    let mut not_attempted = 0usize;

    let host = if pending.is_empty() {
        None
    } else {
        Some(host::open(global, true, u32::from(args.concurrency) + 1)?)
    };
    if let Some(host) = &host {
        let step = Arc::clone(&host.step);
        let limiter = Arc::new(Limiter::per_minute(args.rate));
        let mut progress = Progress::new(pending.len());
        if !skipped.is_empty() {
            progress.note(&format!(
                "heymarket-step: skipping {} rows the journal {} records as sent",
                skipped.len(),
                journal.path().display()
            ));
        }
        let mut queue = pending.into_iter();
        let mut running = JoinSet::new();
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        loop {
            while !interrupted && running.len() < usize::from(args.concurrency) {
                let Some(row) = queue.next() else { break };
                let local_id = match &row.fields {
                    Ok(f) => Some(
                        f.local_id
                            .clone()
                            .unwrap_or_else(|| generated_local_id(&batch, row.number)),
                    ),
                    Err(_) => None,
                };
                let message = row.fields.and_then(|fields| {
                    Fields {
                        local_id: local_id.clone(),
                        ..fields
                    }
                    .or(defaults.clone())
                    .into_message()
                });
                let number = row.number;
                match message {
                    Ok(message) => {
                        let (step, limiter) = (Arc::clone(&step), Arc::clone(&limiter));
                        running.spawn(async move {
                            (number, local_id, send_row(step, limiter, message).await)
                        });
                    }
                    Err(reason) => {
                        let failure = Failure::invalid_input(format!("row {number}: {reason}"));
                        running.spawn(async move { (number, local_id, Err(failure)) });
                    }
                }
            }
            let finished = tokio::select! {
                finished = running.join_next() => finished,
                _ = &mut ctrl_c, if !interrupted => {
                    interrupted = true;
                    progress.note(&format!(
                        "heymarket-step: interrupted: finishing the {} rows in flight, then \
                         stopping (Ctrl-C again to quit now; the journal is up to date)",
                        running.len()
                    ));
                    tokio::spawn(async {
                        if tokio::signal::ctrl_c().await.is_ok() {
                            std::process::exit(i32::from(code::INTERRUPTED));
                        }
                    });
                    continue;
                }
            };
            let Some(finished) = finished else { break };
            let (row, local_id, result) =
                finished.map_err(|e| Failure::internal(format!("a send task failed: {e}")))?;
            let entry = Entry {
                batch: batch.clone(),
                row,
                local_id,
                outcome: if result.is_ok() {
                    Outcome::Sent
                } else {
                    Outcome::Failed
                },
                id: result.as_ref().ok().map(|s| s.id),
                error: result.as_ref().err().map(|f| f.kind.to_owned()),
                status: result.as_ref().err().and_then(|f| f.status),
                request_id: match &result {
                    Ok(s) => s.request_id.clone(),
                    Err(f) => f.request_id.clone(),
                },
                at_ms: now_ms(),
            };
            journal.record(&entry).map_err(Failure::internal)?;
            progress.row(row, &result);
            match result {
                Ok(_) => sent += 1,
                Err(failure) => {
                    worst = worst.max(failure.code);
                    *failed.entry(failure.kind.to_owned()).or_default() += 1;
                }
            }
        }
        not_attempted = queue.count();
        progress.finish();
    }

    let failed_total: usize = failed.values().sum();
    let kinds: Vec<String> = failed.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    eprintln!(
        "heymarket-step: batch {batch}: {total} rows: {sent} sent, {} skipped (already sent), \
         {failed_total} failed{}{}; journal {}",
        skipped.len(),
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        },
        if interrupted {
            format!(", {not_attempted} not attempted (interrupted)")
        } else {
            String::new()
        },
        journal.path().display()
    );
    println!(
        "{}",
        json!({
            "batch": batch,
            "rows": total,
            "sent": sent,
            "skipped": skipped.len(),
            "failed": failed,
            "not_attempted": not_attempted,
            "interrupted": interrupted,
            "journal": journal.path(),
        })
    );
    if let Some(host) = &host {
        host.finish();
    }
    Ok(if interrupted {
        code::INTERRUPTED
    } else {
        worst
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_stable_per_input_and_distinct_per_row() {
        let a = batch_id(b"inbox_id\n1\n");
        assert_eq!(a, batch_id(b"inbox_id\n1\n"));
        assert_ne!(a, batch_id(b"inbox_id\n2\n"));
        assert_ne!(generated_local_id(&a, 1), generated_local_id(&a, 2));
        assert!(generated_local_id(&a, 1).len() <= 255);
    }

    #[test]
    fn csv_and_ndjson_rows_are_numbered_from_one() {
        let csv = parse(b"inbox_id,text\n1,a\n2,\n", Format::Auto, "x.csv").unwrap();
        assert_eq!(csv.len(), 2);
        assert_eq!(csv[1].number, 2);
        assert_eq!(csv[1].fields.as_ref().unwrap().text, None);
        let nd = parse(b"{\"inbox_id\":1}\n\n{\"inbox_id\":2}\n", Format::Auto, "-").unwrap();
        assert_eq!(nd.len(), 2);
        assert_eq!(nd[1].fields.as_ref().unwrap().inbox_id, Some(2));
    }

    #[test]
    fn an_unknown_column_refuses_the_whole_file() {
        let err = parse(b"inbox_id,phone\n1,2\n", Format::Csv, "x.csv")
            .err()
            .unwrap();
        assert!(
            err.message.contains("unknown field `phone`"),
            "{}",
            err.message
        );
    }
}
