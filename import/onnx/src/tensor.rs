//! Constant tensors (initializers, Constant values, folded results) and their
//! decoding from `TensorProto`, with every size checked before allocating.

use crate::error::OnnxError;
use crate::external::{self, DataSource};
use crate::proto::TensorProto;

/// ONNX `TensorProto.DataType` codes the reader knows.
pub(crate) mod dtype {
    /// 32-bit float.
    pub const FLOAT: i32 = 1;
    /// Signed 32-bit integer (read into `I64`).
    pub const INT32: i32 = 6;
    /// Signed 64-bit integer.
    pub const INT64: i32 = 7;
    /// Boolean (one byte per element; read into `I64`).
    pub const BOOL: i32 = 9;

    /// The ONNX name of a data type code, for messages.
    pub fn name(code: i32) -> &'static str {
        match code {
            0 => "UNDEFINED",
            1 => "FLOAT",
            2 => "UINT8",
            3 => "INT8",
            4 => "UINT16",
            5 => "INT16",
            6 => "INT32",
            7 => "INT64",
            8 => "STRING",
            9 => "BOOL",
            10 => "FLOAT16",
            11 => "DOUBLE",
            12 => "UINT32",
            13 => "UINT64",
            16 => "BFLOAT16",
            _ => "another type",
        }
    }
}

/// Largest element count of any one tensor or declared value the reader
/// accepts, whatever the file holds (2^28: 1 GiB of f32).
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The elements of a constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats: weights, biases, compute constants.
    F32(Vec<f32>),
    /// 64-bit integers: shapes, axes, indices (INT32 and BOOL are widened).
    I64(Vec<i64>),
}

/// A constant tensor: dims (row-major, last axis fastest) and elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The dims; empty for a scalar.
    pub dims: Vec<usize>,
    /// The elements, `dims.iter().product()` of them.
    pub data: TensorData,
}

impl Tensor {
    /// An f32 tensor; `None` when `data.len()` is not the product of `dims`.
    pub fn f32(dims: Vec<usize>, data: Vec<f32>) -> Option<Self> {
        (element_count(&dims) == Some(data.len())).then_some(Self {
            dims,
            data: TensorData::F32(data),
        })
    }

    /// An i64 tensor; `None` when `data.len()` is not the product of `dims`.
    pub fn i64(dims: Vec<usize>, data: Vec<i64>) -> Option<Self> {
        (element_count(&dims) == Some(data.len())).then_some(Self {
            dims,
            data: TensorData::I64(data),
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// True when the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The f32 elements, or `None` for an integer tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            TensorData::I64(_) => None,
        }
    }

    /// The i64 elements, or `None` for a float tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            TensorData::F32(_) => None,
        }
    }

    /// "f32" or "i64", for messages.
    pub fn type_name(&self) -> &'static str {
        match self.data {
            TensorData::F32(_) => "f32",
            TensorData::I64(_) => "i64",
        }
    }
}

/// The product of `dims`, or `None` on overflow.
pub(crate) fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Checks ONNX dims (non-negative, product at most [`MAX_ELEMENTS`]).
pub(crate) fn checked_dims(name: &str, dims: &[i64]) -> Result<(Vec<usize>, usize), OnnxError> {
    let mut out = Vec::with_capacity(dims.len().min(64));
    let mut n: usize = 1;
    for &d in dims {
        let du = usize::try_from(d)
            .map_err(|_| OnnxError::tensor(name, format!("negative dim {d} in {dims:?}")))?;
        n = n
            .checked_mul(du)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                OnnxError::tensor(
                    name,
                    format!("dims {dims:?} hold more than {MAX_ELEMENTS} elements"),
                )
            })?;
        out.push(du);
    }
    Ok((out, n))
}

/// Decodes a `TensorProto` into a [`Tensor`]. Inline data must hold exactly
/// the elements the dims promise; external data is read through `source`.
pub(crate) fn decode(t: &TensorProto, source: &DataSource<'_>) -> Result<Tensor, OnnxError> {
    let name = t.name.as_deref().unwrap_or("");
    if t.segment.is_some() {
        return Err(OnnxError::tensor(
            name,
            "segmented tensors are not supported",
        ));
    }
    let (dims, n) = checked_dims(name, &t.dims)?;
    let code = t.data_type.unwrap_or(0);
    let width = match code {
        dtype::FLOAT | dtype::INT32 => 4,
        dtype::INT64 => 8,
        dtype::BOOL => 1,
        c => {
            return Err(OnnxError::tensor(
                name,
                format!(
                    "data type {} ({c}) is not supported: the importer takes FLOAT tensors (and INT64 for shapes)",
                    dtype::name(c)
                ),
            ));
        }
    };
    let external;
    let raw: Option<&[u8]> = if t.data_location == Some(1) {
        external = external::read(name, &t.external_data, n.saturating_mul(width), source)?;
        Some(&external)
    } else {
        t.raw_data.as_deref()
    };
    let mismatch = |got: usize, what: &str| {
        OnnxError::tensor(
            name,
            format!("dims {:?} need {n} elements but {what} holds {got}", t.dims),
        )
    };
    if let Some(raw) = raw {
        if raw.len() != n * width {
            return Err(mismatch(raw.len() / width.max(1), "raw_data"));
        }
        let data = match code {
            dtype::FLOAT => TensorData::F32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            dtype::INT32 => TensorData::I64(
                raw.chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ),
            dtype::BOOL => TensorData::I64(raw.iter().map(|&b| i64::from(b != 0)).collect()),
            _ => TensorData::I64(
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
        };
        return Ok(Tensor { dims, data });
    }
    let data = match code {
        dtype::FLOAT if t.float_data.len() == n => TensorData::F32(t.float_data.clone()),
        dtype::FLOAT => return Err(mismatch(t.float_data.len(), "float_data")),
        dtype::INT64 if t.int64_data.len() == n => TensorData::I64(t.int64_data.clone()),
        dtype::INT64 => return Err(mismatch(t.int64_data.len(), "int64_data")),
        _ if t.int32_data.len() == n => {
            TensorData::I64(t.int32_data.iter().map(|&v| i64::from(v)).collect())
        }
        _ => return Err(mismatch(t.int32_data.len(), "int32_data")),
    };
    Ok(Tensor { dims, data })
}
