//! The one error type of the reader: every message says what is wrong and
//! where (the file, the tensor, or the node by name and op type).

use std::path::PathBuf;

/// Why an ONNX file could not be read, validated or folded.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The model file (or an external data file) could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The bytes are not a well-formed ONNX protobuf.
    #[error("not a valid ONNX protobuf: {0}")]
    Decode(String),
    /// The operator-set versions are missing or outside what is supported.
    #[error("opset: {0}")]
    Opset(String),
    /// A graph-level problem: inputs, outputs, duplicate names.
    #[error("graph: {0}")]
    Graph(String),
    /// A tensor (initializer or attribute) is malformed or of an unsupported type.
    #[error("tensor `{tensor}`: {reason}")]
    Tensor {
        /// The tensor's name (empty when it has none).
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor stored outside the model file that cannot be read safely.
    #[error("tensor `{tensor}`: external data: {reason}")]
    ExternalData {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A node is malformed, or cannot be folded or imported.
    #[error("node `{name}` ({op_type}): {reason}")]
    Node {
        /// The node's name (empty when it has none).
        name: String,
        /// The node's op type.
        op_type: String,
        /// What is wrong.
        reason: String,
    },
    /// A node's op type is not one the importer translates.
    #[error("node `{name}`: unsupported op `{op_type}` (supported: {})", crate::SUPPORTED_OPS.join(", "))]
    UnsupportedOp {
        /// The node's name.
        name: String,
        /// The op type.
        op_type: String,
    },
}

impl OnnxError {
    /// A tensor error.
    pub(crate) fn tensor(tensor: &str, reason: impl Into<String>) -> Self {
        Self::Tensor {
            tensor: tensor.to_string(),
            reason: reason.into(),
        }
    }

    /// An external-data error.
    pub(crate) fn external(tensor: &str, reason: impl Into<String>) -> Self {
        Self::ExternalData {
            tensor: tensor.to_string(),
            reason: reason.into(),
        }
    }

    /// A graph-level error.
    pub(crate) fn graph(reason: impl Into<String>) -> Self {
        Self::Graph(reason.into())
    }

    /// Restates a tensor error found inside a node (a Constant's value, a
    /// tensor attribute) as an error of that node.
    pub(crate) fn in_node(self, name: &str, op_type: &str) -> Self {
        match self {
            e @ (Self::Node { .. } | Self::UnsupportedOp { .. }) => e,
            e => Self::Node {
                name: name.to_string(),
                op_type: op_type.to_string(),
                reason: e.to_string(),
            },
        }
    }
}
