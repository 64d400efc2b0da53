//! The functions of `myelin.h`.
//!
//! Inputs and outputs are in the order the model computes on, `[C, H, W]`
//! (channel-major), one sample per call.

use core::ffi::c_void;

use myelin_core::model::{Arithmetic, Model, arena_len};
use myelin_core::quant::params::ActQuant;

use crate::ffi::{Span, code, model, put, slice, slice_mut};
use crate::status::{myelin_status, myelin_status::*, status_of};

/// The arithmetic of a model: which run function it takes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum myelin_dtype {
    /// Integer-only int8: `myelin_run_int8`, int8 codes in and out.
    MYELIN_DTYPE_INT8 = 1,
    /// Float: `myelin_run_f32`, f32 in and out.
    MYELIN_DTYPE_F32 = 2,
}

/// Checks that the `len` bytes at `blob` are a valid model file.
///
/// # Safety
/// `blob` is null or points at `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_check(blob: *const u8, len: usize) -> myelin_status {
    // SAFETY: forwarded to the caller.
    code(unsafe { model(blob, len) }.map(|_| ()))
}

/// Writes to `*out` the bytes of arena `myelin_run_int8` / `myelin_run_f32`
/// need for the model, at any alignment of the arena.
///
/// # Safety
/// `blob` is null or points at `len` readable bytes; `out` is null or
/// points at a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_arena_size(
    blob: *const u8,
    len: usize,
    out: *mut usize,
) -> myelin_status {
    // SAFETY: forwarded to the caller.
    code(unsafe { answer(blob, len, out, |m| arena_len(m).ok_or(MYELIN_BAD_MODEL)) })
}

/// Writes to `*out` the number of input elements of one sample.
///
/// # Safety
/// As `myelin_arena_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_input_size(
    blob: *const u8,
    len: usize,
    out: *mut usize,
) -> myelin_status {
    // SAFETY: forwarded to the caller.
    code(unsafe { answer(blob, len, out, |m| Ok(m.input_len())) })
}

/// Writes to `*out` the number of output elements of one sample.
///
/// # Safety
/// As `myelin_arena_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_output_size(
    blob: *const u8,
    len: usize,
    out: *mut usize,
) -> myelin_status {
    // SAFETY: forwarded to the caller.
    code(unsafe { answer(blob, len, out, |m| Ok(m.output_len())) })
}

/// Writes to `*out` the model's arithmetic.
///
/// # Safety
/// `blob` as `myelin_arena_size`; `out` is null or points at a writable
/// `myelin_dtype`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_model_dtype(
    blob: *const u8,
    len: usize,
    out: *mut myelin_dtype,
) -> myelin_status {
    // SAFETY: forwarded to the caller.
    code(unsafe {
        answer(blob, len, out, |m| {
            Ok(match m.arithmetic() {
                Arithmetic::Int8 => myelin_dtype::MYELIN_DTYPE_INT8,
                Arithmetic::Float => myelin_dtype::MYELIN_DTYPE_F32,
                _ => return Err(MYELIN_UNSUPPORTED),
            })
        })
    })
}

/// Writes to `*scale` and `*zero_point` the quantization of an int8 model's
/// input: the code of real value `x` is `round(x / scale) + zero_point`,
/// clamped to [-128, 127]. `MYELIN_WRONG_DTYPE` for a float model.
///
/// # Safety
/// `blob` as `myelin_arena_size`; `scale` and `zero_point` are null or
/// point at a writable `float` and `int8_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_input_quant(
    blob: *const u8,
    len: usize,
    scale: *mut f32,
    zero_point: *mut i8,
) -> myelin_status {
    // SAFETY: forwarded to the caller.
    code(unsafe { quant(blob, len, scale, zero_point, |m| m.input_quant()) })
}

/// Writes to `*scale` and `*zero_point` the quantization of an int8 model's
/// output: output code `q` stands for `(q - zero_point) * scale`.
/// `MYELIN_WRONG_DTYPE` for a float model.
///
/// # Safety
/// As `myelin_input_quant`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_output_quant(
    blob: *const u8,
    len: usize,
    scale: *mut f32,
    zero_point: *mut i8,
) -> myelin_status {
    // SAFETY: forwarded to the caller.
    code(unsafe { quant(blob, len, scale, zero_point, |m| m.output_quant()) })
}

/// Runs an int8 model on one sample: `in_len` input codes at `input`,
/// `out_len` output codes written to `output`, working memory in the
/// `arena_len` bytes at `arena` (at least `myelin_arena_size`, any
/// alignment). `output` and `arena` must not overlap each other, `input`
/// or `blob`. On any error `output` is left as it was.
///
/// # Safety
/// Each pointer is null or points at its length of readable (`blob`,
/// `input`) or writable (`output`, `arena`) memory, which nothing else uses
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_run_int8(
    blob: *const u8,
    len: usize,
    input: *const i8,
    in_len: usize,
    output: *mut i8,
    out_len: usize,
    arena: *mut c_void,
    arena_len: usize,
) -> myelin_status {
    let run = |m: &Model<'_>, x: &[i8], y: &mut [i8], a: &mut [u8]| {
        y.copy_from_slice(m.infer_int8_arena(x, a)?);
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    code(unsafe {
        run_with(
            Arithmetic::Int8,
            (blob, len),
            (input, in_len),
            (output, out_len),
            (arena.cast::<u8>(), arena_len),
            run,
        )
    })
}

/// Runs a float model on one sample: `myelin_run_int8` with `float`s in
/// and out (4-byte aligned, `MYELIN_MISALIGNED` otherwise);
/// `MYELIN_NON_FINITE` when an input is NaN or infinite.
///
/// # Safety
/// As `myelin_run_int8`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn myelin_run_f32(
    blob: *const u8,
    len: usize,
    input: *const f32,
    in_len: usize,
    output: *mut f32,
    out_len: usize,
    arena: *mut c_void,
    arena_len: usize,
) -> myelin_status {
    let run = |m: &Model<'_>, x: &[f32], y: &mut [f32], a: &mut [u8]| {
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(myelin_core::Error::NonFinite { index });
        }
        y.copy_from_slice(m.infer_arena(x, a)?);
        Ok(())
    };
    // SAFETY: forwarded to the caller.
    code(unsafe {
        run_with(
            Arithmetic::Float,
            (blob, len),
            (input, in_len),
            (output, out_len),
            (arena.cast::<u8>(), arena_len),
            run,
        )
    })
}

/// Parses the model and writes `f(model)` through `out`.
///
/// # Safety
/// As `myelin_arena_size`, with `out` pointing at a writable `T`.
unsafe fn answer<T>(
    blob: *const u8,
    len: usize,
    out: *mut T,
    f: impl FnOnce(&Model<'_>) -> Result<T, myelin_status>,
) -> Result<(), myelin_status> {
    if out.is_null() {
        return Err(MYELIN_NULL_POINTER);
    }
    // SAFETY: forwarded to the caller.
    let m = unsafe { model(blob, len) }?;
    let v = f(&m)?;
    // SAFETY: forwarded to the caller.
    unsafe { put(out, v) }
}

/// The quantization `which` picks, written through `scale` and `zero_point`.
///
/// # Safety
/// As `myelin_input_quant`.
unsafe fn quant(
    blob: *const u8,
    len: usize,
    scale: *mut f32,
    zero_point: *mut i8,
    which: impl FnOnce(&Model<'_>) -> Option<ActQuant>,
) -> Result<(), myelin_status> {
    if scale.is_null() || zero_point.is_null() {
        return Err(MYELIN_NULL_POINTER);
    }
    // SAFETY: forwarded to the caller.
    let m = unsafe { model(blob, len) }?;
    if m.arithmetic() != Arithmetic::Int8 {
        return Err(MYELIN_WRONG_DTYPE);
    }
    let q = which(&m).ok_or(MYELIN_BAD_MODEL)?;
    // SAFETY: forwarded to the caller.
    unsafe {
        put(scale, q.scale)?;
        put(zero_point, q.zero_point)
    }
}

/// A pointer and its length in elements.
type Buf<P> = (P, usize);

/// Checks a run's arguments against the model, in the order null pointers,
/// model, arithmetic, lengths, alignment, arena size, overlap; then `run`.
///
/// # Safety
/// As `myelin_run_int8`.
unsafe fn run_with<T>(
    want: Arithmetic,
    blob: Buf<*const u8>,
    input: Buf<*const T>,
    output: Buf<*mut T>,
    arena: Buf<*mut u8>,
    run: impl FnOnce(&Model<'_>, &[T], &mut [T], &mut [u8]) -> Result<(), myelin_core::Error>,
) -> Result<(), myelin_status> {
    if blob.0.is_null() || input.0.is_null() || output.0.is_null() || arena.0.is_null() {
        return Err(MYELIN_NULL_POINTER);
    }
    // SAFETY: forwarded to the caller.
    let m = unsafe { model(blob.0, blob.1) }?;
    if m.arithmetic() != want {
        return Err(MYELIN_WRONG_DTYPE);
    }
    if input.1 != m.input_len() || output.1 != m.output_len() {
        return Err(MYELIN_BUFFER_LENGTH);
    }
    if input.0.align_offset(align_of::<T>()) != 0 || output.0.align_offset(align_of::<T>()) != 0 {
        return Err(MYELIN_MISALIGNED);
    }
    if arena_len(&m).is_none_or(|need| arena.1 < need) {
        return Err(MYELIN_ARENA_TOO_SMALL);
    }
    let (b, x, y, a) = (
        Span::of(blob.0, blob.1),
        Span::of(input.0, input.1),
        Span::of(output.0, output.1),
        Span::of(arena.0, arena.1),
    );
    if y.overlaps(a) || y.overlaps(x) || y.overlaps(b) || a.overlaps(x) || a.overlaps(b) {
        return Err(MYELIN_OVERLAP);
    }
    // SAFETY: forwarded to the caller; the written buffers overlap nothing.
    let (x, y, a) = unsafe {
        (
            slice(input.0, input.1)?,
            slice_mut(output.0, output.1)?,
            slice_mut(arena.0, arena.1)?,
        )
    };
    run(&m, x, y, a).map_err(status_of)
}
