//! Inference with all scratch in one caller-owned byte buffer (an arena),
//! for callers that hold bytes, not typed buffers: the C API and firmware
//! that sizes one static array per model.
//!
//! An int8 model's arena holds the `i8` activations, then the `i16` LSTM
//! cell states ([`int8_scratch_len`]); a float model's holds the `f32`
//! scratch ([`scratch_len`]). The arena may start at any address: its size
//! ([`arena_len`]) includes the padding that aligns the typed parts.

use super::{Arithmetic, Model, int8_scratch_len, scratch_len};
use crate::Error;

/// Bytes of arena [`Model::infer_int8_arena`] or [`Model::infer_arena`]
/// needs for `model`, whatever the arena's alignment; `None` on overflow.
pub fn arena_len(model: &Model<'_>) -> Option<usize> {
    match model.arithmetic() {
        Arithmetic::Int8 => {
            let need = int8_scratch_len(model);
            if need.cell == 0 {
                return Some(need.act);
            }
            need.cell
                .checked_mul(2)?
                .checked_add(need.act)?
                .checked_add(align_of::<i16>() - 1)
        }
        Arithmetic::Float => scratch_len(model)
            .checked_mul(size_of::<f32>())?
            .checked_add(align_of::<f32>() - 1),
    }
}

fn too_small(model: &Model<'_>, found: usize) -> Error {
    Error::ShapeMismatch {
        expected: arena_len(model).unwrap_or(usize::MAX),
        found,
    }
}

/// `bytes` from its first `T`-aligned address on, as `T`s (whole elements only).
fn typed<T: Plain>(bytes: &mut [u8]) -> &mut [T] {
    // SAFETY: `T` is a plain integer or float type (`Plain`): every bit
    // pattern is a valid value, and `align_to_mut` only puts correctly
    // aligned, in-bounds elements in the middle slice.
    let (_, mid, _) = unsafe { bytes.align_to_mut::<T>() };
    mid
}

/// Types for which every bit pattern is a valid value.
trait Plain: Copy {}
impl Plain for i8 {}
impl Plain for i16 {}
impl Plain for f32 {}

impl Model<'_> {
    /// [`Model::infer_int8`] with its activations and cell states carved
    /// out of `arena` (at least [`arena_len`] bytes, any alignment); returns
    /// the output codes, which live in the arena.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a short arena or a wrong input length,
    /// and the errors of [`Model::infer_int8`].
    pub fn infer_int8_arena<'s>(
        &self,
        input: &[i8],
        arena: &'s mut [u8],
    ) -> Result<&'s [i8], Error> {
        if self.arithmetic() != Arithmetic::Int8 {
            return Err(Error::Unsupported {
                what: "int8 inference of a float model",
            });
        }
        let need = int8_scratch_len(self);
        let found = arena.len();
        if arena_len(self).is_none_or(|n| found < n) {
            return Err(too_small(self, found));
        }
        let (act, rest) = arena.split_at_mut(need.act);
        let cell = typed::<i16>(rest);
        if cell.len() < need.cell {
            return Err(too_small(self, found));
        }
        let act = typed::<i8>(act);
        self.infer_int8(input, act, &mut cell[..need.cell])
    }

    /// [`Model::infer`] with its scratch carved out of `arena` (at least
    /// [`arena_len`] bytes, any alignment); returns the output, which lives
    /// in the arena.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a short arena or a wrong input length,
    /// and the errors of [`Model::infer`].
    pub fn infer_arena<'s>(&self, input: &[f32], arena: &'s mut [u8]) -> Result<&'s [f32], Error> {
        if self.arithmetic() != Arithmetic::Float {
            return Err(Error::Unsupported {
                what: "float inference of an int8 model",
            });
        }
        let found = arena.len();
        if arena_len(self).is_none_or(|n| found < n) {
            return Err(too_small(self, found));
        }
        let need = scratch_len(self);
        let scratch = typed::<f32>(arena);
        if scratch.len() < need {
            return Err(too_small(self, found));
        }
        self.infer(input, &mut scratch[..need])
    }
}
