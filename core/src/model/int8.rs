//! Integer-only inference straight from a parsed int8 model file, with
//! caller-owned scratch. Weights, biases and multipliers are read in place.

use super::graph::{self, p as gp};
use super::in_place;
use super::slots::{slots_len, value_slot};
use super::{Activation, Arithmetic, LayerKind, LayerView, Model, TensorView, shape_len};
use crate::Error;
use crate::quant::int8::{self, Conv2dShape, ConvQ, DenseQ, Pool2dShape};
use crate::quant::lstm::{LstmQ, lstm_sequence};
use crate::quant::softmax::{self, SoftmaxQ};
use crate::quant::{OutputQuant, Requant};
use crate::quant::{depthwise, lut};
use core::ops::Range;

/// A value the memory plan gives no place, or a place outside the arena.
const UNPLANNED: Error = Error::Unsupported {
    what: "memory plan without an offset for a value",
};

/// Elements of value `r` (0 the input, `k` node `k - 1`'s output) in the
/// activation scratch: at its planned offset in a file with a memory plan,
/// else in its graph slot ([`value_slot`]).
fn value_bytes(model: &Model<'_>, r: usize) -> Result<Range<usize>, Error> {
    if model.planned_arena().is_none() {
        return Ok(value_slot(model, r));
    }
    let at = model.value_offset(r).ok_or(UNPLANNED)?;
    Ok(at..at + model.value_len(r).ok_or(UNPLANNED)?)
}

/// Scratch [`Model::infer_int8`] needs: `i8` activations and `i16` LSTM cell
/// states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int8ScratchLen {
    /// `i8` elements: the planned arena (or two buffers of the largest
    /// activation) plus an LSTM's hidden-state scratch or the in-place
    /// scratch, whichever is larger.
    pub act: usize,
    /// `i16` elements: the largest LSTM's cell state.
    pub cell: usize,
}

/// The scratch [`Model::infer_int8`] needs for `model`: a planned file's
/// arena ([`Model::planned_arena`]), else two buffers of the largest
/// activation for a chain and one slot per value for a graph; plus an
/// LSTM's hidden state or, if larger, the scratch of the nodes planned over
/// their input ([`Model::planned_in_place_scratch`]), which share those
/// bytes after the arena.
pub fn int8_scratch_len(model: &Model<'_>) -> Int8ScratchLen {
    let (act, hidden) = sizes(model);
    if let Some(arena) = model.planned_arena() {
        return Int8ScratchLen {
            act: arena + hidden.max(model.planned_in_place_scratch()),
            cell: hidden,
        };
    }
    let chain = model.layers().all(|l| l.is_chained());
    Int8ScratchLen {
        // A graph keeps the input and every node's output.
        act: if chain { 2 * act } else { slots_len(model) } + hidden,
        cell: hidden,
    }
}

fn sizes(model: &Model<'_>) -> (usize, usize) {
    let mut act = model.input_len();
    let mut hidden = 0;
    for l in model.layers() {
        act = act.max(shape_len(l.out_shape));
        if l.kind == LayerKind::Lstm {
            hidden = hidden.max(shape_len(l.out_shape));
        }
    }
    (act, hidden)
}

const UNALIGNED: Error = Error::Unsupported {
    what: "int8 inference needs the model bytes 4-byte aligned in memory",
};

fn tensor<'a>(l: &LayerView<'a>, j: usize) -> Result<TensorView<'a>, Error> {
    l.tensor(j).ok_or(Error::Unsupported {
        what: "layer without its tensors",
    })
}

fn weights<'a>(l: &LayerView<'a>, j: usize) -> Result<&'a [i8], Error> {
    tensor(l, j)?.as_i8().ok_or(Error::Unsupported {
        what: "int8 layer with non-i8 weights",
    })
}

fn bias<'a>(l: &LayerView<'a>, j: usize) -> Result<&'a [i32], Error> {
    tensor(l, j)?.as_i32().ok_or(UNALIGNED)
}

fn requant<'a>(l: &LayerView<'a>, j: usize) -> Result<&'a [Requant], Error> {
    tensor(l, j)?.as_requant().ok_or(UNALIGNED)
}

fn activation_requant(l: &LayerView<'_>) -> Result<Requant, Error> {
    tensor(l, 0)?.requant_at(0).ok_or(Error::Unsupported {
        what: "activation layer without its multiplier",
    })
}

impl Model<'_> {
    /// Runs one quantized sample through an int8 model with integer
    /// arithmetic only; returns the output codes, which live in `act`.
    ///
    /// `input` holds the input's codes (see [`Model::input_quant`]); the
    /// output's scale and zero point are [`Model::output_quant`] (the argmax
    /// of the codes is the predicted class). `act` and `cell` hold at least
    /// [`int8_scratch_len`] elements. The bytes must be 4-byte aligned in
    /// memory (biases and multipliers are read in place as `i32`s).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a float model or unaligned bytes,
    /// [`Error::ShapeMismatch`] for short scratch or a wrong input length.
    pub fn infer_int8<'s>(
        &self,
        input: &[i8],
        act: &'s mut [i8],
        cell: &mut [i16],
    ) -> Result<&'s [i8], Error> {
        if self.arithmetic() != Arithmetic::Int8 {
            return Err(Error::Unsupported {
                what: "int8 inference of a float model",
            });
        }
        let need = int8_scratch_len(self);
        for (found, expected) in [(act.len(), need.act), (cell.len(), need.cell)] {
            if found < expected {
                return Err(Error::ShapeMismatch { expected, found });
            }
        }
        if input.len() != self.input_len() {
            return Err(Error::ShapeMismatch {
                expected: self.input_len(),
                found: input.len(),
            });
        }
        if self.planned_arena().is_some() {
            return self.infer_int8_planned(input, act, cell);
        }
        if !self.layers().all(|l| l.is_chained()) {
            return self.infer_int8_graph(input, act, cell);
        }
        let (max, _) = sizes(self);
        let (a, rest) = act.split_at_mut(max);
        let (b, extra) = rest.split_at_mut(max);
        a[..input.len()].copy_from_slice(input);
        let (mut cur, mut next) = (a, b);
        let mut len = input.len();
        for l in self.layers() {
            let out = shape_len(l.out_shape);
            layer(&l, &cur[..len], &mut next[..out], extra, cell)?;
            core::mem::swap(&mut cur, &mut next);
            len = out;
        }
        Ok(&cur[..len])
    }
}

impl Model<'_> {
    /// [`Model::infer_int8`] for a graph: every value in its own slot.
    fn infer_int8_graph<'s>(
        &self,
        input: &[i8],
        act: &'s mut [i8],
        cell: &mut [i16],
    ) -> Result<&'s [i8], Error> {
        let (slots_buf, extra) = act.split_at_mut(slots_len(self));
        slots_buf[..input.len()].copy_from_slice(input);
        let mut start = input.len();
        let mut last = 0..0;
        for l in self.layers() {
            let out = shape_len(l.out_shape);
            let (done, rest) = slots_buf.split_at_mut(start);
            let value = |r: usize| -> Result<&[i8], Error> {
                let s = value_bytes(self, r)?;
                let expected = s.end;
                done.get(s).ok_or(Error::ShapeMismatch {
                    expected,
                    found: done.len(),
                })
            };
            node(self, &l, value, &mut rest[..out], extra, cell)?;
            last = start..start + out;
            start += out;
        }
        Ok(&slots_buf[last])
    }
}

impl Model<'_> {
    /// [`Model::infer_int8`] for a file with a memory plan: every value at
    /// its planned offset in the arena; a node planned over its input runs
    /// in place (`in_place`), a reshape there moves nothing.
    fn infer_int8_planned<'s>(
        &self,
        input: &[i8],
        act: &'s mut [i8],
        cell: &mut [i16],
    ) -> Result<&'s [i8], Error> {
        let arena = self.planned_arena().ok_or(UNPLANNED)?;
        let (buf, extra) = act.split_at_mut(arena);
        // Checked at parse: every value lies inside the arena.
        let slot = |v: usize| value_bytes(self, v);
        buf.get_mut(slot(0)?)
            .ok_or(UNPLANNED)?
            .copy_from_slice(input);
        // Checked at parse: an input at its node's output offset is one the
        // node may write over; without in-place scratch only reshapes do.
        let any_in_place = self.planned_in_place_scratch() > 0;
        for l in self.layers() {
            let out = slot(l.index + 1)?;
            if l.kind == LayerKind::Reshape && l.inputs().len() == 1 && slot(l.inputs()[0])? == out
            {
                continue;
            }
            let over = match any_in_place {
                true => l.inputs().iter().copied().find(|&u| {
                    self.value_offset(u) == Some(out.start)
                        && !out.is_empty()
                        && self.value_len(u).is_some_and(|n| n > 0)
                }),
                false => None,
            };
            if let Some(u) = over {
                // The bytes of the output and of the input under it.
                let bytes = out.start..out.end.max(slot(u)?.end);
                let (lo, y, hi) = around(buf, &bytes);
                let value = |r: usize| outside(lo, hi, &bytes, slot(r)?);
                in_place::run(self, &l, u, y, value, extra, cell)?;
                continue;
            }
            let (lo, y, hi) = around(buf, &out);
            let value = |r: usize| outside(lo, hi, &out, slot(r)?);
            node(self, &l, value, y, extra, cell)?;
        }
        let last = slot(self.layer_count())?;
        Ok(&buf[last])
    }
}

/// `buf` split before, at and after the bytes `at`.
fn around<'b>(buf: &'b mut [i8], at: &Range<usize>) -> (&'b [i8], &'b mut [i8], &'b [i8]) {
    let (lo, rest) = buf.split_at_mut(at.start);
    let (y, hi) = rest.split_at_mut(at.len());
    (lo, y, hi)
}

/// The bytes `s` of the arena [`around`] split into `lo`, `at` and `hi`:
/// an error where they reach into `at` (the bytes being written).
fn outside<'b>(
    lo: &'b [i8],
    hi: &'b [i8],
    at: &Range<usize>,
    s: Range<usize>,
) -> Result<&'b [i8], Error> {
    if s.end <= at.start {
        lo.get(s).ok_or(UNPLANNED)
    } else if s.start >= at.end {
        hi.get(s.start - at.end..s.end - at.end).ok_or(UNPLANNED)
    } else {
        Err(Error::Unsupported {
            what: "memory plan writes a node's output over an input it cannot",
        })
    }
}

/// Node `l` of `model` into `y`, reading its inputs through `value`.
fn node<'v>(
    model: &Model<'_>,
    l: &LayerView<'_>,
    value: impl Fn(usize) -> Result<&'v [i8], Error>,
    y: &mut [i8],
    extra: &mut [i8],
    cell: &mut [i16],
) -> Result<(), Error> {
    match (l.kind, l.inputs()) {
        (LayerKind::Add, &[a, b]) => {
            let bq = second_input_quant(model, b)?;
            int8::add(&add_q(l, bq)?, value(a)?, value(b)?, y)
        }
        (LayerKind::Concat, rs) => {
            // Inputs share the output's quantization (checked at parse):
            // the codes move unchanged, channel blocks in input order.
            let mut xs: [&[i8]; graph::MAX_INPUTS] = [&[]; graph::MAX_INPUTS];
            for (x, &r) in xs.iter_mut().zip(rs) {
                *x = value(r)?;
            }
            let xs = &xs[..rs.len()];
            let total: usize = xs.iter().map(|x| x.len()).sum();
            let plane = l.in_shape[1] * l.in_shape[2];
            if total != y.len() || xs.iter().any(|x| x.len() % plane.max(1) != 0) {
                return Err(Error::ShapeMismatch {
                    expected: y.len(),
                    found: total,
                });
            }
            crate::kernels::concat_forward(1, plane, xs, y);
            if l.activation == Activation::Relu {
                let q = l.quant.ok_or(Error::Unsupported {
                    what: "int8 layer without quantization",
                })?;
                int8::relu(y, q.output.zero_point);
            }
            Ok(())
        }
        (_, &[r]) => layer(l, value(r)?, y, extra, cell),
        _ => Err(Error::Unsupported {
            what: "this int8 node reads more inputs than its kind takes",
        }),
    }
}

/// The quantization of an add's second input, value `b`.
pub(super) fn second_input_quant(
    model: &Model<'_>,
    b: usize,
) -> Result<crate::quant::ActQuant, Error> {
    match b {
        0 => model.input_quant(),
        _ => model.layer(b - 1).and_then(|p| p.quant).map(|q| q.output),
    }
    .ok_or(Error::Unsupported {
        what: "int8 add without its inputs' quantization",
    })
}

/// The parameters and shape of int8 conv2d node `l`, and whether it is
/// depthwise (groups are 1 or the input channels: checked by `ConvGeom`).
#[inline(always)]
pub(super) fn conv_parts<'a>(l: &LayerView<'a>) -> Result<(ConvQ<'a>, Conv2dShape, bool), Error> {
    let q = l.quant.ok_or(Error::Unsupported {
        what: "int8 layer without quantization",
    })?;
    let geom = l.conv_geom()?;
    let win = geom.win;
    let [c, h, w] = l.in_shape;
    let shape = Conv2dShape {
        in_channels: c,
        in_size: [h, w],
        out_channels: l.out_shape[0],
        kernel: [win.k_h, win.k_w],
        stride: [win.stride_h, win.stride_w],
        padding: [win.pad_top, win.pad_bottom, win.pad_left, win.pad_right],
    };
    let conv = ConvQ {
        weights: weights(l, 0)?,
        bias: bias(l, 1)?,
        requant: requant(l, 2)?,
        input_zero_point: q.input.zero_point,
        output: if l.activation == Activation::Relu {
            OutputQuant::relu(q.output.zero_point)
        } else {
            OutputQuant::linear(q.output.zero_point)
        },
    };
    Ok((conv, shape, geom.is_depthwise()))
}

/// One int8 layer from `x` into `y`.
pub(super) fn layer(
    l: &LayerView<'_>,
    x: &[i8],
    y: &mut [i8],
    extra: &mut [i8],
    cell: &mut [i16],
) -> Result<(), Error> {
    let q = l.quant.ok_or(Error::Unsupported {
        what: "int8 layer without quantization",
    })?;
    let in_zp = q.input.zero_point;
    let relu = l.activation == Activation::Relu;
    let output = if relu {
        OutputQuant::relu(q.output.zero_point)
    } else {
        OutputQuant::linear(q.output.zero_point)
    };
    let [c, h, w] = l.in_shape;
    let p = l.params.map(|v| v as usize);
    match l.kind {
        LayerKind::Dense => {
            let d = DenseQ {
                weights: weights(l, 0)?,
                bias: bias(l, 1)?,
                requant: requant(l, 2)?,
                input_zero_point: in_zp,
                output,
            };
            if l.params[gp::ROUNDING] == graph::ROUNDING_SINGLE {
                int8::dense_single_rounding(&d, x, y)
            } else {
                int8::dense(&d, x, y)
            }
        }
        LayerKind::Conv2d => {
            let (conv, shape, depthwise) = conv_parts(l)?;
            if depthwise {
                depthwise::depthwise_conv2d(&conv, &shape, x, y)
            } else {
                int8::conv2d(&conv, &shape, x, y)
            }
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            if p[gp::PAD_TOP..=gp::PAD_RIGHT].iter().any(|&v| v != 0) {
                return Err(Error::Unsupported {
                    what: "int8 pooling with padding",
                });
            }
            let shape = Pool2dShape {
                channels: c,
                in_size: [h, w],
                kernel: [p[gp::K_H], p[gp::K_W]],
                stride: [p[gp::STRIDE_H], p[gp::STRIDE_W]],
            };
            if l.kind == LayerKind::MaxPool2d {
                int8::max_pool2d(&shape, x, y)?;
            } else {
                int8::avg_pool2d(&shape, x, y)?;
            }
            if relu {
                int8::relu(y, q.output.zero_point);
            }
            Ok(())
        }
        LayerKind::Lstm => {
            let lstm = LstmQ {
                input_weights: weights(l, 0)?,
                recurrent_weights: weights(l, 1)?,
                bias: bias(l, 2)?,
                input_requant: requant(l, 3)?,
                recurrent_requant: requant(l, 4)?,
                input_zero_point: in_zp,
            };
            let hidden = y.len();
            let short = Error::ShapeMismatch {
                expected: hidden,
                found: cell.len().min(extra.len()),
            };
            let cell = cell.get_mut(..hidden).ok_or(short)?;
            let scratch = extra.get_mut(..hidden).ok_or(short)?;
            y.fill(0);
            cell.fill(0);
            lstm_sequence(&lstm, x, y, cell, scratch)
        }
        LayerKind::Activation => match l.activation {
            Activation::Sigmoid => int8::sigmoid(x, in_zp, activation_requant(l)?, y),
            Activation::Tanh => int8::tanh(x, in_zp, activation_requant(l)?, y),
            Activation::Softmax => {
                let p = SoftmaxQ {
                    input_beta: activation_requant(l)?,
                    diff_min: l.params[gp::DIFF_MIN] as i32,
                };
                softmax::softmax(&p, x.len().max(1), x, y)
            }
            _ => {
                y.copy_from_slice(x);
                if relu {
                    int8::relu(y, q.output.zero_point);
                }
                Ok(())
            }
        },
        LayerKind::Reshape => {
            y.copy_from_slice(x);
            Ok(())
        }
        LayerKind::Lookup => lut::lookup(weights(l, 0)?, x, y),
        LayerKind::GlobalAvgPool => {
            let shape = Pool2dShape {
                channels: c,
                in_size: [h, w],
                kernel: [h, w],
                stride: [1, 1],
            };
            int8::avg_pool2d(&shape, x, y)
        }
        LayerKind::Add | LayerKind::Concat | LayerKind::BatchNorm => Err(Error::Unsupported {
            what: "this node reads several inputs or has no int8 form",
        }),
    }
}

/// The parameters of an int8 add node whose second input is quantized as `b`.
pub(super) fn add_q(l: &LayerView<'_>, b: crate::quant::ActQuant) -> Result<int8::AddQ, Error> {
    let q = l.quant.ok_or(Error::Unsupported {
        what: "int8 layer without quantization",
    })?;
    let m = requant(l, 0)?;
    let [ma, mb, mo] = [0, 1, 2].map(|k| m.get(k).copied().unwrap_or_default());
    Ok(int8::AddQ {
        a_zero_point: q.input.zero_point,
        a_requant: ma,
        b_zero_point: b.zero_point,
        b_requant: mb,
        output_requant: mo,
        output: if l.activation == Activation::Relu {
            OutputQuant::relu(q.output.zero_point)
        } else {
            OutputQuant::linear(q.output.zero_point)
        },
    })
}
