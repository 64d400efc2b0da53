//! Reads f32 ONNX models as PyTorch's exporter writes them and hands the
//! importer a validated, simplified graph.
//!
//! - [`load`] reads a `.onnx` file; [`parse`] reads bytes.
//! - The protobuf is decoded by prost from code generated out of
//!   `proto/onnx.proto` and committed (`src/proto/onnx.rs`): the build needs
//!   no protoc and no code generator. `tools/onnx-proto-gen` regenerates it
//!   (see [`proto`]).
//! - At load, the shape arithmetic around the compute ops (Shape, Gather,
//!   Constant, ConstantOfShape, Concat, Unsqueeze, Squeeze, Cast, Range,
//!   Slice, Reshape on constants) is evaluated and becomes initializers;
//!   Identity and Dropout are removed. What remains are nodes of
//!   [`SUPPORTED_OPS`] in topological order.
//! - Every malformed or hostile input gives an [`OnnxError`] naming the
//!   tensor or node; sizes are checked against the file before allocating;
//!   external data is read only from inside the model's folder.
//!
//! See `README.md` beside this crate for how ONNX layouts map to myelin's.

#![deny(missing_docs)]

mod error;
mod eval;
mod external;
mod fold;
mod graph;
mod ops;
pub mod proto;
mod read;
mod tensor;
mod topo;

pub use error::OnnxError;
pub use graph::{Attribute, Dim, Node, OnnxGraph, ValueInfo};
pub use ops::{SUPPORTED_OPS, integer_input};
pub use read::{MAX_OPSET, MIN_OPSET};
pub use tensor::{MAX_ELEMENTS, Tensor, TensorData};

use prost::Message;
use std::collections::HashSet;
use std::path::Path;

/// Reads, validates and folds the ONNX model at `path`. External tensor data
/// is read from the model's folder only.
pub fn load(path: &Path) -> Result<OnnxGraph, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    parse(&bytes, dir)
}

/// Reads, validates and folds an ONNX model from `bytes`. `model_dir` is the
/// folder external tensor data is read from; with `None` a model with
/// external data is refused.
pub fn parse(bytes: &[u8], model_dir: Option<&Path>) -> Result<OnnxGraph, OnnxError> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    let source = external::DataSource { model_dir };
    let raw = read::read(&model, &source)?;
    drop(model);
    let mut available: HashSet<String> = raw.initializers.keys().cloned().collect();
    available.extend(raw.inputs.iter().map(|v| v.name.clone()));
    let nodes = topo::sort(raw.nodes, &available)?;
    let folded = fold::fold(
        nodes,
        raw.initializers,
        &raw.inputs,
        &raw.outputs,
        bytes.len(),
    )?;
    Ok(OnnxGraph {
        ir_version: raw.ir_version,
        opset: raw.opset,
        producer: raw.producer,
        inputs: raw.inputs,
        outputs: raw.outputs,
        initializers: folded.initializers,
        nodes: folded.nodes,
    })
}
