//! The verified description of a TFLite subgraph [`crate::parse`] returns.

use crate::op_names::BUILTIN_NAMES;
use crate::schema::tflite::{BuiltinOperator, TensorType};

/// A verified model: its one subgraph's tensors and operators.
#[derive(Debug, Clone)]
pub struct TfModel<'a> {
    /// Every tensor of the subgraph, by index.
    pub tensors: Vec<TensorInfo<'a>>,
    /// The operators in execution order.
    pub operators: Vec<Operator>,
    /// Indices of the subgraph's input tensors.
    pub inputs: Vec<usize>,
    /// Indices of the subgraph's output tensors.
    pub outputs: Vec<usize>,
}

/// One tensor.
#[derive(Debug, Clone)]
pub struct TensorInfo<'a> {
    /// Its name (may be empty).
    pub name: String,
    /// Element type.
    pub dtype: TensorType,
    /// Dimensions, outermost first (TFLite images are `[N, H, W, C]`).
    pub shape: Vec<usize>,
    /// Constant data (little-endian elements, exactly the shape's size), or
    /// `None` for activations.
    pub data: Option<&'a [u8]>,
    /// Affine quantization, if any.
    pub quant: Option<Quant>,
}

impl TensorInfo<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements (never, after verification).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The data as `i8`s, if it is a constant `INT8` tensor.
    pub fn i8_data(&self) -> Option<Vec<i8>> {
        (self.dtype == TensorType::Int8)
            .then_some(self.data?)
            .map(|d| d.iter().map(|&b| b as i8).collect())
    }

    /// The data as `i32`s, if it is a constant `INT32` tensor.
    pub fn i32_data(&self) -> Option<Vec<i32>> {
        (self.dtype == TensorType::Int32)
            .then_some(self.data?)
            .map(|d| {
                d.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            })
    }
}

/// Affine quantization: `real = scale[c] * (q - zero_point[c])` along
/// `axis` (one entry: per tensor).
#[derive(Debug, Clone, PartialEq)]
pub struct Quant {
    /// Scales, positive and finite.
    pub scale: Vec<f32>,
    /// Zero points, as many as scales.
    pub zero_point: Vec<i64>,
    /// The quantized dimension (per channel); `0` per tensor.
    pub axis: usize,
}

/// One operator.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Its index in execution order.
    pub index: usize,
    /// The builtin code (a custom op is refused by [`crate::parse`]).
    pub code: i32,
    /// Input tensor indices; `None` for an omitted optional input.
    pub inputs: Vec<Option<usize>>,
    /// Output tensor indices.
    pub outputs: Vec<usize>,
    /// The options the importer reads.
    pub options: Options,
}

impl Operator {
    /// TFLite's name of the op, e.g. `CONV_2D`.
    pub fn name(&self) -> String {
        op_name(self.code)
    }

    /// The op as the generated enum, if the code is one the schema knows.
    pub fn builtin(&self) -> Option<BuiltinOperator> {
        BuiltinOperator::try_from(self.code).ok()
    }
}

/// TFLite's name of builtin operator `code`, or `BUILTIN_<code>` for a code
/// the schema does not know.
pub fn op_name(code: i32) -> String {
    BUILTIN_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| format!("BUILTIN_{code}"), |(_, n)| (*n).to_string())
}

/// TFLite padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// `out = ceil(in / stride)`, the total padding split with the extra
    /// row or column after.
    Same,
    /// No padding.
    Valid,
}

/// A fused activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `clamp(x, -1, 1)`.
    ReluN1To1,
    /// `clamp(x, 0, 6)`.
    Relu6,
    /// `tanh`.
    Tanh,
    /// The sign bit.
    SignBit,
}

/// The options of the operators the importer translates.
#[derive(Debug, Clone, PartialEq)]
pub enum Options {
    /// No options, or options of an op the importer does not read.
    None,
    /// `CONV_2D`.
    Conv2d {
        /// Padding.
        padding: Padding,
        /// `[height, width]` strides.
        stride: [usize; 2],
        /// `[height, width]` dilations.
        dilation: [usize; 2],
        /// Fused activation.
        activation: Activation,
    },
    /// `DEPTHWISE_CONV_2D`.
    DepthwiseConv2d {
        /// Padding.
        padding: Padding,
        /// `[height, width]` strides.
        stride: [usize; 2],
        /// `[height, width]` dilations.
        dilation: [usize; 2],
        /// Output channels per input channel.
        depth_multiplier: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// `AVERAGE_POOL_2D`, `MAX_POOL_2D`.
    Pool2d {
        /// Padding.
        padding: Padding,
        /// `[height, width]` strides.
        stride: [usize; 2],
        /// `[height, width]` window.
        filter: [usize; 2],
        /// Fused activation.
        activation: Activation,
    },
    /// `FULLY_CONNECTED`.
    FullyConnected {
        /// Fused activation.
        activation: Activation,
        /// Whether the output keeps the input's leading dimensions.
        keep_num_dims: bool,
        /// Whether the weights are in the default (not shuffled) format.
        default_weights: bool,
    },
    /// `ADD`.
    Add {
        /// Fused activation.
        activation: Activation,
    },
    /// `SOFTMAX`.
    Softmax {
        /// The exponent's multiplier.
        beta: f32,
    },
    /// `CONCATENATION`.
    Concatenation {
        /// The joined axis (negative: from the end).
        axis: i32,
        /// Fused activation.
        activation: Activation,
    },
    /// `MEAN`.
    Reducer {
        /// Whether reduced dimensions are kept as 1.
        keep_dims: bool,
    },
}
