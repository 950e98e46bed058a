//! The migration lock of a SQLite database: an operating-system advisory lock on a file
//! beside it (`<db>.schema-lock`).
//!
//! The kernel releases it when the process dies, so a crash never leaves a stale lock,
//! and it is held for the whole run, around `no-transaction` migrations too, which a
//! SQLite transaction cannot do. The database file itself is never opened a second time:
//! closing such a descriptor would drop SQLite's own POSIX locks on it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{Error, audit};

/// A held lock; released when dropped. In-memory databases hold none.
#[derive(Debug)]
pub struct FileLock {
    _file: Option<File>,
}

struct Attempt {
    file: File,
    path: PathBuf,
    started: Instant,
    timeout: Duration,
    pause: Duration,
    logged: bool,
}

impl Attempt {
    fn open(database: &str, timeout: Duration) -> Result<Attempt, Error> {
        let path = PathBuf::from(format!("{database}.schema-lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                Error::database(
                    format!("opening the migration lock file {}", path.display()),
                    e,
                )
            })?;
        Ok(Attempt {
            file,
            path,
            started: Instant::now(),
            timeout,
            pause: Duration::from_millis(5),
            logged: false,
        })
    }

    /// Tries once: `None` when the lock is ours, or how long to wait before the next try.
    fn try_once(&mut self) -> Result<Option<Duration>, Error> {
        match self.file.try_lock() {
            Ok(()) => {
                let holder = format!(
                    "process {} on {} since {}",
                    std::process::id(),
                    audit::host_name(),
                    audit::now_utc()
                );
                let file = &mut self.file;
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| file.write_all(holder.as_bytes()));
                Ok(None)
            }
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut self.file);
                if self.started.elapsed() >= self.timeout {
                    return Err(Error::LockTimeout {
                        what: self.path.display().to_string(),
                        holder,
                        waited: self.started.elapsed(),
                    });
                }
                if !self.logged {
                    tracing::info!(
                        "schema: waiting for the migration lock {} held by {holder}",
                        self.path.display()
                    );
                    self.logged = true;
                }
                let pause = self.pause;
                self.pause = (self.pause * 2).min(Duration::from_millis(100));
                Ok(Some(pause))
            }
            Err(TryLockError::Error(e)) => Err(Error::database(
                format!("locking the migration lock file {}", self.path.display()),
                e,
            )),
        }
    }
}

impl FileLock {
    /// Locks the file beside `database` (a path; `None` for an in-memory database),
    /// waiting at most `timeout`, sleeping the thread between tries.
    pub fn acquire_blocking(database: Option<&str>, timeout: Duration) -> Result<FileLock, Error> {
        let Some(database) = database else {
            return Ok(FileLock { _file: None });
        };
        let mut attempt = Attempt::open(database, timeout)?;
        while let Some(pause) = attempt.try_once()? {
            std::thread::sleep(pause);
        }
        Ok(FileLock {
            _file: Some(attempt.file),
        })
    }

    /// Like [`acquire_blocking`](Self::acquire_blocking), sleeping on the async runtime.
    #[cfg(feature = "sqlx-sqlite")]
    pub async fn acquire(database: Option<&str>, timeout: Duration) -> Result<FileLock, Error> {
        let Some(database) = database else {
            return Ok(FileLock { _file: None });
        };
        let mut attempt = Attempt::open(database, timeout)?;
        while let Some(pause) = attempt.try_once()? {
            tokio::time::sleep(pause).await;
        }
        Ok(FileLock {
            _file: Some(attempt.file),
        })
    }
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    if text.trim().is_empty() {
        "another process".to_owned()
    } else {
        text.trim().to_owned()
    }
}
