//! `myelin run`: a model over a batch of samples from a `.npy` file, the
//! outputs to another. Axis 0 is the sample; the rest is one sample in the
//! model's I/O layout (`[H, W, C]` for channel-last models, `[C, H, W]`
//! otherwise); axes of size 1 are optional anywhere (TFLite's batch of one,
//! a 1-d signal's `[C, L]` for the model's `[C, 1, L]`), since they do not
//! change the order of the elements. Int8 models take
//! and give int8 codes, float models f32; an int8 model with float I/O
//! (an imported TFLite model with `QUANTIZE` / `DEQUANTIZE` at its edges)
//! takes or gives f32, quantized and dequantized by the core.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use myelin_core::model::{self, Arithmetic, IoLayout, Model, Shape};

use crate::checkpoint::check_writable;
use crate::npy::{NpyArray, NpyData, read_npy, write_npy};
use crate::quantize::read_model;

/// Arguments of `myelin run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The model file.
    pub model: PathBuf,
    /// Samples: `[N, ...one sample]`, int8 codes or f32 as the model computes.
    #[arg(long, value_name = "X.npy")]
    pub input: PathBuf,
    /// Where to write the outputs, `[N, ...one output]`.
    #[arg(long, value_name = "Y.npy")]
    pub output: PathBuf,
}

/// `myelin run MODEL --input X.npy --output Y.npy`.
pub fn run(a: &RunArgs) -> Result<()> {
    check_writable(&a.output)?;
    let bytes = read_model(&a.model)?;
    let m = Model::parse(bytes.bytes()).with_context(|| format!("{}", a.model.display()))?;
    let x = read_npy(&a.input)?;
    let (shape, y) = run_batch(&m, &x).with_context(|| format!("{}", a.input.display()))?;
    write_npy(&a.output, &shape, &y)?;
    println!(
        "ran {} samples through {} -> {}",
        shape[0],
        a.model.display(),
        a.output.display()
    );
    Ok(())
}

/// One sample's dimensions as callers see them: `[H, W, C]` for a
/// channel-last model, `[C, H, W]` otherwise, without leading 1s; a flat
/// vector `[1, 1, N]` is `[N]` in either layout.
pub fn sample_dims(s: Shape, layout: IoLayout) -> Vec<usize> {
    let [c, h, w] = s;
    if c == 1 && h == 1 {
        return vec![w];
    }
    let dims = match layout {
        IoLayout::ChannelLast => [h, w, c],
        IoLayout::ChannelMajor => [c, h, w],
    };
    strip_ones(&dims).to_vec()
}

fn strip_ones(d: &[usize]) -> &[usize] {
    let first = d
        .iter()
        .position(|&v| v != 1)
        .unwrap_or(d.len().saturating_sub(1));
    &d[first..]
}

/// One sample as callers hold it (see [`sample_dims`]) in the order the
/// model computes on, `[C, H, W]`.
pub fn to_model_order<T: Copy + Default>(m: &Model<'_>, sample: &[T]) -> Vec<T> {
    if reorders(m.io_layout(), m.input_shape()) {
        transpose(sample, m.input_shape(), false)
    } else {
        sample.to_vec()
    }
}

/// Whether samples of shape `s` are stored in another order than the model's.
fn reorders(layout: IoLayout, s: Shape) -> bool {
    layout == IoLayout::ChannelLast && s[0] > 1 && s[1] * s[2] > 1
}

/// `[H, W, C]` to `[C, H, W]` (`back`: the reverse).
fn transpose<T: Copy + Default>(x: &[T], s: Shape, back: bool) -> Vec<T> {
    let [c, h, w] = s;
    let mut y = vec![T::default(); x.len()];
    for ci in 0..c {
        for p in 0..h * w {
            let (chw, hwc) = (ci * h * w + p, p * c + ci);
            if back {
                y[hwc] = x[chw];
            } else {
                y[chw] = x[hwc];
            }
        }
    }
    y
}

/// Runs every sample of `x` through `m`: the outputs' shape and data.
pub fn run_batch(m: &Model<'_>, x: &NpyArray) -> Result<(Vec<usize>, NpyData)> {
    let layout = m.io_layout();
    let want = sample_dims(m.input_shape(), layout);
    let Some((&n, sample)) = x.shape.split_first() else {
        bail!("a scalar; expected [N, {}]", join(&want));
    };
    let squeezed = |d: &[usize]| d.iter().copied().filter(|&v| v != 1).collect::<Vec<_>>();
    if squeezed(sample) != squeezed(&want) {
        bail!(
            "samples of shape [{}]; the model takes [{}] (axes of size 1 optional)",
            join(sample),
            join(&want)
        );
    }
    let out_shape = m
        .layer(m.layer_count() - 1)
        .map(|l| l.out_shape)
        .context("model without layers")?;
    let mut shape = vec![n];
    shape.extend(sample_dims(out_shape, layout));
    let (ilen, olen) = (m.input_len(), m.output_len());
    let tout = reorders(layout, out_shape);
    match (m.arithmetic(), &x.data) {
        (Arithmetic::Int8, NpyData::I8(v)) if !m.float_input() => {
            run_int8(m, v.chunks_exact(ilen).map(|s| Ok(to_model_order(m, s))), n)
                .map(|y| (shape, y))
        }
        (Arithmetic::Int8, NpyData::F32(v)) if m.float_input() => {
            let samples = v.chunks_exact(ilen).map(|s| {
                let mut codes = vec![0i8; ilen];
                m.quantize_input(&to_model_order(m, s), &mut codes)?;
                Ok(codes)
            });
            run_int8(m, samples, n).map(|y| (shape, y))
        }
        (Arithmetic::Float, NpyData::F32(v)) => {
            let mut scratch = vec![0f32; model::scratch_len(m)];
            let mut y = Vec::with_capacity(n * olen);
            for s in v.chunks_exact(ilen) {
                let s = to_model_order(m, s);
                let out = m.infer(&s, &mut scratch)?;
                if tout {
                    y.extend(transpose(out, out_shape, true));
                } else {
                    y.extend_from_slice(out);
                }
            }
            Ok((shape, NpyData::F32(y)))
        }
        (Arithmetic::Int8, d) if m.float_input() => bail!(
            "{} samples; the model takes float32 (quantized at its input as TFLite's QUANTIZE)",
            d.dtype_name()
        ),
        (Arithmetic::Int8, d) => {
            let q = m.input_quant();
            bail!(
                "{} samples; the int8 model takes int8 codes{} (or run the float model)",
                d.dtype_name(),
                q.map_or(String::new(), |q| format!(
                    ": code = round(x / {:e}) + {}",
                    q.scale, q.zero_point
                ))
            )
        }
        (a, d) => bail!(
            "{} samples; the {} model takes float32",
            d.dtype_name(),
            a.name()
        ),
    }
}

/// Runs int8 `samples` (in the model's order) through `m`: the outputs in
/// the callers' order, int8 codes or, for a model with float output, f32.
fn run_int8(
    m: &Model<'_>,
    samples: impl Iterator<Item = Result<Vec<i8>>>,
    n: usize,
) -> Result<NpyData> {
    let out_shape = m
        .layer(m.layer_count() - 1)
        .map(|l| l.out_shape)
        .context("model without layers")?;
    let tout = reorders(m.io_layout(), out_shape);
    let need = model::int8_scratch_len(m);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let mut y = Vec::with_capacity(n * m.output_len());
    for s in samples {
        let out = m.infer_int8(&s?, &mut act, &mut cell)?;
        if tout {
            y.extend(transpose(out, out_shape, true));
        } else {
            y.extend_from_slice(out);
        }
    }
    if !m.float_output() {
        return Ok(NpyData::I8(y));
    }
    let mut f = vec![0f32; y.len()];
    for (codes, real) in y
        .chunks_exact(m.output_len())
        .zip(f.chunks_exact_mut(m.output_len()))
    {
        m.dequantize_output(codes, real)?;
    }
    Ok(NpyData::F32(f))
}

fn join(d: &[usize]) -> String {
    d.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_channels_and_back() {
        // [H=1, W=2, C=3] -> [C=3, H=1, W=2].
        let hwc = [1, 2, 3, 4, 5, 6];
        let chw = transpose(&hwc, [3, 1, 2], false);
        assert_eq!(chw, [1, 4, 2, 5, 3, 6]);
        assert_eq!(transpose(&chw, [3, 1, 2], true), hwc);
    }

    #[test]
    fn sample_dims_drop_leading_ones() {
        assert_eq!(sample_dims([1, 1, 640], IoLayout::ChannelMajor), [640]);
        assert_eq!(sample_dims([1, 49, 10], IoLayout::ChannelLast), [49, 10, 1]);
        assert_eq!(sample_dims([3, 32, 32], IoLayout::ChannelLast), [32, 32, 3]);
        assert_eq!(sample_dims([1, 1, 1], IoLayout::ChannelMajor), [1]);
    }
}
