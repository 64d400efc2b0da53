//! From the decoded protobuf to nodes, values and constants: opsets, graph
//! inputs and outputs, initializers, attributes.

use crate::error::OnnxError;
use crate::external::DataSource;
use crate::graph::{Attribute, Dim, Node, ValueInfo};
use crate::proto::{self, ModelProto};
use crate::tensor::{self, MAX_ELEMENTS, Tensor, dtype};
use std::collections::{BTreeMap, HashMap};

/// Lowest default-domain opset accepted.
pub const MIN_OPSET: i64 = 13;
/// Highest default-domain opset accepted.
pub const MAX_OPSET: i64 = 20;

/// The unfolded contents of a model.
pub(crate) struct Raw {
    pub ir_version: i64,
    pub opset: i64,
    pub producer: String,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub initializers: HashMap<String, Tensor>,
    pub nodes: Vec<Node>,
}

fn is_default_domain(d: Option<&str>) -> bool {
    matches!(d.unwrap_or(""), "" | "ai.onnx")
}

/// Reads the model's parts, checking what needs no graph walk.
pub(crate) fn read(model: &ModelProto, source: &DataSource<'_>) -> Result<Raw, OnnxError> {
    let mut opset = None;
    for o in &model.opset_import {
        if is_default_domain(o.domain.as_deref()) {
            opset = Some(o.version.unwrap_or(0));
        }
    }
    let opset = opset.ok_or_else(|| {
        OnnxError::Opset("the model imports no default-domain (ai.onnx) opset".into())
    })?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(OnnxError::Opset(format!(
            "opset {opset} is not supported; export with an opset from {MIN_OPSET} to {MAX_OPSET} (opset_version=17)"
        )));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::graph("the model has no graph"))?;
    if !graph.sparse_initializer.is_empty() {
        return Err(OnnxError::graph("sparse initializers are not supported"));
    }
    let mut initializers = HashMap::new();
    for t in &graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(OnnxError::tensor("", "an initializer has no name"));
        }
        let value = tensor::decode(t, source)?;
        if initializers.insert(name.clone(), value).is_some() {
            return Err(OnnxError::tensor(&name, "two initializers have this name"));
        }
    }
    let mut inputs = Vec::new();
    for v in &graph.input {
        let name = v.name.as_deref().unwrap_or("");
        if initializers.contains_key(name) {
            continue;
        }
        inputs.push(value_info(v, "input")?);
    }
    let outputs = graph
        .output
        .iter()
        .map(|v| value_info(v, "output"))
        .collect::<Result<Vec<_>, _>>()?;
    if outputs.is_empty() {
        return Err(OnnxError::graph("the graph has no output"));
    }
    let mut nodes = Vec::with_capacity(graph.node.len());
    for (i, n) in graph.node.iter().enumerate() {
        nodes.push(node(n, i, source)?);
    }
    let producer = format!(
        "{} {}",
        model.producer_name.as_deref().unwrap_or(""),
        model.producer_version.as_deref().unwrap_or("")
    )
    .trim()
    .to_string();
    Ok(Raw {
        ir_version: model.ir_version.unwrap_or(0),
        opset,
        producer,
        inputs,
        outputs,
        initializers,
        nodes,
    })
}

/// A graph input or output: f32, known rank, only axis 0 symbolic.
fn value_info(v: &proto::ValueInfoProto, what: &str) -> Result<ValueInfo, OnnxError> {
    let name = v.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err(OnnxError::graph(format!("a graph {what} has no name")));
    }
    let err = |reason: String| OnnxError::graph(format!("{what} `{name}`: {reason}"));
    let Some(proto::type_proto::Value::TensorType(t)) =
        v.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(err("is not a tensor".into()));
    };
    let et = t.elem_type.unwrap_or(0);
    if et != dtype::FLOAT {
        return Err(err(format!(
            "element type {} is not supported; the importer takes f32 graphs",
            dtype::name(et)
        )));
    }
    let shape = t.shape.as_ref().ok_or_else(|| err("has no shape".into()))?;
    let mut dims = Vec::with_capacity(shape.dim.len());
    let mut count: usize = 1;
    for (axis, d) in shape.dim.iter().enumerate() {
        use proto::tensor_shape_proto::dimension::Value;
        let dim = match &d.value {
            Some(Value::DimValue(n)) if *n > 0 => {
                let n = usize::try_from(*n).unwrap_or(usize::MAX);
                count = count
                    .checked_mul(n)
                    .filter(|&c| c <= MAX_ELEMENTS)
                    .ok_or_else(|| err(format!("dims hold more than {MAX_ELEMENTS} elements")))?;
                Dim::Fixed(n)
            }
            Some(Value::DimValue(n)) => return Err(err(format!("axis {axis} has size {n}"))),
            Some(Value::DimParam(p)) => Dim::Symbolic(p.clone()),
            None => Dim::Symbolic(String::new()),
        };
        if axis > 0 && dim.fixed().is_none() {
            return Err(err(format!(
                "axis {axis} is symbolic; only the batch axis 0 may be (export with fixed sizes)"
            )));
        }
        dims.push(dim);
    }
    Ok(ValueInfo { name, dims })
}

/// A node with its attributes decoded.
fn node(n: &proto::NodeProto, index: usize, source: &DataSource<'_>) -> Result<Node, OnnxError> {
    let op_type = n.op_type.clone().unwrap_or_default();
    let name = match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("{op_type}_{index}"),
    };
    let fail = |reason: String| OnnxError::Node {
        name: name.clone(),
        op_type: op_type.clone(),
        reason,
    };
    if op_type.is_empty() {
        return Err(fail("has no op type".into()));
    }
    if !is_default_domain(n.domain.as_deref()) {
        return Err(fail(format!(
            "domain `{}` is not supported (only the default ai.onnx ops)",
            n.domain.as_deref().unwrap_or("")
        )));
    }
    let mut attributes = BTreeMap::new();
    for a in &n.attribute {
        let an = a.name.clone().unwrap_or_default();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        use proto::attribute_proto::AttributeType as T;
        let value = match T::try_from(a.r#type.unwrap_or(0)) {
            Ok(T::Int) => Attribute::Int(a.i.unwrap_or(0)),
            Ok(T::Float) => Attribute::Float(a.f.unwrap_or(0.0)),
            Ok(T::Ints) => Attribute::Ints(a.ints.clone()),
            Ok(T::Floats) => Attribute::Floats(a.floats.clone()),
            Ok(T::String) => Attribute::String(text(a.s.as_deref().unwrap_or(&[]))),
            Ok(T::Strings) => Attribute::Strings(a.strings.iter().map(|s| text(s)).collect()),
            Ok(T::Tensor) => {
                let t = a
                    .t
                    .as_ref()
                    .ok_or_else(|| fail(format!("attribute `{an}` is TENSOR but holds none")))?;
                Attribute::Tensor(
                    tensor::decode(t, source).map_err(|e| e.in_node(&name, &op_type))?,
                )
            }
            Ok(other) => {
                return Err(fail(format!(
                    "attribute `{an}` is of kind {}, which is not supported",
                    other.as_str_name()
                )));
            }
            Err(_) => {
                return Err(fail(format!(
                    "attribute `{an}` has unknown kind {}",
                    a.r#type.unwrap_or(0)
                )));
            }
        };
        if attributes.insert(an.clone(), value).is_some() {
            return Err(fail(format!("attribute `{an}` appears twice")));
        }
    }
    Ok(Node {
        name,
        op_type,
        inputs: n.input.clone(),
        outputs: n.output.clone(),
        attributes,
    })
}
