//! The simplified graph the importer reads: compute nodes in topological
//! order, their constant arguments as initializers, typed attributes.

use crate::error::OnnxError;
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// One axis of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbolic size (the batch; only on axis 0), with its name (may be empty).
    Symbolic(String),
}

impl Dim {
    /// The fixed size, or `None` for a symbolic dim.
    pub fn fixed(&self) -> Option<usize> {
        match self {
            Dim::Fixed(n) => Some(*n),
            Dim::Symbolic(_) => None,
        }
    }
}

/// A graph input or output: an f32 tensor with a name and dims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueInfo {
    /// The value's name, as nodes refer to it.
    pub name: String,
    /// The dims; only axis 0 may be symbolic.
    pub dims: Vec<Dim>,
}

/// A node attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    /// One integer.
    Int(i64),
    /// One float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A string (UTF-8; invalid bytes replaced).
    String(String),
    /// A list of strings.
    Strings(Vec<String>),
    /// A constant tensor.
    Tensor(Tensor),
}

impl Attribute {
    /// The ONNX name of the attribute's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attribute::Int(_) => "INT",
            Attribute::Float(_) => "FLOAT",
            Attribute::Ints(_) => "INTS",
            Attribute::Floats(_) => "FLOATS",
            Attribute::String(_) => "STRING",
            Attribute::Strings(_) => "STRINGS",
            Attribute::Tensor(_) => "TENSOR",
        }
    }
}

/// A compute node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's name (may be empty in the file; then `op_type` and its index, e.g. `Relu_3`).
    pub name: String,
    /// The op type, e.g. `Conv`.
    pub op_type: String,
    /// Input value names; an empty string is an omitted optional input.
    pub inputs: Vec<String>,
    /// Output value names; an empty string is an omitted optional output.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attributes: BTreeMap<String, Attribute>,
}

impl Node {
    /// An error about this node.
    pub fn error(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            name: self.name.clone(),
            op_type: self.op_type.clone(),
            reason: reason.into(),
        }
    }

    /// Input `i`, or `None` when absent or omitted (empty name).
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Output `i`, or `None` when absent or omitted.
    pub fn output(&self, i: usize) -> Option<&str> {
        self.outputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes.get(name)
    }

    fn wrong(&self, name: &str, want: &str, got: &Attribute) -> OnnxError {
        self.error(format!(
            "attribute `{name}` is {}, expected {want}",
            got.kind()
        ))
    }

    /// An INT attribute; `Ok(None)` when absent, an error when of another kind.
    pub fn int(&self, name: &str) -> Result<Option<i64>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attribute::Int(v)) => Ok(Some(*v)),
            Some(a) => Err(self.wrong(name, "INT", a)),
        }
    }

    /// An INT attribute with a default.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// A FLOAT attribute; `Ok(None)` when absent.
    pub fn float(&self, name: &str) -> Result<Option<f32>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attribute::Float(v)) => Ok(Some(*v)),
            Some(a) => Err(self.wrong(name, "FLOAT", a)),
        }
    }

    /// A FLOAT attribute with a default.
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, OnnxError> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    /// An INTS attribute; `Ok(None)` when absent.
    pub fn ints(&self, name: &str) -> Result<Option<&[i64]>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attribute::Ints(v)) => Ok(Some(v)),
            Some(a) => Err(self.wrong(name, "INTS", a)),
        }
    }

    /// A FLOATS attribute; `Ok(None)` when absent.
    pub fn floats(&self, name: &str) -> Result<Option<&[f32]>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attribute::Floats(v)) => Ok(Some(v)),
            Some(a) => Err(self.wrong(name, "FLOATS", a)),
        }
    }

    /// A STRING attribute; `Ok(None)` when absent.
    pub fn string(&self, name: &str) -> Result<Option<&str>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attribute::String(v)) => Ok(Some(v)),
            Some(a) => Err(self.wrong(name, "STRING", a)),
        }
    }

    /// A STRINGS attribute; `Ok(None)` when absent.
    pub fn strings(&self, name: &str) -> Result<Option<&[String]>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attribute::Strings(v)) => Ok(Some(v)),
            Some(a) => Err(self.wrong(name, "STRINGS", a)),
        }
    }

    /// A TENSOR attribute; `Ok(None)` when absent.
    pub fn tensor(&self, name: &str) -> Result<Option<&Tensor>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attribute::Tensor(v)) => Ok(Some(v)),
            Some(a) => Err(self.wrong(name, "TENSOR", a)),
        }
    }
}

/// A validated, simplified ONNX graph: only compute ops of
/// [`SUPPORTED_OPS`](crate::SUPPORTED_OPS), in topological order, whose
/// constant arguments (weights, shapes, axes) are all in `initializers`.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxGraph {
    /// The file's IR version.
    pub ir_version: i64,
    /// The default-domain (`ai.onnx`) operator-set version, 13 to 20.
    pub opset: i64,
    /// The exporter's name and version, e.g. `pytorch 2.5.0`.
    pub producer: String,
    /// The graph inputs the caller feeds (initializers excluded), f32.
    pub inputs: Vec<ValueInfo>,
    /// The graph outputs, f32.
    pub outputs: Vec<ValueInfo>,
    /// Constants by name: the initializers the nodes use and the folded results.
    pub initializers: BTreeMap<String, Tensor>,
    /// The compute nodes, each after the producers of its inputs.
    pub nodes: Vec<Node>,
}

impl OnnxGraph {
    /// The constant named `name`, if it is one.
    pub fn initializer(&self, name: &str) -> Option<&Tensor> {
        self.initializers.get(name)
    }

    /// The distinct op types of the nodes, sorted.
    pub fn op_types(&self) -> Vec<&str> {
        let mut ops: Vec<&str> = self.nodes.iter().map(|n| n.op_type.as_str()).collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }
}
