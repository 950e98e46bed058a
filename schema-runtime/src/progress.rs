//! What a run reports while it runs, for a progress bar or a log line per migration.

use std::fmt;
use std::sync::Arc;

use crate::Applied;

/// One step of a run, handed to the observer of [`Migrator::on_progress`](crate::Migrator::on_progress)
/// the moment it happens.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// The run holds the lock and is about to apply `total` migrations and seeds.
    Starting {
        /// Migrations and seeds it will apply.
        total: usize,
    },
    /// A migration or seed was applied: it committed with its history row.
    Applied {
        /// What was applied, and how long its SQL took.
        applied: &'a Applied,
        /// Whether it is a seed.
        seed: bool,
        /// How many of the run's migrations and seeds are done, this one included.
        done: usize,
        /// How many the run applies.
        total: usize,
    },
}

/// What observes a run.
type Observe = dyn Fn(Progress<'_>) + Send + Sync;

/// The observer of a run, shared by the clones of a migrator.
#[derive(Clone, Default)]
pub(crate) struct Observer(Option<Arc<Observe>>);

impl Observer {
    pub(crate) fn new(observe: impl Fn(Progress<'_>) + Send + Sync + 'static) -> Self {
        Observer(Some(Arc::new(observe)))
    }

    pub(crate) fn tell(&self, progress: Progress<'_>) {
        if let Some(observe) = &self.0 {
            observe(progress);
        }
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(observer)"
        } else {
            "None"
        })
    }
}
