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
    /// The input does not start with the expected magic bytes.
    BadMagic,
    /// The format version is not one this build reads.
    UnsupportedVersion {
        /// Version found in the input.
        found: u16,
    },
    /// The stored checksum does not match the content.
    Checksum {
        /// CRC32 stored in the input.
        stored: u32,
        /// CRC32 computed over the content.
        computed: u32,
    },
    /// A field at `offset` holds a value that is not allowed there.
    InvalidField {
        /// Byte offset of the field.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// Layer `layer` (0-based) does not fit its neighbours or its tensors.
    LayerShape {
        /// Index of the layer.
        layer: usize,
        /// Size required.
        expected: usize,
        /// Size found.
        found: usize,
    },
    /// The input uses a feature this build does not implement.
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
    /// A runtime shape is not usable (zero stride, kernel larger than its input).
    InvalidShape {
        /// What was wrong.
        what: &'static str,
    },
    /// Element `index` of an input tensor is NaN or infinite.
    NonFinite {
        /// Index of the first non-finite element.
        index: usize,
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
            Error::BadMagic => write!(f, "wrong magic bytes (not a myelin model file)"),
            Error::UnsupportedVersion { found } => {
                write!(f, "unsupported format version {found}")
            }
            Error::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupt"
            ),
            Error::InvalidField { offset, what } => write!(f, "at byte {offset}: {what}"),
            Error::LayerShape {
                layer,
                expected,
                found,
            } => write!(f, "layer {layer}: expects {expected}, found {found}"),
            Error::Unsupported { what } => write!(f, "unsupported: {what}"),
            Error::InvalidShape { what } => write!(f, "invalid shape: {what}"),
            Error::NonFinite { index } => write!(f, "element {index} is NaN or infinite"),
        }
    }
}

impl core::error::Error for Error {}
