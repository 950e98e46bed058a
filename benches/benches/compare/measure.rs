//! Interleaved sampling and the statistics every scenario reports.

use std::time::Duration;

use serde_json::{Value, json};

/// Who is measured. The floors are what any tool must pay at least.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Ours,
    /// Ours with `Policy::group_transactions(true)`: every pending migration in one
    /// transaction (PostgreSQL apply only).
    OursGrouped,
    /// Ours' macro-only crate with `schema-runtime`'s `check-sqlite`: the folder replayed
    /// into an in-memory SQLite at compile time (the build scenario's macro crates only).
    OursChecked,
    Sqlx,
    Refinery,
    /// The least any tool must pay: the raw driver running one `SELECT` of the
    /// history, or the same SQL in one transaction; for builds, a crate that only
    /// `include_str!`s the files.
    Floor,
}

impl Tool {
    pub fn key(self) -> &'static str {
        match self {
            Tool::Ours => "ours",
            Tool::OursGrouped => "ours_grouped",
            Tool::OursChecked => "ours_checked",
            Tool::Sqlx => "sqlx",
            Tool::Refinery => "refinery",
            Tool::Floor => "floor",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tool::Ours => "ours",
            Tool::OursGrouped => "ours (grouped)",
            Tool::OursChecked => "ours (check-sqlite)",
            Tool::Sqlx => "sqlx",
            Tool::Refinery => "refinery",
            Tool::Floor => "floor",
        }
    }
}

/// One contestant of a scenario: takes one sample per call, doing any preparation (an
/// empty database, a fresh file) before it starts its clock.
pub struct Contestant<'a> {
    pub tool: Tool,
    pub sample: Box<dyn FnMut() -> Duration + 'a>,
}

impl<'a> Contestant<'a> {
    pub fn new(tool: Tool, sample: impl FnMut() -> Duration + 'a) -> Self {
        Contestant {
            tool,
            sample: Box::new(sample),
        }
    }
}

/// The samples of one tool in one scenario.
#[derive(Clone, Debug)]
pub struct Samples {
    pub tool: Tool,
    pub seconds: Vec<f64>,
    /// Round trips of one run, counted on the wire apart from the timed runs
    /// (PostgreSQL scenarios).
    pub round_trips: Option<usize>,
}

impl Samples {
    pub fn median(&self) -> f64 {
        let sorted = self.sorted();
        let middle = sorted.len() / 2;
        if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted()[0]
    }

    pub fn max(&self) -> f64 {
        *self.sorted().last().expect("at least one sample")
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.seconds.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    pub fn json(&self) -> Value {
        json!({
            "median_s": self.median(),
            "min_s": self.min(),
            "max_s": self.max(),
            "samples_s": self.seconds,
            "round_trips": self.round_trips,
        })
    }
}

/// Runs `warmup` untimed rounds, then `repetitions` rounds in which every contestant
/// takes one sample. Rounds interleave the tools (A B C, B C A, C A B, ...), so the
/// machine's drift weighs on all alike and none always runs right after the same other.
pub fn interleave(
    label: &str,
    warmup: usize,
    repetitions: usize,
    contestants: &mut [Contestant<'_>],
) -> Vec<Samples> {
    for _ in 0..warmup {
        for contestant in contestants.iter_mut() {
            (contestant.sample)();
        }
    }
    let mut samples: Vec<Samples> = contestants
        .iter()
        .map(|c| Samples {
            tool: c.tool,
            seconds: Vec::with_capacity(repetitions),
            round_trips: None,
        })
        .collect();
    let count = contestants.len();
    for round in 0..repetitions {
        if repetitions >= 10 && round.is_multiple_of((repetitions / 5).max(1)) {
            eprintln!("  {label}: round {}/{repetitions}", round + 1);
        }
        for offset in 0..count {
            let index = (round + offset) % count;
            let elapsed = (contestants[index].sample)();
            samples[index].seconds.push(elapsed.as_secs_f64());
        }
    }
    samples
}

/// Records the round trips counted for each tool in `counts` on its samples.
pub fn set_round_trips(samples: &mut [Samples], counts: &[(Tool, usize)]) {
    for samples in samples.iter_mut() {
        samples.round_trips = counts
            .iter()
            .find(|(tool, _)| *tool == samples.tool)
            .map(|(_, count)| *count);
    }
}
