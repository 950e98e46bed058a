//! What each tool costs a `cargo build` with the generated migrations: after touching
//! one migration, after adding one, and with nothing changed (where cargo's JSON
//! messages tell whether rustc, and so the macro, ran at all).

use crate::measure::{Samples, Tool};
use crate::scratch::{Kind, Profile, Workspace, package};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Touch,
    Add,
    NoChange,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Touch, Step::Add, Step::NoChange];

    pub fn key(self) -> &'static str {
        match self {
            Step::Touch => "touch_one",
            Step::Add => "add_one",
            Step::NoChange => "no_change",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Step::Touch => "after touching one migration",
            Step::Add => "after adding one migration",
            Step::NoChange => "with nothing changed",
        }
    }
}

/// The builds of one profile and step.
pub struct StepRuns {
    pub step: Step,
    pub samples: Vec<Samples>,
    /// Per crate, whether each build found the binary fresh (rustc and the macro did
    /// not run).
    pub fresh: Vec<(Tool, Vec<bool>)>,
}

/// Builds the crates of `kind` for `tools` once so that what follows times only the
/// crate itself.
pub fn warm_up(workspace: &mut Workspace, kind: Kind, profile: Profile, tools: &[Tool]) {
    for &tool in tools {
        eprintln!(
            "  building {} ({}; the first time on a machine also compiles its dependencies)",
            package(tool, kind),
            profile.name()
        );
        workspace.build(tool, kind, profile);
    }
}

/// `repetitions` rounds of `steps`, interleaving the crates of `kind` of `tools`.
pub fn measure(
    workspace: &mut Workspace,
    kind: Kind,
    profile: Profile,
    tools: &[Tool],
    steps: &[Step],
    count: u64,
    repetitions: usize,
) -> Vec<StepRuns> {
    let mut runs: Vec<StepRuns> = steps
        .iter()
        .map(|&step| StepRuns {
            step,
            samples: tools
                .iter()
                .map(|&tool| Samples {
                    tool,
                    seconds: Vec::new(),
                    round_trips: None,
                })
                .collect(),
            fresh: tools.iter().map(|&tool| (tool, Vec::new())).collect(),
        })
        .collect();
    for round in 0..repetitions {
        eprintln!(
            "  {} {} builds: round {}/{repetitions}",
            kind.name(),
            profile.name(),
            round + 1
        );
        for step_runs in runs.iter_mut() {
            let step = step_runs.step;
            for offset in 0..tools.len() {
                let index = (round + offset) % tools.len();
                let tool = tools[index];
                let mut attempts = 0;
                let build = loop {
                    attempts += 1;
                    match step {
                        // A different file each round, in the middle of the folder.
                        Step::Touch => workspace.touch(tool, kind, count / 2 + round as u64),
                        Step::Add => workspace.add(tool, kind),
                        Step::NoChange => {}
                    }
                    let build = workspace.build(tool, kind, profile);
                    // Bounded: edits that never stop would otherwise hang the bench.
                    if build.dependencies_rebuilt.is_empty() || attempts == 3 {
                        break build;
                    }
                    eprintln!(
                        "  {}: {} recompiled during a build {} (edited meanwhile?); again",
                        tool.label(),
                        build.dependencies_rebuilt.join(", "),
                        step.label()
                    );
                };
                if step != Step::NoChange {
                    assert!(
                        !build.fresh,
                        "{}: cargo did not rebuild {}; the timing would mean nothing",
                        tool.label(),
                        step.label()
                    );
                }
                if step == Step::Add {
                    assert_eq!(
                        workspace.embedded(tool, kind, profile),
                        workspace.versions(tool, kind),
                        "{}: the added migration was not embedded",
                        tool.label()
                    );
                }
                step_runs.samples[index].seconds.push(build.seconds);
                step_runs.fresh[index].1.push(build.fresh);
            }
        }
    }
    runs
}
