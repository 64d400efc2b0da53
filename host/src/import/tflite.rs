//! Translation of a verified TFLite model ([`myelin_tflite::TfModel`]) into
//! myelin's int8 graph ([`QuantizedNet`]).
//!
//! TFLite activations are `[1, H, W, C]` (or `[1, N]`); myelin's are
//! `[C, H, W]` (or `[1, 1, N]`), so weights are transposed on the way:
//! `CONV_2D` `[OC, KH, KW, IC]` to `[OC, IC, KH, KW]`, `DEPTHWISE_CONV_2D`
//! `[1, KH, KW, OC]` to `[OC, 1, KH, KW]` with groups = input channels, and
//! a `FULLY_CONNECTED` reading a flattened image gets its input columns
//! permuted from HWC to CHW order. Integer parameters are TFLite's: the
//! same codes, biases, and multipliers computed from the scales as its
//! kernels compute them, so outputs agree bit for bit where the core's
//! kernels are TFLite's.
//!
//! At the edges, a `QUANTIZE` of a float model input and a `DEQUANTIZE` to
//! a float model output become the file's float I/O flags (the core does
//! that arithmetic); a `PAD` is folded into the convolution that reads it;
//! `LOGISTIC` and `TANH` become lookup nodes whose 256 entries are computed
//! here as TFLite's int8 reference kernels compute their tables.

use anyhow::{Context, Result, anyhow, bail};
use myelin_core::model::graph::p as gp;
use myelin_core::model::{self, Activation, IoLayout, LayerKind, LayerQuant, Shape};
use myelin_core::quant::lut::TABLE_LEN;
use myelin_core::quant::params::{self, SOFTMAX_OUTPUT, quantize_multiplier};
use myelin_core::quant::{ActQuant, Requant};
use myelin_tflite::{
    Activation as Fused, Operator, Options, Padding, TensorInfo, TensorType, TfModel,
};

use crate::quantize::{QLayer, QTensor, QuantizedNet};

/// The TFLite ops [`translate`] imports.
pub const SUPPORTED_OPS: &[&str] = &[
    "FULLY_CONNECTED",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "ADD",
    "RESHAPE",
    "SOFTMAX",
    "MEAN",
    "CONCATENATION",
    "LOGISTIC",
    "TANH",
    "PAD",
    "QUANTIZE",
    "DEQUANTIZE",
];

/// Parameters of an imported dense node: LiteRT's reference
/// `FULLY_CONNECTED` requantizes with one rounding.
fn single_rounding() -> [u32; model::PARAMS] {
    let mut p = [0; model::PARAMS];
    p[gp::ROUNDING] = model::graph::ROUNDING_SINGLE;
    p
}

/// An imported model.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The int8 graph.
    pub net: QuantizedNet,
    /// How callers lay out samples: channel-last for image inputs.
    pub io_layout: IoLayout,
    /// For each node, the TFLite tensor it computes.
    pub node_tensors: Vec<usize>,
    /// The TFLite tensor holding the graph's int8 input: the model input,
    /// or the output of the `QUANTIZE` of a float model input.
    pub input_tensor: usize,
    /// Whether the model takes float inputs (a `QUANTIZE` at the input).
    pub float_input: bool,
    /// Whether the model gives float outputs (a `DEQUANTIZE` at the output).
    pub float_output: bool,
}

impl Imported {
    /// The model file: the graph encoded, with its I/O layout.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut bytes = self
            .net
            .encode()
            .map_err(|e| anyhow!("the core refuses the translated graph: {e}"))?;
        model::set_io_layout(&mut bytes, self.io_layout)
            .map_err(|e| anyhow!("cannot set the I/O layout: {e}"))?;
        model::set_float_io(&mut bytes, self.float_input, self.float_output)
            .map_err(|e| anyhow!("cannot set the float I/O flags: {e}"))?;
        Ok(bytes)
    }
}

/// One value of the graph: a TFLite tensor as myelin holds it.
#[derive(Debug, Clone, Copy)]
struct Value {
    /// `0` the model input, `k` node `k - 1`'s output.
    r: usize,
    shape: Shape,
    quant: ActQuant,
    /// Set when the value is flat but its elements are in the CHW order of
    /// this image shape (TFLite's are in HWC order).
    chw_of: Option<Shape>,
    /// Set when the value is a `PAD` (operator index, rows above and below,
    /// columns left and right, padded with the zero point) of value `r`,
    /// waiting to be folded into the convolution that reads it.
    pad: Option<(usize, [usize; 4])>,
}

/// Translates `m` into myelin's int8 graph.
pub fn translate(m: &TfModel<'_>) -> Result<Imported> {
    let [input] = m.inputs[..] else {
        bail!("{} inputs; one is imported", m.inputs.len());
    };
    let [output] = m.outputs[..] else {
        bail!("{} outputs; one is imported", m.outputs.len());
    };
    let t = &m.tensors[input];
    let image = t.shape.len() == 4;
    let mut g = Graph {
        m,
        values: vec![None; m.tensors.len()],
        layers: Vec::new(),
        node_tensors: Vec::new(),
        input: None,
        float_output: false,
    };
    match t.dtype {
        TensorType::Int8 => g.set_input(input)?,
        // A QUANTIZE reading it sets the graph's input.
        TensorType::Float32 => {}
        other => bail!(
            "input `{}` is {other:?}; int8 and float32 (quantized by a QUANTIZE) inputs are imported",
            t.name
        ),
    }
    for op in &m.operators {
        g.operator(op)
            .with_context(|| format!("operator {} ({})", op.index, op.name()))?;
    }
    let out = g.values[output].ok_or_else(|| {
        anyhow!(
            "output `{}` is computed by no operator",
            m.tensors[output].name
        )
    })?;
    if let Some((k, _)) = out.pad {
        bail!(
            "the model output comes from PAD (operator {k}), which is imported only folded into a convolution"
        );
    }
    if out.r != g.layers.len() || out.r == 0 {
        bail!(
            "output `{}` is not the last operator's output",
            m.tensors[output].name
        );
    }
    let want = if g.float_output {
        TensorType::Float32
    } else {
        TensorType::Int8
    };
    if m.tensors[output].dtype != want {
        bail!(
            "output is {:?}; int8 outputs, and float32 outputs of a DEQUANTIZE, are imported",
            m.tensors[output].dtype
        );
    }
    let (input_tensor, in_shape) = g
        .input
        .context("the float model input is read by no QUANTIZE")?;
    Ok(Imported {
        float_input: input_tensor != input,
        float_output: g.float_output,
        input_tensor,
        net: QuantizedNet {
            input: in_shape,
            layers: g.layers,
        },
        io_layout: if image {
            IoLayout::ChannelLast
        } else {
            IoLayout::ChannelMajor
        },
        node_tensors: g.node_tensors,
    })
}

/// TFLite activation shape to myelin's `[C, H, W]`: `[1, H, W, C]`,
/// `[1, W, C]` (as `[C, 1, W]`), `[1, N]` and `[N]` (as `[1, 1, N]`).
fn activation_shape(t: &TensorInfo<'_>) -> Result<Shape> {
    let s = &t.shape;
    Ok(match s[..] {
        [1, h, w, c] => [c, h, w],
        [1, w, c] => [c, 1, w],
        [1, n] | [n] => [1, 1, n],
        _ => bail!(
            "tensor `{}` has shape {s:?}; imported activations are [1, H, W, C], [1, W, C] or [1, N]",
            t.name
        ),
    })
}

/// The per-tensor quantization of an activation.
fn act_quant(t: &TensorInfo<'_>) -> Result<ActQuant> {
    let q = t
        .quant
        .as_ref()
        .ok_or_else(|| anyhow!("tensor `{}` is not quantized", t.name))?;
    if q.scale.len() != 1 {
        bail!(
            "activation `{}` has {} scales; one is expected",
            t.name,
            q.scale.len()
        );
    }
    let zero_point = i8::try_from(q.zero_point[0]).map_err(|_| {
        anyhow!(
            "tensor `{}`: zero point {} is not int8",
            t.name,
            q.zero_point[0]
        )
    })?;
    Ok(ActQuant {
        scale: q.scale[0],
        zero_point,
    })
}

fn same(a: ActQuant, b: ActQuant) -> bool {
    a.scale.to_bits() == b.scale.to_bits() && a.zero_point == b.zero_point
}

/// Whether a `[C, H, W]` value's CHW and HWC element orders differ.
fn reorders(s: Shape) -> bool {
    s[0] > 1 && s[1] * s[2] > 1
}

/// A fused activation as myelin's: none, or ReLU (the clamp at the output
/// zero point). ReLU6 is ReLU when `6` is past the output's largest code, as
/// it is for ranges calibrated to `[0, 6]`.
fn fused(a: Fused, out: ActQuant) -> Result<Activation> {
    match a {
        Fused::None => Ok(Activation::Identity),
        Fused::Relu => Ok(Activation::Relu),
        Fused::Relu6 => {
            let top = i32::from(out.zero_point) + (6.0 / f64::from(out.scale)).round() as i32;
            if top >= 127 {
                Ok(Activation::Relu)
            } else {
                bail!("fused RELU6 clamping inside the int8 range (at code {top}) is not imported")
            }
        }
        other => bail!("fused activation {other:?} is not imported"),
    }
}

struct Graph<'m, 'a> {
    m: &'m TfModel<'a>,
    values: Vec<Option<Value>>,
    layers: Vec<QLayer>,
    node_tensors: Vec<usize>,
    /// The TFLite tensor of the graph's int8 input, and its shape.
    input: Option<(usize, Shape)>,
    /// Whether a DEQUANTIZE made the model output float.
    float_output: bool,
}

/// Weights, biases and multipliers of a dense or conv2d node.
struct Filter {
    tensors: Vec<QTensor>,
    out_channels: usize,
}

impl<'a> Graph<'_, 'a> {
    fn tensor(&self, i: usize) -> &TensorInfo<'a> {
        &self.m.tensors[i]
    }

    /// Input `k` of `op`, which must be present.
    fn input(&self, op: &Operator, k: usize) -> Result<usize> {
        op.inputs
            .get(k)
            .copied()
            .flatten()
            .ok_or_else(|| anyhow!("input {k} is missing"))
    }

    /// Makes int8 tensor `t` the graph's input (value 0).
    fn set_input(&mut self, t: usize) -> Result<()> {
        let info = self.tensor(t);
        let shape = activation_shape(info)?;
        self.values[t] = Some(Value {
            r: 0,
            shape,
            quant: act_quant(info)?,
            chw_of: None,
            pad: None,
        });
        self.input = Some((t, shape));
        Ok(())
    }

    /// The value input `k` of `op` names, which may be a pending `PAD`.
    fn value_or_pad(&self, op: &Operator, k: usize) -> Result<Value> {
        let i = self.input(op, k)?;
        let t = self.tensor(i);
        self.values[i].ok_or_else(|| {
            if t.dtype == TensorType::Int8 {
                anyhow!(
                    "input `{}` is neither the model input nor an earlier operator's output",
                    t.name
                )
            } else {
                anyhow!(
                    "input `{}` is {:?}; inside the graph only int8 values are imported (a float model input is read only by its QUANTIZE)",
                    t.name,
                    t.dtype
                )
            }
        })
    }

    /// The value input `k` of `op` names.
    fn value(&self, op: &Operator, k: usize) -> Result<Value> {
        let v = self.value_or_pad(op, k)?;
        if let Some((pad_op, _)) = v.pad {
            bail!(
                "input `{}` comes from PAD (operator {pad_op}); a PAD is imported only folded into the CONV_2D or DEPTHWISE_CONV_2D reading it (before a pool it would change the pooled values)",
                self.tensor(self.input(op, k)?).name
            );
        }
        Ok(v)
    }

    fn output(&self, op: &Operator) -> Result<(usize, &TensorInfo<'a>)> {
        let [o] = op.outputs[..] else {
            bail!("{} outputs; one is expected", op.outputs.len());
        };
        let t = self.tensor(o);
        if t.dtype != TensorType::Int8 {
            bail!("output `{}` is {:?}, not int8", t.name, t.dtype);
        }
        Ok((o, t))
    }

    /// Appends a node and makes it the value of TFLite tensor `out`.
    fn push(&mut self, out: usize, layer: QLayer, chw_of: Option<Shape>) {
        let v = Value {
            r: self.layers.len() + 1,
            shape: layer.out_shape,
            quant: layer.quant.output,
            chw_of,
            pad: None,
        };
        self.layers.push(layer);
        self.node_tensors.push(out);
        self.values[out] = Some(v);
    }

    fn operator(&mut self, op: &Operator) -> Result<()> {
        match op.name().as_str() {
            "FULLY_CONNECTED" => self.fully_connected(op),
            "CONV_2D" | "DEPTHWISE_CONV_2D" => self.conv(op),
            "AVERAGE_POOL_2D" | "MAX_POOL_2D" => self.pool(op),
            "ADD" => self.add(op),
            "RESHAPE" => self.reshape(op),
            "SOFTMAX" => self.softmax(op),
            "MEAN" => self.mean(op),
            "CONCATENATION" => self.concat(op),
            "LOGISTIC" | "TANH" => self.sigmoid_tanh(op),
            "PAD" => self.pad(op),
            "QUANTIZE" => self.quantize(op),
            "DEQUANTIZE" => self.dequantize(op),
            name => bail!(
                "op {name} is not supported (supported: {})",
                SUPPORTED_OPS.join(", ")
            ),
        }
    }

    /// Int8 weights `[OC, ...]` with per-channel or per-tensor symmetric
    /// scales, `i32` biases (zeros when absent), and the multipliers
    /// `s_in s_w[c] / s_out` as TFLite computes them: in f64, except that
    /// `FULLY_CONNECTED` with one weight scale multiplies the two scales in
    /// f32 first (`GetQuantizedConvolutionMultipler`), `f32_product`.
    fn filter(
        &self,
        op: &Operator,
        weights: Vec<i8>,
        dims: Vec<usize>,
        (input, output): (ActQuant, ActQuant),
        f32_product: bool,
    ) -> Result<Filter> {
        let w = self.tensor(self.input(op, 1)?);
        let oc = dims[0];
        let q = w
            .quant
            .as_ref()
            .ok_or_else(|| anyhow!("weights `{}` are not quantized", w.name))?;
        if q.zero_point.iter().any(|&z| z != 0) {
            bail!(
                "weights `{}` are not symmetric (non-zero zero point)",
                w.name
            );
        }
        let scale = |c: usize| q.scale[if q.scale.len() == 1 { 0 } else { c }];
        let per_channel = q.scale.len() > 1;
        if per_channel && q.scale.len() != oc {
            bail!(
                "weights `{}`: {} scales for {oc} output channels",
                w.name,
                q.scale.len()
            );
        }
        let bias = match op.inputs.get(2).copied().flatten() {
            Some(b) => {
                let t = self.tensor(b);
                let v = t
                    .i32_data()
                    .ok_or_else(|| anyhow!("bias `{}` is not a constant int32 tensor", t.name))?;
                if v.len() != oc {
                    bail!("bias `{}` has {} values for {oc} channels", t.name, v.len());
                }
                v
            }
            None => vec![0; oc],
        };
        let w_scales: Vec<f32> = if per_channel {
            q.scale.clone()
        } else {
            vec![q.scale[0]]
        };
        let b_scales: Vec<f32> = w_scales.iter().map(|s| input.scale * s).collect();
        let requant: Vec<Requant> = (0..oc)
            .map(|c| {
                let product = if f32_product && !per_channel {
                    f64::from(input.scale * scale(c))
                } else {
                    f64::from(input.scale) * f64::from(scale(c))
                };
                quantize_multiplier(product / f64::from(output.scale))
            })
            .collect();
        Ok(Filter {
            tensors: vec![
                QTensor::I8 {
                    dims,
                    values: weights,
                    scales: w_scales,
                },
                QTensor::I32 {
                    values: bias,
                    scales: b_scales,
                },
                QTensor::Requant(requant),
            ],
            out_channels: oc,
        })
    }

    fn weights(&self, op: &Operator) -> Result<(&TensorInfo<'a>, Vec<i8>)> {
        let w = self.tensor(self.input(op, 1)?);
        let v = w
            .i8_data()
            .ok_or_else(|| anyhow!("weights `{}` are not a constant int8 tensor", w.name))?;
        Ok((w, v))
    }

    fn fully_connected(&mut self, op: &Operator) -> Result<()> {
        let Options::FullyConnected {
            activation,
            default_weights,
            ..
        } = op.options
        else {
            bail!("options missing");
        };
        if !default_weights {
            bail!("shuffled weights are not imported");
        }
        let x = self.value(op, 0)?;
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        let (w, values) = self.weights(op)?;
        let [oc, n] = w.shape[..] else {
            bail!(
                "weights `{}` have shape {:?}, not [OUT, IN]",
                w.name,
                w.shape
            );
        };
        if n != model::shape_len(x.shape) {
            bail!(
                "weights take {n} inputs, the input has {}",
                model::shape_len(x.shape)
            );
        }
        // The elements are in CHW order where TFLite's are HWC: permute the
        // weight columns to match.
        let image = x.chw_of.or(reorders(x.shape).then_some(x.shape));
        let values = match image {
            Some([c, h, wd]) => {
                let mut p = vec![0i8; values.len()];
                for row in 0..oc {
                    for ci in 0..c {
                        for y in 0..h {
                            for xi in 0..wd {
                                p[row * n + (ci * h + y) * wd + xi] =
                                    values[row * n + (y * wd + xi) * c + ci];
                            }
                        }
                    }
                }
                p
            }
            None => values,
        };
        let f = self.filter(op, values, vec![oc, n], (x.quant, out_q), true)?;
        let layer = QLayer {
            kind: LayerKind::Dense,
            activation: fused(activation, out_q)?,
            in_shape: x.shape,
            out_shape: [1, 1, f.out_channels],
            params: single_rounding(),
            quant: LayerQuant {
                input: x.quant,
                output: out_q,
            },
            tensors: f.tensors,
            inputs: vec![x.r],
        };
        let want = activation_shape(out_t)?;
        if want != layer.out_shape {
            bail!("output shape {:?} is not [1, {oc}]", out_t.shape);
        }
        self.push(o, layer, None);
        Ok(())
    }

    fn conv(&mut self, op: &Operator) -> Result<()> {
        let x = self.value_or_pad(op, 0)?;
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        let [c, h, wd] = x.shape;
        let (w, values) = self.weights(op)?;
        let (padding, stride, dilation, activation, depthwise) = match op.options {
            Options::Conv2d {
                padding,
                stride,
                dilation,
                activation,
            } => (padding, stride, dilation, activation, None),
            Options::DepthwiseConv2d {
                padding,
                stride,
                dilation,
                activation,
                depth_multiplier,
            } => (
                padding,
                stride,
                dilation,
                activation,
                Some(depth_multiplier),
            ),
            _ => bail!("options missing"),
        };
        if dilation != [1, 1] {
            bail!("dilation {dilation:?} is not imported");
        }
        let (oc, kh, kw, values, groups) = match (depthwise, &w.shape[..]) {
            (None, &[oc, kh, kw, ic]) => {
                if ic != c {
                    bail!("weights `{}` take {ic} channels, the input has {c}", w.name);
                }
                // [OC, KH, KW, IC] -> [OC, IC, KH, KW].
                let mut t = vec![0i8; values.len()];
                for o in 0..oc {
                    for y in 0..kh {
                        for xi in 0..kw {
                            for i in 0..ic {
                                t[((o * ic + i) * kh + y) * kw + xi] =
                                    values[((o * kh + y) * kw + xi) * ic + i];
                            }
                        }
                    }
                }
                (oc, kh, kw, t, 1)
            }
            (Some(mult), &[1, kh, kw, oc]) => {
                if oc != c * mult {
                    bail!("{oc} output channels for {c} inputs with depth multiplier {mult}");
                }
                // [1, KH, KW, OC] -> [OC, 1, KH, KW].
                let mut t = vec![0i8; values.len()];
                for o in 0..oc {
                    for k in 0..kh * kw {
                        t[o * kh * kw + k] = values[k * oc + o];
                    }
                }
                (oc, kh, kw, t, c)
            }
            _ => bail!("weights `{}` have shape {:?}", w.name, w.shape),
        };
        // A PAD before: its rows and columns come first, then the
        // convolution's own padding of the padded input.
        let [qt, qb, ql, qr] = x.pad.map_or([0; 4], |(_, p)| p);
        let (pt, pb, oh) = pad(padding, h + qt + qb, kh, stride[0])?;
        let (pl, pr, ow) = pad(padding, wd + ql + qr, kw, stride[1])?;
        let (pt, pb, pl, pr) = (pt + qt, pb + qb, pl + ql, pr + qr);
        if let Some((pad_op, _)) = x.pad
            && (pt.max(pb) >= kh || pl.max(pr) >= kw)
        {
            bail!(
                "PAD (operator {pad_op}) folded into this {kh}x{kw} convolution pads by as much as the kernel ({pt}, {pb}, {pl}, {pr}); not imported"
            );
        }
        let dims = vec![oc, c / groups, kh, kw];
        let f = self.filter(op, values, dims, (x.quant, out_q), false)?;
        let out_shape = [oc, oh, ow];
        if activation_shape(out_t)? != out_shape {
            bail!(
                "output shape {:?}, computed [1, {oh}, {ow}, {oc}]",
                out_t.shape
            );
        }
        let layer = QLayer {
            kind: LayerKind::Conv2d,
            activation: fused(activation, out_q)?,
            in_shape: x.shape,
            out_shape,
            params: window([kh, kw], stride, [pt, pb, pl, pr], groups)?,
            quant: LayerQuant {
                input: x.quant,
                output: out_q,
            },
            tensors: f.tensors,
            inputs: vec![x.r],
        };
        self.push(o, layer, None);
        Ok(())
    }

    fn pool(&mut self, op: &Operator) -> Result<()> {
        let Options::Pool2d {
            padding,
            stride,
            filter,
            activation,
        } = op.options
        else {
            bail!("options missing");
        };
        let x = self.value(op, 0)?;
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        if !same(x.quant, out_q) {
            bail!("input and output quantizations differ; myelin pools keep their input's");
        }
        let [c, h, wd] = x.shape;
        let (pt, pb, oh) = pad(padding, h, filter[0], stride[0])?;
        let (pl, pr, ow) = pad(padding, wd, filter[1], stride[1])?;
        if pt + pb + pl + pr > 0 {
            bail!(
                "SAME padding of this pool adds ({pt}, {pb}, {pl}, {pr}); padded int8 pools are not imported"
            );
        }
        let out_shape = [c, oh, ow];
        if activation_shape(out_t)? != out_shape {
            bail!(
                "output shape {:?}, computed [1, {oh}, {ow}, {c}]",
                out_t.shape
            );
        }
        let kind = if op.name() == "MAX_POOL_2D" {
            LayerKind::MaxPool2d
        } else {
            LayerKind::AvgPool2d
        };
        let layer = QLayer {
            kind,
            activation: fused(activation, out_q)?,
            in_shape: x.shape,
            out_shape,
            params: window(filter, stride, [pt, pb, pl, pr], 0)?,
            quant: LayerQuant {
                input: x.quant,
                output: out_q,
            },
            tensors: vec![],
            inputs: vec![x.r],
        };
        self.push(o, layer, None);
        Ok(())
    }

    fn add(&mut self, op: &Operator) -> Result<()> {
        let Options::Add { activation } = op.options else {
            bail!("options missing");
        };
        let (a, b) = (self.value(op, 0)?, self.value(op, 1)?);
        if a.shape != b.shape || a.chw_of != b.chw_of {
            bail!(
                "inputs of shapes {:?} and {:?}; broadcasting is not imported",
                a.shape,
                b.shape
            );
        }
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        let act = fused(activation, out_q)?;
        let p = params::add_params(&a.quant, &b.quant, &out_q, false);
        let layer = QLayer {
            kind: LayerKind::Add,
            activation: act,
            in_shape: a.shape,
            out_shape: a.shape,
            params: [0; model::PARAMS],
            quant: LayerQuant {
                input: a.quant,
                output: out_q,
            },
            tensors: vec![QTensor::Requant(vec![
                p.a_requant,
                p.b_requant,
                p.output_requant,
            ])],
            inputs: vec![a.r, b.r],
        };
        self.push(o, layer, a.chw_of);
        Ok(())
    }

    fn reshape(&mut self, op: &Operator) -> Result<()> {
        let x = self.value(op, 0)?;
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        if !same(x.quant, out_q) {
            bail!("a reshape that requantizes is not imported");
        }
        let out_shape = activation_shape(out_t)?;
        let flat = out_shape[..2] == [1, 1];
        // Flattening keeps the CHW order (the next dense node permutes its
        // columns); any other reshape of reordered data would move elements.
        let source = x.chw_of.or(reorders(x.shape).then_some(x.shape));
        let chw_of = match source {
            Some(s) if flat => Some(s),
            None if !reorders(out_shape) => None,
            _ => bail!(
                "a reshape of channel-last data to {:?} would reorder elements; only flattening is imported",
                out_t.shape
            ),
        };
        if out_shape == x.shape {
            // Nothing moves: the output is the input's value.
            self.values[o] = Some(Value { chw_of, ..x });
            return Ok(());
        }
        let layer = QLayer {
            kind: LayerKind::Reshape,
            activation: Activation::Identity,
            in_shape: x.shape,
            out_shape,
            params: [0; model::PARAMS],
            quant: LayerQuant {
                input: x.quant,
                output: out_q,
            },
            tensors: vec![],
            inputs: vec![x.r],
        };
        self.push(o, layer, chw_of);
        Ok(())
    }

    fn softmax(&mut self, op: &Operator) -> Result<()> {
        let Options::Softmax { beta } = op.options else {
            bail!("options missing");
        };
        let x = self.value(op, 0)?;
        if x.shape[..2] != [1, 1] {
            bail!(
                "softmax over a {:?} value; only flat vectors are imported",
                x.shape
            );
        }
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        if !same(out_q, SOFTMAX_OUTPUT) {
            bail!(
                "output quantization {out_q:?} is not TFLite's int8 softmax output (1/256, -128)"
            );
        }
        let sq = params::softmax_params(beta, x.quant.scale);
        let mut p = [0; model::PARAMS];
        p[gp::DIFF_MIN] = sq.diff_min as u32;
        let layer = QLayer {
            kind: LayerKind::Activation,
            activation: Activation::Softmax,
            in_shape: x.shape,
            out_shape: x.shape,
            params: p,
            quant: LayerQuant {
                input: x.quant,
                output: out_q,
            },
            tensors: vec![QTensor::Requant(vec![sq.input_beta])],
            inputs: vec![x.r],
        };
        self.push(o, layer, None);
        Ok(())
    }

    fn mean(&mut self, op: &Operator) -> Result<()> {
        let x = self.value(op, 0)?;
        let axes = self.tensor(self.input(op, 1)?);
        let mut axes = axes
            .i32_data()
            .ok_or_else(|| anyhow!("axes `{}` are not a constant int32 tensor", axes.name))?;
        axes.sort_unstable();
        if axes != [1, 2] {
            bail!("MEAN over axes {axes:?}; only the spatial mean (axes 1, 2) is imported");
        }
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        if !same(x.quant, out_q) {
            bail!("a MEAN that requantizes is not imported");
        }
        let layer = QLayer {
            kind: LayerKind::GlobalAvgPool,
            activation: Activation::Identity,
            in_shape: x.shape,
            out_shape: [x.shape[0], 1, 1],
            params: [0; model::PARAMS],
            quant: LayerQuant {
                input: x.quant,
                output: out_q,
            },
            tensors: vec![],
            inputs: vec![x.r],
        };
        self.push(o, layer, None);
        Ok(())
    }

    fn concat(&mut self, op: &Operator) -> Result<()> {
        let Options::Concatenation { axis, activation } = op.options else {
            bail!("options missing");
        };
        let (o, out_t) = self.output(op)?;
        let rank = out_t.shape.len() as i32;
        if axis.rem_euclid(rank.max(1)) != rank - 1 || rank != 4 {
            bail!(
                "concatenation along axis {axis} of rank {rank}; only channels of images are imported"
            );
        }
        let out_q = act_quant(out_t)?;
        let xs: Vec<Value> = (0..op.inputs.len())
            .map(|k| self.value(op, k))
            .collect::<Result<_>>()?;
        if xs.iter().any(|x| !same(x.quant, out_q)) {
            bail!(
                "inputs quantized unlike the output; a requantizing concatenation is not imported"
            );
        }
        if !(2..=4).contains(&xs.len()) {
            bail!("{} inputs; 2 to 4 are imported", xs.len());
        }
        let out_shape = activation_shape(out_t)?;
        let layer = QLayer {
            kind: LayerKind::Concat,
            activation: fused(activation, out_q)?,
            in_shape: xs[0].shape,
            out_shape,
            params: [0; model::PARAMS],
            quant: LayerQuant {
                input: out_q,
                output: out_q,
            },
            tensors: vec![],
            inputs: xs.iter().map(|x| x.r).collect(),
        };
        self.push(o, layer, None);
        Ok(())
    }

    /// `LOGISTIC` and `TANH` as TFLite's int8 reference kernels compute
    /// them: a table of the 256 input codes ([`lookup_table`]).
    fn sigmoid_tanh(&mut self, op: &Operator) -> Result<()> {
        let x = self.value(op, 0)?;
        let (o, out_t) = self.output(op)?;
        let out_q = act_quant(out_t)?;
        let f: fn(f32) -> f32 = if op.name() == "LOGISTIC" {
            |v| 1.0 / (1.0 + (-v).exp())
        } else {
            f32::tanh
        };
        let table = lookup_table(x.quant, out_q, f);
        let layer = QLayer {
            kind: LayerKind::Lookup,
            activation: Activation::Identity,
            in_shape: x.shape,
            out_shape: x.shape,
            params: [0; model::PARAMS],
            quant: LayerQuant {
                input: x.quant,
                output: out_q,
            },
            tensors: vec![QTensor::I8 {
                dims: vec![TABLE_LEN],
                values: table,
                scales: vec![out_q.scale],
            }],
            inputs: vec![x.r],
        };
        self.push(o, layer, x.chw_of);
        Ok(())
    }

    /// `PAD` of an image's rows and columns with the zero point: kept as a
    /// pending value for the convolution that reads it to fold.
    fn pad(&mut self, op: &Operator) -> Result<()> {
        let x = self.value_or_pad(op, 0)?;
        let (o, out_t) = self.output(op)?;
        if !same(x.quant, act_quant(out_t)?) {
            bail!("a PAD that requantizes is not imported");
        }
        let p = self.tensor(self.input(op, 1)?);
        let amounts = p
            .i32_data()
            .ok_or_else(|| anyhow!("paddings `{}` are not a constant int32 tensor", p.name))?;
        let &[0, 0, t, b, l, r, 0, 0] = &amounts[..] else {
            bail!(
                "paddings {amounts:?}; only the rows and columns of a [1, H, W, C] image are padded by imported PADs"
            );
        };
        let amounts = [t, b, l, r].map(|v| usize::try_from(v).ok());
        let [Some(t), Some(b), Some(l), Some(r)] = amounts else {
            bail!("negative paddings are not imported");
        };
        let [pt, pb, pl, pr] = x.pad.map_or([0; 4], |(_, p)| p);
        let total = [pt + t, pb + b, pl + l, pr + r];
        let [c, h, w] = x.shape;
        if activation_shape(out_t)? != [c, h + total[0] + total[1], w + total[2] + total[3]] {
            bail!("output shape {:?} does not match the paddings", out_t.shape);
        }
        self.values[o] = Some(Value {
            pad: (total != [0; 4]).then_some((op.index, total)),
            ..x
        });
        Ok(())
    }

    /// `QUANTIZE` of the float model input: its output is the graph's input
    /// and the file takes float samples. Any other `QUANTIZE` (a
    /// requantization inside the graph) is refused.
    fn quantize(&mut self, op: &Operator) -> Result<()> {
        let i = self.input(op, 0)?;
        let (o, _) = self.output(op)?;
        let model_input = self.m.inputs[0];
        if i != model_input || self.tensor(i).dtype != TensorType::Float32 || self.input.is_some() {
            bail!(
                "QUANTIZE inside the graph (of `{}`) is not imported; only the QUANTIZE of a float model input is",
                self.tensor(i).name
            );
        }
        if self.tensor(o).shape != self.tensor(i).shape {
            bail!("QUANTIZE changes the shape");
        }
        self.set_input(o)
    }

    /// `DEQUANTIZE` to the float model output: the file gives float
    /// outputs. Any other `DEQUANTIZE` is refused.
    fn dequantize(&mut self, op: &Operator) -> Result<()> {
        let x = self.value(op, 0)?;
        let [o] = op.outputs[..] else {
            bail!("{} outputs; one is expected", op.outputs.len());
        };
        let t = self.tensor(o);
        if o != self.m.outputs[0] || t.dtype != TensorType::Float32 {
            bail!(
                "DEQUANTIZE inside the graph (to `{}`) is not imported; only the DEQUANTIZE to a float model output is",
                t.name
            );
        }
        if activation_shape(t)? != x.shape {
            bail!("DEQUANTIZE changes the shape");
        }
        self.values[o] = Some(x);
        self.float_output = true;
        Ok(())
    }
}

/// The output codes of an element-wise `f` for the 256 input codes (entry
/// `k` for code `k - 128`), as TFLite's int8 reference kernels tabulate
/// `LOGISTIC` and `TANH` (`LUTPopulate`): in f32, `x = s_in (code - z_in)`,
/// `round(f(x) * (1 / s_out)) + z_out` rounded half away from zero, clamped
/// to int8.
pub fn lookup_table(input: ActQuant, output: ActQuant, f: fn(f32) -> f32) -> Vec<i8> {
    let inverse = 1.0 / output.scale;
    (-128i32..=127)
        .map(|code| {
            let x = input.scale * (code - i32::from(input.zero_point)) as f32;
            let q = (f(x) * inverse).round() + f32::from(output.zero_point);
            q.clamp(-128.0, 127.0) as i8
        })
        .collect()
}

/// TFLite's padding along one axis: `(before, after, output size)`. SAME:
/// `out = ceil(in / s)`, total `max((out - 1) s + k - in, 0)`, the extra
/// one after; VALID: `out = (in - k) / s + 1`, none.
pub fn pad(p: Padding, input: usize, k: usize, s: usize) -> Result<(usize, usize, usize)> {
    match p {
        Padding::Same => {
            let out = input.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(input);
            Ok((total / 2, total - total / 2, out))
        }
        Padding::Valid => {
            if k > input {
                bail!("window {k} is larger than the input {input}");
            }
            Ok((0, 0, (input - k) / s + 1))
        }
    }
}

fn window(
    k: [usize; 2],
    s: [usize; 2],
    pad: [usize; 4],
    groups: usize,
) -> Result<[u32; model::PARAMS]> {
    let mut p = [0u32; model::PARAMS];
    let mut set = |i: usize, v: usize| -> Result<()> {
        p[i] = u32::try_from(v).context("window parameter too large")?;
        Ok(())
    };
    set(gp::K_H, k[0])?;
    set(gp::K_W, k[1])?;
    set(gp::STRIDE_H, s[0])?;
    set(gp::STRIDE_W, s[1])?;
    set(gp::PAD_TOP, pad[0])?;
    set(gp::PAD_BOTTOM, pad[1])?;
    set(gp::PAD_LEFT, pad[2])?;
    set(gp::PAD_RIGHT, pad[3])?;
    set(gp::GROUPS, groups)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_splits_the_extra_row_after() {
        // 32 -> 16 with a 3x3 stride-2 window: total 1, none before.
        assert_eq!(pad(Padding::Same, 32, 3, 2).unwrap(), (0, 1, 16));
        // Stride 1: total k - 1 split evenly.
        assert_eq!(pad(Padding::Same, 49, 3, 1).unwrap(), (1, 1, 49));
        // KWS's first conv: 10x4 window, stride 2 over 49x10.
        assert_eq!(pad(Padding::Same, 49, 10, 2).unwrap(), (4, 5, 25));
        assert_eq!(pad(Padding::Valid, 8, 8, 8).unwrap(), (0, 0, 1));
        assert!(pad(Padding::Valid, 3, 4, 1).is_err());
    }
}
