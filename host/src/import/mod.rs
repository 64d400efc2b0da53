//! `myelin import`: a model from another framework becomes a myelin model
//! file. The format is told by the content: bytes 4..8 `TFL3` are TFLite
//! ([`tflite`], int8); ONNX files ([`onnx`], f32) are recognised by their
//! extension.

pub mod onnx;
pub mod tflite;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::checkpoint::{check_writable, write_atomic};

/// Arguments of `myelin import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The model to import: a TFLite flatbuffer (int8, one subgraph) or an
    /// ONNX file (f32, `.onnx`).
    pub model: PathBuf,
    /// Where to write the myelin model file.
    #[arg(long, value_name = "FILE.myl")]
    pub out: PathBuf,
    /// Memory plan of an int8 file: `free` (in-place writes only where they
    /// cost nothing) or `smallest` (depthwise, 1x1 and elementwise nodes
    /// over their input too: the smallest arena, a few copies more).
    #[arg(long, value_enum, default_value_t = PlanArg::Free)]
    pub plan: PlanArg,
}

/// The memory plans `--plan` accepts (`myelin_core::model::plan::Placement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PlanArg {
    /// Only in-place writes that move nothing (reshapes).
    #[default]
    Free,
    /// Every in-place write a node allows.
    Smallest,
}

/// The formats `myelin import` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TFLite flatbuffer (`TFL3` at bytes 4..8).
    Tflite,
    /// ONNX protobuf (by the `.onnx` extension).
    Onnx,
}

/// The format of `bytes` read from `path`, or `None`.
pub fn detect(path: &Path, bytes: &[u8]) -> Option<Format> {
    if bytes.get(4..8) == Some(b"TFL3") {
        return Some(Format::Tflite);
    }
    let onnx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    onnx.then_some(Format::Onnx)
}

/// The model file that `bytes` (read from `path`) import as.
pub fn import_bytes(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let p = path.display();
    match detect(path, bytes) {
        Some(Format::Tflite) => {
            let m = myelin_tflite::parse(bytes).with_context(|| format!("{p}"))?;
            let imported = tflite::translate(&m).with_context(|| format!("{p}"))?;
            imported.encode().with_context(|| format!("{p}"))
        }
        Some(Format::Onnx) => {
            onnx::import_bytes(bytes, path.parent()).with_context(|| format!("{p}"))
        }
        None => bail!("{p}: not a model myelin imports (a TFLite file has \"TFL3\" at bytes 4..8)"),
    }
}

/// Replaces the memory plan of the int8 model file in `bytes` by the
/// smallest one (`Placement::Smallest`).
pub fn replan_smallest(bytes: &mut [u8]) -> Result<()> {
    use myelin_core::model::{Arithmetic, Model, plan};
    let m = Model::parse(bytes)?;
    if m.arithmetic() != Arithmetic::Int8 {
        bail!("`--plan smallest` plans int8 activations; this model is float");
    }
    let mut work = vec![0usize; 2 * (m.layer_count() + 1)];
    plan::write_plan_for(bytes, plan::Placement::Smallest, &mut work)?;
    Ok(())
}

/// `myelin import MODEL --out FILE [--plan free|smallest]`.
pub fn run(a: &ImportArgs) -> Result<()> {
    check_writable(&a.out)?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("{}: cannot read", a.model.display()))?;
    let mut out = import_bytes(&a.model, &bytes)?;
    if a.plan == PlanArg::Smallest {
        replan_smallest(&mut out).with_context(|| format!("{}", a.model.display()))?;
    }
    write_atomic(&a.out, &out)?;
    let m = myelin_core::model::Model::parse(&out)
        .with_context(|| format!("{}: written file does not parse", a.out.display()))?;
    println!(
        "imported {} -> {}: {} nodes, {} parameters, {} bytes",
        a.model.display(),
        a.out.display(),
        m.layer_count(),
        m.param_count(),
        out.len()
    );
    Ok(())
}
