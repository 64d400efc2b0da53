//! Errors for run-time input: small `Copy` enums saying what was wrong and where.

use core::fmt;

/// What was wrong with run-time input (a model file, a buffer size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The input ended at `offset` while `needed` more bytes were expected.
    Truncated {
        /// Byte offset where more data was expected.
        offset: usize,
        /// Bytes still needed.
        needed: usize,
    },
    /// A buffer or tensor had `found` elements where `expected` were required.
    ShapeMismatch {
        /// Elements required.
        expected: usize,
        /// Elements found.
        found: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { offset, needed } => {
                write!(f, "truncated at byte {offset}: {needed} more bytes needed")
            }
            Error::ShapeMismatch { expected, found } => {
                write!(
                    f,
                    "shape mismatch: expected {expected} elements, found {found}"
                )
            }
        }
    }
}

impl core::error::Error for Error {}
