//! The one error type of the reader: every message says what is wrong and
//! where (the file, the tensor or the operator by index).

use std::path::PathBuf;

/// Why a TFLite file could not be read or verified.
#[derive(Debug, thiserror::Error)]
pub enum TfliteError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Bytes 4..8 are not the TFLite file identifier `TFL3`.
    #[error("not a TFLite model: bytes 4..8 are {found:?}, not \"TFL3\"")]
    Identifier {
        /// The bytes found (fewer when the file is shorter).
        found: Vec<u8>,
    },
    /// The flatbuffer is malformed: an offset or length points outside the
    /// file, a required field is missing, or a value is out of its range.
    #[error("malformed TFLite flatbuffer: {0}")]
    Flatbuffer(String),
    /// A model-level problem: schema version, subgraphs, inputs, outputs.
    #[error("model: {0}")]
    Model(String),
    /// A tensor is malformed: shape, type, buffer or quantization.
    #[error("tensor {index} `{name}`: {reason}")]
    Tensor {
        /// Index in the subgraph's tensor table.
        index: usize,
        /// The tensor's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An operator is malformed: its code, tensor indices or options.
    #[error("operator {index} ({op}): {reason}")]
    Operator {
        /// Index in the subgraph's operator list (execution order).
        index: usize,
        /// TFLite's name of the op.
        op: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<planus::Error> for TfliteError {
    fn from(e: planus::Error) -> Self {
        TfliteError::Flatbuffer(e.to_string())
    }
}
