//! The macro's argument: nothing, or the folder as a string literal.

use std::path::PathBuf;

use proc_macro2::{Span, TokenStream};
use syn::LitStr;

/// What `embed_migrations!(…)` was called with.
pub struct Input {
    /// The folder as written (`migrations` when no argument is given).
    pub display: String,
    /// The folder resolved against the calling crate's manifest directory.
    pub dir: PathBuf,
}

impl Input {
    pub fn parse(tokens: TokenStream) -> syn::Result<Input> {
        let display = if tokens.is_empty() {
            "migrations".to_owned()
        } else {
            let literal: LitStr = syn::parse2(tokens).map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "expected nothing or the migrations folder as a string literal, relative to the crate's Cargo.toml: `embed_migrations!(\"migrations\")`",
                )
            })?;
            let value = literal.value();
            if value.trim().is_empty() {
                return Err(syn::Error::new(
                    literal.span(),
                    "the migrations folder path is empty; pass the folder relative to the crate's Cargo.toml (`embed_migrations!(\"migrations\")`), or nothing for `migrations`",
                ));
            }
            value
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
        Ok(Input { display, dir })
    }
}
