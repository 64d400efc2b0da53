//! Translation of an f32 ONNX graph (read, validated and folded by
//! `myelin-onnx`) into a host [`Network`].
//!
//! Layout: myelin keeps one sample channel-major (`C x H x W`, `C x T`),
//! which is ONNX's NCHW / NCT without the batch axis, so tensors map
//! without transposition. Each ONNX value is tracked as its full ONNX dims
//! (with the batch axis, wherever transposes moved it) and the myelin node
//! holding its elements in per-sample row-major order. Shape-only ops
//! (Flatten, Reshape, Squeeze, Unsqueeze, batch-moving Transpose) only
//! change the dims; a myelin reshape node is inserted where a layer needs
//! another `[C, H, W]` view of the same elements.
//!
//! An activation after a dense, conv, add or batch norm that is its only
//! reader is fused into it. LeakyRelu(`a`), which the engine lacks, becomes
//! `a * x + relu((1 - a) * x)`: two per-channel affine (batch-norm) nodes
//! and an add, exact in f32 up to rounding.

mod ops;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use myelin_core::model::{Activation, Shape, shape_len};
use myelin_onnx::{Node, OnnxGraph};

use crate::graph::{INPUT, NodeOp, NodeSpec};
use crate::net::{LayerSpec, Network, build_layer};

/// Reads the ONNX model at `path` and returns a validated f32 myelin model
/// file.
pub fn import(path: &Path) -> Result<Vec<u8>> {
    let net = load_network(path)?;
    net.encode()
        .map_err(|e| anyhow!("{}: the translated network is invalid: {e}", path.display()))
}

/// Translates the bytes of an ONNX model (external data, if any, is read
/// from `dir` only) into a validated f32 myelin model file.
pub fn import_bytes(bytes: &[u8], dir: Option<&Path>) -> Result<Vec<u8>> {
    let g = myelin_onnx::parse(bytes, dir)?;
    let net = to_network(&g)?;
    net.encode()
        .map_err(|e| anyhow!("the translated network is invalid: {e}"))
}

/// Reads the ONNX model at `path` and translates it into a network with the
/// file's weights.
pub fn load_network(path: &Path) -> Result<Network> {
    let g = myelin_onnx::load(path).with_context(|| format!("{}", path.display()))?;
    to_network(&g).with_context(|| format!("{}", path.display()))
}

/// Translates a loaded ONNX graph into a network with its weights. Errors
/// name the ONNX node and the op or attribute that has no translation.
pub fn to_network(g: &OnnxGraph) -> Result<Network> {
    if g.inputs.len() != 1 {
        bail!(
            "the graph has {} inputs; myelin models take one",
            g.inputs.len()
        );
    }
    if g.outputs.len() != 1 {
        bail!(
            "the graph has {} outputs; myelin models give one",
            g.outputs.len()
        );
    }
    let input = &g.inputs[0];
    let mut dims = Vec::with_capacity(input.dims.len());
    for (i, d) in input.dims.iter().enumerate() {
        match (i, d.fixed()) {
            (0, _) => dims.push(1),
            (_, Some(n)) => dims.push(n),
            (_, None) => bail!("input {}: axis {i} has no fixed size", input.name),
        }
    }
    if dims.is_empty() {
        bail!("input {}: a scalar input has no batch axis", input.name);
    }
    let mut t = Translator::new(g);
    t.vals.insert(
        input.name.clone(),
        Val {
            node: None,
            dims,
            batch: 0,
            time: None,
            exclusive: t.readers(&input.name) == 1,
        },
    );
    for node in &g.nodes {
        t.node(node)
            .with_context(|| format!("node {} ({})", node.name, node.op_type))?;
    }
    t.finish()
}

/// An ONNX value during translation.
#[derive(Debug, Clone)]
struct Val {
    /// The myelin node holding its elements; `None`: the network input.
    node: Option<usize>,
    /// Its ONNX dims, the batch axis counted as 1.
    dims: Vec<usize>,
    /// Which axis is the batch.
    batch: usize,
    /// For an LSTM's every-step output: the time axis (only the last step
    /// exists in myelin).
    time: Option<usize>,
    /// True when this value is the only reader-visible view of the node's
    /// output and has one reader: an activation may then be fused into the
    /// node.
    exclusive: bool,
}

impl Val {
    /// The dims of one sample (the batch axis removed).
    fn sample(&self) -> Vec<usize> {
        let mut d = self.dims.clone();
        d.remove(self.batch);
        d
    }

    fn len(&self) -> usize {
        self.sample().iter().product()
    }
}

/// The `[C, H, W]` myelin reads samples of `dims` as by default: rank 1 is a
/// vector `[1, 1, n]`, rank 2 a time series `[C, 1, T]`, rank 3 an image;
/// leading axes of a higher rank merge into the channels.
fn default_shape(dims: &[usize]) -> Shape {
    match *dims {
        [] => [1, 1, 1],
        [n] => [1, 1, n],
        [c, t] => [c, 1, t],
        _ => {
            let r = dims.len();
            [dims[..r - 2].iter().product(), dims[r - 2], dims[r - 1]]
        }
    }
}

/// The `[C, H, W]` with axis 0 of `dims` as the channels (batch norm,
/// concat): a vector of `n` is `[n, 1, 1]`.
fn channel_shape(dims: &[usize]) -> Shape {
    match *dims {
        [] => [1, 1, 1],
        [n] => [n, 1, 1],
        _ => default_shape(dims),
    }
}

/// One myelin node being built.
struct Built {
    spec: NodeSpec,
    out: Shape,
    /// Tensor data in the layer's order; empty: a layer without tensors.
    tensors: Vec<Vec<f32>>,
}

struct Translator<'g> {
    g: &'g OnnxGraph,
    vals: HashMap<String, Val>,
    /// Values that exist in ONNX but not in myelin, with why.
    missing: HashMap<String, &'static str>,
    readers: HashMap<&'g str, usize>,
    built: Vec<Built>,
    input_shape: Option<Shape>,
}

impl<'g> Translator<'g> {
    fn new(g: &'g OnnxGraph) -> Self {
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for n in &g.nodes {
            for i in n.inputs.iter().filter(|i| !i.is_empty()) {
                *readers.entry(i.as_str()).or_default() += 1;
            }
        }
        for o in &g.outputs {
            *readers.entry(o.name.as_str()).or_default() += 1;
        }
        Translator {
            g,
            vals: HashMap::new(),
            missing: HashMap::new(),
            readers,
            built: Vec::new(),
            input_shape: None,
        }
    }

    fn readers(&self, name: &str) -> usize {
        self.readers.get(name).copied().unwrap_or(0)
    }

    /// The activation input `i` of `node`.
    fn val(&self, node: &Node, i: usize) -> Result<Val> {
        let name = node
            .input(i)
            .ok_or_else(|| anyhow!("input {i} is missing"))?;
        if let Some(v) = self.vals.get(name) {
            return Ok(v.clone());
        }
        if let Some(why) = self.missing.get(name) {
            bail!("reads {name}, {why}, which myelin does not compute");
        }
        if self.g.initializer(name).is_some() {
            bail!("input {i} ({name}) is a constant; the importer needs a computed tensor here");
        }
        bail!("input {i} ({name}) is unknown")
    }

    /// The f32 constant input `i` of `node`.
    fn constant(&self, node: &Node, i: usize) -> Result<(&'g [usize], &'g [f32])> {
        let name = node
            .input(i)
            .ok_or_else(|| anyhow!("input {i} is missing"))?;
        let t = self.g.initializer(name).ok_or_else(|| {
            anyhow!("input {i} ({name}) must be a constant (an initializer), not a computed tensor")
        })?;
        let data = t
            .as_f32()
            .ok_or_else(|| anyhow!("input {i} ({name}) must be f32, not {}", t.type_name()))?;
        Ok((&t.dims, data))
    }

    /// The optional f32 scalar input `i` of `node`.
    fn scalar(&self, node: &Node, i: usize) -> Result<Option<f32>> {
        if node.input(i).is_none() {
            return Ok(None);
        }
        let (_, d) = self.constant(node, i)?;
        match d {
            [v] => Ok(Some(*v)),
            _ => bail!("input {i} must be a scalar, not {} values", d.len()),
        }
    }

    /// The integer constant input `i` of `node` (axes, shapes, indices).
    fn ints(&self, node: &Node, i: usize) -> Result<Option<&'g [i64]>> {
        let Some(name) = node.input(i) else {
            return Ok(None);
        };
        let t = self
            .g
            .initializer(name)
            .ok_or_else(|| anyhow!("input {i} ({name}) must be a constant"))?;
        t.as_i64()
            .map(Some)
            .ok_or_else(|| anyhow!("input {i} ({name}) must hold integers"))
    }

    /// The myelin shape of the value a myelin node (or the input) holds.
    fn shape(&self, node: Option<usize>) -> Option<Shape> {
        match node {
            None => self.input_shape,
            Some(i) => Some(self.built[i].out),
        }
    }

    /// The myelin name of `v`'s elements viewed as `want` (`None`: any
    /// view), inserting a reshape when the view differs.
    fn source(&mut self, v: &Val, want: Option<Shape>) -> Result<String> {
        if v.time.is_some() {
            bail!(
                "reads every step of an LSTM's output; myelin's LSTM gives the last step only (take y[:, -1])"
            );
        }
        let want_or_default = want.unwrap_or_else(|| default_shape(&v.sample()));
        let have = match self.shape(v.node) {
            Some(s) => s,
            None => {
                // The network input takes the first view a layer asks for.
                self.input_shape = Some(want_or_default);
                want_or_default
            }
        };
        let name = node_name(v.node);
        match want {
            Some(w) if w != have => {
                if shape_len(w) != shape_len(have) {
                    bail!(
                        "a {}x{}x{} view of {} values is impossible",
                        w[0],
                        w[1],
                        w[2],
                        shape_len(have)
                    );
                }
                let i = self.push(LayerSpec::Reshape { shape: w }, vec![name], vec![])?;
                Ok(node_name(Some(i)))
            }
            _ => Ok(name),
        }
    }

    /// Adds a myelin node reading `inputs`; returns its index.
    fn push(
        &mut self,
        spec: LayerSpec,
        inputs: Vec<String>,
        tensors: Vec<Vec<f32>>,
    ) -> Result<usize> {
        let mut shapes = Vec::with_capacity(inputs.len());
        for name in &inputs {
            shapes.push(if name == INPUT {
                self.input_shape.context("the input has no shape yet")?
            } else {
                let i: usize = name[1..].parse().context("node name")?;
                self.built[i].out
            });
        }
        let layer = build_layer(&shapes, &spec)?;
        for (t, d) in layer.tensors.iter().zip(&tensors) {
            if t.data.len() != d.len() {
                bail!(
                    "a {} tensor of {:?} needs {} values, the file gives {}",
                    crate::net::spec_name(&spec),
                    t.dims,
                    t.data.len(),
                    d.len()
                );
            }
        }
        let i = self.built.len();
        self.built.push(Built {
            spec: NodeSpec {
                name: Some(node_name(Some(i))),
                inputs,
                op: NodeOp::Layer(spec),
                dropout: 0.0,
            },
            out: layer.out_shape,
            tensors,
        });
        Ok(i)
    }

    /// Records output `o` of `node` as a new value of myelin node `i`.
    fn define(&mut self, node: &Node, o: usize, i: Option<usize>, dims: Vec<usize>, batch: usize) {
        if let Some(name) = node.output(o) {
            let exclusive = self.readers(name) == 1;
            self.vals.insert(
                name.to_string(),
                Val {
                    node: i,
                    dims,
                    batch,
                    time: None,
                    exclusive,
                },
            );
        }
    }

    /// Records output 0 of `node` as a view (new dims) of `v`'s elements.
    fn view(&mut self, node: &Node, v: &Val, dims: Vec<usize>, batch: usize, time: Option<usize>) {
        if let Some(name) = node.output(0) {
            let exclusive = v.exclusive && self.readers(name) == 1;
            self.vals.insert(
                name.to_string(),
                Val {
                    node: v.node,
                    dims,
                    batch,
                    time,
                    exclusive,
                },
            );
        }
    }

    /// Applies `act` to input 0: fused into the node before when this is its
    /// only reader, otherwise a node of its own.
    fn activate(&mut self, node: &Node, act: Activation) -> Result<()> {
        let v = self.val(node, 0)?;
        if v.time.is_none()
            && v.exclusive
            && let Some(i) = v.node
            && let NodeOp::Layer(spec) = &mut self.built[i].spec.op
            && let Some(slot) = activation_slot(spec)
            && *slot == Activation::Identity
        {
            *slot = act;
            self.view(node, &v, v.dims.clone(), v.batch, None);
            return Ok(());
        }
        let src = self.source(&v, None)?;
        let i = self.push(LayerSpec::Activate(act), vec![src], vec![])?;
        self.define(node, 0, Some(i), v.dims, v.batch);
        Ok(())
    }

    fn finish(self) -> Result<Network> {
        let out = &self.g.outputs[0].name;
        let v = self
            .vals
            .get(out)
            .ok_or_else(|| anyhow!("the graph output {out} is not computed"))?;
        if v.time.is_some() {
            bail!("the graph output {out} is every step of an LSTM; myelin gives the last step");
        }
        if v.node.is_none() || v.node != self.built.len().checked_sub(1) {
            bail!("the graph output {out} must be the last node's output");
        }
        let input = self.input_shape.context("no layer reads the graph input")?;
        let nodes: Vec<NodeSpec> = self.built.iter().map(|b| b.spec.clone()).collect();
        let mut net = Network::from_nodes(input, &nodes)?;
        for (layer, b) in net.layers.iter_mut().zip(&self.built) {
            for (t, d) in layer.tensors.iter_mut().zip(&b.tensors) {
                t.data.copy_from_slice(d);
            }
        }
        Ok(net)
    }
}

/// The activation field of a layer that has one.
fn activation_slot(spec: &mut LayerSpec) -> Option<&mut Activation> {
    match spec {
        LayerSpec::Dense { activation, .. }
        | LayerSpec::Conv { activation, .. }
        | LayerSpec::Conv2d { activation, .. }
        | LayerSpec::Add { activation }
        | LayerSpec::BatchNorm { activation, .. } => Some(activation),
        _ => None,
    }
}

fn node_name(i: Option<usize>) -> String {
    match i {
        None => INPUT.to_string(),
        Some(i) => format!("n{i}"),
    }
}

/// `axis` (negative counts from the end) within `rank`.
fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&a) {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Workspace;
    use crate::npy::{NpyData, read_npy};
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/onnx-tests")
    }

    fn f32s(d: NpyData) -> Vec<f32> {
        match d {
            NpyData::F32(v) => v,
            other => panic!("expected f32 data, got {other:?}"),
        }
    }

    /// The translated network's outputs against onnxruntime's, within 1e-4
    /// absolute or relative.
    fn matches_onnxruntime(name: &str) {
        let net = load_network(&dir().join(format!("{name}.onnx"))).unwrap();
        let x = read_npy(dir().join(format!("{name}.inputs.npy"))).unwrap();
        let want = read_npy(dir().join(format!("{name}.outputs.npy"))).unwrap();
        let n = x.shape[0];
        let (x, want) = (f32s(x.data), f32s(want.data));
        assert_eq!(x.len(), n * net.input_len(), "{name}: input size");
        // The core's inference (what `myelin run` and the boards use), and
        // the training engine where it applies (it leaves softmax to the loss).
        let bytes = crate::quantize::AlignedBytes::new(&net.encode().unwrap());
        let model = myelin_core::model::Model::parse(bytes.bytes()).unwrap();
        let mut scratch = vec![0.0; myelin_core::model::scratch_len(&model)];
        let mut got = Vec::new();
        for sample in x.chunks_exact(net.input_len()) {
            got.extend_from_slice(model.infer(sample, &mut scratch).unwrap());
        }
        assert_eq!(got.len(), want.len(), "{name}: output size");
        let mut ws = Workspace::new(&net, n);
        ws.x.copy_from_slice(&x);
        let mut engine = ws.forward(&net, n).to_vec();
        if net.layers.last().map(|l| l.activation) == Some(Activation::Softmax) {
            let classes = net.layers.last().map_or(0, |l| l.out_len());
            for row in engine.chunks_exact_mut(classes) {
                let mut tmp = row.to_vec();
                myelin_core::kernels::softmax(row, &mut tmp);
                row.copy_from_slice(&tmp);
            }
        }
        for (i, (&e, &c)) in engine.iter().zip(&got).enumerate() {
            assert!((e - c).abs() <= 1e-5, "{name}[{i}]: engine {e}, core {c}");
        }
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let err = (g - w).abs();
            assert!(
                err <= 1e-4 || err <= 1e-4 * w.abs(),
                "{name}[{i}]: myelin {g}, onnxruntime {w}"
            );
        }
    }

    #[test]
    fn residual_cnn_matches_onnxruntime() {
        matches_onnxruntime("res_cnn");
        matches_onnxruntime("res_cnn_bn");
    }

    #[test]
    fn depthwise_separable_cnn_matches_onnxruntime() {
        matches_onnxruntime("ds_cnn");
    }

    #[test]
    fn tabular_mlp_matches_onnxruntime() {
        matches_onnxruntime("tabular_mlp");
    }

    #[test]
    fn lstm_matches_onnxruntime() {
        matches_onnxruntime("lstm");
    }

    #[test]
    fn conv1d_matches_onnxruntime() {
        matches_onnxruntime("conv1d");
    }

    fn error_of(name: &str, edit: impl FnOnce(&mut OnnxGraph)) -> String {
        let mut g = myelin_onnx::load(&dir().join(format!("{name}.onnx"))).unwrap();
        edit(&mut g);
        format!("{:#}", to_network(&g).unwrap_err())
    }

    #[test]
    fn untranslatable_nodes_are_named() {
        let e = error_of("tabular_mlp", |g| g.nodes[1].op_type = "Elu".into());
        assert!(
            e.contains("Elu") && e.contains("no myelin translation"),
            "{e}"
        );
        let e = error_of("ds_cnn", |g| {
            let clip = g.nodes.iter_mut().find(|n| n.op_type == "Clip").unwrap();
            let hi = clip.inputs[2].clone();
            g.initializers
                .insert(hi, myelin_onnx::Tensor::f32(vec![], vec![4.0]).unwrap());
        });
        assert!(e.contains("Clip") && e.contains("[0, 4]"), "{e}");
        let e = error_of("res_cnn", |g| {
            let conv = g.nodes.iter_mut().find(|n| n.op_type == "Conv").unwrap();
            conv.attributes
                .insert("dilations".into(), myelin_onnx::Attribute::Ints(vec![2, 2]));
        });
        assert!(e.contains("Conv") && e.contains("dilations"), "{e}");
    }
}
