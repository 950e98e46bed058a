//! The rules that the build (`embed_migrations!`) and the runtime of `schema-runtime`
//! agree on, in one place: file naming, directives, checksums, the lock format and the
//! destructive-statement lint. Pure: it reads files, never a database.
//!
//! Applications depend on `schema-runtime`, which re-exports what they need from here.
//!
//! ```
//! use schema_core::{Checksum, Lock, LockEntry, Version};
//!
//! // The lock the runtime writes after applying a migration in development.
//! let sql = "CREATE TABLE users (id INTEGER PRIMARY KEY);\n";
//! let lock = Lock::new([LockEntry::new(Version::new(1), "create_users", Checksum::of_file(sql.as_bytes()))]);
//! let text = lock.render();
//! assert!(text.lines().any(|l| l.starts_with("1 create_users sha256:")));
//! assert_eq!(Lock::parse(&text).unwrap(), lock);
//! ```

#![warn(missing_docs)]

pub mod amend;
pub mod checksum;
mod dialect;
pub mod directive;
pub mod lint;
pub mod lock;
pub mod locking;
pub mod name;
pub mod source;
pub mod sql;
pub mod transaction;
mod version;

pub use checksum::Checksum;
pub use dialect::Dialect;
pub use directive::Directives;
pub use lock::{Amendment, Lock, LockEntry, LockError};
pub use name::{FileName, Side};
pub use source::{SourceError, SourceFolder, read_folder};
pub use version::Version;
