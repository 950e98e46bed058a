//! What a test hands off so that it does not wait for it: removing a dropped database,
//! and making spare copies for the next test (`spares`).
//!
//! Each piece of work runs on a thread of its own. Removals are waited for when the
//! process exits normally (an `atexit` handler on Unix; elsewhere a drop waits for its
//! own removal), so a finished test run leaves nothing behind; a spare being made when
//! the process exits is left to the server (PostgreSQL finishes a `CREATE DATABASE`
//! whose client went away) or, half copied on SQLite, to a later run's cleanup.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The kinds of background work, counted apart: the exit waits for removals only.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Work {
    /// Removing a dropped test database, or what a crashed run left.
    Removal,
    /// Making spare copies of a template.
    Spare,
}

struct Pending {
    removals: usize,
    spares: usize,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    removals: 0,
    spares: 0,
});
static CHANGED: Condvar = Condvar::new();

/// How long the exit waits for removals still running.
const EXIT_WAIT: Duration = Duration::from_secs(60);

fn pending() -> MutexGuard<'static, Pending> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

fn count(pending: &mut Pending, work: Work) -> &mut usize {
    match work {
        Work::Removal => &mut pending.removals,
        Work::Spare => &mut pending.spares,
    }
}

/// Counts a piece of work as finished when dropped, even if it panicked.
struct Finished(Work);

impl Drop for Finished {
    fn drop(&mut self) {
        let mut pending = pending();
        *count(&mut pending, self.0) -= 1;
        CHANGED.notify_all();
    }
}

/// Runs `job` on a thread of its own, counted as `work` until it ends.
pub(super) fn spawn(work: Work, job: impl FnOnce() + Send + 'static) {
    wait_at_exit();
    *count(&mut pending(), work) += 1;
    let finished = Finished(work);
    let spawned = std::thread::Builder::new()
        .name("schema-test-databases".to_owned())
        .spawn(move || {
            let _finished = finished;
            job();
        });
    if let Err(error) = spawned {
        // The closure, and with it `finished`, is dropped: the count is right again.
        eprintln!("warning: no thread for a test database's background work: {error}");
    }
}

/// Blocks until no background work of this process is running (see
/// [`settle`](crate::testing::settle)), or until `limit` has passed.
pub(super) fn wait(removals_only: bool, limit: Option<Duration>) {
    let started = Instant::now();
    let mut pending = pending();
    loop {
        if pending.removals == 0 && (removals_only || pending.spares == 0) {
            return;
        }
        let left = match limit {
            Some(limit) => match limit.checked_sub(started.elapsed()) {
                Some(left) => left,
                None => return,
            },
            None => Duration::from_secs(3600),
        };
        pending = CHANGED
            .wait_timeout(pending, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Registers, once, the wait for removals at the process's normal exit.
fn wait_at_exit() {
    #[cfg(unix)]
    {
        static REGISTERED: std::sync::Once = std::sync::Once::new();
        extern "C" fn at_exit() {
            wait(true, Some(EXIT_WAIT));
        }
        REGISTERED.call_once(|| {
            // SAFETY: `at_exit` is a plain function that neither unwinds (it only
            // waits on a condition variable, poisoning ignored) nor calls `exit`.
            unsafe {
                libc::atexit(at_exit);
            }
        });
    }
}

/// Whether drops must wait for their removal: where no exit handler waits for it.
pub(super) const DROP_WAITS: bool = cfg!(not(unix));

/// At most one spare maker per template in this process: `Some` while this caller is
/// the one (dropping the guard frees the key).
pub(super) fn sole_maker(key: &str) -> Option<MakerGuard> {
    static MAKING: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut making = MAKING.lock().unwrap_or_else(PoisonError::into_inner);
    if !making
        .get_or_insert_with(HashSet::new)
        .insert(key.to_owned())
    {
        return None;
    }
    Some(MakerGuard {
        key: key.to_owned(),
        making: &MAKING,
    })
}

/// Frees a template's key for the next spare maker when dropped.
pub(super) struct MakerGuard {
    key: String,
    making: &'static Mutex<Option<HashSet<String>>>,
}

impl Drop for MakerGuard {
    fn drop(&mut self) {
        let mut making = self.making.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = making.as_mut() {
            set.remove(&self.key);
        }
    }
}

/// How many spare copies of a template to keep ready: `SCHEMA_TEST_SPARES`, 2 unless set
/// (0 turns spares off).
pub(super) fn spares_wanted() -> usize {
    std::env::var("SCHEMA_TEST_SPARES")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(2)
}
