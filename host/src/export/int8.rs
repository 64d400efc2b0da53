//! The Rust text `myelin export --rust` writes for int8 models: integer
//! arithmetic only, through `myelin-core`'s int8 kernels, so the board
//! computes exactly what the host's `Model::infer_int8` computes.

use anyhow::{Result, bail};
use myelin_core::model::{Activation, DType, LayerKind, LayerView, Model, shape_len};
use myelin_core::quant::int8::DenseQ;
use myelin_core::quant::packed::{BLOCK, GROUP_ROWS, pack, packed_len, unpacked_len};
use myelin_core::quant::{ActQuant, OutputQuant, Requant};

use super::source::{
    Samples, Sizes, emit_layer_table, emit_sizes, macs, nested, scratch_sizes, shape, wl,
};

/// One layer as the generated code sees it.
pub(super) struct Plan<'a> {
    pub layer: LayerView<'a>,
    /// Field name of a layer with weights (`l1`, `l2`, ...).
    pub field: Option<String>,
    pub out_len: usize,
    pub output: OutputQuant,
    pub input_zp: i8,
    /// A dense layer emitted in the packed layout of `myelin_core::quant::packed`.
    pub packed: bool,
}

fn plan<'a>(model: &Model<'a>) -> Result<Vec<Plan<'a>>> {
    let mut plans = Vec::new();
    let mut fields = 0;
    for l in model.layers() {
        let where_ = || format!("layer {} ({})", l.index + 1, l.kind.name());
        let Some(q) = l.quant else {
            bail!("{}: no quantization parameters", where_());
        };
        match (l.kind, l.activation) {
            (
                LayerKind::Dense
                | LayerKind::Conv2d
                | LayerKind::MaxPool2d
                | LayerKind::AvgPool2d
                | LayerKind::Activation,
                Activation::Identity | Activation::Relu,
            ) => {}
            (LayerKind::Conv2d | LayerKind::Dense, _)
            | (_, Activation::Sigmoid | Activation::Tanh) => bail!(
                "{}: activation {} is not emitted for int8; embed the model file with \
                 include_bytes! and Model::infer_int8 instead",
                where_(),
                l.activation.name()
            ),
            _ => bail!(
                "{}: --rust does not emit this int8 layer kind; embed the model file with \
                 include_bytes! and Model::infer_int8 instead",
                where_()
            ),
        }
        if matches!(l.kind, LayerKind::Dense | LayerKind::Conv2d) {
            let dtypes: Vec<DType> = (0..l.tensor_count())
                .filter_map(|j| l.tensor(j))
                .map(|t| t.dtype)
                .collect();
            if dtypes != [DType::I8, DType::I32, DType::Requant] {
                bail!(
                    "{}: expected i8 weights, i32 biases and multipliers",
                    where_()
                );
            }
        }
        let zp = q.output.zero_point;
        let output = if l.activation == Activation::Relu {
            OutputQuant::relu(zp)
        } else {
            OutputQuant::linear(zp)
        };
        let field = (l.tensor_count() > 0).then(|| {
            fields += 1;
            format!("l{fields}")
        });
        plans.push(Plan {
            field,
            out_len: shape_len(l.out_shape),
            output,
            input_zp: q.input.zero_point,
            packed: false,
            layer: l,
        });
    }
    if plans.is_empty() {
        bail!("the model has no layers");
    }
    // Dense layers are packed when they do most of the work (an MLP): the
    // packed kernel is the fastest with the DSP extension, but needs a
    // buffer of two bytes per input, which a convolutional model's small
    // dense head does not repay.
    let total: usize = plans.iter().map(|p| macs(&p.layer)).sum();
    let dense: usize = plans
        .iter()
        .filter(|p| p.layer.kind == LayerKind::Dense)
        .map(|p| macs(&p.layer))
        .sum();
    if dense > 0 && 2 * dense >= total {
        for p in &mut plans {
            p.packed = p.layer.kind == LayerKind::Dense;
        }
    }
    Ok(plans)
}

pub(super) fn output_quant(o: OutputQuant) -> String {
    format!(
        "OutputQuant {{ zero_point: {}, min: {}, max: {} }}",
        o.zero_point, o.min, o.max
    )
}

/// Generates the Rust module for the int8 `model`.
pub fn rust_source_int8(
    model: &Model<'_>,
    name: &str,
    samples: Option<&Samples>,
) -> Result<String> {
    let plans = plan(model)?;
    let input = model.input_shape();
    let in_len = model.input_len();
    let out_len = model.output_len();
    let out_lens: Vec<usize> = plans.iter().map(|p| p.out_len).collect();
    let (scratch_a, scratch_b) = scratch_sizes(&out_lens);
    let macs: usize = plans.iter().map(|p| macs(&p.layer)).sum();
    // Bytes as emitted: a packed layer's weights pad each row to whole blocks.
    let weights_bytes: usize = plans
        .iter()
        .flat_map(|p| {
            (0..p.layer.tensor_count())
                .filter_map(|j| p.layer.tensor(j))
                .enumerate()
                .map(|(j, t)| match (j, p.packed) {
                    (0, true) => {
                        packed_len(shape_len(p.layer.out_shape), shape_len(p.layer.in_shape))
                    }
                    _ => t.data.len(),
                })
        })
        .sum();
    let uses = |k: LayerKind| plans.iter().any(|p| p.layer.kind == k && !p.packed);
    let packs = plans.iter().any(|p| p.packed);
    let unpacked = plans
        .iter()
        .filter(|p| p.packed)
        .map(|p| unpacked_len(shape_len(p.layer.in_shape)))
        .max()
        .unwrap_or(0);

    let mut s = String::new();
    let w = &mut s;
    super::source::emit_summary(
        w,
        model,
        super::source::Summary {
            name,
            dtype: "int8",
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
            "//! Model file: {} bytes, CRC-32 {:#010x}. Integer arithmetic only (the int8",
            model.bytes().len(),
            super::source::crc(model)
        ),
    );
    wl(
        w,
        "//! kernels of `myelin-core`), so [`Network::infer`] gives the bits the host's",
    );
    wl(
        w,
        "//! `Model::infer_int8` gives. Every weight is a `static` array (flash on a microcontroller).",
    );
    wl(w, "//!");
    emit_layer_table(w, plans.iter().map(|p| &p.layer));
    wl(w, "#![allow(clippy::unreadable_literal)]");
    wl(w, "");
    wl(w, "use myelin_core::Error;");
    wl(w, "#[allow(unused_imports)]");
    wl(
        w,
        "use myelin_core::quant::int8::{self, Conv2dShape, ConvQ, DenseQ, Pool2dShape};",
    );
    wl(w, "#[allow(unused_imports)]");
    wl(w, "use myelin_core::quant::{OutputQuant, Requant};");
    if packs {
        wl(
            w,
            "use myelin_core::quant::packed::{self, DensePackedQ, PackedWeights};",
        );
    }
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
            weights_what: "weights, biases and multipliers",
        },
    );
    if packs {
        wl(
            w,
            "/// Words of the buffer the packed dense layers sign-extend their input into (two per four inputs).",
        );
        wl(
            w,
            &format!("pub const SCRATCH_UNPACKED: usize = {unpacked};"),
        );
    }
    emit_io_quant(w, model)?;
    wl(w, "");

    emit_layer_types(w, uses(LayerKind::Dense), packs, uses(LayerKind::Conv2d));

    // The network type.
    wl(w, "/// The network: one field per layer with weights.");
    wl(w, "#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
    wl(w, "pub struct Network {");
    for (i, p) in plans.iter().enumerate() {
        if let Some(f) = &p.field {
            let l = &p.layer;
            let r = l.tensor(2).map(|t| t.len()).unwrap_or(0);
            wl(
                w,
                &format!(
                    "    /// Layer {}: {} {} -> {}, activation {}.",
                    i + 1,
                    l.kind.name(),
                    shape(l.in_shape),
                    shape(l.out_shape),
                    l.activation.name()
                ),
            );
            let ty = if p.packed {
                let (o, i) = (shape_len(l.out_shape), shape_len(l.in_shape));
                format!("DensePacked8<{}, {o}, {r}>", packed_len(o, i))
            } else if l.kind == LayerKind::Conv2d {
                format!(
                    "Conv8<{}, {}, {}, {}, {r}>",
                    l.out_shape[0], l.in_shape[0], l.params[0], l.params[1]
                )
            } else {
                format!(
                    "Dense8<{}, {}, {r}>",
                    shape_len(l.in_shape),
                    shape_len(l.out_shape)
                )
            };
            wl(w, &format!("    pub {f}: {ty},"));
        }
    }
    wl(w, "}");
    wl(w, "");
    if packs {
        wl(
            w,
            "/// The two activation buffers [`Network::infer`] alternates between (A, B), and the",
        );
        wl(w, "/// packed dense layers' sign-extended input.");
    } else {
        wl(
            w,
            "/// The two activation buffers [`Network::infer`] alternates between (A, B).",
        );
    }
    wl(w, "#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
    if packs {
        wl(
            w,
            "pub struct Scratch(pub [i8; SCRATCH_A], pub [i8; SCRATCH_B], pub [u32; SCRATCH_UNPACKED]);",
        );
    } else {
        wl(
            w,
            "pub struct Scratch(pub [i8; SCRATCH_A], pub [i8; SCRATCH_B]);",
        );
    }
    wl(w, "");
    wl(w, "impl Scratch {");
    wl(w, "    /// Zeroed buffers (usable in a `static`).");
    if packs {
        wl(
            w,
            "    pub const ZERO: Self = Self([0; SCRATCH_A], [0; SCRATCH_B], [0; SCRATCH_UNPACKED]);",
        );
    } else {
        wl(
            w,
            "    pub const ZERO: Self = Self([0; SCRATCH_A], [0; SCRATCH_B]);",
        );
    }
    wl(w, "}");
    wl(w, "");
    wl(
        w,
        "/// The first `N` elements of `buf` as an array (`N <= M`, checked at compile time).",
    );
    wl(w, "#[inline(always)]");
    wl(
        w,
        "fn part<const N: usize, const M: usize>(buf: &mut [i8; M]) -> &mut [i8; N] {",
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
    emit_infer_head(w);
    if packs {
        wl(w, "        let Scratch(a, b, xs) = scratch;");
    } else {
        wl(w, "        let Scratch(a, b) = scratch;");
    }
    let n = plans.len();
    for (i, p) in plans.iter().enumerate() {
        let src = if i == 0 { "x".into() } else { format!("h{i}") };
        let dst = if i + 1 == n {
            "y".to_string()
        } else {
            let buf = if i % 2 == 0 { "a" } else { "b" };
            let d = format!("h{}", i + 1);
            wl(
                w,
                &format!("        let {d}: &mut [i8; {}] = part({buf});", p.out_len),
            );
            d
        };
        emit_layer(w, p, &src, &dst);
    }
    wl(w, "        Ok(())");
    wl(w, "    }");
    wl(w, "}");
    wl(w, "");
    wl(w, "/// The trained weights.");
    wl(w, "pub static NETWORK: Network = Network {");
    for p in &plans {
        if let Some(f) = &p.field {
            emit_weights(w, f, p)?;
        }
    }
    wl(w, "};");
    if let Some(smp) = samples {
        super::source::emit_samples(w, smp, in_len, out_len)?;
    }
    Ok(s)
}

/// The layer types a module uses: `Dense8`, `DensePacked8`, `Conv8`.
pub(super) fn emit_layer_types(w: &mut String, dense: bool, packs: bool, conv: bool) {
    if dense {
        wl(
            w,
            "/// An int8 dense layer with its tensors inline, typed by its shape (`R`: 1 or `OUT` multipliers).",
        );
        wl(w, "#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
        wl(
            w,
            "pub struct Dense8<const IN: usize, const OUT: usize, const R: usize> {",
        );
        wl(w, "    /// Weights, one row per output, symmetric per row.");
        wl(w, "    pub weights: [[i8; IN]; OUT],");
        emit_quant_fields(w, "OUT");
        wl(
            w,
            "impl<const IN: usize, const OUT: usize, const R: usize> Dense8<IN, OUT, R> {",
        );
        wl(w, "    /// The layer as the core's int8 kernels take it.");
        wl(w, "    pub fn view(&self) -> DenseQ<'_> {");
        wl(w, "        DenseQ {");
        wl(w, "            weights: self.weights.as_flattened(),");
        emit_view_quant(w);
    }
    if packs {
        emit_packed_type(w);
    }
    if conv {
        wl(
            w,
            "/// An int8 2-D convolution with its tensors inline, typed by its shape (`R`: 1 or `OC` multipliers).",
        );
        wl(w, "#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
        wl(
            w,
            "pub struct Conv8<const OC: usize, const C: usize, const KH: usize, const KW: usize, const R: usize> {",
        );
        wl(
            w,
            "    /// Kernels, `OC x C x KH x KW`, symmetric per output channel.",
        );
        wl(w, "    pub weights: [[[[i8; KW]; KH]; C]; OC],");
        emit_quant_fields(w, "OC");
        wl(
            w,
            "impl<const OC: usize, const C: usize, const KH: usize, const KW: usize, const R: usize>",
        );
        wl(w, "    Conv8<OC, C, KH, KW, R>");
        wl(w, "{");
        wl(w, "    /// The layer as the core's int8 kernels take it.");
        wl(w, "    pub fn view(&self) -> ConvQ<'_> {");
        wl(w, "        ConvQ {");
        wl(
            w,
            "            weights: self.weights.as_flattened().as_flattened().as_flattened(),",
        );
        emit_view_quant(w);
    }
}

/// `INPUT_SCALE`, `INPUT_ZERO_POINT`, `OUTPUT_SCALE`, `OUTPUT_ZERO_POINT`
/// and `PIXEL_CODES` (the input code of each pixel byte) of an int8 model.
pub(super) fn emit_io_quant(w: &mut String, model: &Model<'_>) -> Result<()> {
    let (Some(inq), Some(outq)) = (model.input_quant(), model.output_quant()) else {
        bail!("int8 model without input or output quantization");
    };
    emit_act_quant(w, "INPUT", inq);
    emit_act_quant(w, "OUTPUT", outq);
    wl(
        w,
        "/// The input code of each pixel byte `p` (real input `p / 255`), as the host quantizes it.",
    );
    w.push_str("pub static PIXEL_CODES: [i8; 256] = ");
    let codes: Vec<i8> = (0..=255u8)
        .map(|p| inq.quantize(f32::from(p) / 255.0))
        .collect();
    nested(w, &[256], &codes, 0, &|v| v.to_string());
    wl(w, ";");
    Ok(())
}

fn emit_act_quant(w: &mut String, what: &str, q: ActQuant) {
    let lower = what.to_lowercase();
    wl(
        w,
        &format!("/// Scale of the {lower}: `real = {what}_SCALE * (code - {what}_ZERO_POINT)`."),
    );
    wl(
        w,
        &format!(
            "pub const {what}_SCALE: f32 = {};",
            super::source::float(q.scale)
        ),
    );
    wl(w, &format!("/// Zero point of the {lower}."));
    wl(
        w,
        &format!("pub const {what}_ZERO_POINT: i8 = {};", q.zero_point),
    );
}

fn emit_layer(w: &mut String, p: &Plan<'_>, src: &str, dst: &str) {
    let l = &p.layer;
    let [c, h, wd] = l.in_shape;
    let prm = super::source::v2_params(l);
    let f = p.field.as_deref().unwrap_or_default();
    let relu = l.activation == Activation::Relu;
    match l.kind {
        LayerKind::Dense if p.packed => wl(
            w,
            &format!("        packed::dense_packed(&self.{f}.view(), {src}, {dst}, xs)?;"),
        ),
        LayerKind::Dense => wl(
            w,
            &format!("        int8::dense(&self.{f}.view(), {src}, {dst})?;"),
        ),
        LayerKind::Conv2d => {
            wl(w, "        int8::conv2d(");
            wl(w, &format!("            &self.{f}.view(),"));
            wl(
                w,
                &format!(
                    "            &Conv2dShape {{ in_channels: {c}, in_size: [{h}, {wd}], out_channels: {oc}, \
                     kernel: [{kh}, {kw}], stride: [{st}, {st}], padding: [{pd}, {pd}, {pd}, {pd}] }},",
                    oc = l.out_shape[0],
                    kh = prm[0],
                    kw = prm[1],
                    st = prm[2],
                    pd = prm[3]
                ),
            );
            wl(
                w,
                &format!("            {src},\n            {dst},\n        )?;"),
            );
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            let kernel = if l.kind == LayerKind::MaxPool2d {
                "max_pool2d"
            } else {
                "avg_pool2d"
            };
            wl(
                w,
                &format!(
                    "        int8::{kernel}(\n            &Pool2dShape {{ channels: {c}, in_size: [{h}, {wd}], \
                     kernel: [{0}, {0}], stride: [{1}, {1}] }},\n            {src},\n            {dst},\n        )?;",
                    prm[0], prm[1]
                ),
            );
            if relu {
                wl(
                    w,
                    &format!("        int8::relu({dst}, {});", p.output.zero_point),
                );
            }
        }
        _ => {
            wl(w, &format!("        {dst}.copy_from_slice({src});"));
            if relu {
                wl(
                    w,
                    &format!("        int8::relu({dst}, {});", p.output.zero_point),
                );
            }
        }
    }
}

/// The `DensePacked8` type: a dense layer in the packed layout.
/// The fields a row-major int8 layer type (`Dense8`, `Conv8`) ends with,
/// `outputs` biases, and the closing brace.
fn emit_quant_fields(w: &mut String, outputs: &str) {
    for line in [
        "    /// Biases at scale `input_scale * weight_scale[o]`.",
        &format!("    pub bias: [i32; {outputs}],"),
        "    /// Fixed-point multipliers to the output's scale.",
        "    pub requant: [Requant; R],",
        "    /// Zero point of the input.",
        "    pub input_zero_point: i8,",
        "    /// Output zero point and clamp (fused ReLU).",
        "    pub output: OutputQuant,",
        "}",
        "",
    ] {
        wl(w, line);
    }
}

/// The end of such a type's `view`: the fields after `weights`, and the
/// closing braces of the literal, the method and the impl.
fn emit_view_quant(w: &mut String) {
    for line in [
        "            bias: &self.bias,",
        "            requant: &self.requant,",
        "            input_zero_point: self.input_zero_point,",
        "            output: self.output,",
        "        }",
        "    }",
        "}",
        "",
    ] {
        wl(w, line);
    }
}

fn emit_packed_type(w: &mut String) {
    for line in [
        "/// An int8 dense layer packed for `packed::dense_packed` (`W`: weight bytes, `OUT` rows of the",
        "/// inputs rounded up to whole blocks of four; `R`: 1 or `OUT` multipliers).",
        "#[derive(Debug, Clone, Copy, PartialEq, Eq)]",
        "pub struct DensePacked8<const W: usize, const OUT: usize, const R: usize> {",
        "    /// Weights, symmetric per row, in blocks of four inputs: four rows at a time, block by",
        "    /// block (row 0's four weights, row 1's, row 2's, row 3's), then the last `OUT % 4` rows",
        "    /// one after the other. Padding weights are 0.",
        "    pub weights: PackedWeights<W>,",
        "    /// Biases at scale `input_scale * weight_scale[o]`, with the input zero point folded in:",
        "    /// `bias[o] - input_zero_point * sum(row o)` (wrapping).",
        "    pub bias: [i32; OUT],",
        "    /// Fixed-point multipliers to the output's scale.",
        "    pub requant: [Requant; R],",
        "    /// Output zero point and clamp (fused ReLU).",
        "    pub output: OutputQuant,",
        "}",
        "",
        "impl<const W: usize, const OUT: usize, const R: usize> DensePacked8<W, OUT, R> {",
        "    /// The layer as the core's packed kernel takes it.",
        "    pub fn view(&self) -> DensePackedQ<'_> {",
        "        DensePackedQ {",
        "            weights: self.weights.words(),",
        "            bias: &self.bias,",
        "            requant: &self.requant,",
        "            output: self.output,",
        "        }",
        "    }",
        "}",
        "",
    ] {
        wl(w, line);
    }
}

/// A packed dense layer's tensors: 16 weights a line (one block of a group,
/// four blocks of a single row), a comment at the start of each.
fn emit_packed_weights(
    w: &mut String,
    field: &str,
    p: &Plan<'_>,
    wv: &[i8],
    bv: &[i32],
    rv: &[(i32, i32)],
) -> Result<()> {
    let l = &p.layer;
    let (outputs, inputs) = (shape_len(l.out_shape), shape_len(l.in_shape));
    let requant: Vec<Requant> = rv
        .iter()
        .map(|&(multiplier, shift)| Requant { multiplier, shift })
        .collect();
    let layer = DenseQ {
        weights: wv,
        bias: bv,
        requant: &requant,
        input_zero_point: p.input_zp,
        output: p.output,
    };
    let mut packed_w = vec![0i8; packed_len(outputs, inputs)];
    let mut folded = vec![0i32; outputs];
    pack(&layer, inputs, &mut packed_w, &mut folded)
        .map_err(|e| anyhow::anyhow!("layer {}: {e}", l.index + 1))?;
    let blocks = inputs.div_ceil(BLOCK);
    let grouped = outputs / GROUP_ROWS * GROUP_ROWS;
    wl(w, &format!("    {field}: DensePacked8 {{"));
    wl(w, "        weights: PackedWeights([");
    let mut at = 0;
    let mut o = 0;
    while o < outputs {
        let rows = if o < grouped { GROUP_ROWS } else { 1 };
        if rows == 1 {
            wl(w, &format!("            // Row {o}."));
        } else {
            wl(w, &format!("            // Rows {o}..{}.", o + rows));
        }
        for block in packed_w[at..at + rows * blocks * BLOCK].chunks(GROUP_ROWS * BLOCK) {
            let line: Vec<String> = block.iter().map(|v| v.to_string()).collect();
            wl(w, &format!("            {},", line.join(", ")));
        }
        at += rows * blocks * BLOCK;
        o += rows;
    }
    wl(w, "        ]),");
    w.push_str("        bias: ");
    nested(w, &[folded.len()], &folded, 2, &|v| v.to_string());
    w.push_str(",\n        requant: ");
    nested(w, &[rv.len()], rv, 2, &|(m, s)| {
        format!("Requant {{ multiplier: {m}, shift: {s} }}")
    });
    w.push_str(",\n");
    wl(w, &format!("        output: {},", output_quant(p.output)));
    wl(w, "    },");
    Ok(())
}

pub(super) fn emit_weights(w: &mut String, field: &str, p: &Plan<'_>) -> Result<()> {
    let l = &p.layer;
    let (Some(wt), Some(bt), Some(rt)) = (l.tensor(0), l.tensor(1), l.tensor(2)) else {
        bail!(
            "layer {}: weights, bias or multipliers missing",
            l.index + 1
        );
    };
    let Some(wv) = wt.as_i8() else {
        bail!("layer {}: weights are not i8", l.index + 1);
    };
    let bv: Vec<i32> = (0..bt.len()).filter_map(|i| bt.i32_at(i)).collect();
    let rv: Vec<(i32, i32)> = (0..rt.len())
        .filter_map(|i| rt.requant_at(i))
        .map(|r| (r.multiplier, r.shift))
        .collect();
    if bv.len() != bt.len() || rv.len() != rt.len() {
        bail!("layer {}: unreadable bias or multipliers", l.index + 1);
    }
    if p.packed {
        return emit_packed_weights(w, field, p, wv, &bv, &rv);
    }
    let (kind, dims) = if l.kind == LayerKind::Conv2d {
        ("Conv8", wt.shape().to_vec())
    } else {
        (
            "Dense8",
            vec![shape_len(l.out_shape), shape_len(l.in_shape)],
        )
    };
    wl(w, &format!("    {field}: {kind} {{"));
    w.push_str("        weights: ");
    nested(w, &dims, wv, 2, &|v| v.to_string());
    w.push_str(",\n        bias: ");
    nested(w, &[bv.len()], &bv, 2, &|v| v.to_string());
    w.push_str(",\n        requant: ");
    nested(w, &[rv.len()], &rv, 2, &|(m, s)| {
        format!("Requant {{ multiplier: {m}, shift: {s} }}")
    });
    w.push_str(",\n");
    wl(w, &format!("        input_zero_point: {},", p.input_zp));
    wl(w, &format!("        output: {},", output_quant(p.output)));
    wl(w, "    },");
    Ok(())
}

/// `impl Network {` and the doc and signature of the int8 `infer` (the
/// typed chain and the typed graph form share them).
pub(super) fn emit_infer_head(w: &mut String) {
    wl(w, "impl Network {");
    wl(
        w,
        "    /// Runs one sample of input codes: `y` receives the output codes (their argmax is the class).",
    );
    wl(w, "    ///");
    wl(w, "    /// # Errors");
    wl(
        w,
        "    /// None in practice: the kernels check their slices, and the types fix every shape.",
    );
    wl(
        w,
        "    pub fn infer(&self, x: &[i8; INPUT], y: &mut [i8; OUTPUT], scratch: &mut Scratch) -> Result<(), Error> {",
    );
}
