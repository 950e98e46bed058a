//! The SHA-256 checksum of a migration file, and the normalisation it is taken over.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The SHA-256 of a migration file's text after [`normalize`].
///
/// Shown as 64 lowercase hex digits; written in the lock as `sha256:<hex>`.
///
/// ```
/// use schema_core::Checksum;
///
/// let lf = Checksum::of_file(b"CREATE TABLE t (id INTEGER);\n");
/// let crlf = Checksum::of_file(b"\xEF\xBB\xBFCREATE TABLE t (id INTEGER);\r\n");
/// assert_eq!(lf, crlf);
/// assert_eq!(lf.to_string().len(), 64);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// Wraps 32 raw bytes. `embed_migrations!` emits this with bytes it computed at build time.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Checksum(bytes)
    }

    /// The 32 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The checksum of a file's raw bytes: SHA-256 over [`normalize`]d text.
    pub fn of_file(bytes: &[u8]) -> Self {
        Checksum::of_normalized(&normalize(bytes))
    }

    /// SHA-256 of bytes taken as they are (no normalisation).
    pub fn of_normalized(bytes: &[u8]) -> Self {
        Checksum(Sha256::digest(bytes).into())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Lowercase hex as 64 ASCII bytes, without allocating.
    pub fn hex_bytes(&self) -> [u8; 64] {
        let mut hex = [[0u8; 2]; 32];
        for (pair, byte) in hex.iter_mut().zip(self.0) {
            *pair = HEX_PAIRS[usize::from(byte)];
        }
        // Safe reshaping without unsafe: 32 pairs are 64 bytes.
        let mut out = [0u8; 64];
        out.copy_from_slice(hex.as_flattened());
        out
    }

    /// Whether `hex` spells this checksum, in either case.
    ///
    /// Comparing against this checksum's own lowercase spelling costs less than parsing
    /// `hex`, and it is what a history row almost always holds.
    ///
    /// ```
    /// use schema_core::Checksum;
    ///
    /// let sum = Checksum::of_file(b"select 1;");
    /// assert!(sum.matches_hex(sum.to_hex().as_bytes()));
    /// assert!(sum.matches_hex(sum.to_hex().to_uppercase().as_bytes()));
    /// assert!(!sum.matches_hex(b"not a checksum"));
    /// ```
    pub fn matches_hex(&self, hex: &[u8]) -> bool {
        hex == self.hex_bytes() || Checksum::from_hex(hex).as_ref() == Some(self)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex_bytes();
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{self}")
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumParseError(pub String);

impl fmt::Display for ChecksumParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a SHA-256 checksum (64 hex digits)", self.0)
    }
}

impl std::error::Error for ChecksumParseError {}

impl Checksum {
    /// Parses 64 hex digits (either case) given as bytes; `None` for anything else.
    /// The runtime reads every recorded checksum at startup, so this avoids UTF-8 checks
    /// and branches per digit.
    pub fn from_hex(hex: &[u8]) -> Option<Checksum> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        let mut invalid = 0u8;
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let high = HEX_VALUES[usize::from(pair[0])];
            let low = HEX_VALUES[usize::from(pair[1])];
            invalid |= (high | low) & 0x80;
            *byte = (high << 4) | (low & 0x0f);
        }
        (invalid == 0).then_some(Checksum(out))
    }
}

/// Each byte value's two lowercase hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
        i += 1;
    }
    table
};

/// Each byte's value as a hex digit, or 0x80 when it is not one.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

impl FromStr for Checksum {
    type Err = ChecksumParseError;

    /// Parses 64 hex digits (either case), without the `sha256:` prefix.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Checksum::from_hex(text.as_bytes()).ok_or_else(|| ChecksumParseError(text.to_owned()))
    }
}

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The bytes a checksum is taken over: a leading UTF-8 BOM removed and every CRLF turned
/// into LF, so that a Windows checkout (git `autocrlf`) or an editor that adds a BOM does
/// not count as an edit. A lone CR is kept: it is a real change.
pub fn normalize(bytes: &[u8]) -> Vec<u8> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().peekable();
    while let Some(&byte) = iter.next() {
        if byte == b'\r' && iter.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // `printf 'CREATE TABLE t (id INTEGER);\n' | sha256sum`
    const KNOWN: &str = "cb7bba9473513daa6e6daf9337f9d5822cbc95cac71c944b6bf85958041038e1";

    #[test]
    fn hex_round_trips() {
        let checksum = Checksum::of_file(b"select 1;\n");
        let parsed: Checksum = checksum.to_string().parse().unwrap();
        assert_eq!(parsed, checksum);
        assert_eq!(
            checksum
                .to_string()
                .to_uppercase()
                .parse::<Checksum>()
                .unwrap(),
            checksum
        );
    }

    #[test]
    fn bad_hex_is_refused() {
        assert!("abc".parse::<Checksum>().is_err());
        assert!("g".repeat(64).parse::<Checksum>().is_err());
    }

    #[test]
    fn crlf_and_bom_do_not_change_the_checksum_but_lone_cr_does() {
        let lf = Checksum::of_file(b"a\nb\n");
        assert_eq!(Checksum::of_file(b"a\r\nb\r\n"), lf);
        assert_eq!(Checksum::of_file(b"\xEF\xBB\xBFa\r\nb\n"), lf);
        assert_ne!(Checksum::of_file(b"a\rb\n"), lf);
    }

    #[test]
    fn matches_sha256sum() {
        assert_eq!(
            Checksum::of_file(b"CREATE TABLE t (id INTEGER);\n").to_string(),
            KNOWN
        );
        assert_eq!(
            Checksum::of_file(b"CREATE TABLE t (id INTEGER);\r\n").to_string(),
            KNOWN
        );
    }
}
