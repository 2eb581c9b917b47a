//! The results: a table on stdout and the same rows as JSON.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::stats::Summary;

/// A goal a measurement is held to.
#[derive(Debug, Clone)]
pub struct Target {
    pub text: &'static str,
    limit: f64,
    at_most: bool,
}

impl Target {
    pub fn at_most(limit: f64, text: &'static str) -> Target {
        Target {
            text,
            limit,
            at_most: true,
        }
    }

    pub fn at_least(limit: f64, text: &'static str) -> Target {
        Target {
            text,
            limit,
            at_most: false,
        }
    }

    /// Whether `value` (a median) meets the target.
    pub fn met(&self, value: f64) -> bool {
        if self.at_most {
            value <= self.limit
        } else {
            value >= self.limit
        }
    }
}

enum Line {
    Section(String),
    Row(Row),
    Note(String),
}

struct Row {
    id: String,
    what: String,
    unit: &'static str,
    summary: Summary,
    target: Option<Target>,
}

/// Every measurement of one run, in order.
#[derive(Default)]
pub struct Report {
    lines: Vec<Line>,
}

impl Report {
    pub fn section(&mut self, title: &str) {
        eprintln!("== {title}");
        self.lines.push(Line::Section(title.to_owned()));
    }

    /// A remark printed under the current section and kept in the JSON.
    pub fn note(&mut self, text: &str) {
        eprintln!("   note: {text}");
        self.lines.push(Line::Note(text.to_owned()));
    }

    pub fn row(
        &mut self,
        id: &str,
        what: &str,
        unit: &'static str,
        summary: Summary,
        target: Option<Target>,
    ) {
        eprintln!(
            "   {what}: median {} p95 {} {unit} ({} runs)",
            number(summary.median),
            number(summary.p95),
            summary.runs
        );
        self.lines.push(Line::Row(Row {
            id: id.to_owned(),
            what: what.to_owned(),
            unit,
            summary,
            target,
        }));
    }

    /// A single measured value, such as a size.
    pub fn value(
        &mut self,
        id: &str,
        what: &str,
        unit: &'static str,
        value: f64,
        target: Option<Target>,
    ) {
        self.row(id, what, unit, Summary::of(vec![value]), target);
    }

    /// `a / b` for the median and for the p95, of two latencies.
    pub fn ratio(&mut self, id: &str, what: &str, a: Summary, b: Summary, target: Option<Target>) {
        let summary = Summary {
            median: a.median / b.median,
            p95: a.p95 / b.p95,
            min: a.min / b.min,
            max: a.max / b.max,
            runs: a.runs.min(b.runs),
        };
        self.row(id, what, "x", summary, target);
    }

    /// Prints the table as Markdown, as BENCHMARKS.md keeps it.
    pub fn print(&self) {
        println!("| measurement | unit | median | p95 | runs | target |");
        println!("|---|---|---:|---:|---:|---|");
        for line in &self.lines {
            match line {
                Line::Section(title) => println!("| **{title}** | | | | | |"),
                Line::Note(text) => println!("| _{text}_ | | | | | |"),
                Line::Row(row) => {
                    let target = match &row.target {
                        Some(t) if t.met(row.summary.median) => format!("{} met", t.text),
                        Some(t) => format!("{} **missed**", t.text),
                        None => String::new(),
                    };
                    println!(
                        "| {} | {} | {} | {} | {} | {target} |",
                        row.what,
                        row.unit,
                        number(row.summary.median),
                        number(row.summary.p95),
                        row.summary.runs
                    );
                }
            }
        }
    }

    /// Writes every row, with the machine it ran on, to `path`.
    pub fn write(&self, path: &Path, quick: bool) -> anyhow::Result<()> {
        let mut section = String::new();
        let mut rows = Vec::new();
        let mut notes = Vec::new();
        for line in &self.lines {
            match line {
                Line::Section(title) => section = title.clone(),
                Line::Note(text) => notes.push(json!({ "section": section, "note": text })),
                Line::Row(row) => rows.push(json!({
                    "id": row.id,
                    "section": section,
                    "what": row.what,
                    "unit": row.unit,
                    "median": row.summary.median,
                    "p95": row.summary.p95,
                    "min": row.summary.min,
                    "max": row.summary.max,
                    "runs": row.summary.runs,
                    "target": row.target.as_ref().map(|t| t.text),
                    "met": row.target.as_ref().map(|t| t.met(row.summary.median)),
                })),
            }
        }
        let document = json!({
            "quick": quick,
            "machine": machine(),
            "rows": rows,
            "notes": notes,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&document)? + "\n")
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// A number with as many decimals as its size deserves.
fn number(value: f64) -> String {
    match value.abs() {
        v if v >= 1000.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.3}"),
    }
}

/// The CPU, its count and the memory, from /proc where it exists.
fn machine() -> serde_json::Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": field(&cpuinfo, "model name"),
        "memory": field(&meminfo, "MemTotal"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}
