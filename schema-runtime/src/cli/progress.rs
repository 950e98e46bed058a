//! The `db` command's view of a run as it goes: a line per migration and seed the moment
//! it is applied, and on a terminal, once the run has taken more than a moment, a
//! progress bar under them.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::{styled, write_out};
use crate::Progress;
use crate::report::milliseconds;

/// How long a run goes before the bar appears: shorter runs print their lines only.
const A_MOMENT: Duration = Duration::from_millis(300);

/// An observer for [`crate::Migrator::on_progress`] that prints each step to standard
/// output as it happens (coloured where colour is on) and draws the bar on standard error
/// when that is a terminal.
pub(super) fn observer() -> impl Fn(Progress<'_>) + Send + Sync + 'static {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    let started = Instant::now();
    move |progress| match progress {
        Progress::Starting { total } => bar.set_length(total as u64),
        Progress::Applied {
            applied,
            seed,
            done,
            total,
        } => {
            if bar.is_hidden() && started.elapsed() >= A_MOMENT && std::io::stderr().is_terminal() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                if let Ok(style) =
                    ProgressStyle::with_template("{bar:40} {pos}/{len} migrations, {elapsed}")
                {
                    bar.set_style(style);
                }
            }
            let mark = styled(
                if seed { "seed" } else { "+" },
                anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Green.into())),
            );
            bar.suspend(|| {
                // A reader that went away stops the lines, never the run.
                let _ = write_out(
                    format_args!(
                        "  {mark} {:>14}  {}  ({})",
                        applied.version,
                        applied.path,
                        milliseconds(applied.duration)
                    ),
                    true,
                );
            });
            bar.set_position(done as u64);
            if done >= total {
                bar.finish_and_clear();
            }
        }
    }
}
