//! The C API of myelin: `libmyelin.a` and `include/myelin.h`.
//!
//! Every function takes the model file itself (`blob`, `len`: the bytes of a
//! `.myl` file, e.g. the array `myelin export --c` writes), validates it
//! (magic, version, checksum, every table entry) and answers from it; no
//! state is kept between calls and nothing is allocated. Inference runs
//! `myelin_core::model::Model::infer_int8_arena` or `infer_arena` in a
//! caller-owned byte arena of at least `myelin_arena_size` bytes, so C
//! computes the very bits the host computes.
//!
//! Every function returns a [`myelin_status`]; `MYELIN_OK` (0) is success and
//! every other value names what was wrong with the call. Pointers are checked
//! for null and alignment, lengths against the model, buffers for overlap:
//! a bad call returns its code, it never reads or writes out of bounds.
//! What C cannot tell Rust (that a non-null pointer really points at `len`
//! valid bytes) is the caller's part, stated in each function's Safety.
//!
//! Names and codes are stable: see `docs/c-api.md`.

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![allow(non_camel_case_types)]

mod api;
mod ffi;
mod status;

pub use api::*;
pub use status::{myelin_status, status_of};

/// The version of this API (`MYELIN_ABI_VERSION`): raised when a function's
/// meaning or a code's value changes, never for additions.
pub const MYELIN_ABI_VERSION: u32 = 1;

#[cfg(not(test))]
unsafe extern "C" {
    /// The C library's `abort` (libc, newlib, picolibc all have one).
    safe fn abort() -> !;
}

/// A panic would be a bug in myelin (every input is checked first): stop
/// the program through the C library rather than unwind into C.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    abort()
}

/// Hosted targets' precompiled `core` names the unwinding personality in
/// its unwind tables even when nothing unwinds (`panic = "abort"`): this
/// empty one lets C programs link `libmyelin.a` on a desktop OS. It is
/// never called.
#[cfg(all(not(test), not(target_os = "none")))]
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
