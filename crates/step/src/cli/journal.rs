//! The batch journal: one JSON line per finished row, appended and flushed to disk
//! before the next row is reported, so that a re-run knows what was already sent.
//!
//! A line holds the batch's identity, the row number, the row's `local_id`, the outcome
//! and the message id or error kind. Never a message's content, never a credential.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One finished row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The batch's identity: a hash of the input's bytes.
    pub batch: String,
    /// The row's number, from 1, in input order.
    pub row: usize,
    /// The idempotency key the row was sent with (absent when the row never got one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// `sent` or `failed`.
    pub outcome: Outcome,
    /// Heymarket's message id, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The error kind, e.g. `transient.server`, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HTTP status behind a failure, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Heymarket's `X-Request-Id`, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the row finished, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    Failed,
}

/// An open journal: the rows it already records as sent, and the file to append to.
pub struct Journal {
    path: PathBuf,
    file: File,
    sent: HashSet<usize>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` for batch `batch`. A journal written for
    /// other input bytes is refused: its row numbers would name other messages.
    pub fn open(path: &Path, batch: &str) -> Result<Journal, String> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("opening the journal {}: {e}", path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| format!("reading the journal {}: {e}", path.display()))?;
        let mut sent = HashSet::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // A line cut short by a crash is skipped: its row is simply tried again, and
            // its local_id keeps Heymarket from storing it twice.
            let Ok(entry) = serde_json::from_str::<Entry>(line) else {
                eprintln!(
                    "heymarket-step: ignoring unreadable line {} of the journal {}",
                    number + 1,
                    path.display()
                );
                continue;
            };
            if entry.batch != batch {
                return Err(format!(
                    "the journal {} belongs to another batch (the input changed since it was \
                     written: batch {} there, {batch} now); give --journal a new path or \
                     remove it to send this input as a new batch",
                    path.display(),
                    entry.batch
                ));
            }
            if entry.outcome == Outcome::Sent {
                sent.insert(entry.row);
            }
        }
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n")
                .map_err(|e| format!("writing the journal {}: {e}", path.display()))?;
        }
        Ok(Journal {
            path: path.to_owned(),
            file,
            sent,
        })
    }

    /// Whether `row` is already recorded as sent.
    pub fn was_sent(&self, row: usize) -> bool {
        self.sent.contains(&row)
    }

    /// Appends `entry` and waits until it is on disk.
    pub fn record(&mut self, entry: &Entry) -> Result<(), String> {
        let mut line = serde_json::to_string(entry).expect("an entry serializes");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("writing the journal {}: {e}", self.path.display()))?;
        if entry.outcome == Outcome::Sent {
            self.sent.insert(entry.row);
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(row: usize, outcome: Outcome) -> Entry {
        Entry {
            batch: "b1".into(),
            row,
            local_id: Some(format!("id-{row}")),
            outcome,
            id: None,
            error: None,
            status: None,
            request_id: None,
            at_ms: 0,
        }
    }

    #[test]
    fn a_reopened_journal_knows_the_sent_rows_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::open(&path, "b1").unwrap();
        journal.record(&entry(1, Outcome::Sent)).unwrap();
        journal.record(&entry(2, Outcome::Failed)).unwrap();
        drop(journal);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(br#"{"batch":"b1","row":3,"outc"#)
            .unwrap();
        let mut journal = Journal::open(&path, "b1").unwrap();
        assert!(journal.was_sent(1));
        assert!(!journal.was_sent(2) && !journal.was_sent(3));
        journal.record(&entry(3, Outcome::Sent)).unwrap();
        assert!(Journal::open(&path, "b1").unwrap().was_sent(3));
    }

    #[test]
    fn a_journal_of_another_batch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        Journal::open(&path, "b1")
            .unwrap()
            .record(&entry(1, Outcome::Sent))
            .unwrap();
        let err = Journal::open(&path, "b2").err().unwrap();
        assert!(err.contains("another batch"), "{err}");
    }
}
