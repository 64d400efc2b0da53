//! Folding at load: evaluates the shape-computing subgraphs PyTorch emits on
//! constants, removes Identity and Dropout, and leaves compute nodes whose
//! constant arguments are initializers.
//!
//! The batch size is the one value not known at load: `Shape` of an input
//! with a symbolic axis 0 gives a shape whose first entry is "the batch".
//! Such values may flow through Gather, Unsqueeze, Squeeze, Concat, Cast and
//! Slice, and are accepted in two places only: as a Reshape target whose
//! batch entry is first (it becomes 0, "keep axis 0"), and as
//! `ConstantOfShape` zeros given as an LSTM's initial state (the input is
//! dropped: ONNX's default initial state is zero).

use crate::error::OnnxError;
use crate::eval::{self, Budget};
use crate::graph::{Dim, Node, ValueInfo};
use crate::ops;
use crate::tensor::{Tensor, TensorData, dtype};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One entry of a shape that depends on the batch size.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sym {
    Known(i64),
    Batch,
}

/// A value that depends on the batch size.
#[derive(Debug, Clone)]
enum SymValue {
    /// Integers of rank 0 or 1, some of which are the batch size.
    Ints { dims: Vec<usize>, vals: Vec<Sym> },
    /// Zeros of a batch-dependent shape.
    Zeros,
}

/// What a name stands for while folding.
enum Kind<'a> {
    Const(&'a Tensor),
    Sym(&'a SymValue),
    Runtime,
}

/// Ops evaluated at load when their inputs are constant.
const FOLDABLE: &[&str] = &[
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Cast",
    "Range",
    "Slice",
    "ConstantOfShape",
    "Reshape",
];

/// The folded graph.
pub(crate) struct Folded {
    pub nodes: Vec<Node>,
    pub initializers: BTreeMap<String, Tensor>,
}

struct Folder<'a> {
    consts: HashMap<String, Tensor>,
    syms: HashMap<String, SymValue>,
    inputs: HashMap<&'a str, &'a [Dim]>,
    outputs: HashSet<&'a str>,
    consumed: HashSet<String>,
    alias: HashMap<String, String>,
    produced_by: HashMap<String, usize>,
    out: Vec<Node>,
    budget: Budget,
}

/// Folds `nodes` (in topological order).
pub(crate) fn fold(
    nodes: Vec<Node>,
    initializers: HashMap<String, Tensor>,
    inputs: &[ValueInfo],
    outputs: &[ValueInfo],
    file_len: usize,
) -> Result<Folded, OnnxError> {
    let mut consumed: HashSet<String> = nodes
        .iter()
        .flat_map(|n| n.inputs.iter().cloned())
        .collect();
    consumed.extend(outputs.iter().map(|o| o.name.clone()));
    let mut f = Folder {
        consts: initializers,
        syms: HashMap::new(),
        inputs: inputs
            .iter()
            .map(|v| (v.name.as_str(), v.dims.as_slice()))
            .collect(),
        outputs: outputs.iter().map(|v| v.name.as_str()).collect(),
        consumed,
        alias: HashMap::new(),
        produced_by: HashMap::new(),
        out: Vec::new(),
        budget: Budget {
            left: file_len.saturating_mul(2).saturating_add(1 << 20),
        },
    };
    for node in nodes {
        f.node(node)?;
    }
    for o in outputs {
        if !f.produced_by.contains_key(&o.name) {
            return Err(OnnxError::graph(format!(
                "output `{}` is not computed by any node (it is a constant or a graph input)",
                o.name
            )));
        }
    }
    let mut initializers = BTreeMap::new();
    for n in &f.out {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            if let Some(t) = f.consts.get(i) {
                initializers.entry(i.clone()).or_insert_with(|| t.clone());
            }
        }
    }
    Ok(Folded {
        nodes: f.out,
        initializers,
    })
}

impl<'a> Folder<'a> {
    fn kind(&self, name: &str) -> Kind<'_> {
        if let Some(t) = self.consts.get(name) {
            Kind::Const(t)
        } else if let Some(s) = self.syms.get(name) {
            Kind::Sym(s)
        } else {
            Kind::Runtime
        }
    }

    fn resolve(&self, name: &str) -> String {
        self.alias
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    fn node(&mut self, mut node: Node) -> Result<(), OnnxError> {
        for i in node.inputs.iter_mut() {
            if !i.is_empty() {
                *i = self.resolve(i);
            }
        }
        let op = node.op_type.as_str();
        match op {
            "Identity" | "Dropout" => return self.pass_through(&node),
            "Constant" => {
                let t = constant(&node)?;
                return self.put(&node, t);
            }
            _ => {}
        }
        if FOLDABLE.contains(&op) && self.foldable(&node) {
            let has_sym = node.inputs.iter().any(|i| self.syms.contains_key(i));
            let sym_shape = op == "Shape"
                && node
                    .input(0)
                    .and_then(|i| self.inputs.get(i))
                    .is_some_and(|d| d.iter().any(|d| d.fixed().is_none()));
            if has_sym || sym_shape {
                let v = self.eval_sym(&node)?;
                let out = node
                    .output(0)
                    .ok_or_else(|| node.error("has no output"))?
                    .to_string();
                self.syms.insert(out, v);
                return Ok(());
            }
            let mut budget = std::mem::replace(&mut self.budget, Budget { left: 0 });
            let t = self.eval(&node, &mut budget);
            self.budget = budget;
            let t = t?;
            return self.put(&node, t);
        }
        if op == "ConstantOfShape" || op == "Shape" {
            return Err(node.error("its input is computed at run time, so it cannot be folded at load; export with a static shape or use flatten instead of view(x.size(0), -1)"));
        }
        self.emit(node)
    }

    /// True when every input needed is known at load.
    fn foldable(&self, node: &Node) -> bool {
        if node.op_type == "Shape" {
            return node
                .input(0)
                .is_some_and(|i| self.consts.contains_key(i) || self.inputs.contains_key(i));
        }
        node.inputs
            .iter()
            .filter(|i| !i.is_empty())
            .all(|i| !matches!(self.kind(i), Kind::Runtime))
    }

    fn put(&mut self, node: &Node, t: Tensor) -> Result<(), OnnxError> {
        let out = node.output(0).ok_or_else(|| node.error("has no output"))?;
        if self.outputs.contains(out) {
            return Err(node.error(format!("graph output `{out}` would be a constant")));
        }
        self.consts.insert(out.to_string(), t);
        Ok(())
    }

    /// Identity and Dropout: the output is another name for the input.
    fn pass_through(&mut self, node: &Node) -> Result<(), OnnxError> {
        let input = node
            .input(0)
            .ok_or_else(|| node.error("has no input"))?
            .to_string();
        let out = node
            .output(0)
            .ok_or_else(|| node.error("has no output"))?
            .to_string();
        if let Some(mask) = node.output(1)
            && self.consumed.contains(mask)
        {
            return Err(node.error(format!(
                "its mask output `{mask}` is used; only inference Dropout is supported"
            )));
        }
        if !self.outputs.contains(out.as_str()) {
            self.alias.insert(out, input);
            return Ok(());
        }
        // The output is a graph output: the producer takes its name.
        let Some(&p) = self.produced_by.get(&input) else {
            return Err(node.error(format!(
                "graph output `{out}` would be `{input}`, which no compute node produces"
            )));
        };
        if self.outputs.contains(input.as_str()) {
            return Err(node.error(format!(
                "graph outputs `{input}` and `{out}` are the same value"
            )));
        }
        for o in self.out[p].outputs.iter_mut().filter(|o| **o == input) {
            o.clone_from(&out);
        }
        self.produced_by.remove(&input);
        self.produced_by.insert(out.clone(), p);
        for v in self.alias.values_mut().filter(|v| **v == input) {
            v.clone_from(&out);
        }
        self.alias.insert(input, out);
        Ok(())
    }

    fn emit(&mut self, mut node: Node) -> Result<(), OnnxError> {
        if !ops::SUPPORTED_OPS.contains(&node.op_type.as_str()) {
            return Err(OnnxError::UnsupportedOp {
                name: node.name.clone(),
                op_type: node.op_type.clone(),
            });
        }
        for i in 0..node.inputs.len() {
            let name = node.inputs[i].clone();
            if name.is_empty() {
                continue;
            }
            let integer = ops::integer_input(&node.op_type, i);
            match self.kind(&name) {
                Kind::Runtime => {}
                Kind::Const(t) => match (&t.data, integer) {
                    (TensorData::F32(_), false) | (TensorData::I64(_), true) => {}
                    (_, false) => return Err(node.error(format!("input {i} `{name}` is an integer tensor; compute tensors must be f32"))),
                    (_, true) => return Err(node.error(format!("input {i} `{name}` must be an integer tensor (shape, axes or indices), not f32"))),
                },
                Kind::Sym(s) => match (node.op_type.as_str(), i, s) {
                    ("Reshape", 1, SymValue::Ints { dims, vals }) if dims.len() == 1 && vals.iter().skip(1).all(|v| *v != Sym::Batch) => {
                        if node.int_or("allowzero", 0)? != 0 {
                            return Err(node.error("a batch-dependent shape with allowzero=1 cannot be folded"));
                        }
                        let shape: Vec<i64> = vals.iter().map(|v| if let Sym::Known(k) = v { *k } else { 0 }).collect();
                        let folded = format!("{name}:folded");
                        let len = shape.len();
                        self.consts.insert(folded.clone(), Tensor { dims: vec![len], data: TensorData::I64(shape) });
                        node.inputs[i] = folded;
                    }
                    ("LSTM", 5 | 6, SymValue::Zeros) => node.inputs[i].clear(),
                    _ => return Err(node.error(format!("input {i} `{name}` depends on the batch size, which is known only at run time"))),
                },
            }
        }
        let idx = self.out.len();
        for o in node.outputs.iter().filter(|o| !o.is_empty()) {
            self.produced_by.insert(o.clone(), idx);
        }
        self.out.push(node);
        Ok(())
    }

    fn input_const(&self, node: &Node, i: usize) -> Result<Option<&Tensor>, OnnxError> {
        match node.input(i) {
            None => Ok(None),
            Some(name) => match self.kind(name) {
                Kind::Const(t) => Ok(Some(t)),
                _ => Err(node.error(format!("input {i} `{name}` is not a constant"))),
            },
        }
    }

    fn need(&self, node: &Node, i: usize) -> Result<&Tensor, OnnxError> {
        self.input_const(node, i)?
            .ok_or_else(|| node.error(format!("input {i} is missing")))
    }

    fn ints(&self, node: &Node, i: usize) -> Result<Option<&[i64]>, OnnxError> {
        match self.input_const(node, i)? {
            None => Ok(None),
            Some(t) => t
                .as_i64()
                .map(Some)
                .ok_or_else(|| node.error(format!("input {i} must be integers"))),
        }
    }

    /// Axes from input 1 (opset 13+) or the `axes` attribute.
    fn axes(&self, node: &Node) -> Result<Option<Vec<i64>>, OnnxError> {
        if let Some(a) = self.ints(node, 1)? {
            return Ok(Some(a.to_vec()));
        }
        Ok(node.ints("axes")?.map(<[i64]>::to_vec))
    }

    fn eval(&self, node: &Node, budget: &mut Budget) -> Result<Tensor, OnnxError> {
        match node.op_type.as_str() {
            "Shape" => {
                let dims: Vec<i64> = match node.input(0).map(|i| self.kind(i)) {
                    Some(Kind::Const(t)) => t.dims.iter().map(|&d| d as i64).collect(),
                    _ => {
                        let d = node
                            .input(0)
                            .and_then(|i| self.inputs.get(i))
                            .ok_or_else(|| node.error("input unknown"))?;
                        d.iter().map(|d| d.fixed().unwrap_or(0) as i64).collect()
                    }
                };
                let (s, e) = shape_range(node, dims.len())?;
                let v = dims[s..e].to_vec();
                Ok(Tensor {
                    dims: vec![v.len()],
                    data: TensorData::I64(v),
                })
            }
            "Gather" => eval::gather(
                node,
                self.need(node, 0)?,
                self.need(node, 1)?,
                node.int_or("axis", 0)?,
                budget,
            ),
            "Unsqueeze" => {
                let t = self.need(node, 0)?.clone();
                let axes = self.axes(node)?.ok_or_else(|| node.error("needs axes"))?;
                let dims = eval::unsqueeze_dims(node, &t.dims, &axes)?;
                Ok(Tensor { dims, data: t.data })
            }
            "Squeeze" => {
                let t = self.need(node, 0)?.clone();
                let axes = self.axes(node)?;
                let dims = eval::squeeze_dims(node, &t.dims, axes.as_deref())?;
                Ok(Tensor { dims, data: t.data })
            }
            "Concat" => {
                let parts: Vec<&Tensor> = (0..node.inputs.len())
                    .map(|i| self.need(node, i))
                    .collect::<Result<_, _>>()?;
                let axis = node.int("axis")?.ok_or_else(|| node.error("needs axis"))?;
                eval::concat(node, &parts, axis, budget)
            }
            "Cast" => eval::cast(
                node,
                self.need(node, 0)?,
                node.int("to")?.ok_or_else(|| node.error("needs `to`"))?,
            ),
            "Range" => eval::range(
                node,
                self.need(node, 0)?,
                self.need(node, 1)?,
                self.need(node, 2)?,
                budget,
            ),
            "Slice" => {
                let data = self.need(node, 0)?;
                let starts = self
                    .ints(node, 1)?
                    .ok_or_else(|| node.error("needs starts"))?;
                let ends = self
                    .ints(node, 2)?
                    .ok_or_else(|| node.error("needs ends"))?;
                eval::slice(
                    node,
                    data,
                    starts,
                    ends,
                    self.ints(node, 3)?,
                    self.ints(node, 4)?,
                    budget,
                )
            }
            "ConstantOfShape" => {
                let shape = self
                    .ints(node, 0)?
                    .ok_or_else(|| node.error("needs a shape"))?;
                let (dims, _) = crate::tensor::checked_dims(&node.name, shape)
                    .map_err(|e| e.in_node(&node.name, &node.op_type))?;
                let n = budget.take(node, &dims)?;
                let data = match node.tensor("value")? {
                    None => TensorData::F32(vec![0.0; n]),
                    Some(v) => match &v.data {
                        TensorData::F32(x) if x.len() == 1 => TensorData::F32(vec![x[0]; n]),
                        TensorData::I64(x) if x.len() == 1 => TensorData::I64(vec![x[0]; n]),
                        _ => return Err(node.error("`value` must hold one element")),
                    },
                };
                Ok(Tensor { dims, data })
            }
            "Reshape" => {
                let t = self.need(node, 0)?.clone();
                let shape = self
                    .ints(node, 1)?
                    .ok_or_else(|| node.error("needs a shape"))?;
                let dims =
                    eval::reshape_dims(node, &t.dims, shape, node.int_or("allowzero", 0)? != 0)?;
                Ok(Tensor { dims, data: t.data })
            }
            _ => Err(node.error("cannot be folded")),
        }
    }

    /// The batch-dependent variant of [`Self::eval`].
    fn eval_sym(&mut self, node: &Node) -> Result<SymValue, OnnxError> {
        let depends = || node.error("depends on the batch size in a way that cannot be folded");
        // Rank-0/1 integer inputs as symbols.
        let sym_input = |i: usize| -> Result<(Vec<usize>, Vec<Sym>), OnnxError> {
            match node.input(i).map(|n| self.kind(n)) {
                Some(Kind::Sym(SymValue::Ints { dims, vals })) => Ok((dims.clone(), vals.clone())),
                Some(Kind::Const(t)) if t.dims.len() <= 1 => {
                    let v = t.as_i64().ok_or_else(depends)?;
                    Ok((t.dims.clone(), v.iter().map(|&x| Sym::Known(x)).collect()))
                }
                _ => Err(depends()),
            }
        };
        // Applies an index-moving op to symbols through a tensor of positions.
        let through =
            |dims: Vec<usize>,
             vals: Vec<Sym>,
             f: &mut dyn FnMut(&Tensor) -> Result<Tensor, OnnxError>| {
                let pos = Tensor {
                    dims,
                    data: TensorData::I64((0..vals.len() as i64).collect()),
                };
                let moved = f(&pos)?;
                if moved.dims.len() > 1 {
                    return Err(depends());
                }
                let idx = moved.as_i64().ok_or_else(depends)?;
                Ok(SymValue::Ints {
                    dims: moved.dims.clone(),
                    vals: idx.iter().map(|&p| vals[p as usize]).collect(),
                })
            };
        match node.op_type.as_str() {
            "Shape" => {
                let d = node
                    .input(0)
                    .and_then(|i| self.inputs.get(i))
                    .ok_or_else(depends)?;
                let (s, e) = shape_range(node, d.len())?;
                let vals: Vec<Sym> = d[s..e]
                    .iter()
                    .map(|d| d.fixed().map_or(Sym::Batch, |n| Sym::Known(n as i64)))
                    .collect();
                Ok(SymValue::Ints {
                    dims: vec![vals.len()],
                    vals,
                })
            }
            "Gather" => {
                let (dims, vals) = sym_input(0)?;
                let idx = self.need(node, 1)?.clone();
                let axis = node.int_or("axis", 0)?;
                let mut budget = Budget { left: 1 << 16 };
                through(dims, vals, &mut |p| {
                    eval::gather(node, p, &idx, axis, &mut budget)
                })
            }
            "Unsqueeze" | "Squeeze" => {
                let (dims, vals) = sym_input(0)?;
                let axes = self.axes(node)?;
                let new = if node.op_type == "Unsqueeze" {
                    eval::unsqueeze_dims(
                        node,
                        &dims,
                        &axes.ok_or_else(|| node.error("needs axes"))?,
                    )?
                } else {
                    eval::squeeze_dims(node, &dims, axes.as_deref())?
                };
                if new.len() > 1 {
                    return Err(depends());
                }
                Ok(SymValue::Ints { dims: new, vals })
            }
            "Concat" => {
                let mut all = Vec::new();
                for i in 0..node.inputs.len() {
                    let (dims, vals) = sym_input(i)?;
                    if dims.len() != 1 {
                        return Err(depends());
                    }
                    all.extend(vals);
                }
                Ok(SymValue::Ints {
                    dims: vec![all.len()],
                    vals: all,
                })
            }
            "Cast"
                if matches!(
                    node.int("to")?.map(|t| t as i32),
                    Some(dtype::INT64 | dtype::INT32)
                ) =>
            {
                let (dims, vals) = sym_input(0)?;
                Ok(SymValue::Ints { dims, vals })
            }
            "Slice" => {
                let (dims, vals) = sym_input(0)?;
                let starts = self
                    .ints(node, 1)?
                    .ok_or_else(|| node.error("needs starts"))?
                    .to_vec();
                let ends = self
                    .ints(node, 2)?
                    .ok_or_else(|| node.error("needs ends"))?
                    .to_vec();
                let axes = self.ints(node, 3)?.map(<[i64]>::to_vec);
                let steps = self.ints(node, 4)?.map(<[i64]>::to_vec);
                let mut budget = Budget { left: 1 << 16 };
                through(dims, vals, &mut |p| {
                    eval::slice(
                        node,
                        p,
                        &starts,
                        &ends,
                        axes.as_deref(),
                        steps.as_deref(),
                        &mut budget,
                    )
                })
            }
            "ConstantOfShape" => {
                let zero = match node.tensor("value")? {
                    None => true,
                    Some(v) => {
                        v.as_f32().is_some_and(|x| x.iter().all(|&x| x == 0.0))
                            || v.as_i64().is_some_and(|x| x.iter().all(|&x| x == 0))
                    }
                };
                if !zero {
                    return Err(node.error("a batch-dependent ConstantOfShape must be zeros"));
                }
                Ok(SymValue::Zeros)
            }
            _ => Err(depends()),
        }
    }
}

/// The `start`/`end` range of a Shape node.
fn shape_range(node: &Node, rank: usize) -> Result<(usize, usize), OnnxError> {
    let r = rank as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let s = clamp(node.int_or("start", 0)?);
    let e = clamp(node.int_or("end", r)?);
    Ok((s, e.max(s)))
}

/// The value of a Constant node.
fn constant(node: &Node) -> Result<Tensor, OnnxError> {
    if let Some(t) = node.tensor("value")? {
        return Ok(t.clone());
    }
    if let Some(v) = node.float("value_float")? {
        return Ok(Tensor {
            dims: vec![],
            data: TensorData::F32(vec![v]),
        });
    }
    if let Some(v) = node.int("value_int")? {
        return Ok(Tensor {
            dims: vec![],
            data: TensorData::I64(vec![v]),
        });
    }
    if let Some(v) = node.floats("value_floats")? {
        return Ok(Tensor {
            dims: vec![v.len()],
            data: TensorData::F32(v.to_vec()),
        });
    }
    if let Some(v) = node.ints("value_ints")? {
        return Ok(Tensor {
            dims: vec![v.len()],
            data: TensorData::I64(v.to_vec()),
        });
    }
    Err(node.error("has no value of a supported kind (value, value_float(s), value_int(s))"))
}
