//! The macro's arguments: nothing, the folder as a string literal, and optionally the
//! dialects its SQL is written for (`dialects = "postgres, sqlite"`).

use std::path::PathBuf;

use proc_macro2::{Span, TokenStream};
use schema_core::Dialect;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitStr, Token};

/// What `embed_migrations!(…)` was called with.
pub struct Input {
    /// The folder as written (`migrations` when no argument is given).
    pub display: String,
    /// The folder resolved against the calling crate's manifest directory.
    pub dir: PathBuf,
    /// The dialects the folder's rules read its SQL as.
    pub dialects: Vec<Dialect>,
    /// Whether the compile-time checks that features turn on (`check-postgres`,
    /// `check-sqlite`) run for this folder (`check = false` turns them off for it).
    pub check: bool,
}

/// The arguments as written, before they are checked.
struct Arguments {
    folder: Option<LitStr>,
    dialects: Option<LitStr>,
    check: Option<LitBool>,
}

const USAGE: &str = "expected nothing, the migrations folder as a string literal relative to the crate's Cargo.toml, and optionally the dialects and whether the compile-time checks run: `embed_migrations!(\"migrations\", dialects = \"postgres, sqlite\", check = false)`";

impl Parse for Arguments {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut arguments = Arguments {
            folder: None,
            dialects: None,
            check: None,
        };
        if input.peek(LitStr) {
            arguments.folder = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "dialects" {
                input.parse::<Token![=]>()?;
                arguments.dialects = Some(input.parse()?);
            } else if key == "check" {
                input.parse::<Token![=]>()?;
                arguments.check = Some(input.parse()?);
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown argument `{key}`; {USAGE}"),
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(arguments)
    }
}

impl Input {
    pub fn parse(tokens: TokenStream) -> syn::Result<Input> {
        let arguments: Arguments = syn::parse2(tokens).map_err(|error| {
            if error.to_string().starts_with("unknown argument") {
                error
            } else {
                syn::Error::new(error.span(), USAGE)
            }
        })?;
        let display = match &arguments.folder {
            None => "migrations".to_owned(),
            Some(literal) => {
                let value = literal.value();
                if value.trim().is_empty() {
                    return Err(syn::Error::new(
                        literal.span(),
                        "the migrations folder path is empty; pass the folder relative to the crate's Cargo.toml (`embed_migrations!(\"migrations\")`), or nothing for `migrations`",
                    ));
                }
                value
            }
        };
        let dialects = match &arguments.dialects {
            Some(literal) => named_dialects(literal)?,
            None => enabled_dialects(),
        };
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "CARGO_MANIFEST_DIR is not set; build with cargo",
            )
        })?;
        let dir = PathBuf::from(manifest_dir).join(&display);
        // `a/../migrations` reads badly in the runtime's messages; a missing folder is
        // reported later, by the rules, so it stays as joined.
        let dir = dir.canonicalize().unwrap_or(dir);
        Ok(Input {
            display,
            dir,
            dialects,
            check: arguments.check.is_none_or(|check| check.value),
        })
    }
}

/// `dialects = "postgres, sqlite"`.
fn named_dialects(literal: &LitStr) -> syn::Result<Vec<Dialect>> {
    let mut dialects = Vec::new();
    for name in literal.value().split(',').filter(|n| !n.trim().is_empty()) {
        match Dialect::parse(name) {
            Some(dialect) if !dialects.contains(&dialect) => dialects.push(dialect),
            Some(_) => {}
            None => {
                return Err(syn::Error::new(
                    literal.span(),
                    format!(
                        "unknown dialect `{}`: name one or more of postgres, mysql (also for MariaDB) and sqlite, separated by commas",
                        name.trim()
                    ),
                ));
            }
        }
    }
    if dialects.is_empty() {
        return Err(syn::Error::new(
            literal.span(),
            "`dialects` is empty: name one or more of postgres, mysql and sqlite, or leave it out to use the backends schema-runtime was built with",
        ));
    }
    Ok(dialects)
}

/// The backends schema-runtime was built with (its `rusqlite`, `sqlx-*` features turn on
/// this crate's features of the same dialects); all of them when none is on.
fn enabled_dialects() -> Vec<Dialect> {
    let enabled: Vec<Dialect> = [
        (cfg!(feature = "postgres"), Dialect::Postgres),
        (cfg!(feature = "mysql"), Dialect::Mysql),
        (cfg!(feature = "sqlite"), Dialect::Sqlite),
    ]
    .into_iter()
    .filter_map(|(on, dialect)| on.then_some(dialect))
    .collect();
    if enabled.is_empty() {
        Dialect::ALL.to_vec()
    } else {
        enabled
    }
}
