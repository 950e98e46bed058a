//! Results: ratios against the floor and against each other, as a table for people, a
//! markdown table for the README, and JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::measure::{Samples, Tool};

/// The target for ours at 1,000 migrations, and what it measured for the others.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Ours' median may be at most this many times the floor's.
    pub ours_within: f64,
    /// The others' ratios to the floor when the target was set.
    pub measured_then: &'static str,
}

/// A target judged on one row other than ours' ratio to the floor (those of ours with
/// `check-sqlite`, beside ours).
#[derive(Clone, Debug)]
pub struct Check {
    /// What it asks, as the tables print it.
    pub target: String,
    pub met: bool,
    /// What was measured, as the tables print it.
    pub measured: String,
}

/// One scenario at one size.
pub struct Outcome {
    pub key: String,
    pub title: String,
    pub size: u64,
    pub repetitions: usize,
    /// What the floor is in this scenario.
    pub floor: &'static str,
    pub samples: Vec<Samples>,
    pub target: Option<Target>,
    pub checks: Vec<Check>,
    /// Variants of ours the README's table gives a row of their own, with its title
    /// (where they were measured).
    pub variants: Vec<(Tool, String)>,
    pub extra: Value,
    pub notes: Vec<String>,
}

impl Outcome {
    fn get(&self, tool: Tool) -> Option<&Samples> {
        self.samples.iter().find(|s| s.tool == tool)
    }

    /// `tool`'s median over the floor's.
    pub fn ratio_to_floor(&self, tool: Tool) -> Option<f64> {
        Some(self.get(tool)?.median() / self.get(Tool::Floor)?.median())
    }

    fn ratio(&self, a: Tool, b: Tool) -> Option<f64> {
        Some(self.get(a)?.median() / self.get(b)?.median())
    }

    /// Whether ours meets the target (`None` when there is none at this size).
    pub fn target_met(&self) -> Option<bool> {
        let target = self.target?;
        Some(self.ratio_to_floor(Tool::Ours)? <= target.ours_within)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let unit = Unit::for_seconds(self.get(Tool::Floor).map_or(1.0, Samples::median));
        let width = self
            .samples
            .iter()
            .map(|s| s.tool.label().len())
            .max()
            .unwrap_or(0)
            .max(16);
        writeln!(
            out,
            "\n{} — {} migrations, {} interleaved rounds",
            self.title,
            thousands(self.size),
            self.repetitions
        )
        .unwrap();
        writeln!(out, "  floor: {}", self.floor).unwrap();
        writeln!(
            out,
            "  {:<width$} {:>12} {:>25} {:>9} {:>8} {:>11}",
            "tool",
            format!("median {}", unit.name()),
            format!("[min – max] {}", unit.name()),
            "× floor",
            "× ours",
            "round trips"
        )
        .unwrap();
        for samples in &self.samples {
            writeln!(
                out,
                "  {:<width$} {:>12} {:>25} {:>9} {:>8} {:>11}",
                samples.tool.label(),
                unit.format(samples.median()),
                format!(
                    "[{} – {}]",
                    unit.format(samples.min()),
                    unit.format(samples.max())
                ),
                times(self.ratio_to_floor(samples.tool)),
                // `–` where `BENCH_TOOLS` left ours out.
                times(self.ratio(samples.tool, Tool::Ours)),
                samples
                    .round_trips
                    .map_or_else(|| "–".to_owned(), |count| thousands(count as u64)),
            )
            .unwrap();
        }
        if let (Some(target), Some(met)) = (self.target, self.target_met()) {
            writeln!(
                out,
                "  target: ours within {:.2}x of the floor (when set: {}): {} at {:.2}x",
                target.ours_within,
                target.measured_then,
                if met { "met" } else { "MISSED" },
                self.ratio_to_floor(Tool::Ours).unwrap_or(f64::NAN)
            )
            .unwrap();
        }
        for check in &self.checks {
            writeln!(
                out,
                "  target: {}: {} ({})",
                check.target,
                if check.met { "met" } else { "MISSED" },
                check.measured
            )
            .unwrap();
        }
        for note in &self.notes {
            writeln!(out, "  {note}").unwrap();
        }
        out
    }

    pub fn json(&self) -> Value {
        let tools: serde_json::Map<String, Value> = self
            .samples
            .iter()
            .map(|s| {
                let mut entry = s.json();
                entry["ratio_to_floor"] = json!(self.ratio_to_floor(s.tool));
                entry["ratio_to_ours"] = json!(self.ratio(s.tool, Tool::Ours));
                (s.tool.key().to_owned(), entry)
            })
            .collect();
        json!({
            "scenario": self.key,
            "title": self.title,
            "migrations": self.size,
            "repetitions": self.repetitions,
            "floor": self.floor,
            "tools": tools,
            "ours_over_sqlx": self.ratio(Tool::Ours, Tool::Sqlx),
            "ours_over_refinery": self.ratio(Tool::Ours, Tool::Refinery),
            "sqlx_over_refinery": self.ratio(Tool::Sqlx, Tool::Refinery),
            "target": self.target.map(|t| json!({
                "ours_within": t.ours_within,
                "measured_then": t.measured_then,
                "met": self.target_met(),
            })),
            "checks": self.checks.iter().map(|c| json!({
                "target": c.target,
                "met": c.met,
                "measured": c.measured,
            })).collect::<Vec<_>>(),
            "extra": self.extra,
            "notes": self.notes,
        })
    }
}

/// A ratio as the tables print it: `1.23x`, or `–` without one.
fn times(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |ratio| format!("{ratio:.2}x"))
}

#[derive(Clone, Copy)]
enum Unit {
    Micros,
    Millis,
    Seconds,
}

impl Unit {
    fn for_seconds(seconds: f64) -> Unit {
        if seconds < 1e-3 {
            Unit::Micros
        } else if seconds < 1.0 {
            Unit::Millis
        } else {
            Unit::Seconds
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::Seconds => "s",
        }
    }

    fn format(self, seconds: f64) -> String {
        match self {
            Unit::Micros => format!("{:.1}", seconds * 1e6),
            Unit::Millis => format!("{:.2}", seconds * 1e3),
            Unit::Seconds => format!("{:.2}", seconds),
        }
    }
}

/// A duration for the README: three significant figures or so, with its unit.
pub fn human(seconds: f64) -> String {
    let unit = Unit::for_seconds(seconds);
    format!("{} {}", unit.format(seconds), unit.name())
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The README's table: every scenario at `size`, ours and the others as ratios to the
/// floor, with the floor's own median.
pub fn markdown(outcomes: &[Outcome], size: u64) -> String {
    let mut out = String::new();
    if !outcomes.iter().any(|o| o.size == size) {
        return out;
    }
    writeln!(
        out,
        "| {} migrations | Floor (median) | Ours | sqlx | refinery |",
        thousands(size)
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|").unwrap();
    let cell =
        |outcome: &Outcome, tool: Tool| match (outcome.ratio_to_floor(tool), outcome.get(tool)) {
            (Some(ratio), Some(samples)) => match samples.round_trips {
                Some(count) => format!(
                    "{ratio:.2}x ({}, {} round trip{})",
                    human(samples.median()),
                    thousands(count as u64),
                    if count == 1 { "" } else { "s" }
                ),
                None => format!("{ratio:.2}x ({})", human(samples.median())),
            },
            _ => "–".to_owned(),
        };
    for outcome in outcomes.iter().filter(|o| o.size == size) {
        let floor = match outcome.get(Tool::Floor) {
            Some(Samples {
                round_trips: Some(count),
                ..
            }) => format!(
                "{}, {} round trip{}",
                human(outcome.get(Tool::Floor).map_or(0.0, Samples::median)),
                thousands(*count as u64),
                if *count == 1 { "" } else { "s" }
            ),
            _ => human(outcome.get(Tool::Floor).map_or(0.0, Samples::median)),
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            outcome.title,
            floor,
            cell(outcome, Tool::Ours),
            cell(outcome, Tool::Sqlx),
            cell(outcome, Tool::Refinery),
        )
        .unwrap();
        if outcome.get(Tool::OursGrouped).is_some() {
            writeln!(
                out,
                "| {}, ours with `group_transactions(true)` | {} | {} | | |",
                outcome.title,
                floor,
                cell(outcome, Tool::OursGrouped),
            )
            .unwrap();
        }
        for (tool, title) in &outcome.variants {
            if outcome.get(*tool).is_some() {
                writeln!(
                    out,
                    "| {title} | {} | {} | | |",
                    floor,
                    cell(outcome, *tool)
                )
                .unwrap();
            }
        }
    }
    out
}
