//! The Rust text `myelin export --rust` writes.

use anyhow::{Result, bail};
use myelin_core::model::{
    self, Activation, Arithmetic, DType, LayerKind, LayerView, Model, shape_len,
};

/// Values per line of a generated array.
const PER_LINE: usize = 16;

/// Test samples to embed, with what the host computed for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Index of the first sample in its data set.
    pub first: usize,
    /// Raw pixels (`0..=255`), sample after sample; the input is `pixel / 255`.
    pub pixels: Vec<u8>,
    /// Labels.
    pub labels: Vec<u8>,
    /// The model's outputs on the host, sample after sample.
    pub outputs: Outputs,
    /// Index of the largest output (the first on ties).
    pub classes: Vec<u8>,
}

/// What the host computed for the embedded samples.
#[derive(Debug, Clone, PartialEq)]
pub enum Outputs {
    /// Outputs of an f32 model (`Model::infer`).
    F32(Vec<f32>),
    /// Output codes of an int8 model (`Model::infer_int8`), from input codes
    /// quantized from `pixel / 255` with the model's input quantization.
    I8(Vec<i8>),
}

impl Outputs {
    fn len(&self) -> usize {
        match self {
            Outputs::F32(v) => v.len(),
            Outputs::I8(v) => v.len(),
        }
    }
}

impl Samples {
    /// Runs `model` on each sample with the core's model inference (f32 or
    /// integer-only int8). An int8 model's bytes must be 4-byte aligned.
    pub fn compute(
        model: &Model<'_>,
        first: usize,
        pixels: Vec<u8>,
        labels: Vec<u8>,
    ) -> Result<Samples> {
        let len = model.input_len();
        if len == 0 || pixels.len() != labels.len() * len {
            bail!(
                "{} pixels for {} labels of {len}-value samples",
                pixels.len(),
                labels.len()
            );
        }
        let mut classes = Vec::new();
        let outputs = if model.arithmetic() == Arithmetic::Int8 {
            let Some(inq) = model.input_quant() else {
                bail!("int8 model without input quantization");
            };
            let need = model::int8_scratch_len(model);
            let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
            let mut outputs = Vec::new();
            for image in pixels.chunks_exact(len) {
                let x: Vec<i8> = image
                    .iter()
                    .map(|&p| inq.quantize(f32::from(p) / 255.0))
                    .collect();
                let y = model.infer_int8(&x, &mut act, &mut cell)?;
                classes.push(u8::try_from(argmax_i8(y)).unwrap_or(u8::MAX));
                outputs.extend_from_slice(y);
            }
            Outputs::I8(outputs)
        } else {
            let mut scratch = vec![0.0f32; model::scratch_len(model)];
            let mut outputs = Vec::new();
            for image in pixels.chunks_exact(len) {
                let x: Vec<f32> = image.iter().map(|&p| f32::from(p) / 255.0).collect();
                let y = model.infer(&x, &mut scratch)?;
                let class = myelin_core::train::argmax(y);
                classes.push(u8::try_from(class).unwrap_or(u8::MAX));
                outputs.extend_from_slice(y);
            }
            Outputs::F32(outputs)
        };
        Ok(Samples {
            first,
            pixels,
            labels,
            outputs,
            classes,
        })
    }
}

/// Index of the largest code (the first on ties).
fn argmax_i8(y: &[i8]) -> usize {
    let mut best = 0;
    for (i, &v) in y.iter().enumerate() {
        if v > y[best] {
            best = i;
        }
    }
    best
}

/// One layer as the generated code sees it.
struct Plan<'a> {
    layer: LayerView<'a>,
    /// Field name of a layer with weights (`l1`, `l2`, ...).
    field: Option<String>,
    out_len: usize,
}

/// Generates the Rust module for `model` (f32 or int8), with `samples` embedded.
///
/// # Errors
/// For layer kinds this generator does not emit (LSTM; non-square f32
/// convolution kernels; int8 sigmoid/tanh), f16 tensors and non-finite
/// weights, naming the layer.
pub fn rust_source(model: &Model<'_>, name: &str, samples: Option<&Samples>) -> Result<String> {
    if !model.layers().all(|l| l.is_chained()) {
        return super::file_form::rust_source_file(model, name, samples, None);
    }
    if model.arithmetic() == Arithmetic::Int8 {
        return super::int8::rust_source_int8(model, name, samples);
    }
    let plans = plan(model)?;
    let input = model.input_shape();
    let in_len = model.input_len();
    let out_len = model.output_len();
    let out_lens: Vec<usize> = plans.iter().map(|p| p.out_len).collect();
    let (scratch_a, scratch_b) = scratch_sizes(&out_lens);
    let macs: usize = plans.iter().map(|p| macs(&p.layer)).sum();
    let weights_bytes: usize = plans
        .iter()
        .flat_map(|p| (0..p.layer.tensor_count()).filter_map(|j| p.layer.tensor(j)))
        .map(|t| t.data.len())
        .sum();
    let crc = crc(model);

    let mut s = String::new();
    let w = &mut s;
    emit_summary(
        w,
        model,
        Summary {
            name,
            dtype: "f32",
            form: "a typed, const-size network",
            count: plans.len(),
            units: "layers",
            macs,
        },
    );
    wl(w, "//!");
    wl(
        w,
        &format!(
            "//! Model file: {} bytes, CRC-32 {crc:#010x}. Every weight is a `static`",
            model.bytes().len()
        ),
    );
    wl(
        w,
        "//! array (flash on a microcontroller); [`Network::infer`] needs only a [`Scratch`].",
    );
    wl(w, "//!");
    emit_layer_table(w, plans.iter().map(|p| &p.layer));
    wl(
        w,
        "#![allow(clippy::approx_constant, clippy::excessive_precision, clippy::unreadable_literal)]",
    );
    wl(w, "");
    wl(w, "#[allow(unused_imports)]");
    wl(w, "use myelin_core::kernels;");
    wl(w, "#[allow(unused_imports)]");
    wl(w, "use myelin_core::layers::{Conv2d, Dense, Tensor};");
    wl(w, "");
    emit_sizes(
        w,
        Sizes {
            input,
            in_len,
            out_len,
            scratch_a,
            scratch_b,
            macs,
            weights_bytes,
            weights_what: "weights and biases",
        },
    );
    wl(w, "");

    // The network type.
    wl(w, "/// The network: one field per layer with weights.");
    wl(w, "#[derive(Debug, Clone, Copy, PartialEq)]");
    wl(w, "pub struct Network {");
    for (i, p) in plans.iter().enumerate() {
        if let Some(f) = &p.field {
            wl(
                w,
                &format!(
                    "    /// Layer {}: {} {} -> {}, activation {}.",
                    i + 1,
                    p.layer.kind.name(),
                    shape(p.layer.in_shape),
                    shape(p.layer.out_shape),
                    p.layer.activation.name()
                ),
            );
            wl(w, &format!("    pub {f}: {},", layer_type(&p.layer)));
        }
    }
    wl(w, "}");
    wl(w, "");

    // Scratch.
    wl(
        w,
        "/// The two activation buffers [`Network::infer`] alternates between (A, B).",
    );
    wl(w, "#[derive(Debug, Clone, Copy, PartialEq)]");
    wl(
        w,
        "pub struct Scratch(pub [f32; SCRATCH_A], pub [f32; SCRATCH_B]);",
    );
    wl(w, "");
    wl(w, "impl Scratch {");
    wl(w, "    /// Zeroed buffers (usable in a `static`).");
    wl(
        w,
        "    pub const ZERO: Self = Self([0.0; SCRATCH_A], [0.0; SCRATCH_B]);",
    );
    wl(w, "}");
    wl(w, "");
    wl(
        w,
        "/// The first `N` elements of `buf` as an array (`N <= M`, checked at compile time).",
    );
    wl(w, "#[inline(always)]");
    wl(
        w,
        "fn part<const N: usize, const M: usize>(buf: &mut [f32; M]) -> &mut [f32; N] {",
    );
    wl(
        w,
        "    const { assert!(N <= M, \"activation larger than its buffer\") };",
    );
    wl(w, "    match buf.first_chunk_mut::<N>() {");
    wl(w, "        Some(p) => p,");
    wl(w, "        None => unreachable!(),");
    wl(w, "    }");
    wl(w, "}");
    wl(w, "");

    // infer.
    wl(w, "impl Network {");
    wl(
        w,
        "    /// Runs one sample: `y` receives the last layer's output (after its activation).",
    );
    wl(
        w,
        "    pub fn infer(&self, x: &[f32; INPUT], y: &mut [f32; OUTPUT], scratch: &mut Scratch) {",
    );
    wl(w, "        let Scratch(a, b) = scratch;");
    let n = plans.len();
    for (i, p) in plans.iter().enumerate() {
        let src = if i == 0 {
            "x".to_string()
        } else {
            format!("h{i}")
        };
        let dst = if i + 1 == n {
            "y".to_string()
        } else {
            let buf = if i % 2 == 0 { "a" } else { "b" };
            let d = format!("h{}", i + 1);
            wl(
                w,
                &format!("        let {d}: &mut [f32; {}] = part({buf});", p.out_len),
            );
            d
        };
        emit_layer(w, p, &src, &dst);
        emit_activation(w, p.layer.activation, &dst);
    }
    wl(w, "    }");
    wl(w, "}");
    wl(w, "");

    // The weights.
    wl(w, "/// The trained weights.");
    wl(w, "pub static NETWORK: Network = Network {");
    for p in &plans {
        if let Some(f) = &p.field {
            emit_weights(w, f, &p.layer)?;
        }
    }
    wl(w, "};");

    if let Some(smp) = samples {
        emit_samples(w, smp, in_len, out_len)?;
    }
    Ok(s)
}

/// `CxHxW`.
pub(super) fn shape(s: [usize; 3]) -> String {
    format!("{}x{}x{}", s[0], s[1], s[2])
}

/// The CRC-32 stored at the end of the model file.
pub(super) fn crc(model: &Model<'_>) -> u32 {
    let b = model.bytes();
    let c = b.len().saturating_sub(4);
    b.get(c..)
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

/// Appends `line` and a newline.
pub(super) fn wl(w: &mut String, line: &str) {
    w.push_str(line);
    w.push('\n');
}

/// What the first lines of a generated module say about the model.
pub(super) struct Summary<'a> {
    /// Name in the generated docs.
    pub name: &'a str,
    /// `f32` or `int8`.
    pub dtype: &'a str,
    /// How the module holds the model (`a typed, const-size network`, ...).
    pub form: &'a str,
    /// Number of layers or nodes, and which of the two they are called.
    pub count: usize,
    pub units: &'a str,
    pub macs: usize,
}

/// The `@generated` line and the module doc's summary line of `model`.
pub(super) fn emit_summary(w: &mut String, model: &Model<'_>, s: Summary<'_>) {
    wl(
        w,
        "// @generated by `myelin export --rust`. Do not edit: regenerate it.",
    );
    wl(
        w,
        &format!(
            "//! `{}` ({}) as {}: input {}, {} {}, {} parameters, {} multiply-accumulates per inference.",
            s.name,
            s.dtype,
            s.form,
            shape(model.input_shape()),
            s.count,
            s.units,
            model.param_count(),
            s.macs
        ),
    );
}

/// Elements of the two activation buffers of layers with outputs of
/// `out_lens` elements: hidden activations alternate between them (even
/// layers write A, odd ones B); the last layer writes the caller's output.
pub(super) fn scratch_sizes(out_lens: &[usize]) -> (usize, usize) {
    let hidden = |parity: usize| {
        out_lens
            .iter()
            .take(out_lens.len().saturating_sub(1))
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, &n)| n)
            .max()
            .unwrap_or(1)
    };
    (hidden(0), hidden(1))
}

/// The module doc's table of `layers`: number, kind, activation, input and
/// output shapes.
pub(super) fn emit_layer_table<'a, 'b: 'a>(
    w: &mut String,
    layers: impl Iterator<Item = &'a LayerView<'b>>,
) {
    wl(w, "//! | # | layer | activation | in | out |");
    wl(w, "//! | ---: | --- | --- | --- | --- |");
    for (i, l) in layers.enumerate() {
        wl(
            w,
            &format!(
                "//! | {} | {} | {} | {} | {} |",
                i + 1,
                l.kind.name(),
                l.activation.name(),
                shape(l.in_shape),
                shape(l.out_shape)
            ),
        );
    }
}

/// The sizes a generated module states as constants.
pub(super) struct Sizes {
    pub input: [usize; 3],
    pub in_len: usize,
    pub out_len: usize,
    pub scratch_a: usize,
    pub scratch_b: usize,
    pub macs: usize,
    pub weights_bytes: usize,
    /// What `WEIGHTS_BYTES` counts, for its doc line.
    pub weights_what: &'static str,
}

/// Writes `INPUT`, `OUTPUT`, `SCRATCH_A`, `SCRATCH_B`, `MACS` and
/// `WEIGHTS_BYTES`, each with its doc line.
pub(super) fn emit_sizes(w: &mut String, s: Sizes) {
    wl(w, &format!("/// Input elements ({}).", shape(s.input)));
    wl(w, &format!("pub const INPUT: usize = {};", s.in_len));
    wl(w, "/// Output elements.");
    wl(w, &format!("pub const OUTPUT: usize = {};", s.out_len));
    wl(
        w,
        "/// Elements of activation buffer A (outputs of layers 1, 3, 5, ... but the last).",
    );
    wl(w, &format!("pub const SCRATCH_A: usize = {};", s.scratch_a));
    wl(
        w,
        "/// Elements of activation buffer B (outputs of layers 2, 4, 6, ... but the last).",
    );
    wl(w, &format!("pub const SCRATCH_B: usize = {};", s.scratch_b));
    wl(w, "/// Multiply-accumulates per inference.");
    wl(w, &format!("pub const MACS: usize = {};", s.macs));
    wl(w, &format!("/// Bytes of {}.", s.weights_what));
    wl(
        w,
        &format!("pub const WEIGHTS_BYTES: usize = {};", s.weights_bytes),
    );
}

fn plan<'a>(model: &Model<'a>) -> Result<Vec<Plan<'a>>> {
    let mut plans = Vec::new();
    let mut fields = 0;
    for l in model.layers() {
        let where_ = || format!("layer {} ({})", l.index + 1, l.kind.name());
        for j in 0..l.tensor_count() {
            let Some(t) = l.tensor(j) else {
                bail!("{}: tensor {j} unreadable", where_());
            };
            if t.dtype != DType::F32 {
                bail!(
                    "{}: {} tensors; --rust emits f32 and int8 models, not f16 ones",
                    where_(),
                    t.dtype.name()
                );
            }
        }
        match l.kind {
            LayerKind::Dense | LayerKind::Activation => {}
            LayerKind::MaxPool2d | LayerKind::AvgPool2d => {}
            _ if myelin_core::model::graph::params_to_v2(l.kind, &l.params).is_none()
                || !l.is_chained() =>
            {
                bail!(
                    "{}: per-axis strides, uneven padding, groups and joins have no typed layer \
                     in myelin-core yet; embed the model file with include_bytes! instead",
                    where_()
                )
            }
            LayerKind::Conv2d if l.params[0] == l.params[1] => {}
            LayerKind::Conv2d => bail!(
                "{}: non-square kernels have no typed layer in myelin-core; \
                 embed the model file with include_bytes! instead",
                where_()
            ),
            _ => bail!(
                "{}: --rust does not emit this layer kind; embed the model file with \
                 include_bytes! and Model::infer instead",
                where_()
            ),
        }
        let field = (l.tensor_count() > 0).then(|| {
            fields += 1;
            format!("l{fields}")
        });
        plans.push(Plan {
            field,
            out_len: shape_len(l.out_shape),
            layer: l,
        });
    }
    if plans.is_empty() {
        bail!("the model has no layers");
    }
    Ok(plans)
}

/// Multiply-accumulates of one layer (the core's count: groups included).
pub(super) fn macs(l: &LayerView<'_>) -> usize {
    l.macs()
}

fn layer_type(l: &LayerView<'_>) -> String {
    match l.kind {
        LayerKind::Conv2d => {
            let [c, h, wd] = l.in_shape;
            let [oc, oh, ow] = l.out_shape;
            let p = v2_params(l);
            format!(
                "Conv2d<{c}, {h}, {wd}, {oc}, {}, {}, {}, {oh}, {ow}>",
                p[0], p[2], p[3]
            )
        }
        _ => format!(
            "Dense<{}, {}>",
            shape_len(l.in_shape),
            shape_len(l.out_shape)
        ),
    }
}

/// The version 2 parameter layout (one stride, one pad; pools `[size,
/// stride]`) of a layer the typed exporter accepted.
pub(super) fn v2_params(l: &LayerView<'_>) -> [u32; 6] {
    myelin_core::model::graph::params_to_v2(l.kind, &l.params).unwrap_or_default()
}

fn emit_layer(w: &mut String, p: &Plan<'_>, src: &str, dst: &str) {
    let l = &p.layer;
    let [c, h, wd] = l.in_shape;
    let prm = v2_params(l);
    match l.kind {
        LayerKind::Dense => {
            let f = p.field.as_deref().unwrap_or_default();
            wl(w, &format!("        self.{f}.infer({src}, {dst});"));
        }
        LayerKind::Conv2d => {
            let f = p.field.as_deref().unwrap_or_default();
            wl(w, "        kernels::conv2d_forward(");
            wl(
                w,
                &format!(
                    "            &kernels::Conv2dShape {{ in_ch: {c}, in_h: {h}, in_w: {wd}, out_ch: {}, \
                     k_h: {}, k_w: {}, stride: {}, pad: {} }},",
                    l.out_shape[0], prm[0], prm[1], prm[2], prm[3]
                ),
            );
            wl(
                w,
                &format!(
                    "            {src},\n            self.{f}.weights.flat(),\n            &self.{f}.bias,\n            {dst},"
                ),
            );
            wl(w, "        );");
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            let f = if l.kind == LayerKind::MaxPool2d {
                "max_pool2d_forward"
            } else {
                "avg_pool2d_forward"
            };
            wl(
                w,
                &format!(
                    "        kernels::{f}(\n            &kernels::Pool2dShape {{ ch: {c}, in_h: {h}, in_w: {wd}, \
                     k_h: {0}, k_w: {0}, stride: {1} }},\n            {src},\n            {dst},\n        );",
                    prm[0], prm[1]
                ),
            );
        }
        _ => wl(w, &format!("        {dst}.copy_from_slice({src});")),
    }
}

fn emit_activation(w: &mut String, act: Activation, dst: &str) {
    match act {
        Activation::Relu => wl(w, &format!("        kernels::relu_inplace({dst});")),
        Activation::Sigmoid => wl(w, &format!("        kernels::sigmoid_inplace({dst});")),
        Activation::Tanh => wl(w, &format!("        kernels::tanh_inplace({dst});")),
        Activation::Softmax => {
            wl(w, &format!("        let logits = *{dst};"));
            wl(w, &format!("        kernels::softmax(&logits, {dst});"));
        }
        _ => {}
    }
}

/// `weights` and `bias` of one layer, as nested array literals.
fn emit_weights(w: &mut String, field: &str, l: &LayerView<'_>) -> Result<()> {
    let (Some(wt), Some(bt)) = (l.tensor(0), l.tensor(1)) else {
        bail!("layer {}: weights or bias missing", l.index + 1);
    };
    let mut wv = vec![0.0f32; wt.len()];
    wt.read_f32(&mut wv)?;
    let mut bv = vec![0.0f32; bt.len()];
    bt.read_f32(&mut bv)?;
    if let Some(bad) = wv.iter().chain(&bv).find(|v| !v.is_finite()) {
        bail!(
            "layer {}: weight {bad} is not finite; refusing to export",
            l.index + 1
        );
    }
    let kind = if l.kind == LayerKind::Conv2d {
        "Conv2d"
    } else {
        "Dense"
    };
    wl(w, &format!("    {field}: {kind} {{"));
    w.push_str("        weights: ");
    // Dense: [[f32; IN]; OUT]; conv: [[[[f32; K]; K]; C]; OC].
    let dims: Vec<usize> = if l.kind == LayerKind::Conv2d {
        wt.shape().to_vec()
    } else {
        vec![shape_len(l.out_shape), shape_len(l.in_shape)]
    };
    nested(w, &dims, &wv, 2, &|v| float(*v));
    w.push_str(",\n        bias: ");
    nested(w, &[bv.len()], &bv, 2, &|v| float(*v));
    w.push_str(",\n    },\n");
    Ok(())
}

/// An f32 literal that parses back to the same bits (shortest round trip).
pub(super) fn float(v: f32) -> String {
    // Callers refuse non-finite values first (`{:?}` would write `inf`/`NaN`).
    format!("{v:?}")
}

/// A nested array literal of `data` with dimensions `dims`, indented by `depth` levels.
pub(super) fn nested<T>(
    w: &mut String,
    dims: &[usize],
    data: &[T],
    depth: usize,
    f: &dyn Fn(&T) -> String,
) {
    let pad = "    ".repeat(depth + 1);
    if dims.len() <= 1 {
        w.push('[');
        for (k, chunk) in data.chunks(PER_LINE).enumerate() {
            if data.len() > PER_LINE {
                w.push('\n');
                w.push_str(&pad);
            } else if k > 0 {
                w.push(' ');
            }
            let line: Vec<String> = chunk.iter().map(f).collect();
            w.push_str(&line.join(", "));
            if data.len() > PER_LINE {
                w.push(',');
            }
        }
        if data.len() > PER_LINE {
            w.push('\n');
            w.push_str(&"    ".repeat(depth));
        }
        w.push(']');
        return;
    }
    let inner: usize = dims[1..].iter().product();
    w.push('[');
    for part in data.chunks(inner.max(1)) {
        w.push('\n');
        w.push_str(&pad);
        nested(w, &dims[1..], part, depth + 1, f);
        w.push(',');
    }
    w.push('\n');
    w.push_str(&"    ".repeat(depth));
    w.push(']');
}

/// One array of the `samples` module: its doc lines, then
/// `pub static NAME: [[ELEM; row_len]; COUNT]` (or `[ELEM; COUNT]` when
/// `row_len` is `None`) holding `values`, a row per sample.
pub(super) fn sample_array<T>(
    w: &mut String,
    doc: &[&str],
    name: &str,
    elem: &str,
    row_len: Option<usize>,
    values: &[T],
    f: &dyn Fn(&T) -> String,
) {
    for line in doc {
        wl(w, &format!("    /// {line}"));
    }
    let (ty, dims) = match row_len {
        Some(k) => (
            format!("[[{elem}; {k}]; COUNT]"),
            vec![values.len() / k.max(1), k],
        ),
        None => (format!("[{elem}; COUNT]"), vec![values.len()]),
    };
    w.push_str(&format!("    pub static {name}: {ty} = "));
    nested(w, &dims, values, 1, f);
    wl(w, ";");
}

/// The `samples` module: pixels, labels and the host's outputs and classes.
pub(super) fn emit_samples(
    w: &mut String,
    s: &Samples,
    in_len: usize,
    out_len: usize,
) -> Result<()> {
    let n = s.labels.len();
    if s.pixels.len() != n * in_len || s.outputs.len() != n * out_len || s.classes.len() != n {
        bail!("samples do not match the model's input and output sizes");
    }
    if let Outputs::F32(v) = &s.outputs
        && let Some(bad) = v.iter().find(|v| !v.is_finite())
    {
        bail!("the host computed a non-finite output ({bad}) for an embedded sample");
    }
    wl(w, "");
    wl(
        w,
        &format!(
            "/// MNIST test samples {}..{} with what the host computed for them.",
            s.first,
            s.first + n
        ),
    );
    wl(w, "pub mod samples {");
    wl(w, "    /// Number of samples.");
    wl(w, &format!("    pub const COUNT: usize = {n};"));
    wl(w, "    /// Index of the first sample in the test set.");
    wl(w, &format!("    pub const FIRST: usize = {};", s.first));
    sample_array(
        w,
        &["Raw pixels (`0..=255`), one sample per row; the network's input is `pixel / 255`."],
        "PIXELS",
        "u8",
        Some(in_len),
        &s.pixels,
        &|v| v.to_string(),
    );
    sample_array(
        w,
        &["True labels."],
        "LABELS",
        "u8",
        None,
        &s.labels,
        &|v| v.to_string(),
    );
    match &s.outputs {
        Outputs::F32(v) => sample_array(
            w,
            &["The host's outputs for each sample (`Model::infer` on the model file)."],
            "OUTPUTS",
            "f32",
            Some(out_len),
            v,
            &|v| float(*v),
        ),
        Outputs::I8(v) => sample_array(
            w,
            &[
                "The host's output codes for each sample (`Model::infer_int8` on the model file,",
                "input codes from [`super::PIXEL_CODES`]).",
            ],
            "OUTPUTS",
            "i8",
            Some(out_len),
            v,
            &|v| v.to_string(),
        ),
    }
    sample_array(
        w,
        &["The host's predicted class for each sample (index of the largest output)."],
        "CLASSES",
        "u8",
        None,
        &s.classes,
        &|v| v.to_string(),
    );
    wl(w, "}");
    Ok(())
}
