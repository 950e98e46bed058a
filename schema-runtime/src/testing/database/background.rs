//! What a test hands off so that it does not wait for it: removing a dropped database,
//! and making spare copies for the next test (`spares`).
//!
//! Each piece of work runs on a thread of its own. Removals are waited for when the
//! process exits normally (an `atexit` handler on Unix; elsewhere a drop runs its own
//! removal and waits for it), so a finished test run leaves no test database behind; a
//! spare being made when the process exits is left to the server (PostgreSQL finishes a
//! `CREATE DATABASE` whose client went away) or, half copied on SQLite, to a later run's
//! cleanup.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The kinds of background work, counted apart: the exit waits for removals only.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Work {
    /// Removing a dropped test database, or what a crashed run left.
    Removal,
    /// Making spare copies of a template.
    #[cfg_attr(
        not(any(feature = "rusqlite", feature = "sqlx-postgres")),
        allow(dead_code)
    )]
    Spare,
}

/// Says a warning on the process's stderr. A thread a test spawned inherits the test
/// harness's capture of `eprintln!`, which keeps the words of a test that has already
/// passed: this writes past it.
pub(super) fn warn(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "warning: {message}");
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
#[cfg(unix)]
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
        warn(&format!(
            "no thread for a test database's background work: {error}"
        ));
    }
}

/// Runs `job` in the background where the process waits for removals at its exit
/// (Unix); elsewhere on a thread of its own, waited for here.
pub(super) fn spawn_or_run(work: Work, job: impl FnOnce() + Send + 'static) {
    if cfg!(unix) {
        spawn(work, job);
    } else {
        let _ = std::thread::spawn(job).join();
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
        static REGISTERED_BY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        extern "C" fn at_exit() {
            // A child made by fork() inherits the handler, but not the threads it
            // would wait for (and perhaps a lock one of them held).
            if REGISTERED_BY.load(std::sync::atomic::Ordering::Relaxed) == std::process::id() {
                wait(true, Some(EXIT_WAIT));
            }
        }
        REGISTERED.call_once(|| {
            REGISTERED_BY.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
            // SAFETY: `at_exit` is a plain function that neither unwinds (it only
            // waits on a condition variable, poisoning ignored) nor calls `exit`.
            unsafe {
                libc::atexit(at_exit);
            }
        });
    }
}

/// The templates whose spares a thread of this process is making, and those asked for
/// again meanwhile.
struct Makers {
    making: HashSet<String>,
    again: HashSet<String>,
}

static MAKERS: Mutex<Option<Makers>> = Mutex::new(None);

fn makers<T>(f: impl FnOnce(&mut Makers) -> T) -> T {
    let mut makers = MAKERS.lock().unwrap_or_else(PoisonError::into_inner);
    f(makers.get_or_insert_with(|| Makers {
        making: HashSet::new(),
        again: HashSet::new(),
    }))
}

/// At most one spare maker per template (`key`, which names the backend too) in this
/// process: `Some` while this caller is the one. A call while another makes them is
/// remembered, so that the maker looks again before it stops ([`MakerGuard::done`]).
#[cfg_attr(
    not(any(feature = "rusqlite", feature = "sqlx-postgres")),
    allow(dead_code)
)]
pub(super) fn sole_maker(key: &str) -> Option<MakerGuard> {
    makers(|makers| {
        if makers.making.insert(key.to_owned()) {
            Some(MakerGuard {
                key: key.to_owned(),
            })
        } else {
            makers.again.insert(key.to_owned());
            None
        }
    })
}

/// The right to make a template's spares; given back when dropped.
#[cfg_attr(
    not(any(feature = "rusqlite", feature = "sqlx-postgres")),
    allow(dead_code)
)]
pub(super) struct MakerGuard {
    key: String,
}

#[cfg_attr(
    not(any(feature = "rusqlite", feature = "sqlx-postgres")),
    allow(dead_code)
)]
impl MakerGuard {
    /// Whether the maker may stop: `false` when another test asked for spares since the
    /// last look (it may have taken one), so the maker counts again.
    pub(super) fn done(&self) -> bool {
        makers(|makers| !makers.again.remove(&self.key))
    }
}

impl Drop for MakerGuard {
    fn drop(&mut self) {
        makers(|makers| {
            makers.making.remove(&self.key);
            makers.again.remove(&self.key);
        });
    }
}

/// How many spare copies of a template to keep ready: `SCHEMA_TEST_SPARES`, 2 unless set
/// (0 turns spares off).
#[cfg_attr(
    not(any(feature = "rusqlite", feature = "sqlx-postgres")),
    allow(dead_code)
)]
pub(super) fn spares_wanted() -> usize {
    std::env::var("SCHEMA_TEST_SPARES")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(2)
}
