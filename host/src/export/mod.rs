//! `myelin export MODEL --rust FILE.rs`: a model file as Rust source for firmware;
//! `myelin export --c MODEL --out DIR`: as C files for `libmyelin.a` ([`c_source`]).
//!
//! The generated module holds every weight tensor as a `static` array (in flash
//! on a microcontroller) inside one typed, const-size value, and an `infer`
//! method that runs the layers through two caller-owned activation buffers:
//! no allocator, no parsing at run time, shapes checked by the compiler.
//! f32 models are built from `myelin-core`'s layers (`Dense<IN, OUT>`,
//! `Conv2d<...>`); int8 models from `Dense8<IN, OUT, R>` / `Conv8<...>`,
//! generated wrappers that hand their tensors to the core's integer-only
//! int8 kernels, so the board computes the bits `Model::infer_int8` computes.
//! When dense layers do most of an int8 model's work (an MLP), they are
//! emitted packed (`DensePacked8`, `myelin_core::quant::packed`): zero point
//! folded into the biases, rows interleaved for the Cortex-M DSP loop.
//!
//! With `--samples-from DIR --samples N` it also embeds N MNIST-layout test
//! images, their labels and what the host computed for each (the outputs and
//! the predicted class), so that firmware can check itself against the host.
//!
//! With `--goldens DIR --samples N` (int8 models) it embeds the model file
//! itself, parsed in place, and the first N samples of a golden set
//! (`DIR/inputs.npy`, `DIR/outputs.npy`), after checking that the host
//! computes exactly the golden output codes for them.
//!
//! The alternative, for firmware that wants to swap models without
//! recompiling the network code: embed the model file itself and let the
//! core parse it in place (see `firmware/README.md`):
//!
//! ```ignore
//! #[repr(C, align(16))]
//! struct Aligned<T: ?Sized>(T);
//! static FILE: &Aligned<[u8]> = &Aligned(*include_bytes!("mnist-mlp.myl"));
//! let model = myelin_core::model::Model::parse(&FILE.0)?;
//! let y = model.infer(&x, &mut scratch)?;
//! ```

pub mod c_source;
mod file_form;
mod goldens;
mod int8;
mod planned;
mod source;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use myelin_core::model::{DType, Model, shape_len};

use crate::checkpoint::{self, Checkpoint, check_writable, write_atomic};
use crate::data::MnistFiles;

pub use goldens::{Goldens, load_goldens};
pub use source::{Outputs, Samples, rust_source};

/// Arguments of `myelin export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("form").required(true).args(["rust", "c"])))]
pub struct ExportArgs {
    /// A model file or a checkpoint (its best weights).
    pub model: PathBuf,
    /// Write the network as Rust source to FILE.rs.
    #[arg(long, value_name = "FILE.rs")]
    pub rust: Option<PathBuf>,
    /// Write the model as C for libmyelin: DIR/NAME.h and DIR/NAME.c (see `--out`).
    #[arg(long, requires = "out")]
    pub c: bool,
    /// Directory of the C files (with `--c`).
    #[arg(long, value_name = "DIR", requires = "c")]
    pub out: Option<PathBuf>,
    /// Embed test samples from this IDX directory, with the host's outputs for them.
    #[arg(
        long,
        value_name = "DIR",
        requires = "samples",
        conflicts_with = "goldens"
    )]
    pub samples_from: Option<PathBuf>,
    /// Embed the model file and golden samples from this directory
    /// (`inputs.npy`, `outputs.npy`: int8 codes), checked against the host.
    #[arg(long, value_name = "DIR", requires = "samples")]
    pub goldens: Option<PathBuf>,
    /// int8 model with a memory plan: emit the typed network over the plan
    /// (weights as statics, one call of the core's int8 kernel per node)
    /// instead of the model file, also for graphs and with `--goldens`.
    #[arg(long, conflicts_with = "samples_from")]
    pub typed: bool,
    /// Number of test samples to embed.
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Index of the first embedded test sample.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub first: usize,
    /// Name used in the generated docs, and the C files' name and prefix
    /// (default: the model file's stem).
    #[arg(long)]
    pub name: Option<String>,
}

/// Runs `myelin export`.
pub fn run(a: &ExportArgs) -> Result<()> {
    if let Some(dir) = &a.out {
        return run_c(a, dir);
    }
    let Some(rust) = &a.rust else {
        bail!("export: needs --rust FILE.rs or --c --out DIR");
    };
    check_writable(rust)?;
    let (buf, at) = aligned(&read_model(&a.model)?);
    let bytes = &buf[at..];
    let model = Model::parse(bytes).with_context(|| format!("{}", a.model.display()))?;
    let name = model_name(a);
    if a.samples.is_some() && a.samples_from.is_none() && a.goldens.is_none() {
        bail!("--samples: needs --samples-from DIR or --goldens DIR");
    }
    let samples = match (&a.samples_from, a.samples) {
        (Some(dir), Some(n)) => Some(load_samples(dir, &model, a.first, n)?),
        _ => None,
    };
    let text = match (&a.goldens, a.samples) {
        (Some(dir), Some(n)) => {
            let g = load_goldens(dir, &model, n).with_context(|| format!("{}", dir.display()))?;
            if a.typed {
                planned::rust_source_planned(&model, &name, Some(&g))
            } else {
                file_form::rust_source_file(&model, &name, None, Some(&g))
            }
        }
        _ if a.typed => planned::rust_source_planned(&model, &name, None),
        _ => rust_source(&model, &name, samples.as_ref()),
    }
    .with_context(|| format!("{}", a.model.display()))?;
    write_atomic(rust, text.as_bytes())?;
    println!(
        "wrote {} ({} bytes of Rust: {} layers, {} parameters{})",
        rust.display(),
        text.len(),
        model.layer_count(),
        model.param_count(),
        samples
            .as_ref()
            .map(|s| format!(", {} test samples", s.labels.len()))
            .unwrap_or_default()
    );
    Ok(())
}

/// `myelin export --c MODEL --out DIR`: `DIR/NAME.h` and `DIR/NAME.c`.
fn run_c(a: &ExportArgs, dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        bail!("{}: not a directory (--out DIR)", dir.display());
    }
    let (buf, at) = aligned(&read_model(&a.model)?);
    let model = Model::parse(&buf[at..]).with_context(|| format!("{}", a.model.display()))?;
    let name = c_source::c_identifier(&model_name(a));
    let samples = match (&a.samples_from, &a.goldens, a.samples) {
        (Some(d), _, Some(n)) => Some(c_source::CSamples::from_mnist(
            &model,
            &load_samples(d, &model, a.first, n)?,
        )?),
        (_, Some(d), Some(n)) => Some(c_source::CSamples::from_goldens(
            &load_goldens(d, &model, n).with_context(|| format!("{}", d.display()))?,
        )),
        (None, None, Some(_)) => bail!("--samples: needs --samples-from DIR or --goldens DIR"),
        _ => None,
    };
    let origin = a.model.file_name().map_or_else(
        || a.model.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let files = c_source::c_files(&model, &name, &origin, samples.as_ref())
        .with_context(|| format!("{}", a.model.display()))?;
    let (h, c) = (dir.join(format!("{name}.h")), dir.join(format!("{name}.c")));
    check_writable(&h)?;
    check_writable(&c)?;
    write_atomic(&h, files.header.as_bytes())?;
    write_atomic(&c, files.source.as_bytes())?;
    println!(
        "wrote {} and {} ({} bytes of model file, {} layers, arena {} bytes)",
        h.display(),
        c.display(),
        model.bytes().len(),
        model.layer_count(),
        myelin_core::model::arena_len(&model).unwrap_or(0)
    );
    Ok(())
}

/// `--name`, or the model file's stem.
fn model_name(a: &ExportArgs) -> String {
    a.name.clone().unwrap_or_else(|| {
        a.model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    })
}

/// The model bytes of a model file or checkpoint (its best weights).
fn read_model(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    if !checkpoint::is_checkpoint(&bytes) {
        return Ok(bytes);
    }
    let c = Checkpoint::decode(&bytes).with_context(|| format!("{}", path.display()))?;
    Ok(if c.best_model.is_empty() {
        c.model
    } else {
        c.best_model
    })
}

/// A copy of `bytes` starting at a 16-byte aligned address: the buffer and
/// the offset of the copy in it (int8 inference reads `i32`s in place).
fn aligned(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; bytes.len() + 16];
    let at = (16 - buf.as_ptr() as usize % 16) % 16;
    buf[at..at + bytes.len()].copy_from_slice(bytes);
    buf.truncate(at + bytes.len());
    (buf, at)
}

/// Test images `first..first + n` of the IDX directory `dir`, checked against
/// the model's input.
fn load_samples(dir: &Path, model: &Model<'_>, first: usize, n: usize) -> Result<Samples> {
    let files = MnistFiles::locate(dir)?;
    let test = files.test()?;
    if n == 0 {
        bail!("--samples: must be at least 1");
    }
    let end = first
        .checked_add(n)
        .filter(|&e| e <= test.len())
        .with_context(|| {
            format!(
                "{}: has {} test samples; --first {first} --samples {n} asks for more",
                files.test_images.display(),
                test.len()
            )
        })?;
    let len = test.sample_len();
    if len != model.input_len() {
        bail!(
            "{}: samples have {len} values, the model's input {:?} has {}",
            files.test_images.display(),
            model.input_shape(),
            shape_len(model.input_shape())
        );
    }
    if let Some(t) = (0..model.tensor_count())
        .filter_map(|i| model.tensor(i))
        .find(|t| t.dtype == DType::F16)
    {
        bail!(
            "embedding samples needs the host's outputs, computed here for f32 and int8 models; \
             this model holds {} tensors",
            t.dtype.name()
        );
    }
    let mut pixels = Vec::with_capacity(n * len);
    for i in first..end {
        // The data set holds `pixel / 255`; the exact byte is recovered by rounding.
        pixels.extend(
            test.sample(i)
                .iter()
                .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8),
        );
    }
    let labels = test.labels[first..end].to_vec();
    Samples::compute(model, first, pixels, labels)
}
