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

/// `myelin import MODEL --out FILE`.
pub fn run(a: &ImportArgs) -> Result<()> {
    check_writable(&a.out)?;
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("{}: cannot read", a.model.display()))?;
    let out = import_bytes(&a.model, &bytes)?;
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
