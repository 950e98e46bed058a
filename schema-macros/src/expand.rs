//! Token generation: from an already judged folder to constant data.
//!
//! The expansion is a tree of `const fn` calls over `include_str!` text, so it can
//! initialise a `static`, costs the compiler little per migration, and makes cargo
//! rebuild when any embedded file changes. Nothing is parsed or hashed at run time.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use schema_core::source::{SourceError, SourceFile, SourceFolder, SourceMigration, SourceSeed};

use crate::input::Input;

pub fn expand(input: &Input) -> TokenStream {
    let judged =
        schema_core::read_folder(&input.dir, &input.display, &input.dialects).and_then(|folder| {
            let errors = checks(input, &folder);
            if errors.is_empty() {
                Ok(folder)
            } else {
                Err(errors)
            }
        });
    match judged {
        Ok(folder) => migrations(&folder),
        Err(errors) => {
            let errors = errors.iter().map(|error| {
                let message = error.to_string();
                quote! { ::core::compile_error!(#message); }
            });
            // The errors, then a value of the right type so that nothing else complains.
            quote! { { #(#errors)* ::schema_runtime::Migrations::empty() } }
        }
    }
}

/// The compile-time checks that features turn on, each for a folder that serves its
/// dialect, unless the call says `check = false`: `check-postgres` parses every statement
/// with PostgreSQL's parser, `check-sqlite` replays the folder into an in-memory SQLite.
/// Both run, so one build shows what each finds.
#[cfg_attr(
    not(any(feature = "check-postgres", feature = "check-sqlite")),
    allow(unused_mut, unused_variables)
)]
fn checks(input: &Input, folder: &SourceFolder) -> Vec<SourceError> {
    let mut errors = Vec::new();
    if !input.check {
        return errors;
    }
    #[cfg(feature = "check-postgres")]
    if input.dialects.contains(&schema_core::Dialect::Postgres)
        && let Err(found) = crate::parse_pg::postgres(folder)
    {
        errors.extend(found);
    }
    #[cfg(feature = "check-sqlite")]
    if input.dialects.contains(&schema_core::Dialect::Sqlite)
        && let Err(found) = crate::replay::sqlite(folder)
    {
        errors.push(found);
    }
    errors
}

fn path_literal(path: &std::path::Path) -> Literal {
    Literal::string(&path.to_string_lossy())
}

fn checksum(file: &SourceFile) -> TokenStream {
    let bytes = Literal::byte_string(file.checksum.as_bytes());
    quote! { ::schema_runtime::Checksum::from_bytes(*#bytes) }
}

/// One migration: `__SchemaMigration::embedded(…)`, the name a `use` of
/// `::schema_runtime::Migration` in [`migrations`]. Few tokens and one call each, since a build pays for every token and
/// every constant call of every migration, and 1,000 files are not rare.
fn migration(migration: &SourceMigration, lock: Option<&schema_core::Lock>) -> TokenStream {
    let version = Literal::u64_unsuffixed(migration.version.get());
    let name = &migration.name;
    let up = &migration.up;
    let up_path = path_literal(&up.path);
    let display = &up.display;
    let checksum = Literal::byte_string(up.checksum.as_bytes());
    let transaction = !up.directives.no_transaction;
    let destructive = up.directives.destructive;
    let mut tokens = quote! {
        __SchemaMigration::embedded(#version, #name, __schema_include!(#up_path), *#checksum, #display, #transaction, #destructive)
    };
    if let Some(down) = &migration.down {
        let down_path = path_literal(&down.path);
        let down_display = &down.display;
        let transaction = !down.directives.no_transaction;
        tokens = quote! { #tokens.with_down(__schema_include!(#down_path), #down_display, #transaction) };
    }
    let amendments: Vec<TokenStream> = lock
        .and_then(|lock| lock.get(migration.version))
        .map(|entry| {
            entry
                .amendments
                .iter()
                .map(|amendment| {
                    let from = Literal::byte_string(amendment.from.as_bytes());
                    let reason = &amendment.reason;
                    quote! { ::schema_runtime::Amendment::new(::schema_runtime::Checksum::from_bytes(*#from), #reason) }
                })
                .collect()
        })
        .unwrap_or_default();
    if !amendments.is_empty() {
        // A named const: `&[Amendment::new(…)]` passed straight to a const fn is a
        // temporary (calls are not promoted to 'static), which a `static` rejects.
        tokens = quote! {
            {
                const AMENDMENTS: &[::schema_runtime::Amendment] = &[#(#amendments),*];
                #tokens.with_amendments(AMENDMENTS)
            }
        };
    }
    tokens
}

fn seed(seed: &SourceSeed) -> TokenStream {
    let version = Literal::u64_suffixed(seed.version.get());
    let name = &seed.name;
    let path = path_literal(&seed.file.path);
    let display = &seed.file.display;
    let checksum = checksum(&seed.file);
    let mut tokens = quote! {
        ::schema_runtime::Seed::new(
            ::schema_runtime::Version::new(#version),
            #name,
            ::core::include_str!(#path),
            #checksum,
            #display,
        )
    };
    if seed.file.directives.no_transaction {
        tokens = quote! { #tokens.without_transaction() };
    }
    tokens
}

fn migrations(folder: &SourceFolder) -> TokenStream {
    let lock = folder.lock.as_ref();
    let migrations = folder.migrations.iter().map(|m| migration(m, lock));
    let seeds = folder.seeds.iter().map(seed);
    let dir = path_literal(&folder.dir);
    let display = &folder.display;
    // The lock is read by the macro, so an edit to it must rebuild the crate.
    let track_lock = folder.lock.is_some().then(|| {
        let lock_path = path_literal(&folder.lock_path);
        quote! { const _: &[u8] = ::core::include_bytes!(#lock_path); }
    });
    quote! {
        {
            #[allow(unused_imports)]
            use ::core::include_str as __schema_include;
            #[allow(unused_imports)]
            use ::schema_runtime::Migration as __SchemaMigration;
            #track_lock
            const MIGRATIONS: &[::schema_runtime::Migration] = &[#(#migrations),*];
            const SEEDS: &[::schema_runtime::Seed] = &[#(#seeds),*];
            // Evaluated in the calling crate: its name, version and build profile.
            ::schema_runtime::Migrations::new(MIGRATIONS, SEEDS, #dir, #display).built_by(
                ::core::env!("CARGO_PKG_NAME"),
                ::core::env!("CARGO_PKG_VERSION"),
                ::core::cfg!(debug_assertions),
            )
        }
    }
}
