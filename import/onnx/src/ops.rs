//! The compute ops the importer translates, and which of their inputs are
//! integer arguments (shapes, axes, indices) rather than f32 tensors.

/// The op types that may remain after folding; any other is an
/// [`OnnxError::UnsupportedOp`](crate::OnnxError::UnsupportedOp).
/// Gather is there for PyTorch's indexing (`y[:, -1]`) with constant indices.
pub const SUPPORTED_OPS: &[&str] = &[
    "Gemm",
    "MatMul",
    "Add",
    "Conv",
    "BatchNormalization",
    "Relu",
    "Clip",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "Concat",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "LSTM",
    "Gather",
];

/// True when input `index` of `op_type` holds integers (a shape, axes,
/// indices or sequence lengths) rather than an f32 tensor.
pub fn integer_input(op_type: &str, index: usize) -> bool {
    matches!(
        (op_type, index),
        (
            "Reshape" | "Squeeze" | "Unsqueeze" | "ReduceMean" | "Gather",
            1
        ) | ("LSTM", 4)
    )
}
