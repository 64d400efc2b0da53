//! Inference straight from a parsed model file, with caller-owned scratch.

use super::slots::{slots_len, value_slot};
use super::{
    Activation, DType, LayerKind, LayerView, MAX_INPUTS, Model, TensorView, graph, shape_len,
};
use crate::Error;
use crate::kernels;

/// Floats per layer of extra scratch: a weight row for dense layers in
/// unaligned files, the gates and states of an LSTM (and its weights widened
/// to f32 when they are stored as f16).
fn extra_len(l: &LayerView<'_>) -> usize {
    match l.kind {
        LayerKind::Dense => shape_len(l.in_shape),
        LayerKind::Lstm => {
            let h = l.params[0] as usize;
            let widened = if lstm_is_f16(l) {
                h.saturating_mul(4)
                    .saturating_mul(l.in_shape[2].saturating_add(h))
            } else {
                0
            };
            h.saturating_mul(8).saturating_add(widened)
        }
        _ => 0,
    }
}

fn lstm_is_f16(l: &LayerView<'_>) -> bool {
    (0..2).any(|j| l.tensor(j).is_some_and(|t| t.dtype == DType::F16))
}

/// Floats of scratch [`Model::infer`] needs for `model`. A chain: three
/// buffers of the largest activation plus the largest per-layer extra (a
/// weight row for dense layers of unaligned files, LSTM gates and states).
/// A graph with joins: the input and every node's output, one buffer of the
/// largest activation, and the extra.
pub fn scratch_len(model: &Model<'_>) -> usize {
    let (act, extra) = sizes(model);
    if is_chain(model) {
        3 * act + extra
    } else {
        slots_len(model).saturating_add(act).saturating_add(extra)
    }
}

fn sizes(model: &Model<'_>) -> (usize, usize) {
    let mut act = model.input_len();
    let mut extra = 0;
    for l in model.layers() {
        act = act.max(shape_len(l.out_shape));
        extra = extra.max(extra_len(&l));
    }
    (act, extra)
}

fn is_chain(model: &Model<'_>) -> bool {
    model.layers().all(|l| l.is_chained())
}

/// Applies `act` to `y` in place; `tmp` holds at least `y.len()` floats.
fn activate(act: Activation, y: &mut [f32], tmp: &mut [f32]) {
    match act {
        Activation::Relu => kernels::relu_inplace(y),
        Activation::Relu6 => kernels::relu6_inplace(y),
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

const UNALIGNED: Error = Error::Unsupported {
    what: "conv2d and LSTM inference need the model bytes 4-byte aligned in memory",
};

fn tensor<'a>(l: &LayerView<'a>, j: usize) -> Result<TensorView<'a>, Error> {
    l.tensor(j).ok_or(Error::Unsupported {
        what: "layer without its tensors",
    })
}

fn aligned<'a>(l: &LayerView<'a>, j: usize) -> Result<&'a [f32], Error> {
    tensor(l, j)?.as_f32().ok_or(UNALIGNED)
}

fn dense(l: &LayerView<'_>, x: &[f32], y: &mut [f32], row: &mut [f32]) -> Result<(), Error> {
    let (w, bias) = (tensor(l, 0)?, tensor(l, 1)?);
    if let (Some(w), Some(bias)) = (w.as_f32(), bias.as_f32()) {
        kernels::gemv(w, x, bias, y);
        return Ok(());
    }
    #[cfg(feature = "half")]
    if let (Some(w), Some(bias)) = (w.as_f16(), bias.as_f32()) {
        return crate::quant::f16::dense_f16(w, x, bias, y);
    }
    let not_f32 = Error::Unsupported {
        what: "dense layer with non-f32 tensors",
    };
    let row = &mut row[..x.len()];
    for (o, yo) in y.iter_mut().enumerate() {
        for (i, r) in row.iter_mut().enumerate() {
            *r = w.f32_at(o * x.len() + i).ok_or(not_f32)?;
        }
        *yo = bias.f32_at(o).ok_or(not_f32)? + kernels::dot(row, x);
    }
    Ok(())
}

/// Widens an f16 (or copies an f32) weight tensor into `out`.
fn widen<'s>(t: TensorView<'_>, out: &'s mut [f32]) -> Result<&'s [f32], Error> {
    let short = Error::ShapeMismatch {
        expected: t.len(),
        found: out.len(),
    };
    let out = out.get_mut(..t.len()).ok_or(short)?;
    if t.dtype == DType::F32 {
        t.read_f32(out)?;
        return Ok(out);
    }
    #[cfg(feature = "half")]
    if t.dtype == DType::F16 {
        for (i, o) in out.iter_mut().enumerate() {
            *o = half::f16::from_bits(t.f16_bits_at(i).unwrap_or(0)).to_f32();
        }
        return Ok(out);
    }
    Err(Error::Unsupported {
        what: "f16 LSTM weights need the core's `half` feature",
    })
}

fn lstm(l: &LayerView<'_>, x: &[f32], y: &mut [f32], extra: &mut [f32]) -> Result<(), Error> {
    let shape = kernels::LstmShape {
        input: l.in_shape[2],
        hidden: l.params[0] as usize,
    };
    let h = shape.hidden;
    let b = aligned(l, 2)?;
    let (state, widened) = extra.split_at_mut(8 * h);
    let (wx, wh) = if lstm_is_f16(l) {
        let (wx_buf, wh_buf) = widened.split_at_mut(4 * h * shape.input);
        (
            widen(tensor(l, 0)?, wx_buf)?,
            widen(tensor(l, 1)?, wh_buf)? as &[f32],
        )
    } else {
        (aligned(l, 0)?, aligned(l, 1)?)
    };
    let (gates, rest) = state.split_at_mut(4 * h);
    let (c0, rest) = rest.split_at_mut(h);
    let (c1, rest) = rest.split_at_mut(h);
    let (h0, rest) = rest.split_at_mut(h);
    let h1 = &mut rest[..h];
    c0.fill(0.0);
    h0.fill(0.0);
    let (mut c_prev, mut c_next, mut h_prev, mut h_next) = (c0, c1, h0, h1);
    for xt in x.chunks_exact(shape.input.max(1)) {
        kernels::lstm_step_forward(&shape, wx, wh, b, xt, h_prev, c_prev, gates, c_next, h_next);
        core::mem::swap(&mut c_prev, &mut c_next);
        core::mem::swap(&mut h_prev, &mut h_next);
    }
    y.copy_from_slice(h_prev);
    Ok(())
}

/// Runs node `l` on its inputs `xs` into `y` (activation applied).
fn node(
    l: &LayerView<'_>,
    xs: &[&[f32]],
    y: &mut [f32],
    tmp: &mut [f32],
    extra: &mut [f32],
) -> Result<(), Error> {
    let x = xs.first().copied().unwrap_or(&[]);
    match l.kind {
        LayerKind::Dense => dense(l, x, y, extra)?,
        LayerKind::Conv2d => {
            let geom = l.conv_geom()?;
            let w = tensor(l, 0)?;
            let Some(shape) = graph::uniform_conv_shape(&geom) else {
                let w = w.as_f32().ok_or(Error::Unsupported {
                    what: "conv2d with per-axis strides, uneven padding or groups needs aligned f32 weights",
                })?;
                kernels::conv_forward(&geom, 1, x, w, aligned(l, 1)?, y);
                activate(l.activation, y, tmp);
                return Ok(());
            };
            #[cfg(feature = "half")]
            if let Some(w16) = w.as_f16() {
                crate::quant::f16::conv2d_f16(&shape, x, w16, aligned(l, 1)?, y)?;
                activate(l.activation, y, tmp);
                return Ok(());
            }
            kernels::conv2d_forward(&shape, x, w.as_f32().ok_or(UNALIGNED)?, aligned(l, 1)?, y);
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            let win = l.window()?;
            let max = l.kind == LayerKind::MaxPool2d;
            match graph::uniform_pool_shape(l.in_shape[0], &win) {
                Some(shape) if max => kernels::max_pool2d_forward(&shape, x, y),
                Some(shape) => kernels::avg_pool2d_forward(&shape, x, y),
                None if max => kernels::max_pool_forward(&win, l.in_shape[0], x, y),
                None => kernels::avg_pool_forward(&win, l.in_shape[0], x, y),
            }
        }
        LayerKind::Lstm => lstm(l, x, y, extra)?,
        LayerKind::Activation | LayerKind::Reshape => y.copy_from_slice(x),
        LayerKind::Add => kernels::add_forward(xs, y),
        LayerKind::Concat => kernels::concat_forward(1, l.in_shape[1] * l.in_shape[2], xs, y),
        LayerKind::GlobalAvgPool => {
            kernels::global_avg_pool_forward(l.in_shape[1] * l.in_shape[2], x, y)
        }
        LayerKind::BatchNorm => {
            let eps = f32::from_bits(l.params[graph::p::EPS]);
            let bn =
                kernels::BatchNorm::new(l.in_shape[0], l.in_shape[1] * l.in_shape[2], eps, 0.0)?;
            let [g, b, m, v] = [0, 1, 2, 3].map(|j| aligned(l, j));
            kernels::batch_norm_forward_infer(&bn, 1, x, g?, b?, m?, v?, y);
        }
        // Refused in float files at parse.
        LayerKind::Lookup => {
            return Err(Error::Unsupported {
                what: "lookup nodes are int8 only",
            });
        }
    }
    activate(l.activation, y, tmp);
    Ok(())
}

impl Model<'_> {
    /// Runs one sample through the model; returns the output, which lives in
    /// `scratch` (at least [`scratch_len`] floats).
    ///
    /// Weights are read in place. Dense layers also work on files that are not
    /// 4-byte aligned in memory (a row at a time); conv2d and LSTM layers
    /// need aligned bytes and return [`Error::Unsupported`] otherwise. f16
    /// weights (feature `half`) are widened exactly, a block (dense) or a
    /// filter (conv2d) at a time, LSTM weights once into the scratch, and
    /// computed in f32. A graph with joins keeps every node's output.
    /// int8 models ([`Model::infer_int8`]) return [`Error::Unsupported`].
    pub fn infer<'s>(&self, input: &[f32], scratch: &'s mut [f32]) -> Result<&'s [f32], Error> {
        let (act, _) = sizes(self);
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
        if !is_chain(self) {
            return self.infer_graph(input, scratch);
        }
        let (a, rest) = scratch.split_at_mut(act);
        let (b, rest) = rest.split_at_mut(act);
        let (tmp, extra) = rest.split_at_mut(act);
        a[..input.len()].copy_from_slice(input);
        let (mut cur, mut next) = (a, b);
        let mut len = input.len();
        for l in self.layers() {
            let out = shape_len(l.out_shape);
            node(&l, &[&cur[..len]], &mut next[..out], tmp, extra)?;
            core::mem::swap(&mut cur, &mut next);
            len = out;
        }
        Ok(&cur[..len])
    }

    /// [`Model::infer`] for a graph: every value in its own slot.
    fn infer_graph<'s>(&self, input: &[f32], scratch: &'s mut [f32]) -> Result<&'s [f32], Error> {
        let (act, _) = sizes(self);
        let (slots, rest) = scratch.split_at_mut(slots_len(self));
        let (tmp, extra) = rest.split_at_mut(act);
        slots[..input.len()].copy_from_slice(input);
        let mut start = input.len();
        let mut last = 0..0;
        for l in self.layers() {
            let out = shape_len(l.out_shape);
            // Every input lies before this node's slot.
            let (done, rest) = slots.split_at_mut(start);
            let mut xs: [&[f32]; MAX_INPUTS] = [&[]; MAX_INPUTS];
            for (x, &r) in xs.iter_mut().zip(l.inputs()) {
                *x = &done[value_slot(self, r)];
            }
            node(&l, &xs[..l.inputs().len()], &mut rest[..out], tmp, extra)?;
            last = start..start + out;
            start += out;
        }
        Ok(&slots[last])
    }
}
