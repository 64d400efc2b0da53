//! Reference samples for `myelin export --goldens DIR`: the first inputs of
//! a golden set (`inputs.npy`, `outputs.npy`: int8 codes from the model's
//! original runtime, e.g. the MLPerf Tiny goldens of TFLite's reference
//! kernels), checked here against the host's `Model::infer_int8` and embedded
//! as input and output codes, so that firmware can check itself bit for bit.

use std::path::Path;

use anyhow::{Context, Result, bail};
use myelin_core::model::{self, Arithmetic, Model};

use super::source::{sample_array, wl};
use crate::npy::{NpyArray, NpyData, read_npy};
use crate::run::{run_batch, to_model_order};

/// Golden samples in the model's own order, with the output codes the host
/// computed for them (equal to the golden ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Goldens {
    /// The directory they came from, for the generated docs.
    pub source: String,
    /// Input codes, sample after sample, `[C, H, W]` as `Model::infer_int8` takes them.
    pub inputs: Vec<i8>,
    /// Output codes of `Model::infer_int8`, sample after sample.
    pub outputs: Vec<i8>,
}

fn codes<'a>(a: &'a NpyArray, path: &Path) -> Result<&'a [i8]> {
    match &a.data {
        NpyData::I8(v) => Ok(v),
        d => bail!(
            "{}: {} values; expected int8 codes",
            path.display(),
            d.dtype_name()
        ),
    }
}

/// The first `n` samples of `dir/inputs.npy`, run on the host; fails unless
/// every output code equals `dir/outputs.npy`'s.
pub fn load_goldens(dir: &Path, model: &Model<'_>, n: usize) -> Result<Goldens> {
    if model.arithmetic() != Arithmetic::Int8 {
        bail!("--goldens: the model is not int8 (golden sets hold int8 codes)");
    }
    if n == 0 {
        bail!("--samples: must be at least 1");
    }
    let (xp, yp) = (dir.join("inputs.npy"), dir.join("outputs.npy"));
    let (x, y) = (read_npy(&xp)?, read_npy(&yp)?);
    let (ilen, olen) = (model.input_len(), model.output_len());
    let (xs, ys) = (codes(&x, &xp)?, codes(&y, &yp)?);
    let have = x.shape.first().copied().unwrap_or(0);
    if have < n || xs.len() < n * ilen || ys.len() < n * olen {
        bail!(
            "{}: {have} samples of {} values (outputs of {}); --samples {n} asks for {n} of {ilen} (outputs of {olen})",
            xp.display(),
            xs.len() / have.max(1),
            ys.len() / have.max(1)
        );
    }
    let mut first = x.clone();
    first.shape[0] = n;
    first.data = NpyData::I8(xs[..n * ilen].to_vec());
    let (_, host) = run_batch(model, &first).with_context(|| format!("{}", xp.display()))?;
    let NpyData::I8(host) = host else {
        bail!("int8 model gave non-int8 outputs");
    };
    if let Some(i) =
        (0..n).find(|&i| host[i * olen..(i + 1) * olen] != ys[i * olen..(i + 1) * olen])
    {
        bail!(
            "{}: sample {i}: the host's output codes differ from the golden ones",
            yp.display()
        );
    }
    let need = model::int8_scratch_len(model);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let (mut inputs, mut outputs) = (Vec::with_capacity(n * ilen), Vec::with_capacity(n * olen));
    for s in xs[..n * ilen].chunks_exact(ilen) {
        let s = to_model_order(model, s);
        outputs.extend_from_slice(model.infer_int8(&s, &mut act, &mut cell)?);
        inputs.extend(s);
    }
    Ok(Goldens {
        source: dir.file_name().map_or_else(
            || dir.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        ),
        inputs,
        outputs,
    })
}

/// The `samples` module of golden input and output codes.
pub(super) fn emit_goldens(
    w: &mut String,
    g: &Goldens,
    in_len: usize,
    out_len: usize,
) -> Result<()> {
    let n = g.inputs.len() / in_len.max(1);
    if g.inputs.len() != n * in_len || g.outputs.len() != n * out_len {
        bail!("golden samples do not match the model's input and output sizes");
    }
    wl(w, "");
    wl(
        w,
        &format!(
            "/// The first {n} golden samples of `{}`, with the output codes the host computed for them",
            g.source
        ),
    );
    wl(
        w,
        "/// (equal to the golden outputs, checked when this file was generated).",
    );
    wl(w, "pub mod samples {");
    wl(w, "    /// Number of samples.");
    wl(w, &format!("    pub const COUNT: usize = {n};"));
    sample_array(
        w,
        &["Input codes, one sample per row, in the order `Model::infer_int8` takes (`[C, H, W]`)."],
        "INPUTS",
        "i8",
        Some(in_len),
        &g.inputs,
        &|v| v.to_string(),
    );
    sample_array(
        w,
        &["The output codes for each sample (`Model::infer_int8` on the model file)."],
        "OUTPUTS",
        "i8",
        Some(out_len),
        &g.outputs,
        &|v| v.to_string(),
    );
    wl(w, "}");
    Ok(())
}
