//! `embed_migrations!()`: the compile-time half of `schema-runtime`. Use it through
//! `schema_runtime::embed_migrations!`, which documents it.

mod expand;
mod input;
#[cfg(feature = "check-postgres")]
mod parse_pg;
#[cfg(feature = "check-sqlite")]
mod replay;

use proc_macro::TokenStream;

/// Embeds, validates and checksums a migrations folder; see `schema_runtime::embed_migrations!`.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    match input::Input::parse(input.into()) {
        Ok(input) => expand::expand(&input).into(),
        Err(error) => error.to_compile_error().into(),
    }
}
