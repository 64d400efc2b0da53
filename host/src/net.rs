//! Network descriptions: presets, a TOML format, and the in-memory network
//! (a list of layers with owned tensors) that training edits and the model
//! file stores.

use std::path::Path;

use anyhow::{Context, Result, bail};
use myelin_core::model::{self, Activation, LayerKind, Shape, shape_len};
use myelin_core::train::{Init, Rng};
use serde::{Deserialize, Serialize};

pub use crate::graph::{NodeOp, NodeSpec};

/// One layer as a user describes it; sizes of the input come from the previous layer.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// Fully connected layer with `units` outputs.
    Dense {
        /// Output size.
        units: usize,
        /// Activation of the output.
        activation: Activation,
    },
    /// 2-D convolution with square kernels.
    Conv2d {
        /// Output channels.
        filters: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on each side.
        padding: usize,
        /// Activation of the output.
        activation: Activation,
    },
    /// Max pooling over square windows.
    MaxPool2d {
        /// Window side.
        size: usize,
        /// Stride.
        stride: usize,
    },
    /// LSTM over the rows of the input (one time step per row), returning the
    /// last hidden state.
    Lstm {
        /// Hidden size.
        hidden: usize,
    },
    /// 2-D convolution in its general form: kernel and stride per axis
    /// (height, width), any padding, full or depthwise. A 1-D convolution is
    /// one with kernel height 1 over a `C x 1 x L` input.
    Conv {
        /// Output channels (depthwise: input channels times the multiplier).
        filters: usize,
        /// Kernel height and width.
        kernel: [usize; 2],
        /// Vertical and horizontal stride.
        stride: [usize; 2],
        /// Padding.
        padding: Padding,
        /// Depthwise: each output channel reads one input channel.
        depthwise: bool,
        /// Activation of the output.
        activation: Activation,
    },
    /// Max or average pooling with window and stride per axis and any
    /// padding (average pooling divides by the in-bounds count).
    Pool {
        /// Max (`true`) or average pooling.
        max: bool,
        /// Window height and width.
        size: [usize; 2],
        /// Vertical and horizontal stride.
        stride: [usize; 2],
        /// Padding.
        padding: Padding,
    },
    /// Mean over height and width.
    GlobalAvgPool,
    /// The same values as a flat vector.
    Flatten,
    /// The same values under another `[channels, height, width]` shape.
    Reshape {
        /// The new shape.
        shape: Shape,
    },
    /// Elementwise sum of the inputs (a residual join).
    Add {
        /// Activation of the sum.
        activation: Activation,
    },
    /// Channel concatenation of the inputs.
    Concat,
    /// Batch normalization over channels (running statistics for inference).
    BatchNorm {
        /// Added to the variance.
        eps: f32,
        /// Activation of the output.
        activation: Activation,
    },
    /// An activation on its own.
    Activate(Activation),
}

pub use myelin_core::kernels::Padding;

/// A tensor owned by a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Elements, row-major.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero tensor; more than [`model::MAX_ELEMENTS`] elements (what a
    /// model file can hold) is refused before anything is allocated.
    fn zeros(dims: &[usize]) -> Result<Tensor> {
        let n = dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= model::MAX_ELEMENTS)
            .with_context(|| {
                format!(
                    "a {dims:?} tensor is too large (at most {} elements)",
                    model::MAX_ELEMENTS
                )
            })?;
        Ok(Tensor {
            dims: dims.to_vec(),
            data: vec![0.0; n],
        })
    }
}

/// A layer with its shapes and parameters, as the model file stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// What the layer computes.
    pub kind: LayerKind,
    /// Activation of the output.
    pub activation: Activation,
    /// Input shape.
    pub in_shape: Shape,
    /// Output shape.
    pub out_shape: Shape,
    /// Kind-specific parameters (see [`LayerKind`]).
    pub params: [u32; model::PARAMS],
    /// Weights then biases, in the order [`LayerKind`] lists them.
    pub tensors: Vec<Tensor>,
    /// The values the layer reads: `0` is the network input, `k` layer
    /// `k - 1`'s output (always earlier layers). A chain layer `i` reads `[i]`.
    pub inputs: Vec<usize>,
    /// Training only: the probability with which each input element is
    /// zeroed (inverted dropout: the rest are scaled by `1 / (1 - p)`);
    /// `0` for none. Inference ignores it and model files do not store it.
    pub dropout: f32,
}

impl Layer {
    /// Elements of the input.
    pub fn in_len(&self) -> usize {
        shape_len(self.in_shape)
    }

    /// Elements of the output.
    pub fn out_len(&self) -> usize {
        shape_len(self.out_shape)
    }

    /// Number of parameters.
    pub fn param_count(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len()).sum()
    }
}

/// Most parameters a network may have: a model file's 4 GiB of `f32`s.
pub const MAX_PARAMS: usize = (u32::MAX / 4) as usize;

/// A feed-forward network: an input shape and a list of layers. The last
/// layer's outputs are the class logits.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Shape of one input sample.
    pub input: Shape,
    /// The layers in order.
    pub layers: Vec<Layer>,
}

/// The activation a TOML name stands for.
pub fn parse_activation(s: &str) -> Option<Activation> {
    Some(match s {
        "none" | "identity" | "linear" => Activation::Identity,
        "relu" => Activation::Relu,
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "relu6" => Activation::Relu6,
        _ => return None,
    })
}

/// The shape an IDX sample of `dims` becomes: `[28, 28]` is `[1, 28, 28]`.
pub fn input_shape(dims: &[usize]) -> Result<Shape> {
    Ok(match *dims {
        [w] => [1, 1, w],
        [h, w] => [1, h, w],
        [c, h, w] => [c, h, w],
        _ => bail!("samples of rank {} are not supported (1 to 3)", dims.len()),
    })
}

impl Network {
    /// Builds a chain network from specs, checking every size; weights are
    /// zero until [`Network::init`].
    pub fn from_specs(input: Shape, specs: &[LayerSpec]) -> Result<Network> {
        let nodes: Vec<NodeSpec> = specs.iter().cloned().map(NodeSpec::chain).collect();
        Network::from_nodes(input, &nodes)
    }

    /// Builds a network from a graph description, checking every name and
    /// size; weights are zero until [`Network::init`].
    pub fn from_nodes(input: Shape, nodes: &[NodeSpec]) -> Result<Network> {
        if nodes.is_empty() {
            bail!("a network needs at least one layer");
        }
        let layers = crate::graph::build_layers(input, nodes)?;
        let mut params = 0usize;
        for (i, layer) in layers.iter().enumerate() {
            params = params.saturating_add(layer.param_count());
            if params > MAX_PARAMS {
                bail!(
                    "layer {}: the network has more than {MAX_PARAMS} parameters, more than a model file holds",
                    i + 1
                );
            }
        }
        let last = layers.last().map(|l| l.kind);
        if last != Some(LayerKind::Dense) {
            bail!("the last layer must be dense (it gives the class logits)");
        }
        let net = Network { input, layers };
        // The core's validation is the final word on what a model file may hold.
        net.encode()
            .map_err(|e| anyhow::anyhow!("inconsistent network: {e}"))?;
        Ok(net)
    }

    /// Number of classes (outputs of the last layer).
    pub fn classes(&self) -> usize {
        self.layers.last().map(Layer::out_len).unwrap_or(0)
    }

    /// Elements of one input sample.
    pub fn input_len(&self) -> usize {
        shape_len(self.input)
    }

    /// How many layers read each value (index 0: the network input, `k`:
    /// layer `k - 1`'s output).
    pub fn readers(&self) -> Vec<usize> {
        let mut n = vec![0; self.layers.len() + 1];
        for l in &self.layers {
            for &r in &l.inputs {
                n[r] += 1;
            }
        }
        n
    }

    /// Whether every layer reads the one before it.
    pub fn is_chain(&self) -> bool {
        self.layers.iter().enumerate().all(|(i, l)| l.inputs == [i])
    }

    /// Total parameters.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(Layer::param_count).sum()
    }

    /// Initializes weights with the core's initializers: He-uniform for ReLU
    /// layers, Xavier-uniform otherwise; biases zero, LSTM forget-gate bias one.
    pub fn init(&mut self, rng: &mut Rng) {
        for layer in &mut self.layers {
            let (fan_in, fan_out) = match layer.kind {
                LayerKind::Dense => (layer.in_len(), layer.out_len()),
                LayerKind::Conv2d => {
                    let k = (layer.params[0] * layer.params[1]) as usize;
                    (layer.in_shape[0] * k, layer.out_shape[0] * k)
                }
                LayerKind::Lstm => (layer.in_shape[2] + layer.out_len(), layer.out_len()),
                _ => continue,
            };
            let init = if layer.activation == Activation::Relu {
                Init::HeUniform
            } else {
                Init::XavierUniform
            };
            let n = layer.tensors.len();
            for (j, t) in layer.tensors.iter_mut().enumerate() {
                if j + 1 == n {
                    t.data.fill(0.0);
                    if layer.kind == LayerKind::Lstm {
                        let h = layer.out_shape[2];
                        t.data[h..2 * h].fill(1.0);
                    }
                } else {
                    init.fill(&mut t.data, fan_in, fan_out, rng);
                }
            }
        }
    }

    /// Encodes the network as a model file (format v1).
    pub fn encode(&self) -> std::result::Result<Vec<u8>, myelin_core::Error> {
        let tensor_descs: Vec<Vec<model::TensorDesc<'_>>> = self
            .layers
            .iter()
            .map(|l| {
                l.tensors
                    .iter()
                    .map(|t| model::TensorDesc {
                        dims: &t.dims,
                        data: model::TensorData::F32(&t.data),
                    })
                    .collect()
            })
            .collect();
        let descs: Vec<model::LayerDesc<'_>> = self
            .layers
            .iter()
            .zip(&tensor_descs)
            .map(|(l, t)| model::LayerDesc {
                kind: l.kind,
                activation: l.activation,
                in_shape: l.in_shape,
                out_shape: l.out_shape,
                params: l.params,
                inputs: &l.inputs,
                tensors: t,
            })
            .collect();
        let len = model::encoded_len(&descs).ok_or(myelin_core::Error::Unsupported {
            what: "model larger than 4 GiB",
        })?;
        let mut out = vec![0u8; len];
        model::encode(self.input, &descs, &mut out)?;
        Ok(out)
    }

    /// Copies a parsed model file into an owned network (f32 tensors only).
    pub fn from_model(m: &model::Model<'_>) -> std::result::Result<Network, myelin_core::Error> {
        let mut layers = Vec::with_capacity(m.layer_count());
        for l in m.layers() {
            let mut tensors = Vec::with_capacity(l.tensor_count());
            for j in 0..l.tensor_count() {
                let t = l.tensor(j).ok_or(myelin_core::Error::Unsupported {
                    what: "missing tensor",
                })?;
                let mut data = vec![0.0; t.len()];
                t.read_f32(&mut data)?;
                tensors.push(Tensor {
                    dims: t.shape().to_vec(),
                    data,
                });
            }
            layers.push(Layer {
                kind: l.kind,
                activation: l.activation,
                in_shape: l.in_shape,
                out_shape: l.out_shape,
                params: l.params,
                tensors,
                inputs: l.inputs().to_vec(),
                dropout: 0.0,
            });
        }
        Ok(Network {
            input: m.input_shape(),
            layers,
        })
    }

    /// Parses model-file bytes into a network.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Network, myelin_core::Error> {
        Network::from_model(&model::Model::parse(bytes)?)
    }
}

/// The lower-case name of a layer description's kind.
pub fn spec_name(spec: &LayerSpec) -> &'static str {
    match spec {
        LayerSpec::Dense { .. } => "dense",
        LayerSpec::Conv2d { .. } => "conv2d",
        LayerSpec::MaxPool2d { .. } => "maxpool2d",
        LayerSpec::Lstm { .. } => "lstm",
        LayerSpec::Conv {
            depthwise: true, ..
        } => "depthwise_conv2d",
        LayerSpec::Conv { .. } => "conv2d",
        LayerSpec::Pool { max: true, .. } => "maxpool2d",
        LayerSpec::Pool { .. } => "avgpool2d",
        LayerSpec::GlobalAvgPool => "global_avgpool",
        LayerSpec::Flatten => "flatten",
        LayerSpec::Reshape { .. } => "reshape",
        LayerSpec::Add { .. } => "add",
        LayerSpec::Concat => "concat",
        LayerSpec::BatchNorm { .. } => "batchnorm",
        LayerSpec::Activate(_) => "activation",
    }
}

fn positive(name: &str, v: usize) -> Result<u32> {
    if v == 0 {
        bail!("{name} must be at least 1");
    }
    u32::try_from(v).with_context(|| format!("{name} {v} is too large"))
}

/// Builds a layer reading values of shapes `inputs` (one, or several for add
/// and concat), with zero tensors; `inputs` of the result is left empty.
pub fn build_layer(inputs: &[Shape], spec: &LayerSpec) -> Result<Layer> {
    let Some(&input) = inputs.first() else {
        bail!("a layer needs an input");
    };
    let joins = matches!(spec, LayerSpec::Add { .. } | LayerSpec::Concat);
    if joins && !(2..=model::MAX_INPUTS).contains(&inputs.len()) {
        bail!(
            "a join reads 2 to {} inputs, not {}",
            model::MAX_INPUTS,
            inputs.len()
        );
    }
    if !joins && inputs.len() != 1 {
        bail!("reads one input, not {}", inputs.len());
    }
    let [c, h, w] = input;
    let mut params = [0u32; model::PARAMS];
    let (kind, activation, out_shape, tensors) = match *spec {
        LayerSpec::Dense { units, activation } => {
            positive("units", units)?;
            let n = shape_len(input);
            (
                LayerKind::Dense,
                activation,
                [1, 1, units],
                vec![Tensor::zeros(&[units, n])?, Tensor::zeros(&[units])?],
            )
        }
        LayerSpec::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            activation,
        } => {
            positive("filters", filters)?;
            params = model::graph::conv_params(
                positive("kernel", kernel)?,
                positive("kernel", kernel)?,
                positive("stride", stride)?,
                u32::try_from(padding).context("padding too large")?,
            );
            let oh = model::window_out(h, kernel, stride, padding);
            let ow = model::window_out(w, kernel, stride, padding);
            let (Some(oh), Some(ow)) = (oh, ow) else {
                bail!("kernel {kernel} (padding {padding}) does not fit the {h}x{w} input");
            };
            (
                LayerKind::Conv2d,
                activation,
                [filters, oh, ow],
                vec![
                    Tensor::zeros(&[filters, c, kernel, kernel])?,
                    Tensor::zeros(&[filters])?,
                ],
            )
        }
        LayerSpec::MaxPool2d { size, stride } => {
            params =
                model::graph::pool_params(positive("size", size)?, positive("stride", stride)?);
            let oh = model::window_out(h, size, stride, 0);
            let ow = model::window_out(w, size, stride, 0);
            let (Some(oh), Some(ow)) = (oh, ow) else {
                bail!("window {size} does not fit the {h}x{w} input");
            };
            (
                LayerKind::MaxPool2d,
                Activation::Identity,
                [c, oh, ow],
                vec![],
            )
        }
        LayerSpec::Lstm { hidden } => {
            params[0] = positive("hidden", hidden)?;
            if c != 1 {
                bail!("an LSTM reads a sequence (1 x steps x features), not {c} channels");
            }
            let gates = hidden.checked_mul(4).context("hidden size too large")?;
            (
                LayerKind::Lstm,
                Activation::Identity,
                [1, 1, hidden],
                vec![
                    Tensor::zeros(&[gates, w])?,
                    Tensor::zeros(&[gates, hidden])?,
                    Tensor::zeros(&[gates])?,
                ],
            )
        }
        LayerSpec::Conv {
            filters,
            kernel,
            stride,
            padding,
            depthwise,
            activation,
        } => {
            positive("filters", filters)?;
            let win = window(h, w, kernel, stride, padding)?;
            let groups = if depthwise { c } else { 1 };
            if depthwise && filters % c != 0 {
                bail!(
                    "a depthwise convolution of {c} channels needs a multiple of {c} filters, not {filters}"
                );
            }
            let g = myelin_core::kernels::ConvGeom::new(c, filters, groups, win)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            params = model::graph::window_params(&win);
            params[model::graph::p::GROUPS] = u32::try_from(groups).context("too many channels")?;
            (
                LayerKind::Conv2d,
                activation,
                [filters, win.out_h, win.out_w],
                vec![
                    Tensor::zeros(&[filters, g.group_in(), kernel[0], kernel[1]])?,
                    Tensor::zeros(&[filters])?,
                ],
            )
        }
        LayerSpec::Pool {
            max,
            size,
            stride,
            padding,
        } => {
            let win = window(h, w, size, stride, padding)?;
            params = model::graph::window_params(&win);
            let kind = if max {
                LayerKind::MaxPool2d
            } else {
                LayerKind::AvgPool2d
            };
            (
                kind,
                Activation::Identity,
                [c, win.out_h, win.out_w],
                vec![],
            )
        }
        LayerSpec::GlobalAvgPool => (
            LayerKind::GlobalAvgPool,
            Activation::Identity,
            [c, 1, 1],
            vec![],
        ),
        LayerSpec::Flatten => (
            LayerKind::Reshape,
            Activation::Identity,
            [1, 1, shape_len(input)],
            vec![],
        ),
        LayerSpec::Reshape { shape } => {
            if shape.contains(&0)
                || shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) != Some(shape_len(input))
            {
                bail!(
                    "shape {}x{}x{} does not hold the {} values of the {c}x{h}x{w} input",
                    shape[0],
                    shape[1],
                    shape[2],
                    shape_len(input)
                );
            }
            (LayerKind::Reshape, Activation::Identity, shape, vec![])
        }
        LayerSpec::Add { activation } => {
            if let Some(other) = inputs.iter().find(|s| **s != input) {
                bail!(
                    "add inputs differ in shape: {c}x{h}x{w} and {}x{}x{}",
                    other[0],
                    other[1],
                    other[2]
                );
            }
            (LayerKind::Add, activation, input, vec![])
        }
        LayerSpec::Concat => {
            let mut channels = 0usize;
            for s in inputs {
                if s[1] != h || s[2] != w {
                    bail!(
                        "concat inputs differ in height or width: {c}x{h}x{w} and {}x{}x{}",
                        s[0],
                        s[1],
                        s[2]
                    );
                }
                channels = channels.checked_add(s[0]).context("too many channels")?;
            }
            (
                LayerKind::Concat,
                Activation::Identity,
                [channels, h, w],
                vec![],
            )
        }
        LayerSpec::BatchNorm { eps, activation } => {
            if !(eps.is_finite() && eps > 0.0) {
                bail!("batch-norm eps must be positive, not {eps}");
            }
            if c == 0 {
                bail!("a batch norm needs channels");
            }
            params[model::graph::p::EPS] = eps.to_bits();
            let mut gamma = Tensor::zeros(&[c])?;
            gamma.data.fill(1.0);
            let mut var = Tensor::zeros(&[c])?;
            var.data.fill(1.0);
            (
                LayerKind::BatchNorm,
                activation,
                input,
                vec![gamma, Tensor::zeros(&[c])?, Tensor::zeros(&[c])?, var],
            )
        }
        LayerSpec::Activate(activation) => (LayerKind::Activation, activation, input, vec![]),
    };
    Ok(Layer {
        kind,
        activation,
        in_shape: input,
        out_shape,
        params,
        tensors,
        inputs: Vec::new(),
        dropout: 0.0,
    })
}

/// The window of a `kernel` at `stride` over an `h x w` plane, with a clear
/// error when it does not fit.
fn window(
    h: usize,
    w: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
) -> Result<myelin_core::kernels::Window2d> {
    positive("kernel", kernel[0].min(kernel[1]))?;
    positive("stride", stride[0].min(stride[1]))?;
    myelin_core::kernels::Window2d::new(
        h,
        w,
        (kernel[0], kernel[1]),
        (stride[0], stride[1]),
        padding,
    )
    .map_err(|_| {
        anyhow::anyhow!(
            "a {}x{} window (stride {}x{}, padding {padding:?}) does not fit the {h}x{w} input",
            kernel[0],
            kernel[1],
            stride[0],
            stride[1]
        )
    })
}

/// The optimizer and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// SGD with (heavy-ball) momentum.
    Sgd {
        /// Momentum coefficient.
        momentum: f32,
    },
    /// Adam.
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator offset.
        eps: f32,
    },
}

impl OptimizerKind {
    /// SGD with momentum 0.9.
    pub const SGD: OptimizerKind = OptimizerKind::Sgd { momentum: 0.9 };
    /// Adam with the usual defaults.
    pub const ADAM: OptimizerKind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// `sgd` or `adam`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Adam { .. } => "adam",
        }
    }
}

/// How the learning rate changes over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// The same every epoch.
    Constant,
    /// Multiplied by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Factor per decay.
        gamma: f32,
    },
    /// Cosine from the base rate to zero over the run.
    Cosine,
}

impl Schedule {
    /// The rate for 0-based `epoch` of `epochs`.
    pub fn rate(&self, base: f32, epoch: usize, epochs: usize) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
            Schedule::Cosine => {
                let t = epoch as f32 / epochs.max(1) as f32;
                0.5 * base * (1.0 + (std::f32::consts::PI * t).cos())
            }
        }
    }
}

/// Hyper-parameters of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// Epochs.
    pub epochs: usize,
    /// Samples per mini-batch.
    pub batch: usize,
    /// Base learning rate.
    pub lr: f32,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// L2 weight decay on weights (not biases).
    pub weight_decay: f32,
    /// Stop after this many epochs without a better validation accuracy (0: never).
    pub patience: usize,
    /// Training samples held out for validation.
    pub validation: usize,
    /// Rescale each step's whole gradient to at most this L2 norm (0: off).
    #[serde(default)]
    pub clip_grad_norm: f32,
    /// Shift each training image by up to this many pixels, at random (0: off).
    #[serde(default)]
    pub augment_shift: usize,
}

impl Hyper {
    /// The defaults of a TOML description: Adam at 1e-3 with a cosine
    /// schedule, 10 epochs of batch 64, 5,000 validation samples.
    pub const DEFAULT: Hyper = Hyper {
        epochs: 10,
        batch: 64,
        lr: 1e-3,
        optimizer: OptimizerKind::ADAM,
        schedule: Schedule::Cosine,
        weight_decay: 0.0,
        patience: 0,
        validation: 5000,
        clip_grad_norm: 0.0,
        augment_shift: 0,
    };
}

/// A network description with its training hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Name (preset name or file name).
    pub name: String,
    /// The nodes.
    pub layers: Vec<NodeSpec>,
    /// Hyper-parameters.
    pub hyper: Hyper,
}

/// Names of the built-in presets.
pub const PRESETS: [&str; 4] = ["mnist-mlp", "mnist-cnn", "mnist-lstm", "deep-sigmoid"];

/// A built-in preset by name.
pub fn preset(name: &str) -> Result<Recipe> {
    use LayerSpec::*;
    let relu = Activation::Relu;
    let logits = Dense {
        units: 10,
        activation: Activation::Identity,
    };
    let base = Hyper::DEFAULT;
    let (layers, hyper) = match name {
        "mnist-mlp" => (
            vec![
                Dense {
                    units: 256,
                    activation: relu,
                },
                Dense {
                    units: 256,
                    activation: relu,
                },
                logits,
            ],
            Hyper {
                epochs: 12,
                lr: 0.05,
                optimizer: OptimizerKind::SGD,
                weight_decay: 5e-4,
                ..base
            },
        ),
        "mnist-cnn" => (
            vec![
                Conv2d {
                    filters: 8,
                    kernel: 5,
                    stride: 1,
                    padding: 2,
                    activation: relu,
                },
                MaxPool2d { size: 2, stride: 2 },
                Conv2d {
                    filters: 16,
                    kernel: 5,
                    stride: 1,
                    padding: 2,
                    activation: relu,
                },
                MaxPool2d { size: 2, stride: 2 },
                logits,
            ],
            Hyper {
                epochs: 10,
                lr: 2e-3,
                ..base
            },
        ),
        "mnist-lstm" => (
            vec![Lstm { hidden: 128 }, logits],
            Hyper {
                epochs: 8,
                lr: 2e-3,
                ..base
            },
        ),
        "deep-sigmoid" => {
            let mut layers = vec![
                Dense {
                    units: 256,
                    activation: Activation::Sigmoid,
                };
                8
            ];
            layers.push(logits);
            (
                layers,
                Hyper {
                    epochs: 5,
                    lr: 0.1,
                    optimizer: OptimizerKind::SGD,
                    schedule: Schedule::Constant,
                    ..base
                },
            )
        }
        _ => bail!("unknown preset '{name}' (known: {})", PRESETS.join(", ")),
    };
    Ok(Recipe {
        name: name.to_string(),
        layers: layers.into_iter().map(NodeSpec::chain).collect(),
        hyper,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlRecipe {
    #[serde(default)]
    train: TomlTrain,
    #[serde(rename = "layer", default)]
    layers: Vec<crate::graph::TomlLayer>,
    /// `[pretrain]`: read by `crate::pretrain::PretrainArgs::resolve`.
    #[serde(rename = "pretrain", default)]
    _pretrain: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTrain {
    epochs: Option<usize>,
    batch: Option<usize>,
    lr: Option<f32>,
    optimizer: Option<String>,
    momentum: Option<f32>,
    beta1: Option<f32>,
    beta2: Option<f32>,
    schedule: Option<String>,
    step_every: Option<usize>,
    step_gamma: Option<f32>,
    weight_decay: Option<f32>,
    patience: Option<usize>,
    validation: Option<usize>,
    clip_grad_norm: Option<f32>,
    augment_shift: Option<usize>,
}

/// Reads a TOML network description (see `docs/training.md`). `input` is
/// the sample shape, used to check declared layer sizes.
pub fn recipe_from_toml(path: &Path, input: Shape) -> Result<Recipe> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    recipe_from_toml_str(&text, input).with_context(|| format!("{}", path.display()))
}

/// Parses a TOML network description from text.
pub fn recipe_from_toml_str(text: &str, input: Shape) -> Result<Recipe> {
    let t: TomlRecipe = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    if t.layers.is_empty() {
        bail!("no [[layer]] tables");
    }
    let specs = crate::graph::nodes_from_toml(&t.layers, input)?;
    let mut hyper = Hyper::DEFAULT;
    let tr = &t.train;
    hyper.epochs = tr.epochs.unwrap_or(hyper.epochs);
    hyper.batch = tr.batch.unwrap_or(hyper.batch);
    hyper.lr = tr.lr.unwrap_or(hyper.lr);
    hyper.optimizer = match tr.optimizer.as_deref() {
        None | Some("adam") => OptimizerKind::Adam {
            beta1: tr.beta1.unwrap_or(0.9),
            beta2: tr.beta2.unwrap_or(0.999),
            eps: 1e-8,
        },
        Some("sgd") => OptimizerKind::Sgd {
            momentum: tr.momentum.unwrap_or(0.9),
        },
        Some(o) => bail!("[train]: unknown optimizer '{o}' (sgd, adam)"),
    };
    hyper.schedule = match tr.schedule.as_deref() {
        None | Some("cosine") => Schedule::Cosine,
        Some("constant") => Schedule::Constant,
        Some("step") => Schedule::Step {
            every: tr.step_every.unwrap_or(5),
            gamma: tr.step_gamma.unwrap_or(0.5),
        },
        Some(s) => bail!("[train]: unknown schedule '{s}' (constant, step, cosine)"),
    };
    hyper.weight_decay = tr.weight_decay.unwrap_or(0.0);
    hyper.patience = tr.patience.unwrap_or(0);
    hyper.validation = tr.validation.unwrap_or(hyper.validation);
    hyper.clip_grad_norm = tr.clip_grad_norm.unwrap_or(0.0);
    hyper.augment_shift = tr.augment_shift.unwrap_or(0);
    check_hyper(&hyper)?;
    Ok(Recipe {
        name: "config".to_string(),
        layers: specs,
        hyper,
    })
}

/// Checks hyper-parameters are usable.
pub fn check_hyper(h: &Hyper) -> Result<()> {
    if h.epochs == 0 {
        bail!("epochs must be at least 1");
    }
    if h.batch == 0 {
        bail!("batch must be at least 1");
    }
    if !(h.lr.is_finite() && h.lr > 0.0) {
        bail!("learning rate must be a positive number, not {}", h.lr);
    }
    if !(h.weight_decay.is_finite() && h.weight_decay >= 0.0) {
        bail!("weight decay must be zero or positive");
    }
    if !(h.clip_grad_norm.is_finite() && h.clip_grad_norm >= 0.0) {
        bail!(
            "gradient clipping norm must be zero (off) or positive, not {}",
            h.clip_grad_norm
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: Shape = [1, 28, 28];

    #[test]
    fn presets_build_with_expected_sizes() {
        let mlp = Network::from_nodes(MNIST, &preset("mnist-mlp").unwrap().layers).unwrap();
        assert_eq!(mlp.param_count(), 784 * 256 + 256 + 256 * 256 + 256 + 2570);
        let cnn = Network::from_nodes(MNIST, &preset("mnist-cnn").unwrap().layers).unwrap();
        assert_eq!(cnn.layers[3].out_shape, [16, 7, 7]);
        assert_eq!(cnn.classes(), 10);
        let lstm = Network::from_nodes(MNIST, &preset("mnist-lstm").unwrap().layers).unwrap();
        assert_eq!(lstm.layers[0].tensors[0].dims, vec![512, 28]);
        let deep = Network::from_nodes(MNIST, &preset("deep-sigmoid").unwrap().layers).unwrap();
        assert_eq!(deep.layers.len(), 9);
        assert!(preset("nope").is_err());
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut net = Network::from_nodes(MNIST, &preset("mnist-cnn").unwrap().layers).unwrap();
        net.init(&mut Rng::new(5));
        let bytes = net.encode().unwrap();
        assert_eq!(Network::decode(&bytes).unwrap(), net);
    }

    #[test]
    fn toml_errors_name_layer_and_size() {
        let bad = r#"
            [[layer]]
            kind = "dense"
            units = 128
            activation = "relu"
            [[layer]]
            kind = "dense"
            inputs = 256
            units = 10
        "#;
        let e = format!("{:#}", recipe_from_toml_str(bad, MNIST).unwrap_err());
        assert!(
            e.contains("layer 2") && e.contains("256") && e.contains("128"),
            "{e}"
        );
        let conv = "[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 40\n";
        let e = format!("{:#}", recipe_from_toml_str(conv, MNIST).unwrap_err());
        assert!(e.contains("layer 1") && e.contains("kernel 40"), "{e}");
        let e = format!(
            "{:#}",
            recipe_from_toml_str("[[layer]]\nkind = \"dense\"\n", MNIST).unwrap_err()
        );
        assert!(e.contains("units"), "{e}");
        assert!(recipe_from_toml_str("[[layer]]\nkind = 3", MNIST).is_err());
        assert!(recipe_from_toml_str("nonsense = [", MNIST).is_err());
    }

    #[test]
    fn toml_dropout_sits_on_a_layer_input() {
        let ok = "[[layer]]\nkind = \"dense\"\nunits = 8\nactivation = \"relu\"\n\
                  [[layer]]\nkind = \"dense\"\nunits = 10\ndropout = 0.5\n";
        let r = recipe_from_toml_str(ok, MNIST).unwrap();
        let net = Network::from_nodes(MNIST, &r.layers).unwrap();
        assert_eq!(net.layers[0].dropout, 0.0);
        assert_eq!(net.layers[1].dropout, 0.5);
        for (bad, want) in [
            ("dropout = 1.0", "below 1"),
            ("dropout = -0.1", "at least 0"),
            ("dropout = nan", "below 1"),
        ] {
            let text = format!("[[layer]]\nkind = \"dense\"\nunits = 10\n{bad}\n");
            let e = format!("{:#}", recipe_from_toml_str(&text, MNIST).unwrap_err());
            assert!(e.contains("layer 1") && e.contains(want), "{bad}: {e}");
        }
        let join = "[[layer]]\nkind = \"dense\"\nname = \"a\"\nunits = 4\n\
                    [[layer]]\nkind = \"add\"\ninput = [\"a\", \"a\"]\ndropout = 0.2\n";
        let e = format!("{:#}", recipe_from_toml_str(join, MNIST).unwrap_err());
        assert!(
            e.contains("layer 2") && e.contains("join takes no dropout"),
            "{e}"
        );
        let block = "[[layer]]\nkind = \"residual\"\nfilters = 2\ndropout = 0.2\n";
        let e = format!("{:#}", recipe_from_toml_str(block, MNIST).unwrap_err());
        assert!(e.contains("block takes no dropout"), "{e}");
    }

    #[test]
    fn huge_size_fields_are_refused_before_allocating() {
        // 2^32 - 1 units on 784 inputs: a 3.4e12-element weight matrix.
        let e = recipe_from_toml_str("[[layer]]\nkind = \"dense\"\nunits = 4294967295\n", MNIST)
            .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("layer 1") && e.contains("too large"), "{e}");
        let e = recipe_from_toml_str(
            "[[layer]]\nkind = \"conv2d\"\nfilters = 4294967295\nkernel = 2\n",
            [3, 8, 8],
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("too large"), "{e:#}");
        let e = recipe_from_toml_str("[[layer]]\nkind = \"lstm\"\nhidden = 4294967295\n", MNIST)
            .unwrap_err();
        assert!(format!("{e:#}").contains("too large"), "{e:#}");
    }

    #[test]
    fn toml_recipe_reads_layers_and_training() {
        let text = r#"
            [train]
            optimizer = "sgd"
            momentum = 0.8
            lr = 0.05
            epochs = 3
            [[layer]]
            kind = "conv2d"
            filters = 4
            kernel = 3
            activation = "relu"
            [[layer]]
            kind = "maxpool2d"
            size = 2
            [[layer]]
            kind = "dense"
            units = 10
        "#;
        let r = recipe_from_toml_str(text, MNIST).unwrap();
        let plain = "[[layer]]\nkind = \"dense\"\nunits = 10\n";
        assert_eq!(
            recipe_from_toml_str(plain, MNIST).unwrap().hyper,
            Hyper::DEFAULT
        );
        assert_eq!(r.hyper.epochs, 3);
        assert_eq!(r.hyper.optimizer, OptimizerKind::Sgd { momentum: 0.8 });
        let net = Network::from_nodes(MNIST, &r.layers).unwrap();
        assert_eq!(net.layers[1].out_shape, [4, 13, 13]);
    }

    #[test]
    fn schedules() {
        assert_eq!(Schedule::Constant.rate(0.1, 5, 10), 0.1);
        let s = Schedule::Step {
            every: 2,
            gamma: 0.5,
        };
        assert_eq!(s.rate(1.0, 3, 10), 0.5);
        assert!((Schedule::Cosine.rate(1.0, 5, 10) - 0.5).abs() < 1e-6);
    }
}
