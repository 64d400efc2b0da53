//! Verification of a TFLite flatbuffer into a [`TfModel`].
//!
//! planus checks every offset and length it follows against the buffer and
//! returns an error instead of reading outside it; this module adds the
//! checks of meaning: identifier, version, one subgraph, shapes, buffers,
//! quantization, operator codes and tensor indices.

use planus::ReadAsRoot;

use crate::TfliteError;
use crate::model::{Activation, Operator, Options, Padding, Quant, TensorInfo, TfModel, op_name};
use crate::schema::tflite::{
    ActivationFunctionType, BufferRef, BuiltinOperator, BuiltinOptionsRef,
    FullyConnectedOptionsWeightsFormat, ModelRef, OperatorCodeRef, OperatorRef, TensorRef,
    TensorType,
};

/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = 8;
/// Most elements a tensor may have (2^28, as myelin's model format).
pub const MAX_ELEMENTS: usize = 1 << 28;

const IDENTIFIER: &[u8; 4] = b"TFL3";
const SCHEMA_VERSION: u32 = 3;

pub(crate) fn parse(bytes: &[u8]) -> Result<TfModel<'_>, TfliteError> {
    let id = bytes.get(4..8).unwrap_or(bytes.get(4..).unwrap_or(&[]));
    if id != IDENTIFIER {
        return Err(TfliteError::Identifier { found: id.to_vec() });
    }
    let model = ModelRef::read_as_root(bytes)?;
    let version = model.version()?;
    if version != SCHEMA_VERSION {
        return Err(TfliteError::Model(format!(
            "schema version {version}, expected {SCHEMA_VERSION}"
        )));
    }
    let subgraphs = model
        .subgraphs()?
        .ok_or_else(|| TfliteError::Model("no subgraphs".into()))?;
    if subgraphs.len() != 1 {
        return Err(TfliteError::Model(format!(
            "{} subgraphs; only single-subgraph models are read",
            subgraphs.len()
        )));
    }
    let graph = subgraphs
        .get(0)
        .ok_or_else(|| TfliteError::Model("no subgraphs".into()))??;
    let buffers: Vec<BufferRef<'_>> = match model.buffers()? {
        Some(b) => b.iter().collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let codes: Vec<i32> = match model.operator_codes()? {
        Some(c) => c.iter().map(|c| op_code(c?)).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };

    let mut tensors = Vec::new();
    if let Some(ts) = graph.tensors()? {
        for (index, t) in ts.iter().enumerate() {
            tensors.push(tensor(bytes, index, t?, &buffers)?);
        }
    }
    let n = tensors.len();
    let indices = |v: Option<planus::Vector<'_, i32>>, what: &str| {
        v.map_or(Ok(Vec::new()), |v| {
            v.iter()
                .map(|i| {
                    usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| {
                        TfliteError::Model(format!(
                            "{what} names tensor {i}, but there are {n} tensors"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
    };
    let inputs = indices(graph.inputs()?, "the subgraph's input list")?;
    let outputs = indices(graph.outputs()?, "the subgraph's output list")?;
    if inputs.is_empty() || outputs.is_empty() {
        return Err(TfliteError::Model(
            "the subgraph needs at least one input and one output".into(),
        ));
    }
    let mut operators = Vec::new();
    if let Some(ops) = graph.operators()? {
        for (index, op) in ops.iter().enumerate() {
            operators.push(operator(index, op?, &codes, n)?);
        }
    }
    Ok(TfModel {
        tensors,
        operators,
        inputs,
        outputs,
    })
}

/// The builtin code of an operator code entry: the larger of the old `i8`
/// field and the new `i32` one, as TFLite reads it.
fn op_code(c: OperatorCodeRef<'_>) -> Result<i32, TfliteError> {
    let old = i32::from(c.deprecated_builtin_code()?);
    let new = c.builtin_code()? as i32;
    Ok(old.max(new))
}

fn tensor<'a>(
    bytes: &'a [u8],
    index: usize,
    t: TensorRef<'a>,
    buffers: &[BufferRef<'a>],
) -> Result<TensorInfo<'a>, TfliteError> {
    let name = t.name()?.unwrap_or("").to_string();
    let bad = |reason: String| TfliteError::Tensor {
        index,
        name: name.clone(),
        reason,
    };
    let dtype = t.type_()?;
    let dims = t.shape()?;
    let rank = dims.as_ref().map_or(0, |d| d.len());
    if rank > MAX_RANK {
        return Err(bad(format!(
            "{rank} dimensions; at most {MAX_RANK} are read"
        )));
    }
    let mut shape = Vec::with_capacity(rank);
    for d in dims.iter().flat_map(|d| d.iter()) {
        match usize::try_from(d) {
            Ok(d) if d > 0 => shape.push(d),
            _ => return Err(bad(format!("dimension {d}: dimensions must be positive"))),
        }
    }
    let len = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| {
            bad(format!(
                "shape {shape:?} has more than {MAX_ELEMENTS} elements"
            ))
        })?;
    let buffer = t.buffer()? as usize;
    let b = buffers.get(buffer).ok_or_else(|| {
        bad(format!(
            "buffer {buffer} does not exist (the model has {})",
            buffers.len()
        ))
    })?;
    let data = buffer_data(bytes, b).map_err(bad)?;
    if let Some(d) = data {
        let size = element_size(dtype)
            .ok_or_else(|| bad(format!("constant data of type {dtype:?} is not read")))?;
        if d.len() != len * size {
            return Err(bad(format!(
                "buffer {buffer} holds {} bytes; shape {shape:?} of {dtype:?} needs {}",
                d.len(),
                len * size
            )));
        }
    }
    let quant = match t.quantization()? {
        Some(q) => {
            let scale: Vec<f32> = q.scale()?.map(|v| v.iter().collect()).unwrap_or_default();
            let zero_point: Vec<i64> = q
                .zero_point()?
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let axis = q.quantized_dimension()?;
            if scale.is_empty() && zero_point.is_empty() {
                None
            } else {
                Some(check_quant(scale, zero_point, axis, &shape).map_err(bad)?)
            }
        }
        None => None,
    };
    Ok(TensorInfo {
        name,
        dtype,
        shape,
        data,
        quant,
    })
}

/// The bytes of a buffer: inline, or at an offset of the file (models over
/// 2 GB); `None` for an empty buffer (an activation).
fn buffer_data<'a>(bytes: &'a [u8], b: &BufferRef<'a>) -> Result<Option<&'a [u8]>, String> {
    let (offset, size) = (
        b.offset().map_err(|e| e.to_string())?,
        b.size().map_err(|e| e.to_string())?,
    );
    if offset > 1 {
        let end = offset
            .checked_add(size)
            .filter(|&e| e <= bytes.len() as u64)
            .ok_or_else(|| {
                format!(
                    "buffer at offset {offset} of {size} bytes runs past the end of the file ({} bytes)",
                    bytes.len()
                )
            })?;
        return Ok(bytes
            .get(offset as usize..end as usize)
            .filter(|d| !d.is_empty()));
    }
    Ok(b.data()
        .map_err(|e| e.to_string())?
        .filter(|d| !d.is_empty()))
}

fn element_size(t: TensorType) -> Option<usize> {
    Some(match t {
        TensorType::Int8 | TensorType::Uint8 | TensorType::Bool => 1,
        TensorType::Int16 | TensorType::Float16 => 2,
        TensorType::Int32 | TensorType::Float32 => 4,
        TensorType::Int64 | TensorType::Float64 => 8,
        _ => return None,
    })
}

fn check_quant(
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    axis: i32,
    shape: &[usize],
) -> Result<Quant, String> {
    if scale.len() != zero_point.len() {
        return Err(format!(
            "{} scales but {} zero points",
            scale.len(),
            zero_point.len()
        ));
    }
    if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(format!("scale {s} is not positive and finite"));
    }
    let axis = usize::try_from(axis).map_err(|_| format!("quantized dimension {axis}"))?;
    if scale.len() > 1 {
        let dim = shape.get(axis).copied();
        if dim != Some(scale.len()) {
            return Err(format!(
                "{} scales along dimension {axis} of shape {shape:?}",
                scale.len()
            ));
        }
    }
    Ok(Quant {
        scale,
        zero_point,
        axis,
    })
}

fn operator(
    index: usize,
    op: OperatorRef<'_>,
    codes: &[i32],
    tensors: usize,
) -> Result<Operator, TfliteError> {
    let ci = op.opcode_index()? as usize;
    let code = *codes.get(ci).ok_or_else(|| TfliteError::Operator {
        index,
        op: "?".into(),
        reason: format!(
            "op code {ci} does not exist (the model has {})",
            codes.len()
        ),
    })?;
    let bad = |reason: String| TfliteError::Operator {
        index,
        op: op_name(code),
        reason,
    };
    if code == BuiltinOperator::Custom as i32 {
        return Err(bad("custom ops are not read".into()));
    }
    let tensor_index = |i: i32| -> Result<Option<usize>, TfliteError> {
        if i == -1 {
            return Ok(None);
        }
        usize::try_from(i)
            .ok()
            .filter(|&i| i < tensors)
            .map(Some)
            .ok_or_else(|| bad(format!("tensor {i} does not exist (there are {tensors})")))
    };
    let inputs = match op.inputs()? {
        Some(v) => v.iter().map(tensor_index).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let mut outputs = Vec::new();
    for i in op.outputs()?.iter().flat_map(|v| v.iter()) {
        outputs.push(tensor_index(i)?.ok_or_else(|| bad("an output is omitted".into()))?);
    }
    let options = options(op.builtin_options()?).map_err(|e| match e {
        TfliteError::Flatbuffer(s) => bad(format!("options: {s}")),
        other => other,
    })?;
    Ok(Operator {
        index,
        code,
        inputs,
        outputs,
        options,
    })
}

fn activation(a: ActivationFunctionType) -> Activation {
    match a {
        ActivationFunctionType::None => Activation::None,
        ActivationFunctionType::Relu => Activation::Relu,
        ActivationFunctionType::ReluN1To1 => Activation::ReluN1To1,
        ActivationFunctionType::Relu6 => Activation::Relu6,
        ActivationFunctionType::Tanh => Activation::Tanh,
        ActivationFunctionType::SignBit => Activation::SignBit,
    }
}

fn padding(p: crate::schema::tflite::Padding) -> Padding {
    match p {
        crate::schema::tflite::Padding::Same => Padding::Same,
        crate::schema::tflite::Padding::Valid => Padding::Valid,
    }
}

/// A stride, dilation or window size: positive.
fn positive(v: i32, what: &str) -> Result<usize, TfliteError> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| TfliteError::Flatbuffer(format!("{what} {v} is not positive")))
}

fn options(o: Option<BuiltinOptionsRef<'_>>) -> Result<Options, TfliteError> {
    Ok(match o {
        Some(BuiltinOptionsRef::Conv2DOptions(c)) => Options::Conv2d {
            padding: padding(c.padding()?),
            stride: [
                positive(c.stride_h()?, "stride")?,
                positive(c.stride_w()?, "stride")?,
            ],
            dilation: [
                positive(c.dilation_h_factor()?, "dilation")?,
                positive(c.dilation_w_factor()?, "dilation")?,
            ],
            activation: activation(c.fused_activation_function()?),
        },
        Some(BuiltinOptionsRef::DepthwiseConv2DOptions(c)) => Options::DepthwiseConv2d {
            padding: padding(c.padding()?),
            stride: [
                positive(c.stride_h()?, "stride")?,
                positive(c.stride_w()?, "stride")?,
            ],
            dilation: [
                positive(c.dilation_h_factor()?, "dilation")?,
                positive(c.dilation_w_factor()?, "dilation")?,
            ],
            depth_multiplier: positive(c.depth_multiplier()?, "depth multiplier")?,
            activation: activation(c.fused_activation_function()?),
        },
        Some(BuiltinOptionsRef::Pool2DOptions(p)) => Options::Pool2d {
            padding: padding(p.padding()?),
            stride: [
                positive(p.stride_h()?, "stride")?,
                positive(p.stride_w()?, "stride")?,
            ],
            filter: [
                positive(p.filter_height()?, "filter height")?,
                positive(p.filter_width()?, "filter width")?,
            ],
            activation: activation(p.fused_activation_function()?),
        },
        Some(BuiltinOptionsRef::FullyConnectedOptions(f)) => Options::FullyConnected {
            activation: activation(f.fused_activation_function()?),
            keep_num_dims: f.keep_num_dims()?,
            default_weights: f.weights_format()? == FullyConnectedOptionsWeightsFormat::Default,
        },
        Some(BuiltinOptionsRef::AddOptions(a)) => Options::Add {
            activation: activation(a.fused_activation_function()?),
        },
        Some(BuiltinOptionsRef::SoftmaxOptions(s)) => Options::Softmax { beta: s.beta()? },
        Some(BuiltinOptionsRef::ConcatenationOptions(c)) => Options::Concatenation {
            axis: c.axis()?,
            activation: activation(c.fused_activation_function()?),
        },
        Some(BuiltinOptionsRef::ReducerOptions(r)) => Options::Reducer {
            keep_dims: r.keep_dims()?,
        },
        _ => Options::None,
    })
}
