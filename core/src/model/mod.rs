//! The model file format (v3, reading v1 and v2 too): header, node table,
//! tensor table, tensor data, CRC-32. A model is a directed acyclic graph of
//! nodes ("layers"), each reading the model input or earlier nodes' outputs
//! (see [`graph`]); a chain is the graph whose nodes each read the previous one. [`Model::parse`] validates a file in place and
//! hands out views into it, without copying; [`encode`] and [`encode_int8`]
//! write one into a caller's buffer. The byte layout is specified in
//! `docs/model-format.md`.
//!
//! A model is either float (f32 or f16 tensors, computed in f32:
//! [`Model::infer`]) or int8 (i8 weights, i32 biases, fixed-point
//! multipliers, a scale and zero point per activation tensor; integers only:
//! [`Model::infer_int8`]).
//!
//! Parsing never panics and never reads out of bounds, whatever the input:
//! every offset, count and size is checked (with overflow checks) before use.

mod arena;
mod crc;
pub mod graph;
mod in_place;
mod infer;
mod int8;
pub mod plan;
mod slots;

pub use arena::arena_len;
pub use crc::{Crc32, crc32};
pub use graph::MAX_INPUTS;
pub use infer::scratch_len;
pub use int8::{Int8ScratchLen, int8_scratch_len};
pub use plan::in_place_bound as arena_in_place_bound;
pub use plan::lower_bound as arena_lower_bound;

use crate::Error;
use crate::quant::{ActQuant, Requant};

/// The first eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"MYELINMF";
/// The format version this module writes (and the newest it reads).
pub const VERSION: u16 = 3;
/// The oldest format version [`Model::parse`] reads.
pub const MIN_VERSION: u16 = 1;
/// Bytes in the header.
pub const HEADER_LEN: usize = 48;
/// Bytes in one layer-table entry (version 3).
pub const LAYER_ENTRY_LEN: usize = 128;
/// Bytes in one layer-table entry of a version 2 file.
pub const LAYER_ENTRY_LEN_V2: usize = 96;
/// Bytes in one layer-table entry of a version 1 file.
pub const LAYER_ENTRY_LEN_V1: usize = 64;
/// Bytes in one tensor-table entry.
pub const TENSOR_ENTRY_LEN: usize = 48;
/// Tensor data starts at file offsets that are multiples of this.
pub const DATA_ALIGN: usize = 16;
/// Bytes of quantization metadata per channel: one `f32` scale (version 2).
pub const QUANT_CHANNEL_LEN: usize = 4;
/// Bytes of quantization metadata per channel in a version 1 file (scale,
/// zero point, multiplier, shift).
pub const QUANT_CHANNEL_LEN_V1: usize = 16;
/// Largest element count of one activation or tensor shape.
pub const MAX_ELEMENTS: usize = 1 << 28;
/// Number of `u32` kind-specific parameters of a node (version 3; version
/// 1 and 2 entries store 6, read into the canonical layout of [`graph::p`]).
pub const PARAMS: usize = 9;
/// Parameters a version 1 or 2 entry stores.
const PARAMS_V2: usize = 6;

/// Header flag: the file carries a static memory plan of its int8
/// activations (see [`plan`]).
pub const FLAG_PLANNED: u32 = 1;
/// Header flag (int8 files): callers give float inputs, quantized to the
/// input codes as TFLite's `QUANTIZE` does ([`Model::quantize_input`]).
pub const FLAG_FLOAT_INPUT: u32 = 2;
/// Header flag (int8 files): callers get float outputs, dequantized from the
/// output codes as TFLite's `DEQUANTIZE` does ([`Model::dequantize_output`]).
pub const FLAG_FLOAT_OUTPUT: u32 = 4;
/// Every header flag this version knows.
const KNOWN_FLAGS: u32 = FLAG_PLANNED | FLAG_FLOAT_INPUT | FLAG_FLOAT_OUTPUT;

// Header field offsets.
const H_VERSION: usize = 8;
const H_HEADER_LEN: usize = 10;
const H_FLAGS: usize = 12;
const H_FILE_LEN: usize = 16;
const H_LAYERS: usize = 20;
const H_TENSORS: usize = 24;
const H_INPUT: usize = 28;
const H_ARITH: usize = 40;
const H_IO_LAYOUT: usize = 44;

// Layer entry field offsets.
const L_KIND: usize = 0;
const L_ACT: usize = 2;
const L_FLAGS: usize = 3;
const L_FIRST: usize = 4;
const L_COUNT: usize = 8;
const L_IN: usize = 12;
const L_OUT: usize = 24;
const L_PARAMS: usize = 36;
const L_RESERVED: usize = 60;
const L_IN_SCALE: usize = 64;
const L_IN_ZP: usize = 68;
const L_OUT_SCALE: usize = 72;
const L_OUT_ZP: usize = 76;
const L_QRESERVED: usize = 80;
const L_INPUT_COUNT: usize = 96;
const L_INPUTS: usize = 100;
const L_PARAMS_EXT: usize = 116;
// Memory plan (files with `FLAG_PLANNED`): each node's output offset in the
// arena at `L_RESERVED`; node 0 also holds the input's offset, the arena
// length and the in-place scratch length in the first three words of
// `L_QRESERVED`.
const L_PLAN_OUT: usize = L_RESERVED;
const L_PLAN_INPUT: usize = L_QRESERVED;
const L_PLAN_ARENA: usize = L_QRESERVED + 4;
const L_PLAN_SCRATCH: usize = L_QRESERVED + 8;

// Tensor entry field offsets.
const T_DTYPE: usize = 0;
const T_RANK: usize = 1;
const T_QUANT: usize = 2;
const T_FLAGS: usize = 3;
const T_DIMS: usize = 4;
const T_OFFSET: usize = 20;
const T_LEN: usize = 24;
const T_QOFFSET: usize = 28;
const T_QLEN: usize = 32;
const T_RESERVED: usize = 36;

/// An activation shape: channels, height, width. A flat vector of `n` is `[1, 1, n]`.
pub type Shape = [usize; 3];

/// Elements in a shape.
pub fn shape_len(s: Shape) -> usize {
    s[0].saturating_mul(s[1]).saturating_mul(s[2])
}

/// What a layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LayerKind {
    /// `y = W x + b` over the flattened input. Tensors: `W [OUT, IN]`, `b [OUT]`.
    Dense,
    /// 2-D convolution. Params: kernel height, kernel width, stride, padding.
    /// Tensors: `W [OUT_C, IN_C, KH, KW]`, `b [OUT_C]`.
    Conv2d,
    /// Max pooling. Params: window size, stride.
    MaxPool2d,
    /// Average pooling. Params: window size, stride.
    AvgPool2d,
    /// LSTM over `[1, STEPS, FEATURES]`, output the last hidden state `[1, 1, HIDDEN]`.
    /// Params: hidden size. Tensors: `W_ih [4H, F]`, `W_hh [4H, H]`, `b [4H]`,
    /// gates in the order input, forget, cell, output.
    Lstm,
    /// The layer's activation alone (shape unchanged).
    Activation,
    /// Elementwise sum of 2 to 4 inputs of one shape (a residual join).
    Add,
    /// Channel concatenation of 2 to 4 inputs of equal height and width.
    Concat,
    /// Mean over height and width: `[C, H, W]` to `[C, 1, 1]`.
    GlobalAvgPool,
    /// Batch normalization with running statistics (float models; folded into
    /// the preceding conv2d or dense when quantized). Params: epsilon (`f32`
    /// bits). Tensors: `gamma [C]`, `beta [C]`, `mean [C]`, `var [C]`.
    BatchNorm,
    /// The same elements under another shape (flatten).
    Reshape,
    /// Int8 only: each input code replaced by its entry in a 256-code table
    /// (an element-wise function such as TFLite's int8 `LOGISTIC` and
    /// `TANH`). Tensors: the table, `i8 [256]`, entry `k` for input code
    /// `k - 128`.
    Lookup,
}

impl LayerKind {
    /// The code stored in the file.
    pub const fn code(self) -> u16 {
        match self {
            LayerKind::Dense => 1,
            LayerKind::Conv2d => 2,
            LayerKind::MaxPool2d => 3,
            LayerKind::AvgPool2d => 4,
            LayerKind::Lstm => 5,
            LayerKind::Activation => 6,
            LayerKind::Add => 7,
            LayerKind::Concat => 8,
            LayerKind::GlobalAvgPool => 9,
            LayerKind::BatchNorm => 10,
            LayerKind::Reshape => 11,
            LayerKind::Lookup => 12,
        }
    }

    /// The kind stored as `code`, if known.
    pub const fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1 => LayerKind::Dense,
            2 => LayerKind::Conv2d,
            3 => LayerKind::MaxPool2d,
            4 => LayerKind::AvgPool2d,
            5 => LayerKind::Lstm,
            6 => LayerKind::Activation,
            7 => LayerKind::Add,
            8 => LayerKind::Concat,
            9 => LayerKind::GlobalAvgPool,
            10 => LayerKind::BatchNorm,
            11 => LayerKind::Reshape,
            12 => LayerKind::Lookup,
            _ => return None,
        })
    }

    /// A lower-case name (`dense`, `conv2d`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            LayerKind::Dense => "dense",
            LayerKind::Conv2d => "conv2d",
            LayerKind::MaxPool2d => "maxpool2d",
            LayerKind::AvgPool2d => "avgpool2d",
            LayerKind::Lstm => "lstm",
            LayerKind::Activation => "activation",
            LayerKind::Add => "add",
            LayerKind::Concat => "concat",
            LayerKind::GlobalAvgPool => "global_avgpool",
            LayerKind::BatchNorm => "batchnorm",
            LayerKind::Reshape => "reshape",
            LayerKind::Lookup => "lookup",
        }
    }

    /// Number of tensors a layer of this kind owns.
    pub const fn tensor_count(self) -> usize {
        match self {
            LayerKind::Dense | LayerKind::Conv2d => 2,
            LayerKind::Lstm => 3,
            LayerKind::BatchNorm => 4,
            _ => 0,
        }
    }
}

/// The activation applied to a layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Activation {
    /// `y = x`.
    Identity,
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// Softmax over the whole output.
    Softmax,
    /// `min(max(0, x), 6)`.
    Relu6,
}

impl Activation {
    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Sigmoid => 2,
            Activation::Tanh => 3,
            Activation::Softmax => 4,
            Activation::Relu6 => 5,
        }
    }

    /// The activation stored as `code`, if known.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Activation::Identity,
            1 => Activation::Relu,
            2 => Activation::Sigmoid,
            3 => Activation::Tanh,
            4 => Activation::Softmax,
            5 => Activation::Relu6,
            _ => return None,
        })
    }

    /// A lower-case name (`relu`, `sigmoid`, ...; `none` for identity).
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Identity => "none",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::Relu6 => "relu6",
        }
    }
}

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DType {
    /// IEEE 754 binary32, little-endian.
    F32,
    /// IEEE 754 binary16, little-endian (storage only).
    F16,
    /// Signed 8-bit integer, with quantization metadata.
    I8,
    /// Signed 32-bit integer, little-endian, with quantization metadata (int8 biases).
    I32,
    /// Fixed-point multipliers ([`Requant`]: `i32` multiplier, `i32` shift,
    /// little-endian), one per output channel of an int8 layer (version 2).
    Requant,
}

impl DType {
    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            DType::F32 => 1,
            DType::F16 => 2,
            DType::I8 => 3,
            DType::I32 => 4,
            DType::Requant => 5,
        }
    }

    /// The dtype stored as `code`, if known.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => DType::F32,
            2 => DType::F16,
            3 => DType::I8,
            4 => DType::I32,
            5 => DType::Requant,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 => 2,
            DType::I8 => 1,
            DType::Requant => 8,
        }
    }

    /// A lower-case name (`f32`, `f16`, `i8`, `i32`).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I8 => "i8",
            DType::I32 => "i32",
            DType::Requant => "requant",
        }
    }

    /// Whether tensors of this type carry quantization metadata.
    pub const fn is_quantized(self) -> bool {
        matches!(self, DType::I8 | DType::I32)
    }
}

/// How a model's callers lay out its input and output samples (header field
/// 44). Inference always computes channel-major `[C, H, W]`; the field tells
/// tools such as `myelin run` to transpose samples given channel-last
/// (`[H, W, C]`, TFLite's images) on the way in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IoLayout {
    /// `[C, H, W]`, the layout inference uses (code 0; every version 1 and 2 file).
    ChannelMajor,
    /// `[H, W, C]` (code 1).
    ChannelLast,
}

impl IoLayout {
    /// The code stored in the header.
    pub const fn code(self) -> u32 {
        match self {
            IoLayout::ChannelMajor => 0,
            IoLayout::ChannelLast => 1,
        }
    }

    /// The layout stored as `code`, if known.
    pub const fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => IoLayout::ChannelMajor,
            1 => IoLayout::ChannelLast,
            _ => return None,
        })
    }
}

/// Sets the I/O layout of the model file in `bytes` (version 2 or 3) and
/// rewrites its checksum; the file is validated before and after.
pub fn set_io_layout(bytes: &mut [u8], layout: IoLayout) -> Result<(), Error> {
    if Model::parse(bytes)?.version() < 2 && layout != IoLayout::ChannelMajor {
        return Err(invalid(H_IO_LAYOUT, "version 1 files are channel-major"));
    }
    put(bytes, H_IO_LAYOUT, &layout.code().to_le_bytes())?;
    let body = bytes.len() - 4;
    let c = crc32(bytes.get(..body).unwrap_or(&[]));
    put(bytes, body, &c.to_le_bytes())?;
    Model::parse(bytes).map(|_| ())
}

/// Sets or clears the float input and output flags ([`FLAG_FLOAT_INPUT`],
/// [`FLAG_FLOAT_OUTPUT`]) of the int8 model file in `bytes` and rewrites its
/// checksum; the file is validated before and after.
pub fn set_float_io(bytes: &mut [u8], input: bool, output: bool) -> Result<(), Error> {
    Model::parse(bytes)?;
    let mut flags = u32_at(bytes, H_FLAGS)? & !(FLAG_FLOAT_INPUT | FLAG_FLOAT_OUTPUT);
    if input {
        flags |= FLAG_FLOAT_INPUT;
    }
    if output {
        flags |= FLAG_FLOAT_OUTPUT;
    }
    put(bytes, H_FLAGS, &flags.to_le_bytes())?;
    let body = bytes.len() - 4;
    let c = crc32(bytes.get(..body).unwrap_or(&[]));
    put(bytes, body, &c.to_le_bytes())?;
    Model::parse(bytes).map(|_| ())
}

/// How a model computes: in floating point, or with integers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Arithmetic {
    /// f32 (or f16-stored) tensors, computed in f32 ([`Model::infer`]).
    Float,
    /// int8 tensors, integer arithmetic only ([`Model::infer_int8`]).
    Int8,
}

impl Arithmetic {
    /// The code stored in the header.
    pub const fn code(self) -> u32 {
        match self {
            Arithmetic::Float => 0,
            Arithmetic::Int8 => 1,
        }
    }

    /// The arithmetic stored as `code`, if known.
    pub const fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Arithmetic::Float,
            1 => Arithmetic::Int8,
            _ => return None,
        })
    }

    /// A lower-case name (`float`, `int8`).
    pub const fn name(self) -> &'static str {
        match self {
            Arithmetic::Float => "float",
            Arithmetic::Int8 => "int8",
        }
    }
}

/// Quantization of an int8 layer's input and output activations.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayerQuant {
    /// Scale and zero point of the input (the previous layer's output).
    pub input: ActQuant,
    /// Scale and zero point of the output.
    pub output: ActQuant,
}

/// How the quantization metadata of an integer tensor is organized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QuantScheme {
    /// No metadata (float tensors).
    None,
    /// One record for the whole tensor.
    PerTensor,
    /// One record per slice of the first dimension (output channel).
    PerChannel,
}

impl QuantScheme {
    const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => QuantScheme::None,
            1 => QuantScheme::PerTensor,
            2 => QuantScheme::PerChannel,
            _ => return None,
        })
    }

    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        match self {
            QuantScheme::None => 0,
            QuantScheme::PerTensor => 1,
            QuantScheme::PerChannel => 2,
        }
    }
}

fn read<const N: usize>(b: &[u8], off: usize) -> Result<[u8; N], Error> {
    let end = off.checked_add(N).ok_or(Error::Truncated {
        offset: off,
        needed: N,
    })?;
    match b.get(off..end) {
        Some(s) => {
            let mut a = [0u8; N];
            a.copy_from_slice(s);
            Ok(a)
        }
        None => Err(Error::Truncated {
            offset: b.len(),
            needed: end - b.len().min(end),
        }),
    }
}

fn u8_at(b: &[u8], off: usize) -> Result<u8, Error> {
    read::<1>(b, off).map(|a| a[0])
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, Error> {
    read::<2>(b, off).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, Error> {
    read::<4>(b, off).map(u32::from_le_bytes)
}

fn usize_at(b: &[u8], off: usize) -> Result<usize, Error> {
    u32_at(b, off).map(|v| v as usize)
}

fn invalid(offset: usize, what: &'static str) -> Error {
    Error::InvalidField { offset, what }
}

fn shape_at(b: &[u8], off: usize) -> Result<Shape, Error> {
    let s = [
        usize_at(b, off)?,
        usize_at(b, off + 4)?,
        usize_at(b, off + 8)?,
    ];
    if s.contains(&0) {
        return Err(invalid(off, "zero dimension in a shape"));
    }
    let mut n: usize = 1;
    for d in s {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or(invalid(off, "shape too large"))?;
    }
    Ok(s)
}

/// A validated model file, borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    bytes: &'a [u8],
    version: u16,
    arithmetic: Arithmetic,
    layers: usize,
    tensors: usize,
    input: Shape,
    io_layout: IoLayout,
    planned: bool,
    /// Header flags [`FLAG_FLOAT_INPUT`], [`FLAG_FLOAT_OUTPUT`].
    float_io: [bool; 2],
}

/// One entry of the layer table.
#[derive(Debug, Clone, Copy)]
pub struct LayerView<'a> {
    model: Model<'a>,
    /// Position in the layer table.
    pub index: usize,
    /// What the layer computes.
    pub kind: LayerKind,
    /// Activation applied to the output.
    pub activation: Activation,
    /// Input shape.
    pub in_shape: Shape,
    /// Output shape.
    pub out_shape: Shape,
    /// Kind-specific parameters in the canonical layout of [`graph::p`]
    /// (see [`LayerKind`]); unused ones are zero.
    pub params: [u32; PARAMS],
    /// Input and output quantization (int8 models only; the input is the
    /// first input's).
    pub quant: Option<LayerQuant>,
    inputs: [usize; MAX_INPUTS],
    input_count: usize,
    first_tensor: usize,
    tensor_count: usize,
}

/// Quantization metadata of one integer tensor: per channel a scale (`f32`,
/// real value = scale x q); version 1 records also hold a zero point, a
/// fixed-point multiplier and a shift.
#[derive(Debug, Clone, Copy)]
pub struct QuantView<'a> {
    /// How the records map to the tensor.
    pub scheme: QuantScheme,
    bytes: &'a [u8],
    record_len: usize,
}

impl QuantView<'_> {
    /// Number of records.
    pub fn channels(&self) -> usize {
        self.bytes.len() / self.record_len
    }

    fn field(&self, c: usize, f: usize) -> Option<[u8; 4]> {
        if f >= self.record_len {
            return None;
        }
        read::<4>(self.bytes, c.checked_mul(self.record_len)?.checked_add(f)?).ok()
    }

    /// Scale of channel `c`.
    pub fn scale(&self, c: usize) -> Option<f32> {
        self.field(c, 0).map(f32::from_le_bytes)
    }

    /// Zero point of channel `c` (version 1 records only).
    pub fn zero_point(&self, c: usize) -> Option<i32> {
        self.field(c, 4).map(i32::from_le_bytes)
    }

    /// Fixed-point requantization multiplier of channel `c` (version 1 records only).
    pub fn multiplier(&self, c: usize) -> Option<i32> {
        self.field(c, 8).map(i32::from_le_bytes)
    }

    /// Requantization shift of channel `c` (version 1 records only).
    pub fn shift(&self, c: usize) -> Option<i32> {
        self.field(c, 12).map(i32::from_le_bytes)
    }
}

/// One tensor: its type, dimensions and bytes inside the file.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    /// Element type.
    pub dtype: DType,
    /// Number of dimensions (1 to 4).
    pub rank: usize,
    /// Dimensions, outermost first; entries past `rank` are zero.
    pub dims: [usize; 4],
    /// The raw little-endian elements.
    pub data: &'a [u8],
    /// Quantization metadata (integer tensors only).
    pub quant: Option<QuantView<'a>>,
}

impl<'a> TensorView<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// True when the tensor has no elements (never, for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The dimensions that are in use.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.rank.min(4)]
    }

    /// Element `i` of an `f32` tensor.
    pub fn f32_at(&self, i: usize) -> Option<f32> {
        if self.dtype != DType::F32 {
            return None;
        }
        read::<4>(self.data, i.checked_mul(4)?)
            .ok()
            .map(f32::from_le_bytes)
    }

    /// Copies an `f32` tensor into `out`, which must hold exactly [`Self::len`] values.
    pub fn read_f32(&self, out: &mut [f32]) -> Result<(), Error> {
        if self.dtype != DType::F32 {
            return Err(Error::Unsupported {
                what: "reading a non-f32 tensor as f32",
            });
        }
        if out.len() != self.len() {
            return Err(Error::ShapeMismatch {
                expected: self.len(),
                found: out.len(),
            });
        }
        for (o, c) in out.iter_mut().zip(self.data.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }

    /// The elements of an `f32` tensor as a slice into the file, when the
    /// file's bytes are 4-byte aligned in memory on a little-endian target;
    /// `None` otherwise (use [`Self::read_f32`] then).
    pub fn as_f32(&self) -> Option<&'a [f32]> {
        if self.dtype != DType::F32 || cfg!(target_endian = "big") {
            return None;
        }
        // SAFETY: every bit pattern is a valid f32, and `align_to` only puts
        // correctly aligned, in-bounds elements in the middle slice.
        let (head, mid, tail) = unsafe { self.data.align_to::<f32>() };
        if head.is_empty() && tail.is_empty() {
            Some(mid)
        } else {
            None
        }
    }

    /// The elements of an `i8` tensor, in place (no alignment needed).
    pub fn as_i8(&self) -> Option<&'a [i8]> {
        if self.dtype != DType::I8 {
            return None;
        }
        // SAFETY: i8 and u8 have the same size and alignment and every bit
        // pattern is a valid i8; the slice covers exactly `self.data`.
        Some(unsafe {
            core::slice::from_raw_parts(self.data.as_ptr().cast::<i8>(), self.data.len())
        })
    }

    /// The elements of an `i32` tensor as a slice into the file, when the
    /// file's bytes are 4-byte aligned in memory on a little-endian target.
    pub fn as_i32(&self) -> Option<&'a [i32]> {
        if self.dtype != DType::I32 || cfg!(target_endian = "big") {
            return None;
        }
        // SAFETY: every bit pattern is a valid i32, and `align_to` only puts
        // correctly aligned, in-bounds elements in the middle slice.
        let (head, mid, tail) = unsafe { self.data.align_to::<i32>() };
        (head.is_empty() && tail.is_empty()).then_some(mid)
    }

    /// The fixed-point multipliers of a [`DType::Requant`] tensor as a slice
    /// into the file, when the file's bytes are 4-byte aligned in memory on a
    /// little-endian target.
    pub fn as_requant(&self) -> Option<&'a [Requant]> {
        if self.dtype != DType::Requant || cfg!(target_endian = "big") {
            return None;
        }
        // SAFETY: `Requant` is `repr(C)` with two `i32` fields (size 8,
        // alignment 4, no padding), so every bit pattern is valid; `align_to`
        // only puts correctly aligned, in-bounds elements in the middle slice.
        let (head, mid, tail) = unsafe { self.data.align_to::<Requant>() };
        (head.is_empty() && tail.is_empty()).then_some(mid)
    }

    /// Element `i` of a [`DType::Requant`] tensor, at any alignment.
    pub fn requant_at(&self, i: usize) -> Option<Requant> {
        if self.dtype != DType::Requant {
            return None;
        }
        let b = read::<8>(self.data, i.checked_mul(8)?).ok()?;
        Some(Requant {
            multiplier: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            shift: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Element `i` of an `i32` tensor, at any alignment.
    pub fn i32_at(&self, i: usize) -> Option<i32> {
        if self.dtype != DType::I32 {
            return None;
        }
        read::<4>(self.data, i.checked_mul(4)?)
            .ok()
            .map(i32::from_le_bytes)
    }

    /// Element `i` of an `f16` tensor as its bit pattern, at any alignment.
    pub fn f16_bits_at(&self, i: usize) -> Option<u16> {
        if self.dtype != DType::F16 {
            return None;
        }
        read::<2>(self.data, i.checked_mul(2)?)
            .ok()
            .map(u16::from_le_bytes)
    }

    /// The elements of an `f16` tensor as a slice into the file, when the
    /// file's bytes are 2-byte aligned in memory on a little-endian target.
    #[cfg(feature = "half")]
    pub fn as_f16(&self) -> Option<&'a [half::f16]> {
        if self.dtype != DType::F16 || cfg!(target_endian = "big") {
            return None;
        }
        // SAFETY: `half::f16` is a `repr(transparent)` `u16`, so every bit
        // pattern is valid; `align_to` only puts correctly aligned, in-bounds
        // elements in the middle slice.
        let (head, mid, tail) = unsafe { self.data.align_to::<half::f16>() };
        (head.is_empty() && tail.is_empty()).then_some(mid)
    }
}

impl<'a> LayerView<'a> {
    /// The values this node reads: `0` is the model input, `k` node `k - 1`'s
    /// output. A chain node reads `[index]`.
    pub fn inputs(&self) -> &[usize] {
        &self.inputs[..self.input_count]
    }

    /// Whether this node reads only the node before it (or the model input,
    /// for the first node).
    pub fn is_chained(&self) -> bool {
        self.inputs() == [self.index]
    }

    /// The window of a conv2d or pooling node.
    pub fn window(&self) -> Result<crate::kernels::Window2d, Error> {
        graph::window_of(self.in_shape, &self.params)
    }

    /// The geometry of a conv2d node.
    pub fn conv_geom(&self) -> Result<crate::kernels::ConvGeom, Error> {
        graph::conv_geom_of(self.in_shape, self.out_shape[0], &self.params)
    }

    /// Multiply-accumulates of one inference of this node (dense,
    /// conv2d and LSTM; 0 for the others).
    pub fn macs(&self) -> usize {
        match self.kind {
            LayerKind::Dense => shape_len(self.in_shape).saturating_mul(shape_len(self.out_shape)),
            LayerKind::Conv2d => self.conv_geom().map(|g| g.macs()).unwrap_or(0),
            LayerKind::Lstm => {
                let [_, steps, f] = self.in_shape;
                let h = self.params[graph::p::HIDDEN] as usize;
                steps.saturating_mul(4 * h).saturating_mul(f + h)
            }
            _ => 0,
        }
    }

    /// Number of tensors the layer owns.
    pub fn tensor_count(&self) -> usize {
        self.tensor_count
    }

    /// The layer's tensor `j` (for a dense layer: 0 weights, 1 bias).
    pub fn tensor(&self, j: usize) -> Option<TensorView<'a>> {
        if j >= self.tensor_count {
            return None;
        }
        self.model.tensor(self.first_tensor.checked_add(j)?)
    }

    /// Parameters (elements of its weight and bias tensors) of this layer;
    /// [`DType::Requant`] tensors are quantization metadata and not counted.
    pub fn param_count(&self) -> usize {
        (0..self.tensor_count)
            .filter_map(|j| self.tensor(j))
            .filter(|t| t.dtype != DType::Requant)
            .map(|t| t.len())
            .sum()
    }
}

impl<'a> Model<'a> {
    /// Validates `bytes` as a model file: magic, version, length, CRC-32,
    /// every table entry, every tensor's bounds and alignment, and the shapes
    /// of consecutive layers. The whole slice must be the file.
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, Error> {
        let magic = read::<8>(bytes, 0)?;
        if magic != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = u16_at(bytes, H_VERSION)?;
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion { found: version });
        }
        // Need the full header and the trailing CRC.
        read::<{ HEADER_LEN + 4 }>(bytes, 0)?;
        let file_len = usize_at(bytes, H_FILE_LEN)?;
        if file_len > bytes.len() {
            return Err(Error::Truncated {
                offset: bytes.len(),
                needed: file_len - bytes.len(),
            });
        }
        if file_len < bytes.len() {
            return Err(invalid(H_FILE_LEN, "bytes after the declared file length"));
        }
        let body = bytes.len() - 4;
        let stored = u32_at(bytes, body)?;
        let computed = crc32(bytes.get(..body).unwrap_or(&[]));
        if stored != computed {
            return Err(Error::Checksum { stored, computed });
        }
        if usize::from(u16_at(bytes, H_HEADER_LEN)?) != HEADER_LEN {
            return Err(invalid(H_HEADER_LEN, "header length is not 48"));
        }
        let flags = u32_at(bytes, H_FLAGS)?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(invalid(H_FLAGS, "unknown header flags"));
        }
        let planned = flags & FLAG_PLANNED != 0;
        let float_io = [FLAG_FLOAT_INPUT, FLAG_FLOAT_OUTPUT].map(|f| flags & f != 0);
        // Version 1 reserves the arithmetic field: those files are float.
        let arithmetic = Arithmetic::from_code(u32_at(bytes, H_ARITH)?)
            .filter(|a| version > 1 || *a == Arithmetic::Float)
            .ok_or(invalid(H_ARITH, "unknown arithmetic"))?;
        // Version 1 reserves the I/O layout field: those files are channel-major.
        let io_layout = IoLayout::from_code(u32_at(bytes, H_IO_LAYOUT)?)
            .filter(|l| version > 1 || *l == IoLayout::ChannelMajor)
            .ok_or(invalid(H_IO_LAYOUT, "unknown I/O layout"))?;
        if planned && (version < 2 || arithmetic != Arithmetic::Int8) {
            return Err(invalid(H_FLAGS, "a memory plan needs an int8 file"));
        }
        if float_io.contains(&true) && (version < 2 || arithmetic != Arithmetic::Int8) {
            return Err(invalid(
                H_FLAGS,
                "float input or output flags need an int8 file",
            ));
        }
        let layers = usize_at(bytes, H_LAYERS)?;
        let tensors = usize_at(bytes, H_TENSORS)?;
        if layers == 0 {
            return Err(invalid(H_LAYERS, "a model needs at least one layer"));
        }
        let entry_len = entry_len(version);
        let tables_end = layers
            .checked_mul(entry_len)
            .and_then(|l| tensors.checked_mul(TENSOR_ENTRY_LEN)?.checked_add(l))
            .and_then(|t| t.checked_add(HEADER_LEN))
            .filter(|&e| e <= body)
            .ok_or(invalid(
                H_LAYERS,
                "layer and tensor tables do not fit the file",
            ))?;
        let input = shape_at(bytes, H_INPUT)?;
        let model = Model {
            bytes,
            version,
            arithmetic,
            layers,
            tensors,
            input,
            io_layout,
            planned,
            float_io,
        };
        for t in 0..tensors {
            model.check_tensor(t, tables_end, body)?;
        }
        let mut next_tensor = 0usize;
        for l in 0..layers {
            let view = model.read_layer(l)?;
            if view.first_tensor != next_tensor {
                return Err(invalid(
                    model.layer_offset(l) + L_FIRST,
                    "layer tensors are not stored in layer order",
                ));
            }
            next_tensor += view.tensor_count;
            let shape = model.value_shape(view.inputs[0])?;
            if view.in_shape != shape {
                return Err(Error::LayerShape {
                    layer: l,
                    expected: shape_len(shape),
                    found: shape_len(view.in_shape),
                });
            }
            check_layer(&view)?;
            if let Some(q) = view.quant {
                check_layer_quant(&view, q, model.value_quant(view.inputs[0])?)?;
            }
        }
        if next_tensor != tensors {
            return Err(invalid(H_TENSORS, "tensors not owned by any layer"));
        }
        if planned {
            let arena = usize_at(bytes, HEADER_LEN + L_PLAN_ARENA)?;
            if arena > MAX_ELEMENTS || !plan::check(&model, |v| model.value_offset(v), arena) {
                return Err(invalid(
                    HEADER_LEN + L_PLAN_ARENA,
                    "memory plan: a value outside the arena or over another live value",
                ));
            }
            let scratch = usize_at(bytes, HEADER_LEN + L_PLAN_SCRATCH)?;
            if scratch != plan::overwrite_scratch_len(&model) {
                return Err(invalid(
                    HEADER_LEN + L_PLAN_SCRATCH,
                    "memory plan: in-place scratch length differs from what its in-place nodes need",
                ));
            }
        }
        Ok(model)
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Shape of one input sample.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// Elements of one input sample.
    pub fn input_len(&self) -> usize {
        shape_len(self.input)
    }

    /// Elements of the model's output.
    pub fn output_len(&self) -> usize {
        self.layer(self.layers - 1)
            .map(|l| shape_len(l.out_shape))
            .unwrap_or(0)
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.layers
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors
    }

    /// Layer `i`, or `None` past the end.
    pub fn layer(&self, i: usize) -> Option<LayerView<'a>> {
        if i >= self.layers {
            return None;
        }
        self.read_layer(i).ok()
    }

    /// All layers in order.
    pub fn layers(&self) -> impl Iterator<Item = LayerView<'a>> + '_ {
        (0..self.layers).filter_map(|i| self.layer(i))
    }

    /// All tensors of the tensor table in order.
    pub fn tensors(&self) -> impl Iterator<Item = TensorView<'a>> + '_ {
        (0..self.tensors).filter_map(|i| self.tensor(i))
    }

    /// Tensor `i` of the tensor table, or `None` past the end.
    pub fn tensor(&self, i: usize) -> Option<TensorView<'a>> {
        if i >= self.tensors {
            return None;
        }
        self.read_tensor(i).ok()
    }

    /// Total parameters (weight and bias elements; [`DType::Requant`]
    /// tensors are not counted).
    pub fn param_count(&self) -> usize {
        (0..self.tensors)
            .filter_map(|i| self.tensor(i))
            .filter(|t| t.dtype != DType::Requant)
            .map(|t| t.len())
            .sum()
    }

    /// The file's format version ([`MIN_VERSION`] to [`VERSION`]).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Whether the model computes in float or with integers only.
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }

    /// How the model's callers lay out one sample's input and output.
    pub fn io_layout(&self) -> IoLayout {
        self.io_layout
    }

    /// Whether callers give this int8 model float inputs (header flag
    /// [`FLAG_FLOAT_INPUT`]): [`Model::quantize_input`] makes the codes.
    pub fn float_input(&self) -> bool {
        self.float_io[0]
    }

    /// Whether callers get float outputs from this int8 model (header flag
    /// [`FLAG_FLOAT_OUTPUT`]): [`Model::dequantize_output`] makes them.
    pub fn float_output(&self) -> bool {
        self.float_io[1]
    }

    /// The input codes of real inputs `x` (int8 models), as TFLite's
    /// reference `QUANTIZE`: `clamp(round(x / scale) + zero_point, -128,
    /// 127)`, the division in f32, rounding half away from zero.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a float model, [`Error::ShapeMismatch`]
    /// unless `x` and `codes` hold one input each.
    pub fn quantize_input(&self, x: &[f32], codes: &mut [i8]) -> Result<(), Error> {
        let q = self.input_quant().ok_or(Error::Unsupported {
            what: "quantizing the input of a float model",
        })?;
        for len in [x.len(), codes.len()] {
            if len != self.input_len() {
                return Err(Error::ShapeMismatch {
                    expected: self.input_len(),
                    found: len,
                });
            }
        }
        q.quantize_slice(x, codes);
        Ok(())
    }

    /// The real values of output codes (int8 models), as TFLite's reference
    /// `DEQUANTIZE`: `scale * (code - zero_point)` in f32.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a float model, [`Error::ShapeMismatch`]
    /// unless `codes` and `y` hold one output each.
    pub fn dequantize_output(&self, codes: &[i8], y: &mut [f32]) -> Result<(), Error> {
        let q = self.output_quant().ok_or(Error::Unsupported {
            what: "dequantizing the output of a float model",
        })?;
        for len in [codes.len(), y.len()] {
            if len != self.output_len() {
                return Err(Error::ShapeMismatch {
                    expected: self.output_len(),
                    found: len,
                });
            }
        }
        q.dequantize_slice(codes, y);
        Ok(())
    }

    /// Quantization of the model's input (int8 models): how to turn a real
    /// input into the codes [`Model::infer_int8`] takes.
    pub fn input_quant(&self) -> Option<ActQuant> {
        self.layer(0)?.quant.map(|q| q.input)
    }

    /// Quantization of the model's output (int8 models): how to read the
    /// codes [`Model::infer_int8`] returns.
    pub fn output_quant(&self) -> Option<ActQuant> {
        self.layer(self.layers.checked_sub(1)?)?
            .quant
            .map(|q| q.output)
    }

    fn layer_entry_len(&self) -> usize {
        entry_len(self.version)
    }

    /// Bytes of the activation arena fixed by the file's memory plan, if it
    /// has one (see [`plan`]).
    pub fn planned_arena(&self) -> Option<usize> {
        if !self.planned {
            return None;
        }
        usize_at(self.bytes, HEADER_LEN + L_PLAN_ARENA).ok()
    }

    /// `i8` elements of scratch the nodes a file's memory plan puts over
    /// their input need (after the arena; `0` without a plan or when only
    /// reshapes are planned over their input).
    pub fn planned_in_place_scratch(&self) -> usize {
        if !self.planned {
            return 0;
        }
        usize_at(self.bytes, HEADER_LEN + L_PLAN_SCRATCH).unwrap_or(0)
    }

    /// Offset of value `v` (`0` the input, `k` node `k - 1`'s output) in the
    /// planned arena; `None` without a plan or past the last node.
    pub fn value_offset(&self, v: usize) -> Option<usize> {
        if !self.planned || v > self.layers {
            return None;
        }
        let at = match v {
            0 => HEADER_LEN + L_PLAN_INPUT,
            _ => self.layer_offset(v - 1) + L_PLAN_OUT,
        };
        usize_at(self.bytes, at).ok()
    }

    /// Elements of value `v` (`0` the input, `k` node `k - 1`'s output).
    pub fn value_len(&self, v: usize) -> Option<usize> {
        self.value_shape(v).ok().map(shape_len)
    }

    /// Shape of value `r`: the model input (`0`) or node `r - 1`'s output.
    fn value_shape(&self, r: usize) -> Result<Shape, Error> {
        match r {
            0 => Ok(self.input),
            _ => Ok(self.read_layer(r - 1)?.out_shape),
        }
    }

    /// Quantization of value `r` (`None` for the model input or a float model).
    fn value_quant(&self, r: usize) -> Result<Option<ActQuant>, Error> {
        match r {
            0 => Ok(None),
            _ => Ok(self.read_layer(r - 1)?.quant.map(|q| q.output)),
        }
    }

    fn layer_offset(&self, i: usize) -> usize {
        HEADER_LEN + i * self.layer_entry_len()
    }

    fn tensor_offset(&self, i: usize) -> usize {
        HEADER_LEN + self.layers * self.layer_entry_len() + i * TENSOR_ENTRY_LEN
    }

    fn read_layer(&self, i: usize) -> Result<LayerView<'a>, Error> {
        let b = self.bytes;
        let o = self.layer_offset(i);
        let kind = LayerKind::from_code(u16_at(b, o + L_KIND)?)
            .ok_or(invalid(o + L_KIND, "unknown layer kind"))?;
        let activation = Activation::from_code(u8_at(b, o + L_ACT)?)
            .ok_or(invalid(o + L_ACT, "unknown activation"))?;
        // A planned file stores each node's output offset in `L_RESERVED`.
        if u8_at(b, o + L_FLAGS)? != 0 || (!self.planned && u32_at(b, o + L_RESERVED)? != 0) {
            return Err(invalid(o + L_FLAGS, "reserved layer bytes are not zero"));
        }
        // ... and node 0 the input offset and the arena length in `L_QRESERVED`.
        let plan_words = if self.planned && i == 0 { 3 } else { 0 };
        let quant = if self.version == 1 {
            None
        } else {
            for k in plan_words..4 {
                if u32_at(b, o + L_QRESERVED + 4 * k)? != 0 {
                    return Err(invalid(
                        o + L_QRESERVED,
                        "reserved layer bytes are not zero",
                    ));
                }
            }
            self.read_layer_quant(o)?
        };
        let first_tensor = usize_at(b, o + L_FIRST)?;
        let tensor_count = usize_at(b, o + L_COUNT)?;
        let expected_count = match self.arithmetic {
            Arithmetic::Int8 => int8_tensor_count(kind, activation),
            Arithmetic::Float => kind.tensor_count(),
        };
        if tensor_count != expected_count {
            return Err(invalid(
                o + L_COUNT,
                "wrong number of tensors for the layer kind",
            ));
        }
        if first_tensor
            .checked_add(tensor_count)
            .is_none_or(|e| e > self.tensors)
        {
            return Err(invalid(
                o + L_FIRST,
                "layer tensors outside the tensor table",
            ));
        }
        let mut stored = [0u32; PARAMS_V2];
        for (k, p) in stored.iter_mut().enumerate() {
            *p = u32_at(b, o + L_PARAMS + 4 * k)?;
        }
        let mut inputs = [0usize; MAX_INPUTS];
        let (params, input_count) = if self.version < 3 {
            if !graph::v2_params_ok(kind, &stored) {
                return Err(invalid(
                    o + L_PARAMS,
                    "a kernel, stride or size parameter is zero, or unused parameters are not zero",
                ));
            }
            inputs[0] = i;
            (graph::params_from_v2(kind, &stored), 1)
        } else {
            let mut params = [0u32; PARAMS];
            params[..PARAMS_V2].copy_from_slice(&stored);
            for (k, q) in params[PARAMS_V2..].iter_mut().enumerate() {
                *q = u32_at(b, o + L_PARAMS_EXT + 4 * k)?;
            }
            let count = usize_at(b, o + L_INPUT_COUNT)?;
            if !(1..=MAX_INPUTS).contains(&count) {
                return Err(invalid(o + L_INPUT_COUNT, "a node reads 1 to 4 inputs"));
            }
            for (k, r) in inputs.iter_mut().enumerate() {
                *r = usize_at(b, o + L_INPUTS + 4 * k)?;
                if k >= count && *r != 0 {
                    return Err(invalid(o + L_INPUTS, "unused input slots are not zero"));
                }
                if k < count && *r > i {
                    return Err(invalid(
                        o + L_INPUTS + 4 * k,
                        "a node reads itself or a later node (a cycle)",
                    ));
                }
            }
            (params, count)
        };
        let joins = matches!(kind, LayerKind::Add | LayerKind::Concat);
        if joins != (input_count > 1) {
            return Err(invalid(
                o + L_INPUT_COUNT,
                "add and concat read 2 to 4 inputs, every other node one",
            ));
        }
        Ok(LayerView {
            model: *self,
            index: i,
            kind,
            activation,
            in_shape: shape_at(b, o + L_IN)?,
            out_shape: shape_at(b, o + L_OUT)?,
            params,
            quant,
            inputs,
            input_count,
            first_tensor,
            tensor_count,
        })
    }

    /// The quantization fields of the layer entry at `o`: all zero in float
    /// models; positive finite scales and int8 zero points in int8 models.
    fn read_layer_quant(&self, o: usize) -> Result<Option<LayerQuant>, Error> {
        let b = self.bytes;
        let fields = [
            u32_at(b, o + L_IN_SCALE)?,
            u32_at(b, o + L_IN_ZP)?,
            u32_at(b, o + L_OUT_SCALE)?,
            u32_at(b, o + L_OUT_ZP)?,
        ];
        if self.arithmetic == Arithmetic::Float {
            if fields != [0; 4] {
                return Err(invalid(
                    o + L_IN_SCALE,
                    "quantization fields in a float model",
                ));
            }
            return Ok(None);
        }
        let act = |scale: u32, zp: u32, off: usize| -> Result<ActQuant, Error> {
            if !scale_bits_ok(scale) {
                return Err(invalid(off, "activation scale is not positive and finite"));
            }
            let zp = i8::try_from(zp as i32)
                .map_err(|_| invalid(off + 4, "zero point outside -128..=127"))?;
            Ok(ActQuant {
                scale: f32::from_bits(scale),
                zero_point: zp,
            })
        };
        Ok(Some(LayerQuant {
            input: act(fields[0], fields[1], o + L_IN_SCALE)?,
            output: act(fields[2], fields[3], o + L_OUT_SCALE)?,
        }))
    }

    fn read_tensor(&self, i: usize) -> Result<TensorView<'a>, Error> {
        let b = self.bytes;
        let o = self.tensor_offset(i);
        let dtype = DType::from_code(u8_at(b, o + T_DTYPE)?)
            .filter(|d| self.version > 1 || *d != DType::Requant)
            .ok_or(invalid(o + T_DTYPE, "unknown tensor dtype"))?;
        let rank = usize::from(u8_at(b, o + T_RANK)?);
        if !(1..=4).contains(&rank) {
            return Err(invalid(o + T_RANK, "tensor rank is not 1 to 4"));
        }
        let scheme = QuantScheme::from_code(u8_at(b, o + T_QUANT)?)
            .ok_or(invalid(o + T_QUANT, "unknown quantization scheme"))?;
        if u8_at(b, o + T_FLAGS)? != 0 {
            return Err(invalid(o + T_FLAGS, "reserved tensor bytes are not zero"));
        }
        for k in 0..3 {
            if u32_at(b, o + T_RESERVED + 4 * k)? != 0 {
                return Err(invalid(
                    o + T_RESERVED,
                    "reserved tensor bytes are not zero",
                ));
            }
        }
        let mut dims = [0usize; 4];
        let mut count: usize = 1;
        for (k, d) in dims.iter_mut().enumerate() {
            *d = usize_at(b, o + T_DIMS + 4 * k)?;
            if k < rank {
                count = count
                    .checked_mul(*d)
                    .filter(|&c| c != 0 && c <= MAX_ELEMENTS)
                    .ok_or(invalid(o + T_DIMS, "tensor dimension zero or too large"))?;
            } else if *d != 0 {
                return Err(invalid(o + T_DIMS, "tensor dimension past its rank"));
            }
        }
        let len = usize_at(b, o + T_LEN)?;
        if Some(len) != count.checked_mul(dtype.size()) {
            return Err(invalid(
                o + T_LEN,
                "tensor byte length does not match its dims",
            ));
        }
        let off = usize_at(b, o + T_OFFSET)?;
        let data = off
            .checked_add(len)
            .and_then(|e| b.get(off..e))
            .ok_or(invalid(o + T_OFFSET, "tensor data outside the file"))?;
        let qoff = usize_at(b, o + T_QOFFSET)?;
        let qlen = usize_at(b, o + T_QLEN)?;
        let quant = match (dtype.is_quantized(), scheme) {
            (false, QuantScheme::None) if qoff == 0 && qlen == 0 => None,
            (false, _) => {
                return Err(invalid(
                    o + T_QUANT,
                    "float tensor with quantization metadata",
                ));
            }
            (true, QuantScheme::None) => {
                return Err(invalid(
                    o + T_QUANT,
                    "integer tensor without quantization metadata",
                ));
            }
            (true, _) => {
                let channels = if scheme == QuantScheme::PerTensor {
                    1
                } else {
                    dims[0]
                };
                let record_len = if self.version == 1 {
                    QUANT_CHANNEL_LEN_V1
                } else {
                    QUANT_CHANNEL_LEN
                };
                if Some(qlen) != channels.checked_mul(record_len) || qoff % 4 != 0 {
                    return Err(invalid(
                        o + T_QLEN,
                        "quantization metadata size or alignment",
                    ));
                }
                let qb = qoff
                    .checked_add(qlen)
                    .and_then(|e| b.get(qoff..e))
                    .ok_or(invalid(
                        o + T_QOFFSET,
                        "quantization metadata outside the file",
                    ))?;
                Some(QuantView {
                    scheme,
                    bytes: qb,
                    record_len,
                })
            }
        };
        Ok(TensorView {
            dtype,
            rank,
            dims,
            data,
            quant,
        })
    }

    fn check_tensor(&self, i: usize, data_start: usize, body: usize) -> Result<(), Error> {
        let o = self.tensor_offset(i);
        let t = self.read_tensor(i)?;
        let off = usize_at(self.bytes, o + T_OFFSET)?;
        if off % DATA_ALIGN != 0 {
            return Err(invalid(o + T_OFFSET, "tensor data is not 16-byte aligned"));
        }
        if off < data_start || off + t.data.len() > body {
            return Err(invalid(
                o + T_OFFSET,
                "tensor data overlaps the tables or the checksum",
            ));
        }
        if let Some(q) = t.quant {
            let qoff = usize_at(self.bytes, o + T_QOFFSET)?;
            let qlen = usize_at(self.bytes, o + T_QLEN)?;
            if qoff < data_start || qoff + qlen > body {
                return Err(invalid(
                    o + T_QOFFSET,
                    "quantization metadata overlaps the tables",
                ));
            }
            if self.version > 1
                && (0..q.channels()).any(|c| {
                    !q.field(c, 0)
                        .is_some_and(|s| scale_bits_ok(u32::from_le_bytes(s)))
                })
            {
                return Err(invalid(qoff, "tensor scale is not positive and finite"));
            }
        }
        Ok(())
    }
}

/// Bytes of one layer-table entry in a file of `version`.
const fn entry_len(version: u16) -> usize {
    match version {
        1 => LAYER_ENTRY_LEN_V1,
        2 => LAYER_ENTRY_LEN_V2,
        _ => LAYER_ENTRY_LEN,
    }
}

/// Whether `bits` is a positive, finite, non-zero `f32` (checked on the bits:
/// no floating point in the parser).
const fn scale_bits_ok(bits: u32) -> bool {
    bits != 0 && bits & 0x8000_0000 == 0 && (bits >> 23) & 0xff != 0xff
}

/// Tensors of an int8 layer: dense and conv2d `W` (i8), `b` (i32), `M`
/// (requant); LSTM `W_ih`, `W_hh` (i8), `b` (i32), `M_ih`, `M_hh` (requant);
/// a sigmoid or tanh activation layer its input multiplier to Q3.12.
const fn int8_tensor_count(kind: LayerKind, act: Activation) -> usize {
    match kind {
        LayerKind::Dense | LayerKind::Conv2d => 3,
        LayerKind::Lstm => 5,
        LayerKind::Activation
            if matches!(
                act,
                Activation::Sigmoid | Activation::Tanh | Activation::Softmax
            ) =>
        {
            1
        }
        LayerKind::Add | LayerKind::Lookup => 1,
        _ => 0,
    }
}

fn expect_dtype(layer: &LayerView<'_>, j: usize, ok: impl Fn(DType) -> bool) -> Result<(), Error> {
    match layer.tensor(j) {
        Some(t) if ok(t.dtype) => Ok(()),
        _ => Err(invalid(
            layer
                .model
                .tensor_offset(layer.first_tensor.saturating_add(j))
                + T_DTYPE,
            "tensor dtype does not fit the layer and the model's arithmetic",
        )),
    }
}

/// The dtypes of a layer's tensors, and the shapes of the requant tensors of
/// int8 layers. Version 1 files are not checked (they predate int8 models).
fn check_dtypes(layer: &LayerView<'_>) -> Result<(), Error> {
    let m = layer.model;
    if m.version == 1 {
        return Ok(());
    }
    if m.arithmetic == Arithmetic::Float {
        // Weights f32 or f16, biases (the last tensor) and batch-norm
        // statistics f32.
        let stats = layer.kind == LayerKind::BatchNorm;
        for j in 0..layer.tensor_count {
            let bias = j + 1 == layer.tensor_count;
            expect_dtype(layer, j, |d| {
                d == DType::F32 || (d == DType::F16 && !bias && !stats)
            })?;
        }
        return Ok(());
    }
    let out = shape_len(layer.out_shape);
    let channels = match layer.kind {
        LayerKind::Dense => out,
        LayerKind::Conv2d => layer.out_shape[0],
        LayerKind::Lstm => out.saturating_mul(4),
        _ => 1,
    };
    let want: &[DType] = match layer.kind {
        LayerKind::Dense | LayerKind::Conv2d => &[DType::I8, DType::I32, DType::Requant],
        LayerKind::Lstm => &[
            DType::I8,
            DType::I8,
            DType::I32,
            DType::Requant,
            DType::Requant,
        ],
        LayerKind::Lookup => {
            expect_dtype(layer, 0, |t| t == DType::I8)?;
            return expect_dims(layer, 0, &[crate::quant::lut::TABLE_LEN]);
        }
        _ if layer.tensor_count == 1 => &[DType::Requant],
        _ => &[],
    };
    // An add's multipliers: input a, input b, output.
    let channels = if layer.kind == LayerKind::Add {
        3
    } else {
        channels
    };
    for (j, &d) in want.iter().enumerate() {
        expect_dtype(layer, j, |t| t == d)?;
        if d == DType::Requant {
            expect_dims(layer, j, &[channels])?;
        }
    }
    Ok(())
}

fn same_quant(a: ActQuant, b: ActQuant) -> bool {
    a.scale.to_bits() == b.scale.to_bits() && a.zero_point == b.zero_point
}

/// The quantization rules of an int8 layer: its input is the previous
/// layer's output, its activation has an int8 form, and layers that do not
/// requantize keep (or fix) their output's parameters.
fn check_layer_quant(
    layer: &LayerView<'_>,
    q: LayerQuant,
    previous: Option<ActQuant>,
) -> Result<(), Error> {
    use crate::quant::params::{LSTM_HIDDEN, SIGMOID_OUTPUT, SOFTMAX_OUTPUT, TANH_OUTPUT};
    let o = layer.model.layer_offset(layer.index);
    if previous.is_some_and(|p| !same_quant(p, q.input)) {
        return Err(invalid(
            o + L_IN_SCALE,
            "input quantization differs from the previous layer's output",
        ));
    }
    let act = layer.activation;
    let plain = matches!(act, Activation::Identity | Activation::Relu);
    let (act_ok, fixed_out) = match layer.kind {
        LayerKind::Dense | LayerKind::Conv2d => (plain, None),
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => (plain, Some(q.input)),
        LayerKind::Lstm => (act == Activation::Identity, Some(LSTM_HIDDEN)),
        LayerKind::Activation => match act {
            Activation::Sigmoid => (true, Some(SIGMOID_OUTPUT)),
            Activation::Tanh => (true, Some(TANH_OUTPUT)),
            Activation::Softmax => (true, Some(SOFTMAX_OUTPUT)),
            _ => (plain, Some(q.input)),
        },
        LayerKind::Reshape | LayerKind::GlobalAvgPool => {
            (act == Activation::Identity, Some(q.input))
        }
        LayerKind::Add if layer.input_count == 2 => (plain, None),
        LayerKind::Lookup => (act == Activation::Identity, None),
        LayerKind::Concat => {
            // Every input quantized as the output: a concat moves codes.
            for (k, &r) in layer.inputs().iter().enumerate().skip(1) {
                let other = match r {
                    0 => layer.model.read_layer(0)?.quant.map(|q| q.input),
                    _ => layer.model.value_quant(r)?,
                };
                if !other.is_some_and(|x| same_quant(x, q.input)) {
                    return Err(invalid(
                        o + L_INPUTS + 4 * k,
                        "int8 concat inputs quantized unlike the first",
                    ));
                }
            }
            (plain, Some(q.input))
        }
        LayerKind::Add | LayerKind::BatchNorm => {
            return Err(invalid(
                o + L_KIND,
                "this node kind has no int8 form in the model file yet",
            ));
        }
    };
    if !act_ok {
        return Err(invalid(
            o + L_ACT,
            "activation has no int8 form in this layer",
        ));
    }
    if fixed_out.is_some_and(|f| !same_quant(f, q.output)) {
        return Err(invalid(
            o + L_OUT_SCALE,
            "output quantization differs from the one this layer produces",
        ));
    }
    Ok(())
}

fn expect_dims(layer: &LayerView<'_>, j: usize, want: &[usize]) -> Result<(), Error> {
    let t = layer.tensor(j).ok_or(Error::LayerShape {
        layer: layer.index,
        expected: layer.tensor_count,
        found: j,
    })?;
    if t.shape() != want {
        let expected = want.iter().product();
        return Err(Error::LayerShape {
            layer: layer.index,
            expected,
            found: t.len(),
        });
    }
    Ok(())
}

fn check_params(layer: &LayerView<'_>, used: usize) -> Result<(), Error> {
    if layer.params[..used].contains(&0) {
        return Err(invalid(
            layer.model.layer_offset(layer.index) + L_PARAMS,
            "a layer parameter is zero",
        ));
    }
    if layer.params[used..].iter().any(|&p| p != 0) {
        return Err(invalid(
            layer.model.layer_offset(layer.index) + L_PARAMS,
            "unused layer parameters are not zero",
        ));
    }
    Ok(())
}

fn out_mismatch(layer: &LayerView<'_>, want: Shape) -> Result<(), Error> {
    if layer.out_shape != want {
        return Err(Error::LayerShape {
            layer: layer.index,
            expected: shape_len(want),
            found: shape_len(layer.out_shape),
        });
    }
    Ok(())
}

/// Output side of a window of `k` over `n` with `stride` and `pad`, if it fits.
pub fn window_out(n: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = n.checked_add(pad.checked_mul(2)?)?;
    if k == 0 || stride == 0 || padded < k {
        return None;
    }
    Some((padded - k) / stride + 1)
}

fn check_layer(layer: &LayerView<'_>) -> Result<(), Error> {
    check_shapes(layer)?;
    check_dtypes(layer)
}

fn check_shapes(layer: &LayerView<'_>) -> Result<(), Error> {
    let [c, h, w] = layer.in_shape;
    let p = layer.params.map(|v| v as usize);
    let offset = layer.model.layer_offset(layer.index);
    let bad_params = |_| invalid(offset + L_PARAMS, "window does not fit the input");
    match layer.kind {
        LayerKind::Dense => {
            let int8 = layer.model.arithmetic == Arithmetic::Int8;
            let rounding = layer.params[graph::p::ROUNDING];
            if int8 && rounding == graph::ROUNDING_SINGLE {
                if layer.params[1..].iter().any(|&v| v != 0) {
                    return Err(invalid(
                        offset + L_PARAMS,
                        "unused layer parameters are not zero",
                    ));
                }
            } else {
                check_params(layer, 0)?;
            }
            let out = layer.out_shape;
            if out[0] != 1 || out[1] != 1 {
                return Err(invalid(
                    offset + L_OUT,
                    "dense output shape must be [1, 1, n]",
                ));
            }
            expect_dims(layer, 0, &[out[2], shape_len(layer.in_shape)])?;
            expect_dims(layer, 1, &[out[2]])
        }
        LayerKind::Conv2d => {
            let g = layer.conv_geom().map_err(bad_params)?;
            if p[graph::p::GROUPS] == 0 {
                return Err(invalid(offset + L_PARAMS_EXT, "conv2d groups is zero"));
            }
            let oc = layer.out_shape[0];
            out_mismatch(layer, [oc, g.win.out_h, g.win.out_w])?;
            expect_dims(layer, 0, &[oc, g.group_in(), p[0], p[1]])?;
            expect_dims(layer, 1, &[oc])
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            let win = layer.window().map_err(bad_params)?;
            if p[graph::p::GROUPS] != 0 {
                return Err(invalid(
                    offset + L_PARAMS_EXT,
                    "unused layer parameters are not zero",
                ));
            }
            out_mismatch(layer, [c, win.out_h, win.out_w])
        }
        LayerKind::Lstm => {
            check_params(layer, 1)?;
            if c != 1 {
                return Err(Error::LayerShape {
                    layer: layer.index,
                    expected: 1,
                    found: c,
                });
            }
            let hidden = p[0];
            out_mismatch(layer, [1, 1, hidden])?;
            let gates = hidden
                .checked_mul(4)
                .ok_or(invalid(offset + L_PARAMS, "hidden size too large"))?;
            expect_dims(layer, 0, &[gates, w])?;
            expect_dims(layer, 1, &[gates, hidden])?;
            expect_dims(layer, 2, &[gates])
        }
        LayerKind::Activation => {
            let int8 = layer.model.arithmetic == Arithmetic::Int8;
            if int8 && layer.activation == Activation::Softmax {
                if (layer.params[graph::p::DIFF_MIN] as i32) > 0
                    || layer.params[1..].iter().any(|&v| v != 0)
                {
                    return Err(invalid(
                        offset + L_PARAMS,
                        "softmax diff_min is positive or unused parameters are not zero",
                    ));
                }
            } else {
                check_params(layer, 0)?;
            }
            out_mismatch(layer, layer.in_shape)
        }
        LayerKind::Add => {
            check_params(layer, 0)?;
            for (k, &r) in layer.inputs().iter().enumerate().skip(1) {
                if layer.model.value_shape(r)? != layer.in_shape {
                    return Err(invalid(
                        offset + L_INPUTS + 4 * k,
                        "add inputs differ in shape",
                    ));
                }
            }
            out_mismatch(layer, layer.in_shape)
        }
        LayerKind::Concat => {
            check_params(layer, 0)?;
            let mut channels = c;
            for (k, &r) in layer.inputs().iter().enumerate().skip(1) {
                let s = layer.model.value_shape(r)?;
                if s[1] != h || s[2] != w {
                    return Err(invalid(
                        offset + L_INPUTS + 4 * k,
                        "concat inputs differ in height or width",
                    ));
                }
                channels = channels.saturating_add(s[0]);
            }
            out_mismatch(layer, [channels, h, w])
        }
        LayerKind::GlobalAvgPool => {
            check_params(layer, 0)?;
            out_mismatch(layer, [c, 1, 1])
        }
        LayerKind::BatchNorm => {
            let eps = f32::from_bits(layer.params[graph::p::EPS]);
            if !(eps.is_finite() && eps > 0.0) || layer.params[1..].iter().any(|&v| v != 0) {
                return Err(invalid(
                    offset + L_PARAMS,
                    "batch-norm epsilon is not positive and finite",
                ));
            }
            out_mismatch(layer, layer.in_shape)?;
            for j in 0..4 {
                expect_dims(layer, j, &[c])?;
            }
            Ok(())
        }
        LayerKind::Lookup => {
            if layer.model.arithmetic != Arithmetic::Int8 {
                return Err(invalid(offset + L_KIND, "lookup nodes are int8 only"));
            }
            check_params(layer, 0)?;
            out_mismatch(layer, layer.in_shape)
        }
        LayerKind::Reshape => {
            check_params(layer, 0)?;
            if shape_len(layer.out_shape) != shape_len(layer.in_shape) {
                return Err(Error::LayerShape {
                    layer: layer.index,
                    expected: shape_len(layer.in_shape),
                    found: shape_len(layer.out_shape),
                });
            }
            Ok(())
        }
    }
}

/// The data of one tensor to encode.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum TensorData<'t> {
    /// `f32` elements.
    F32(&'t [f32]),
    /// `f16` elements as their IEEE binary16 bit patterns.
    F16(&'t [u16]),
    /// `i8` elements with their scales: one per slice of the first
    /// dimension (per channel) or a single one (per tensor).
    I8 {
        /// The elements.
        values: &'t [i8],
        /// Real value = scale x q.
        scales: &'t [f32],
    },
    /// `i32` elements (int8 biases) with their scales, as for `I8`.
    I32 {
        /// The elements.
        values: &'t [i32],
        /// Real value = scale x q.
        scales: &'t [f32],
    },
    /// Fixed-point multipliers, one per output channel.
    Requant(&'t [Requant]),
}

impl TensorData<'_> {
    fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F16(_) => DType::F16,
            TensorData::I8 { .. } => DType::I8,
            TensorData::I32 { .. } => DType::I32,
            TensorData::Requant(_) => DType::Requant,
        }
    }

    fn len(&self) -> usize {
        match self {
            TensorData::F32(d) => d.len(),
            TensorData::F16(d) => d.len(),
            TensorData::I8 { values, .. } => values.len(),
            TensorData::I32 { values, .. } => values.len(),
            TensorData::Requant(d) => d.len(),
        }
    }

    fn scales(&self) -> &[f32] {
        match self {
            TensorData::I8 { scales, .. } | TensorData::I32 { scales, .. } => scales,
            _ => &[],
        }
    }

    /// Writes the elements, little-endian, at `off`.
    fn write(&self, out: &mut [u8], off: usize) -> Result<(), Error> {
        match self {
            TensorData::F32(d) => put_all(out, off, d, |v| v.to_le_bytes()),
            TensorData::F16(d) => put_all(out, off, d, |v| v.to_le_bytes()),
            TensorData::I8 { values, .. } => put_all(out, off, values, |v| v.to_le_bytes()),
            TensorData::I32 { values, .. } => put_all(out, off, values, |v| v.to_le_bytes()),
            TensorData::Requant(d) => put_all(out, off, d, |r| {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&r.multiplier.to_le_bytes());
                b[4..].copy_from_slice(&r.shift.to_le_bytes());
                b
            }),
        }
    }
}

fn put_all<T: Copy, const N: usize>(
    out: &mut [u8],
    off: usize,
    values: &[T],
    f: impl Fn(T) -> [u8; N],
) -> Result<(), Error> {
    for (k, &v) in values.iter().enumerate() {
        put(out, off + N * k, &f(v))?;
    }
    Ok(())
}

/// One tensor to encode: its dimensions (1 to 4) and data.
#[derive(Debug, Clone, Copy)]
pub struct TensorDesc<'t> {
    /// Dimensions, outermost first.
    pub dims: &'t [usize],
    /// The elements.
    pub data: TensorData<'t>,
}

/// One layer to encode.
#[derive(Debug, Clone, Copy)]
pub struct LayerDesc<'t> {
    /// What the layer computes.
    pub kind: LayerKind,
    /// Activation applied to the output.
    pub activation: Activation,
    /// Input shape.
    pub in_shape: Shape,
    /// Output shape.
    pub out_shape: Shape,
    /// Kind-specific parameters in the canonical layout of [`graph::p`];
    /// unused ones zero.
    pub params: [u32; PARAMS],
    /// The values the node reads (see [`LayerView::inputs`]); empty means
    /// the previous node (or the model input, for the first node).
    pub inputs: &'t [usize],
    /// The layer's tensors in the order [`LayerKind`] lists them (int8
    /// layers: see [`encode_int8`]).
    pub tensors: &'t [TensorDesc<'t>],
}

fn align_up(n: usize) -> Option<usize> {
    n.checked_add(DATA_ALIGN - 1)
        .map(|v| v / DATA_ALIGN * DATA_ALIGN)
}

fn tensor_bytes(t: &TensorDesc<'_>) -> usize {
    t.data.len().saturating_mul(t.data.dtype().size())
}

/// Bytes [`encode`] or [`encode_int8`] writes for this model, or `None` if
/// it overflows `u32`.
pub fn encoded_len(layers: &[LayerDesc<'_>]) -> Option<usize> {
    let tensors: usize = layers.iter().map(|l| l.tensors.len()).sum();
    let entry = entry_len(encoded_version(layers));
    let mut end = align_up(
        HEADER_LEN
            .checked_add(layers.len().checked_mul(entry)?)?
            .checked_add(tensors.checked_mul(TENSOR_ENTRY_LEN)?)?,
    )?;
    for t in layers.iter().flat_map(|l| l.tensors) {
        end = align_up(end.checked_add(tensor_bytes(t))?)?;
        let scales = t.data.scales().len();
        if scales > 0 {
            end = align_up(end.checked_add(scales.checked_mul(QUANT_CHANNEL_LEN)?)?)?;
        }
    }
    let total = end.checked_add(4)?;
    u32::try_from(total).ok().map(|_| total)
}

/// The version [`encode`] writes: 2 when every node has a version 2 form
/// (a chain of the kinds, activations and parameters version 2 knows), so
/// older readers keep reading such models; 3 otherwise.
pub fn encoded_version(layers: &[LayerDesc<'_>]) -> u16 {
    let v2 = layers
        .iter()
        .enumerate()
        .all(|(i, l)| graph::fits_v2(i, l.kind, l.activation, &l.params, l.inputs));
    if v2 { 2 } else { VERSION }
}

fn put_u32(out: &mut [u8], off: usize, v: usize) -> Result<(), Error> {
    let v = u32::try_from(v).map_err(|_| invalid(off, "value does not fit in u32"))?;
    put(out, off, &v.to_le_bytes())
}

fn put(out: &mut [u8], off: usize, b: &[u8]) -> Result<(), Error> {
    let end = off
        .checked_add(b.len())
        .ok_or(invalid(off, "offset overflow"))?;
    let dst = out.get_mut(off..end).ok_or(Error::Truncated {
        offset: off,
        needed: b.len(),
    })?;
    dst.copy_from_slice(b);
    Ok(())
}

/// Writes a float model file (f32 or f16 tensors) into `out`, which must hold
/// exactly [`encoded_len`] bytes, with input shape `input`; then validates it
/// with [`Model::parse`].
pub fn encode(input: Shape, layers: &[LayerDesc<'_>], out: &mut [u8]) -> Result<(), Error> {
    encode_with(input, layers, None, out)
}

/// Writes an int8 model file into `out` (exactly [`encoded_len`] bytes) and
/// validates it with [`Model::parse`]. `quant[i]` is layer `i`'s input and
/// output quantization. Tensors per layer kind:
///
/// - dense, conv2d: `W` (i8, per-channel scales), `b` (i32, scales
///   `s_in s_w[c]`), `M` (requant, one per output channel);
/// - LSTM: `W_ih`, `W_hh` (i8), `b` (i32), `M_ih`, `M_hh` (requant, `4H` each);
/// - activation layer with sigmoid or tanh: its input multiplier to Q3.12
///   (requant, one); pooling, ReLU and identity: none.
pub fn encode_int8(
    input: Shape,
    layers: &[LayerDesc<'_>],
    quant: &[LayerQuant],
    out: &mut [u8],
) -> Result<(), Error> {
    if quant.len() != layers.len() {
        return Err(Error::ShapeMismatch {
            expected: layers.len(),
            found: quant.len(),
        });
    }
    encode_with(input, layers, Some(quant), out)
}

fn encode_with(
    input: Shape,
    layers: &[LayerDesc<'_>],
    quant: Option<&[LayerQuant]>,
    out: &mut [u8],
) -> Result<(), Error> {
    let total = encoded_len(layers).ok_or(Error::Unsupported {
        what: "model larger than 4 GiB",
    })?;
    if out.len() != total {
        return Err(Error::ShapeMismatch {
            expected: total,
            found: out.len(),
        });
    }
    out.fill(0);
    let arithmetic = if quant.is_some() {
        Arithmetic::Int8
    } else {
        Arithmetic::Float
    };
    let tensors: usize = layers.iter().map(|l| l.tensors.len()).sum();
    let version = encoded_version(layers);
    let entry = entry_len(version);
    put(out, 0, &MAGIC)?;
    put(out, H_VERSION, &version.to_le_bytes())?;
    put(out, H_HEADER_LEN, &(HEADER_LEN as u16).to_le_bytes())?;
    put_u32(out, H_FILE_LEN, total)?;
    put_u32(out, H_LAYERS, layers.len())?;
    put_u32(out, H_TENSORS, tensors)?;
    put(out, H_ARITH, &arithmetic.code().to_le_bytes())?;
    for (k, d) in input.iter().enumerate() {
        put_u32(out, H_INPUT + 4 * k, *d)?;
    }
    let tensor_table = HEADER_LEN + layers.len() * entry;
    let mut data_off = align_up(tensor_table + tensors * TENSOR_ENTRY_LEN).unwrap_or(total);
    let mut t_index = 0;
    for (i, l) in layers.iter().enumerate() {
        let o = HEADER_LEN + i * entry;
        put(out, o + L_KIND, &l.kind.code().to_le_bytes())?;
        put(out, o + L_ACT, &[l.activation.code()])?;
        put_u32(out, o + L_FIRST, t_index)?;
        put_u32(out, o + L_COUNT, l.tensors.len())?;
        for k in 0..3 {
            put_u32(out, o + L_IN + 4 * k, l.in_shape[k])?;
            put_u32(out, o + L_OUT + 4 * k, l.out_shape[k])?;
        }
        if version < 3 {
            let v2 = graph::params_to_v2(l.kind, &l.params)
                .ok_or(invalid(o + L_PARAMS, "parameters without a version 2 form"))?;
            for (k, p) in v2.iter().enumerate() {
                put(out, o + L_PARAMS + 4 * k, &p.to_le_bytes())?;
            }
        } else {
            for (k, p) in l.params.iter().enumerate() {
                let at = if k < PARAMS_V2 {
                    L_PARAMS + 4 * k
                } else {
                    L_PARAMS_EXT + 4 * (k - PARAMS_V2)
                };
                put(out, o + at, &p.to_le_bytes())?;
            }
            let chain = [i];
            let inputs = if l.inputs.is_empty() {
                &chain[..]
            } else {
                l.inputs
            };
            if inputs.len() > MAX_INPUTS {
                return Err(invalid(o + L_INPUT_COUNT, "a node reads 1 to 4 inputs"));
            }
            put_u32(out, o + L_INPUT_COUNT, inputs.len())?;
            for (k, r) in inputs.iter().enumerate() {
                put_u32(out, o + L_INPUTS + 4 * k, *r)?;
            }
        }
        if let Some(q) = quant.and_then(|q| q.get(i)) {
            put(out, o + L_IN_SCALE, &q.input.scale.to_le_bytes())?;
            put(
                out,
                o + L_IN_ZP,
                &i32::from(q.input.zero_point).to_le_bytes(),
            )?;
            put(out, o + L_OUT_SCALE, &q.output.scale.to_le_bytes())?;
            put(
                out,
                o + L_OUT_ZP,
                &i32::from(q.output.zero_point).to_le_bytes(),
            )?;
        }
        for t in l.tensors {
            let to = tensor_table + t_index * TENSOR_ENTRY_LEN;
            if t.dims.is_empty() || t.dims.len() > 4 {
                return Err(invalid(to + T_RANK, "tensor rank is not 1 to 4"));
            }
            let scales = t.data.scales();
            let scheme = match scales.len() {
                0 => QuantScheme::None,
                n if n == t.dims[0] => QuantScheme::PerChannel,
                1 => QuantScheme::PerTensor,
                _ => {
                    return Err(invalid(
                        to + T_QUANT,
                        "scales are neither per channel nor per tensor",
                    ));
                }
            };
            put(
                out,
                to + T_DTYPE,
                &[t.data.dtype().code(), t.dims.len() as u8, scheme.code()],
            )?;
            for (k, dim) in t.dims.iter().enumerate() {
                put_u32(out, to + T_DIMS + 4 * k, *dim)?;
            }
            let len = tensor_bytes(t);
            put_u32(out, to + T_OFFSET, data_off)?;
            put_u32(out, to + T_LEN, len)?;
            t.data.write(out, data_off)?;
            data_off = align_up(data_off + len).unwrap_or(total);
            if !scales.is_empty() {
                let qlen = scales.len() * QUANT_CHANNEL_LEN;
                put_u32(out, to + T_QOFFSET, data_off)?;
                put_u32(out, to + T_QLEN, qlen)?;
                put_all(out, data_off, scales, |v| v.to_le_bytes())?;
                data_off = align_up(data_off + qlen).unwrap_or(total);
            }
            t_index += 1;
        }
    }
    let body = total - 4;
    let c = crc32(out.get(..body).unwrap_or(&[]));
    put(out, body, &c.to_le_bytes())?;
    Model::parse(out).map(|_| ())
}

#[cfg(test)]
mod tests;
