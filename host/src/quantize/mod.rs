//! `myelin quantize`: post-training int8 quantization with activation ranges
//! calibrated on real data, and f16 weight storage; plus loading and
//! evaluating the quantized models (`myelin eval`, `myelin inspect`).
//!
//! The int8 recipe (`docs/quantization.md`): run the f32 network on
//! calibration samples and feed every requantizing layer's outputs to a
//! [`Calibrator`](myelin_core::quant::calib::Calibrator); weights symmetric per output channel, biases `i32` at
//! `s_in s_w[c]`, fixed-point output multipliers per channel. A dense or
//! conv2d layer with a sigmoid or tanh becomes the layer (output calibrated
//! before the activation) followed by an activation layer. Evaluation runs
//! the core's integer path ([`Model::infer_int8`]), the code firmware runs.

mod calib;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use myelin_core::model::graph::{self, p as gp};
use myelin_core::model::{
    self, Activation, Arithmetic, DType, LayerDesc, LayerKind, LayerQuant, Model, Shape,
    TensorData, TensorDesc,
};
use myelin_core::quant::depthwise;
use myelin_core::quant::int8::{self, Conv2dShape, ConvQ, DenseQ, Pool2dShape};
use myelin_core::quant::lstm::{LstmQ, lstm_sequence};
use myelin_core::quant::params::{self, LSTM_HIDDEN, SIGMOID_OUTPUT, TANH_OUTPUT};
use myelin_core::quant::softmax::{self, SoftmaxQ};
use myelin_core::quant::{ActQuant, Calibration, Requant};
use serde_json::json;

use crate::checkpoint::{self, Checkpoint, check_writable, write_atomic};
use crate::data::{Dataset, MnistFiles};
use crate::net::{self, Layer, Network};

pub use calib::calibrate;

/// The exact quantization of MNIST pixels scaled to `[0, 1]`: code = byte - 128.
pub const MNIST_INPUT: ActQuant = ActQuant {
    scale: 1.0 / 255.0,
    zero_point: -128,
};

/// Arguments of `myelin quantize`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("mode").required(true).args(["int8", "f16"]))]
pub struct QuantizeArgs {
    /// A float model file or a checkpoint (its best weights).
    pub model: PathBuf,
    /// int8: per-channel weights, calibrated activations, integer-only inference.
    #[arg(long)]
    pub int8: bool,
    /// f16 weight storage, computed in f32.
    #[arg(long)]
    pub f16: bool,
    /// Data directory (IDX or NumPy, as `train --data`): calibration uses its
    /// training samples, the accuracy report its test set. Default
    /// `data/mnist`, unless `--calibrate` is given.
    #[arg(long, value_name = "DIR")]
    pub calib_data: Option<PathBuf>,
    /// Calibrate from the samples of this `.npy` file (`[N, ...one sample]`,
    /// float32 or uint8) instead of a data directory's training set; the
    /// accuracy report then needs `--calib-data` for its test set.
    #[arg(long, value_name = "FILE.npy")]
    pub calibrate: Option<PathBuf>,
    /// Training samples used to calibrate activation ranges.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub calib_samples: usize,
    /// How ranges are chosen: `minmax`, or `percentile[:P]` (default P = 99.99).
    #[arg(long, value_name = "METHOD", default_value = "minmax", value_parser = parse_calibration)]
    pub calibration: Calibration,
    /// Use only the first N test samples for the accuracy report.
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Where to write the quantized model.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Worker threads for the accuracy report (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object as the last stdout line.
    #[arg(long)]
    pub json: bool,
}

/// Parses `minmax`, `percentile` or `percentile:P` (`50 < P <= 100`).
pub fn parse_calibration(s: &str) -> Result<Calibration, String> {
    match s.split_once(':') {
        None if s == "minmax" => Ok(Calibration::MinMax),
        None if s == "percentile" => Ok(Calibration::Percentile(99.99)),
        Some(("percentile", p)) => {
            let p: f32 = p.parse().map_err(|_| {
                format!("'{p}' is not a number (percentile:P, e.g. percentile:99.9)")
            })?;
            if !(p > 50.0 && p <= 100.0) {
                return Err(format!("percentile {p} is not in (50, 100]"));
            }
            Ok(Calibration::Percentile(p))
        }
        _ => Err(format!(
            "unknown calibration '{s}' (minmax, percentile or percentile:P)"
        )),
    }
}

fn calibration_name(c: Calibration) -> String {
    match c {
        Calibration::MinMax => "minmax".into(),
        Calibration::Percentile(p) => format!("percentile:{p}"),
    }
}

/// One tensor of an int8 layer.
#[derive(Debug, Clone, PartialEq)]
pub enum QTensor {
    /// int8 weights with per-channel scales.
    I8 {
        /// Dimensions, outermost (output channel) first.
        dims: Vec<usize>,
        /// Codes.
        values: Vec<i8>,
        /// One scale per output channel.
        scales: Vec<f32>,
    },
    /// int32 biases with their scales (`s_in s_w[c]`).
    I32 {
        /// Codes.
        values: Vec<i32>,
        /// One scale per channel.
        scales: Vec<f32>,
    },
    /// Fixed-point multipliers, one per output channel.
    Requant(Vec<Requant>),
}

impl QTensor {
    fn desc(&self) -> (Vec<usize>, TensorData<'_>) {
        match self {
            QTensor::I8 {
                dims,
                values,
                scales,
            } => (dims.clone(), TensorData::I8 { values, scales }),
            QTensor::I32 { values, scales } => {
                (vec![values.len()], TensorData::I32 { values, scales })
            }
            QTensor::Requant(r) => (vec![r.len()], TensorData::Requant(r)),
        }
    }

    fn i8(&self) -> &[i8] {
        match self {
            QTensor::I8 { values, .. } => values,
            _ => &[],
        }
    }

    fn i32(&self) -> &[i32] {
        match self {
            QTensor::I32 { values, .. } => values,
            _ => &[],
        }
    }

    fn requant(&self) -> &[Requant] {
        match self {
            QTensor::Requant(r) => r,
            _ => &[],
        }
    }
}

/// One int8 layer, as the model file stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct QLayer {
    /// What the layer computes.
    pub kind: LayerKind,
    /// Activation: none or ReLU, or sigmoid/tanh for an activation layer.
    pub activation: Activation,
    /// Input shape.
    pub in_shape: Shape,
    /// Output shape.
    pub out_shape: Shape,
    /// Kind-specific parameters.
    pub params: [u32; model::PARAMS],
    /// Input and output quantization.
    pub quant: LayerQuant,
    /// Tensors in the order `model::encode_int8` lists.
    pub tensors: Vec<QTensor>,
    /// The values it reads (as [`crate::net::Layer::inputs`]).
    pub inputs: Vec<usize>,
}

/// An int8 network in memory: what `myelin quantize --int8` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedNet {
    /// Shape of one input sample.
    pub input: Shape,
    /// The layers in order.
    pub layers: Vec<QLayer>,
}

impl QuantizedNet {
    /// Quantization of the input.
    pub fn input_quant(&self) -> ActQuant {
        self.layers
            .first()
            .map(|l| l.quant.input)
            .unwrap_or(MNIST_INPUT)
    }

    /// Quantization of the output.
    pub fn output_quant(&self) -> ActQuant {
        self.layers
            .last()
            .map(|l| l.quant.output)
            .unwrap_or(MNIST_INPUT)
    }

    /// Encodes the network as an int8 model file (format v2, or v3 for what
    /// v2 cannot hold) with its static memory plan (`model::plan`).
    pub fn encode(&self) -> Result<Vec<u8>, myelin_core::Error> {
        let descs: Vec<Vec<(Vec<usize>, TensorData<'_>)>> = self
            .layers
            .iter()
            .map(|l| l.tensors.iter().map(QTensor::desc).collect())
            .collect();
        let tensors: Vec<Vec<TensorDesc<'_>>> = descs
            .iter()
            .map(|l| {
                l.iter()
                    .map(|(dims, data)| TensorDesc { dims, data: *data })
                    .collect()
            })
            .collect();
        let layers: Vec<LayerDesc<'_>> = self
            .layers
            .iter()
            .zip(&tensors)
            .map(|(l, t)| LayerDesc {
                inputs: &l.inputs,
                kind: l.kind,
                activation: l.activation,
                in_shape: l.in_shape,
                out_shape: l.out_shape,
                params: l.params,
                tensors: t,
            })
            .collect();
        let quant: Vec<LayerQuant> = self.layers.iter().map(|l| l.quant).collect();
        let len = model::encoded_len(&layers).ok_or(myelin_core::Error::Unsupported {
            what: "model larger than 4 GiB",
        })?;
        let mut out = vec![0u8; len];
        model::encode_int8(self.input, &layers, &quant, &mut out)?;
        let mut work = vec![0usize; 2 * (self.layers.len() + 1)];
        model::plan::write_plan(&mut out, &mut work)?;
        Ok(out)
    }

    /// Runs one quantized sample through the in-memory network, layer by
    /// layer with the core's scalar int8 kernels (independent of the file
    /// and of the SIMD dispatch [`Model::infer_int8`] uses); returns the
    /// output codes.
    pub fn forward(&self, x: &[i8]) -> Result<Vec<i8>, myelin_core::Error> {
        // values[r]: the model input (0) or layer r - 1's output.
        let mut values: Vec<Vec<i8>> = vec![x.to_vec()];
        for l in &self.layers {
            let mut y = vec![0i8; model::shape_len(l.out_shape)];
            let cur = values
                .get(l.inputs.first().copied().unwrap_or(0))
                .cloned()
                .unwrap_or_default();
            let q = l.quant;
            let relu = l.activation == Activation::Relu;
            let output = if relu {
                q.output.relu()
            } else {
                q.output.linear()
            };
            let [c, h, w] = l.in_shape;
            let p = l.params.map(|v| v as usize);
            let t = &l.tensors;
            // Missing tensors read as empty: the kernels then report the
            // shape mismatch instead of this code panicking.
            let i8s = |j: usize| t.get(j).map_or(&[][..], QTensor::i8);
            let i32s = |j: usize| t.get(j).map_or(&[][..], QTensor::i32);
            let req = |j: usize| t.get(j).map_or(&[][..], QTensor::requant);
            let first_requant = || {
                req(0)
                    .first()
                    .copied()
                    .ok_or(myelin_core::Error::ShapeMismatch {
                        expected: 1,
                        found: 0,
                    })
            };
            match l.kind {
                LayerKind::Dense => {
                    let d = DenseQ {
                        weights: i8s(0),
                        bias: i32s(1),
                        requant: req(2),
                        input_zero_point: q.input.zero_point,
                        output,
                    };
                    if l.params[gp::ROUNDING] == graph::ROUNDING_SINGLE {
                        int8::dense_single_rounding_scalar(&d, &cur, &mut y)?;
                    } else {
                        int8::dense_scalar(&d, &cur, &mut y)?;
                    }
                }
                LayerKind::Conv2d => {
                    let shape = Conv2dShape {
                        in_channels: c,
                        in_size: [h, w],
                        out_channels: l.out_shape[0],
                        kernel: [p[gp::K_H], p[gp::K_W]],
                        stride: [p[gp::STRIDE_H], p[gp::STRIDE_W]],
                        padding: [
                            p[gp::PAD_TOP],
                            p[gp::PAD_BOTTOM],
                            p[gp::PAD_LEFT],
                            p[gp::PAD_RIGHT],
                        ],
                    };
                    let conv = ConvQ {
                        weights: i8s(0),
                        bias: i32s(1),
                        requant: req(2),
                        input_zero_point: q.input.zero_point,
                        output,
                    };
                    let geom = graph::conv_geom_of(l.in_shape, l.out_shape[0], &l.params)?;
                    if geom.is_depthwise() {
                        depthwise::depthwise_conv2d_scalar(&conv, &shape, &cur, &mut y)?;
                    } else {
                        int8::conv2d_scalar(&conv, &shape, &cur, &mut y)?;
                    }
                }
                LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
                    let shape = Pool2dShape {
                        channels: c,
                        in_size: [h, w],
                        kernel: [p[gp::K_H], p[gp::K_W]],
                        stride: [p[gp::STRIDE_H], p[gp::STRIDE_W]],
                    };
                    if l.kind == LayerKind::MaxPool2d {
                        int8::max_pool2d(&shape, &cur, &mut y)?;
                    } else {
                        int8::avg_pool2d(&shape, &cur, &mut y)?;
                    }
                    if relu {
                        int8::relu(&mut y, q.output.zero_point);
                    }
                }
                LayerKind::Lstm => {
                    let lstm = LstmQ {
                        input_weights: i8s(0),
                        recurrent_weights: i8s(1),
                        bias: i32s(2),
                        input_requant: req(3),
                        recurrent_requant: req(4),
                        input_zero_point: q.input.zero_point,
                    };
                    let mut cell = vec![0i16; y.len()];
                    let mut scratch = vec![0i8; y.len()];
                    lstm_sequence(&lstm, &cur, &mut y, &mut cell, &mut scratch)?;
                }
                LayerKind::Add => {
                    let b = l.inputs.get(1).copied().unwrap_or(0);
                    let bq = match b {
                        0 => self.input_quant(),
                        _ => self.layers[b - 1].quant.output,
                    };
                    let m = req(0);
                    let r = |k: usize| m.get(k).copied().unwrap_or_default();
                    let add = int8::AddQ {
                        a_zero_point: q.input.zero_point,
                        a_requant: r(0),
                        b_zero_point: bq.zero_point,
                        b_requant: r(1),
                        output_requant: r(2),
                        output,
                    };
                    int8::add(&add, &cur, &values[b], &mut y)?;
                }
                LayerKind::GlobalAvgPool => {
                    let shape = Pool2dShape {
                        channels: c,
                        in_size: [h, w],
                        kernel: [h, w],
                        stride: [1, 1],
                    };
                    int8::avg_pool2d(&shape, &cur, &mut y)?;
                }
                LayerKind::Lookup => {
                    myelin_core::quant::lut::lookup(i8s(0), &cur, &mut y)?;
                }
                LayerKind::Concat => {
                    let xs: Vec<&[i8]> = l
                        .inputs
                        .iter()
                        .map(|&r| values.get(r).map_or(&[][..], Vec::as_slice))
                        .collect();
                    let total: usize = xs.iter().map(|x| x.len()).sum();
                    if total != y.len() {
                        return Err(myelin_core::Error::ShapeMismatch {
                            expected: y.len(),
                            found: total,
                        });
                    }
                    myelin_core::kernels::concat_forward(1, h * w, &xs, &mut y);
                    if relu {
                        int8::relu(&mut y, q.output.zero_point);
                    }
                }
                _ => match l.activation {
                    Activation::Sigmoid => {
                        int8::sigmoid(&cur, q.input.zero_point, first_requant()?, &mut y)?
                    }
                    Activation::Tanh => {
                        int8::tanh(&cur, q.input.zero_point, first_requant()?, &mut y)?
                    }
                    Activation::Softmax => {
                        let sq = SoftmaxQ {
                            input_beta: first_requant()?,
                            diff_min: l.params[gp::DIFF_MIN] as i32,
                        };
                        softmax::softmax(&sq, cur.len().max(1), &cur, &mut y)?
                    }
                    _ => {
                        y.copy_from_slice(&cur);
                        if relu {
                            int8::relu(&mut y, q.output.zero_point);
                        }
                    }
                },
            }
            values.push(y);
        }
        Ok(values.pop().unwrap_or_default())
    }
}

/// Per-channel int8 weights of `w` (outermost dimension = output channel).
fn quantize_weights(w: &net::Tensor) -> Result<QTensor> {
    let channels = w.dims[0];
    let mut values = vec![0i8; w.data.len()];
    let mut scales = vec![0f32; channels];
    params::quantize_per_channel(&w.data, &mut values, &mut scales)?;
    Ok(QTensor::I8 {
        dims: w.dims.clone(),
        values,
        scales,
    })
}

fn weight_scales(t: &QTensor) -> &[f32] {
    match t {
        QTensor::I8 { scales, .. } => scales,
        _ => &[],
    }
}

/// `i32` biases at `input_scale * weight_scales[c]`.
fn quantize_bias(b: &net::Tensor, input_scale: f32, w_scales: &[f32]) -> Result<QTensor> {
    let mut values = vec![0i32; b.data.len()];
    params::quantize_bias(&b.data, input_scale, w_scales, &mut values)?;
    let scales = w_scales.iter().map(|s| input_scale * s).collect();
    Ok(QTensor::I32 { values, scales })
}

/// Quantizes `net` to int8, calibrating every activation range on
/// `calib`'s samples with `method`. The input quantization is
/// [`MNIST_INPUT`] when every calibration input lies in `[0, 1]` (exact for
/// pixels scaled from bytes) and calibrated otherwise.
pub fn quantize_int8(net: &Network, calib: &Dataset, method: Calibration) -> Result<QuantizedNet> {
    if calib.is_empty() {
        bail!("no calibration samples");
    }
    let folded = crate::fold::fold_batch_norms(net)?;
    let net = &folded;
    let ranges = calibrate(net, calib, method)?;
    // Per value of the int8 network (0: the input): its quantization; and
    // where each value of the float network went (an activation split off a
    // layer adds a value).
    let mut value_quant = vec![ranges.input];
    let mut new_ref = vec![0usize; net.layers.len() + 1];
    let mut layers: Vec<QLayer> = Vec::new();
    for (i, l) in net.layers.iter().enumerate() {
        let ctx = || format!("layer {} ({})", i + 1, l.kind.name());
        let inputs: Vec<usize> = l.inputs.iter().map(|&r| new_ref[r]).collect();
        let mut cur = value_quant[inputs[0]];
        let act = l.activation;
        let plain = matches!(act, Activation::Identity | Activation::Relu);
        let base = |kind, activation, quant, tensors| QLayer {
            kind,
            activation,
            in_shape: l.in_shape,
            out_shape: l.out_shape,
            params: l.params,
            quant,
            tensors,
            inputs: inputs.clone(),
        };
        match l.kind {
            LayerKind::Dense | LayerKind::Conv2d => {
                let out = ranges.outputs[i].with_context(ctx)?;
                let w = quantize_weights(&l.tensors[0]).with_context(ctx)?;
                let b =
                    quantize_bias(&l.tensors[1], cur.scale, weight_scales(&w)).with_context(ctx)?;
                let mut m = vec![Requant::default(); l.tensors[1].data.len()];
                params::output_requant(cur.scale, weight_scales(&w), out.scale, &mut m)?;
                let quant = LayerQuant {
                    input: cur,
                    output: out,
                };
                let own_act = if plain { act } else { Activation::Identity };
                layers.push(base(
                    l.kind,
                    own_act,
                    quant,
                    vec![w, b, QTensor::Requant(m)],
                ));
                cur = out;
                if !plain {
                    let mut a = activation_layer(l, act, cur).with_context(ctx)?;
                    a.inputs = vec![layers.len()];
                    layers.push(a);
                }
            }
            LayerKind::Add => {
                let [a, b] = inputs[..] else {
                    bail!("{}: an int8 add takes two inputs", ctx());
                };
                if !plain {
                    bail!("{}: {} has no int8 form after an add", ctx(), act.name());
                }
                let out = ranges.outputs[i].with_context(ctx)?;
                let p = params::add_params(&value_quant[a], &value_quant[b], &out, false);
                let quant = LayerQuant {
                    input: cur,
                    output: out,
                };
                layers.push(base(
                    l.kind,
                    act,
                    quant,
                    vec![QTensor::Requant(vec![
                        p.a_requant,
                        p.b_requant,
                        p.output_requant,
                    ])],
                ));
            }
            LayerKind::GlobalAvgPool | LayerKind::Reshape => {
                if act != Activation::Identity {
                    bail!("{}: {} has no int8 form here", ctx(), act.name());
                }
                let quant = LayerQuant {
                    input: cur,
                    output: cur,
                };
                layers.push(base(l.kind, act, quant, vec![]));
            }
            LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
                if !plain {
                    bail!("{}: {} has no int8 form after pooling", ctx(), act.name());
                }
                let quant = LayerQuant {
                    input: cur,
                    output: cur,
                };
                layers.push(base(l.kind, act, quant, vec![]));
            }
            LayerKind::Lstm => {
                if act != Activation::Identity {
                    bail!("{}: an int8 LSTM has no output activation", ctx());
                }
                let wx = quantize_weights(&l.tensors[0]).with_context(ctx)?;
                let wh = quantize_weights(&l.tensors[1]).with_context(ctx)?;
                let b = quantize_bias(&l.tensors[2], cur.scale, weight_scales(&wx))
                    .with_context(ctx)?;
                let rows = l.tensors[2].data.len();
                let (mut mx, mut mh) = (
                    vec![Requant::default(); rows],
                    vec![Requant::default(); rows],
                );
                params::lstm_requant(
                    cur.scale,
                    weight_scales(&wx),
                    weight_scales(&wh),
                    &mut mx,
                    &mut mh,
                )?;
                let quant = LayerQuant {
                    input: cur,
                    output: LSTM_HIDDEN,
                };
                layers.push(base(
                    l.kind,
                    act,
                    quant,
                    vec![wx, wh, b, QTensor::Requant(mx), QTensor::Requant(mh)],
                ));
            }
            LayerKind::Activation => {
                let mut q = activation_layer(l, act, cur).with_context(ctx)?;
                q.inputs = inputs.clone();
                layers.push(q);
            }
            other => bail!("{}: no int8 form for {}", ctx(), other.name()),
        }
        // Every value up to the new last layer gets its quantization.
        while value_quant.len() <= layers.len() {
            let k = value_quant.len();
            value_quant.push(layers[k - 1].quant.output);
        }
        new_ref[i + 1] = layers.len();
    }
    Ok(QuantizedNet {
        input: net.input,
        layers,
    })
}

/// An activation layer applying `act` to the output of `l`, whose
/// quantization is `input`.
fn activation_layer(l: &Layer, act: Activation, input: ActQuant) -> Result<QLayer> {
    let (output, tensors) = match act {
        Activation::Identity | Activation::Relu => (input, vec![]),
        Activation::Sigmoid => (
            SIGMOID_OUTPUT,
            vec![QTensor::Requant(vec![params::activation_requant(
                input.scale,
            )])],
        ),
        Activation::Tanh => (
            TANH_OUTPUT,
            vec![QTensor::Requant(vec![params::activation_requant(
                input.scale,
            )])],
        ),
        other => bail!("{} has no int8 form", other.name()),
    };
    Ok(QLayer {
        kind: LayerKind::Activation,
        activation: act,
        in_shape: l.out_shape,
        out_shape: l.out_shape,
        params: [0; model::PARAMS],
        quant: LayerQuant { input, output },
        tensors,
        inputs: Vec::new(),
    })
}

/// `net` as a float model file with f16 weights and f32 biases.
pub fn encode_f16(net: &Network) -> Result<Vec<u8>, myelin_core::Error> {
    use myelin_core::quant::f16::f16;
    let data: Vec<Vec<(Vec<u16>, bool)>> = net
        .layers
        .iter()
        .map(|l| {
            let n = l.tensors.len();
            l.tensors
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    let half = j + 1 < n;
                    let bits = if half {
                        t.data.iter().map(|&v| f16::from_f32(v).to_bits()).collect()
                    } else {
                        Vec::new()
                    };
                    (bits, half)
                })
                .collect()
        })
        .collect();
    let tensors: Vec<Vec<TensorDesc<'_>>> = net
        .layers
        .iter()
        .zip(&data)
        .map(|(l, d)| {
            l.tensors
                .iter()
                .zip(d)
                .map(|(t, (bits, half))| TensorDesc {
                    dims: &t.dims,
                    data: if *half {
                        TensorData::F16(bits)
                    } else {
                        TensorData::F32(&t.data)
                    },
                })
                .collect()
        })
        .collect();
    let layers: Vec<LayerDesc<'_>> = net
        .layers
        .iter()
        .zip(&tensors)
        .map(|(l, t)| LayerDesc {
            inputs: &[],
            kind: l.kind,
            activation: l.activation,
            in_shape: l.in_shape,
            out_shape: l.out_shape,
            params: l.params,
            tensors: t,
        })
        .collect();
    let len = model::encoded_len(&layers).ok_or(myelin_core::Error::Unsupported {
        what: "model larger than 4 GiB",
    })?;
    let mut out = vec![0u8; len];
    model::encode(net.input, &layers, &mut out)?;
    Ok(out)
}

/// A float model (f32 or f16 tensors; f16 widened exactly) as an owned
/// network; int8 models are refused with a message saying so.
pub fn float_network(m: &Model<'_>) -> Result<Network> {
    if m.arithmetic() == Arithmetic::Int8 {
        bail!("an int8 model (integer-only inference); this needs a float model");
    }
    let mut layers = Vec::with_capacity(m.layer_count());
    for l in m.layers() {
        let mut tensors = Vec::with_capacity(l.tensor_count());
        for j in 0..l.tensor_count() {
            let t = l
                .tensor(j)
                .ok_or_else(|| anyhow!("layer {}: missing tensor", l.index + 1))?;
            let data = match t.dtype {
                DType::F32 => {
                    let mut d = vec![0.0; t.len()];
                    t.read_f32(&mut d)?;
                    d
                }
                DType::F16 => (0..t.len())
                    .map(|i| {
                        let bits = t.f16_bits_at(i).unwrap_or(0);
                        myelin_core::quant::f16::f16::from_bits(bits).to_f32()
                    })
                    .collect(),
                other => bail!(
                    "layer {}: holds {} tensors in a float model",
                    l.index + 1,
                    other.name()
                ),
            };
            tensors.push(net::Tensor {
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

/// Model-file bytes at a 16-byte aligned address, so the core can view
/// tensors in place (`i32`, multipliers, `f32`).
#[derive(Debug, Clone)]
pub struct AlignedBytes {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBytes {
    /// Copies `bytes` to an aligned start.
    pub fn new(bytes: &[u8]) -> AlignedBytes {
        let mut buf = vec![0u8; bytes.len() + model::DATA_ALIGN];
        let start =
            (model::DATA_ALIGN - buf.as_ptr() as usize % model::DATA_ALIGN) % model::DATA_ALIGN;
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            buf,
            start,
            len: bytes.len(),
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// Reads a model file (or a checkpoint's best model) into aligned memory;
/// errors name the file.
pub fn read_model(path: &Path) -> Result<AlignedBytes> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let model_bytes = if checkpoint::is_checkpoint(&bytes) {
        let c = Checkpoint::decode(&bytes).with_context(|| format!("{}", path.display()))?;
        if c.best_model.is_empty() {
            c.model
        } else {
            c.best_model
        }
    } else {
        bytes
    };
    Ok(AlignedBytes::new(&model_bytes))
}

/// Mean cross-entropy (of the dequantized outputs) and accuracy (argmax of
/// the output codes) of an int8 model on `data`, through the core's integer
/// path, `threads` threads.
pub fn evaluate_int8(m: &Model<'_>, data: &Dataset, threads: usize) -> Result<(f64, f64)> {
    let n = data.len();
    if n == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    let (inq, outq) = match (m.input_quant(), m.output_quant()) {
        (Some(i), Some(o)) => (i, o),
        _ => bail!("not an int8 model"),
    };
    let threads = threads.clamp(1, n);
    let per = n.div_ceil(threads);
    let part = |lo: usize, hi: usize| -> Result<(f64, usize)> {
        let need = model::int8_scratch_len(m);
        let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
        let mut x = vec![0i8; m.input_len()];
        let mut logits = vec![0f32; m.output_len()];
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for i in lo..hi {
            inq.quantize_slice(data.sample(i), &mut x);
            let y = m.infer_int8(&x, &mut act, &mut cell)?;
            let label = usize::from(data.labels[i]);
            outq.dequantize_slice(y, &mut logits);
            loss += cross_entropy(&logits, label);
            correct += usize::from(argmax_i8(y) == label);
        }
        Ok((loss, correct))
    };
    let results: Vec<Result<(f64, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads)
            .map(|k| {
                let (lo, hi) = ((k * per).min(n), ((k + 1) * per).min(n));
                s.spawn(move || part(lo, hi))
            })
            .collect();
        let mut out = vec![part(0, per.min(n))];
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("evaluation thread")),
        );
        out
    });
    let (mut loss, mut correct) = (0.0, 0);
    for r in results {
        let (l, c) = r?;
        loss += l;
        correct += c;
    }
    Ok((loss / n as f64, correct as f64 / n as f64))
}

/// Index of the largest code (the first on ties).
pub fn argmax_i8(y: &[i8]) -> usize {
    let mut best = 0;
    for (i, &v) in y.iter().enumerate() {
        if v > y[best] {
            best = i;
        }
    }
    best
}

/// `-log softmax(logits)[label]` in f64 (`NaN` for a label out of range).
fn cross_entropy(logits: &[f32], label: usize) -> f64 {
    let Some(&l) = logits.get(label) else {
        return f64::NAN;
    };
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let sum: f64 = logits.iter().map(|&v| (f64::from(v) - max).exp()).sum();
    max + sum.ln() - f64::from(l)
}

fn check_samples(m: &Model<'_>, data: &Dataset, path: &Path) -> Result<()> {
    let shape =
        net::input_shape(&data.sample_dims).with_context(|| format!("{}", path.display()))?;
    if model::shape_len(shape) != m.input_len() {
        bail!(
            "{}: samples have {} values, but the model expects {}",
            path.display(),
            model::shape_len(shape),
            m.input_len()
        );
    }
    data.check_labels(m.output_len(), path)
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Runs `myelin quantize`.
pub fn run(a: &QuantizeArgs) -> Result<()> {
    check_writable(&a.out)?;
    let source = read_model(&a.model)?;
    let m = Model::parse(source.bytes()).with_context(|| format!("{}", a.model.display()))?;
    let net = float_network(&m).with_context(|| format!("{}", a.model.display()))?;
    let dir = match (&a.calib_data, &a.calibrate) {
        (Some(d), _) => Some(d.clone()),
        (None, None) => Some(PathBuf::from("data/mnist")),
        (None, Some(_)) => None,
    };
    let files = dir.as_deref().map(MnistFiles::locate).transpose()?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let test = match &files {
        Some(f) => {
            let mut test = f.test()?;
            if let Some(n) = a.test_limit {
                test.truncate(n);
            }
            check_samples(&m, &test, &f.test_images)?;
            Some(test)
        }
        None => None,
    };
    let t0 = Instant::now();
    let (bytes, mode) = if a.int8 {
        if a.calib_samples == 0 {
            bail!("--calib-samples must be at least 1");
        }
        let (mut calib, source) = match (&a.calibrate, &files) {
            (Some(p), _) => (crate::data::load_npy_inputs(p)?, p.clone()),
            (None, Some(f)) => (f.train()?, f.train_images.clone()),
            (None, None) => unreachable!("a data directory when no --calibrate"),
        };
        check_samples(&m, &calib, &source)?;
        calib.truncate(a.calib_samples);
        let q = quantize_int8(&net, &calib, a.calibration)
            .with_context(|| format!("{}", a.model.display()))?;
        let bytes = q
            .encode()
            .map_err(|e| anyhow!("{}: encoding the int8 model: {e}", a.out.display()))?;
        (bytes, "int8")
    } else {
        let bytes = encode_f16(&net)
            .map_err(|e| anyhow!("{}: encoding the f16 model: {e}", a.out.display()))?;
        (bytes, "f16")
    };
    let quantize_secs = t0.elapsed().as_secs_f64();
    write_atomic(&a.out, &bytes)?;

    let written = AlignedBytes::new(&bytes);
    let qm = Model::parse(written.bytes()).with_context(|| format!("{}", a.out.display()))?;
    let accuracy = match &test {
        Some(test) => {
            let (_, float_acc) = crate::train::evaluate(&net, test, threads);
            let (_, q_acc) = if a.int8 {
                evaluate_int8(&qm, test, threads)?
            } else {
                crate::train::evaluate(&float_network(&qm)?, test, threads)
            };
            Some((float_acc, q_acc, test.len()))
        }
        None => None,
    };
    let float_bytes = source.bytes().len();
    let params = net.param_count();
    let sizes = format!(
        "{} bytes (float {} bytes, {:.3} bytes per parameter); saved {}",
        bytes.len(),
        float_bytes,
        bytes.len() as f64 / params.max(1) as f64,
        a.out.display()
    );
    let line = match accuracy {
        Some((float_acc, q_acc, n)) => format!(
            "{mode}: test accuracy {:.2}% (float {:.2}%, {:+.2} points) on {n} samples; {sizes}",
            100.0 * q_acc,
            100.0 * float_acc,
            100.0 * (q_acc - float_acc),
        ),
        None => {
            format!("{mode}: no test set (give --calib-data DIR for an accuracy report); {sizes}")
        }
    };
    human(a.json, &line);
    let (float_acc, q_acc, test_samples) = match accuracy {
        Some((f, q, n)) => (json!(f), json!(q), json!(n)),
        None => (json!(null), json!(null), json!(null)),
    };
    if a.json {
        println!(
            "{}",
            json!({
                "command": "quantize",
                "model": a.model.display().to_string(),
                "out": a.out.display().to_string(),
                "mode": mode,
                "calibration": if a.int8 { json!(calibration_name(a.calibration)) } else { json!(null) },
                "calib_samples": if a.int8 { json!(a.calib_samples) } else { json!(null) },
                "float_accuracy": float_acc,
                "quantized_accuracy": q_acc,
                "test_samples": test_samples,
                "float_bytes": float_bytes,
                "quantized_bytes": bytes.len(),
                "parameters": params,
                "bytes_per_parameter": bytes.len() as f64 / params.max(1) as f64,
                "quantize_seconds": quantize_secs,
            })
        );
    }
    Ok(())
}

/// Whether `path` holds an int8 model (a checkpoint never does).
pub fn is_int8_file(path: &Path) -> Result<bool> {
    let bytes = read_model(path)?;
    let m = Model::parse(bytes.bytes()).with_context(|| format!("{}", path.display()))?;
    Ok(m.arithmetic() == Arithmetic::Int8)
}

/// `myelin eval` of an int8 model: the core's integer path over the test set.
pub fn eval_int8(
    path: &Path,
    data: &Path,
    limit: Option<usize>,
    threads: Option<usize>,
    json_out: bool,
) -> Result<()> {
    let bytes = read_model(path)?;
    let m = Model::parse(bytes.bytes()).with_context(|| format!("{}", path.display()))?;
    if !data.is_dir() {
        bail!("{}: not a directory", data.display());
    }
    let files = MnistFiles::locate(data)?;
    let mut test = files.test()?;
    if let Some(n) = limit {
        test.truncate(n);
    }
    check_samples(&m, &test, &files.test_images)?;
    let threads = threads.unwrap_or_else(default_threads).max(1);
    let t0 = Instant::now();
    let (loss, acc) =
        evaluate_int8(&m, &test, threads).with_context(|| format!("{}", path.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    let line = format!(
        "accuracy: {:.2}% on {} samples (int8, loss {:.4}, {:.0} samples/s)",
        100.0 * acc,
        test.len(),
        loss,
        test.len() as f64 / secs.max(1e-9)
    );
    human(json_out, &line);
    if json_out {
        println!(
            "{}",
            json!({
                "command": "eval",
                "model": path.display().to_string(),
                "arithmetic": "int8",
                "accuracy": acc,
                "loss": loss,
                "samples": test.len(),
                "seconds": secs,
            })
        );
    }
    Ok(())
}

/// An int8 layer's quantization as JSON for `inspect --json`.
pub fn quant_json(q: LayerQuant) -> serde_json::Value {
    json!({
        "input_scale": q.input.scale,
        "input_zero_point": q.input.zero_point,
        "output_scale": q.output.scale,
        "output_zero_point": q.output.zero_point,
    })
}

/// Prints a human-readable result: on stdout, or on stderr when stdout
/// carries the JSON object.
fn human(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// A one-line description of an int8 layer's quantization for `inspect`.
pub fn describe_quant(q: &LayerQuant) -> String {
    format!(
        "in s={:.3e} z={}  out s={:.3e} z={}",
        q.input.scale, q.input.zero_point, q.output.scale, q.output.zero_point
    )
}
