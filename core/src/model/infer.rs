//! Inference straight from a parsed model file, with caller-owned scratch.

use super::{Activation, LayerKind, Model, shape_len};
use crate::Error;
use crate::kernels;

/// Floats of scratch [`Model::infer`] needs for `model`: three activation
/// buffers of the largest layer output, plus one weight row for files that
/// are not 4-byte aligned in memory.
pub fn scratch_len(model: &Model<'_>) -> usize {
    let mut act = model.input_len();
    let mut row = 0;
    for l in model.layers() {
        act = act.max(shape_len(l.out_shape));
        row = row.max(shape_len(l.in_shape));
    }
    3 * act + row
}

/// Applies `act` to `y` in place; `tmp` holds at least `y.len()` floats.
fn activate(act: Activation, y: &mut [f32], tmp: &mut [f32]) {
    match act {
        Activation::Relu => kernels::relu_inplace(y),
        Activation::Sigmoid => kernels::sigmoid_inplace(y),
        Activation::Tanh => kernels::tanh_inplace(y),
        Activation::Softmax if !y.is_empty() => {
            let tmp = &mut tmp[..y.len()];
            kernels::softmax(y, tmp);
            y.copy_from_slice(tmp);
        }
        _ => {}
    }
}

impl Model<'_> {
    /// Runs one sample through the model; returns the output, which lives in
    /// `scratch` (at least [`scratch_len`] floats).
    ///
    /// Dense layers read their weights in place when the file is 4-byte
    /// aligned in memory, and a row at a time otherwise. Layer kinds without
    /// an f32 inference kernel in this build return [`Error::Unsupported`].
    pub fn infer<'s>(&self, input: &[f32], scratch: &'s mut [f32]) -> Result<&'s [f32], Error> {
        let need = scratch_len(self);
        if scratch.len() < need {
            return Err(Error::ShapeMismatch {
                expected: need,
                found: scratch.len(),
            });
        }
        if input.len() != self.input_len() {
            return Err(Error::ShapeMismatch {
                expected: self.input_len(),
                found: input.len(),
            });
        }
        let act = (need
            - self
                .layers()
                .map(|l| shape_len(l.in_shape))
                .max()
                .unwrap_or(0))
            / 3;
        let (a, rest) = scratch.split_at_mut(act);
        let (b, rest) = rest.split_at_mut(act);
        let (tmp, row) = rest.split_at_mut(act);
        a[..input.len()].copy_from_slice(input);
        let (mut cur, mut next) = (a, b);
        let mut len = input.len();
        for l in self.layers() {
            let out = shape_len(l.out_shape);
            let x = &cur[..len];
            let y = &mut next[..out];
            match l.kind {
                LayerKind::Dense => {
                    let (Some(w), Some(bias)) = (l.tensor(0), l.tensor(1)) else {
                        return Err(Error::Unsupported {
                            what: "dense layer without its tensors",
                        });
                    };
                    match (w.as_f32(), bias.as_f32()) {
                        (Some(w), Some(bias)) => kernels::gemv(w, x, bias, y),
                        _ => {
                            let row = &mut row[..len];
                            for (o, yo) in y.iter_mut().enumerate() {
                                for (i, r) in row.iter_mut().enumerate() {
                                    *r = w.f32_at(o * len + i).ok_or(Error::Unsupported {
                                        what: "non-f32 dense weights",
                                    })?;
                                }
                                let b = bias.f32_at(o).ok_or(Error::Unsupported {
                                    what: "non-f32 dense bias",
                                })?;
                                *yo = b + kernels::dot(row, x);
                            }
                        }
                    }
                }
                LayerKind::Activation => y.copy_from_slice(x),
                _ => {
                    return Err(Error::Unsupported {
                        what: "layer kind without an f32 inference kernel",
                    });
                }
            }
            activate(l.activation, y, tmp);
            core::mem::swap(&mut cur, &mut next);
            len = out;
        }
        Ok(&cur[..len])
    }
}
