//! `myelin_status`: what a call returns, and the name of each code.

use core::ffi::c_char;

use myelin_core::Error;

/// What a call of the C API returns: `MYELIN_OK` (0) or what was wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum myelin_status {
    /// Success.
    MYELIN_OK = 0,
    /// A pointer argument was null.
    MYELIN_NULL_POINTER = 1,
    /// The blob is not a myelin model file (wrong magic bytes).
    MYELIN_NOT_A_MODEL = 2,
    /// The model file's format version is not one this library reads.
    MYELIN_UNSUPPORTED_VERSION = 3,
    /// The blob is shorter than the model file it starts.
    MYELIN_TRUNCATED = 4,
    /// The model file's checksum does not match: it is corrupt.
    MYELIN_CORRUPT_MODEL = 5,
    /// A field of the model file is invalid, or its layers do not fit together.
    MYELIN_BAD_MODEL = 6,
    /// The model uses a feature this library does not implement.
    MYELIN_UNSUPPORTED = 7,
    /// The call does not fit the model's arithmetic (an int8 run of a float
    /// model, quantization parameters of a float model, ...).
    MYELIN_WRONG_DTYPE = 8,
    /// An input or output length is not the model's.
    MYELIN_BUFFER_LENGTH = 9,
    /// The arena is smaller than `myelin_arena_size`.
    MYELIN_ARENA_TOO_SMALL = 10,
    /// A pointer is not aligned for its element type.
    MYELIN_MISALIGNED = 11,
    /// A buffer the call writes overlaps another buffer of the call.
    MYELIN_OVERLAP = 12,
    /// An f32 input element is NaN or infinite.
    MYELIN_NON_FINITE = 13,
}

use myelin_status::*;

/// Every status, in code order.
pub(crate) const ALL: [myelin_status; 14] = [
    MYELIN_OK,
    MYELIN_NULL_POINTER,
    MYELIN_NOT_A_MODEL,
    MYELIN_UNSUPPORTED_VERSION,
    MYELIN_TRUNCATED,
    MYELIN_CORRUPT_MODEL,
    MYELIN_BAD_MODEL,
    MYELIN_UNSUPPORTED,
    MYELIN_WRONG_DTYPE,
    MYELIN_BUFFER_LENGTH,
    MYELIN_ARENA_TOO_SMALL,
    MYELIN_MISALIGNED,
    MYELIN_OVERLAP,
    MYELIN_NON_FINITE,
];

impl myelin_status {
    /// The code's C name, NUL-terminated.
    pub const fn name(self) -> &'static core::ffi::CStr {
        match self {
            MYELIN_OK => c"MYELIN_OK",
            MYELIN_NULL_POINTER => c"MYELIN_NULL_POINTER",
            MYELIN_NOT_A_MODEL => c"MYELIN_NOT_A_MODEL",
            MYELIN_UNSUPPORTED_VERSION => c"MYELIN_UNSUPPORTED_VERSION",
            MYELIN_TRUNCATED => c"MYELIN_TRUNCATED",
            MYELIN_CORRUPT_MODEL => c"MYELIN_CORRUPT_MODEL",
            MYELIN_BAD_MODEL => c"MYELIN_BAD_MODEL",
            MYELIN_UNSUPPORTED => c"MYELIN_UNSUPPORTED",
            MYELIN_WRONG_DTYPE => c"MYELIN_WRONG_DTYPE",
            MYELIN_BUFFER_LENGTH => c"MYELIN_BUFFER_LENGTH",
            MYELIN_ARENA_TOO_SMALL => c"MYELIN_ARENA_TOO_SMALL",
            MYELIN_MISALIGNED => c"MYELIN_MISALIGNED",
            MYELIN_OVERLAP => c"MYELIN_OVERLAP",
            MYELIN_NON_FINITE => c"MYELIN_NON_FINITE",
        }
    }
}

/// The status that stands for a core error.
pub fn status_of(e: Error) -> myelin_status {
    match e {
        Error::BadMagic => MYELIN_NOT_A_MODEL,
        Error::UnsupportedVersion { .. } => MYELIN_UNSUPPORTED_VERSION,
        Error::Truncated { .. } => MYELIN_TRUNCATED,
        Error::Checksum { .. } => MYELIN_CORRUPT_MODEL,
        Error::Unsupported { .. } => MYELIN_UNSUPPORTED,
        Error::ShapeMismatch { .. } => MYELIN_BUFFER_LENGTH,
        Error::NonFinite { .. } => MYELIN_NON_FINITE,
        _ => MYELIN_BAD_MODEL,
    }
}

/// The C name of status `code` (`"MYELIN_OK"`, ...), or
/// `"MYELIN_UNKNOWN_STATUS"` for a value that is no status. The string is
/// static and NUL-terminated; never null.
#[unsafe(no_mangle)]
pub extern "C" fn myelin_status_name(code: i32) -> *const c_char {
    ALL.iter()
        .find(|s| **s as i32 == code)
        .map_or(c"MYELIN_UNKNOWN_STATUS", |s| s.name())
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_their_index_and_names_match() {
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            // SAFETY: the name is a static NUL-terminated string.
            let name = unsafe { core::ffi::CStr::from_ptr(myelin_status_name(i as i32)) };
            assert_eq!(name, s.name());
            assert!(name.to_str().unwrap().starts_with("MYELIN_"));
        }
        // SAFETY: as above.
        let unknown = unsafe { core::ffi::CStr::from_ptr(myelin_status_name(-1)) };
        assert_eq!(unknown, c"MYELIN_UNKNOWN_STATUS");
        // SAFETY: as above.
        let past = unsafe { core::ffi::CStr::from_ptr(myelin_status_name(ALL.len() as i32)) };
        assert_eq!(past, c"MYELIN_UNKNOWN_STATUS");
    }
}
