//! The typed Rust module of an int8 model file with a memory plan (chains
//! and graphs: joins, fan-out, per-axis strides, depthwise convolutions):
//! every weight a `static`, every activation at the offset the file's plan
//! gives it in one arena, and an `infer` that calls exactly the core's int8
//! kernel each node needs, so the linker keeps only those (no parser, no
//! dispatch over every node kind). The nodes map to [`Step`]s, which both
//! the emitter and [`run_steps`] read: the export runs the steps on the
//! host with the same kernels and refuses to write a module whose outputs
//! differ from `Model::infer_int8`'s.

use anyhow::{Result, bail};
use myelin_core::model::graph::{self, p as gp};
use myelin_core::model::{
    Activation, DType, LayerKind, Model, arena_in_place_bound, arena_lower_bound, shape_len,
};
use myelin_core::quant::int8::{self, AddQ, Conv2dShape, ConvQ, DenseQ, Pool2dShape};
use myelin_core::quant::softmax::{self, SoftmaxQ};
use myelin_core::quant::{OutputQuant, Requant, depthwise};

use super::goldens::{Goldens, emit_goldens};
use super::int8::{Plan, emit_io_quant, emit_layer_types, emit_weights, output_quant};
use super::source::{Summary, crc, emit_layer_table, emit_summary, macs, shape, wl};

/// Where a value lives while `infer` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    /// The caller's input.
    Input,
    /// The arena, at this offset.
    Arena(usize),
    /// The caller's output.
    Output,
}

/// The kernel call of one node.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Dense {
        single_rounding: bool,
    },
    Conv {
        shape: Conv2dShape,
        depthwise: bool,
    },
    Pool {
        max: bool,
        shape: Pool2dShape,
    },
    Softmax(SoftmaxQ),
    Sigmoid(Requant),
    Tanh(Requant),
    Add(AddQ),
    /// Moves the codes unchanged (reshape, identity activation).
    Copy,
    /// A reshape the plan puts over its input: nothing to do.
    Alias,
}

/// One node of `infer`: its kernel, inputs, output and fused ReLU.
pub(super) struct Step<'a> {
    plan: Plan<'a>,
    pub(super) op: Op,
    /// Where each input lives, and its elements.
    inputs: Vec<(Loc, usize)>,
    output: Loc,
    /// A ReLU after the kernel (pooling and copies; the kernels with an
    /// [`OutputQuant`] clamp themselves).
    relu: bool,
}

fn output_of(l: &myelin_core::model::LayerView<'_>) -> Result<(OutputQuant, i8)> {
    let Some(q) = l.quant else {
        bail!(
            "layer {} ({}): no quantization parameters",
            l.index + 1,
            l.kind.name()
        );
    };
    let zp = q.output.zero_point;
    let o = if l.activation == Activation::Relu {
        OutputQuant::relu(zp)
    } else {
        OutputQuant::linear(zp)
    };
    Ok((o, q.input.zero_point))
}

fn requant_at(l: &myelin_core::model::LayerView<'_>, j: usize) -> Result<Requant> {
    l.tensor(0).and_then(|t| t.requant_at(j)).ok_or_else(|| {
        anyhow::anyhow!(
            "layer {} ({}): multiplier {j} missing",
            l.index + 1,
            l.kind.name()
        )
    })
}

/// The steps of the planned int8 `model`.
pub(super) fn steps<'a>(model: &Model<'a>) -> Result<Vec<Step<'a>>> {
    if model.planned_arena().is_none() {
        bail!(
            "the typed graph form needs a model file with a memory plan (int8, planned at import)"
        );
    }
    let last = model.layer_count();
    let mut locs = vec![Loc::Input];
    let mut out = Vec::new();
    let mut fields = 0;
    for l in model.layers() {
        let where_ = || format!("layer {} ({})", l.index + 1, l.kind.name());
        let (output, input_zp) = output_of(&l)?;
        let v = l.index + 1;
        let inputs: Vec<(Loc, usize)> = l
            .inputs()
            .iter()
            .map(|&r| Some((*locs.get(r)?, model.value_len(r)?)))
            .collect::<Option<_>>()
            .ok_or_else(|| anyhow::anyhow!("{}: reads a later value", where_()))?;
        let Some(at) = model.value_offset(v) else {
            bail!("{}: no offset in the memory plan", where_());
        };
        if l.kind != LayerKind::Reshape
            && myelin_core::model::plan::overwritten_input(model, v).is_some()
        {
            bail!(
                "{}: the memory plan writes it over its input (a `--plan smallest` file); \
                 the typed form needs the free plan (`myelin import` without `--plan smallest`)",
                where_()
            );
        }
        let mut dst = if v == last {
            Loc::Output
        } else {
            Loc::Arena(at)
        };
        let relu = l.activation == Activation::Relu;
        let one = |op: Op| -> Result<Op> {
            if l.inputs().len() == 1 {
                Ok(op)
            } else {
                bail!("{}: reads {} inputs", where_(), l.inputs().len())
            }
        };
        let [c, h, wd] = l.in_shape;
        let p = l.params.map(|v| v as usize);
        let op = match (l.kind, l.activation) {
            (LayerKind::Dense | LayerKind::Conv2d, Activation::Identity | Activation::Relu) => {
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
                if l.kind == LayerKind::Dense {
                    one(Op::Dense {
                        single_rounding: l.params[gp::ROUNDING] == graph::ROUNDING_SINGLE,
                    })?
                } else {
                    let geom = l.conv_geom()?;
                    let win = geom.win;
                    one(Op::Conv {
                        shape: Conv2dShape {
                            in_channels: c,
                            in_size: [h, wd],
                            out_channels: l.out_shape[0],
                            kernel: [win.k_h, win.k_w],
                            stride: [win.stride_h, win.stride_w],
                            padding: [win.pad_top, win.pad_bottom, win.pad_left, win.pad_right],
                        },
                        depthwise: geom.is_depthwise(),
                    })?
                }
            }
            (
                LayerKind::MaxPool2d | LayerKind::AvgPool2d,
                Activation::Identity | Activation::Relu,
            ) => {
                if p[gp::PAD_TOP..=gp::PAD_RIGHT].iter().any(|&v| v != 0) {
                    bail!("{}: int8 pooling with padding", where_());
                }
                one(Op::Pool {
                    max: l.kind == LayerKind::MaxPool2d,
                    shape: Pool2dShape {
                        channels: c,
                        in_size: [h, wd],
                        kernel: [p[gp::K_H], p[gp::K_W]],
                        stride: [p[gp::STRIDE_H], p[gp::STRIDE_W]],
                    },
                })?
            }
            (LayerKind::GlobalAvgPool, Activation::Identity) => one(Op::Pool {
                max: false,
                shape: Pool2dShape {
                    channels: c,
                    in_size: [h, wd],
                    kernel: [h, wd],
                    stride: [1, 1],
                },
            })?,
            (LayerKind::Activation, Activation::Softmax) => one(Op::Softmax(SoftmaxQ {
                input_beta: requant_at(&l, 0)?,
                diff_min: l.params[gp::DIFF_MIN] as i32,
            }))?,
            (LayerKind::Activation, Activation::Sigmoid) => one(Op::Sigmoid(requant_at(&l, 0)?))?,
            (LayerKind::Activation, Activation::Tanh) => one(Op::Tanh(requant_at(&l, 0)?))?,
            (LayerKind::Activation, Activation::Identity | Activation::Relu) => one(Op::Copy)?,
            (LayerKind::Reshape, _) => {
                let same = model.value_offset(l.inputs()[0]) == Some(at);
                match inputs.first() {
                    Some(&(src, _)) if same && v != last => {
                        // The plan writes the reshape over its input: the
                        // value is its input's bytes, wherever they live.
                        dst = src;
                        one(Op::Alias)?
                    }
                    _ => one(Op::Copy)?,
                }
            }
            (LayerKind::Add, Activation::Identity | Activation::Relu) => {
                let &[_, b] = l.inputs() else {
                    bail!("{}: reads {} inputs, not 2", where_(), l.inputs().len());
                };
                let bq = match b {
                    0 => model.input_quant(),
                    _ => model.layer(b - 1).and_then(|p| p.quant).map(|q| q.output),
                };
                let Some(bq) = bq else {
                    bail!("{}: its second input has no quantization", where_());
                };
                Op::Add(AddQ {
                    a_zero_point: input_zp,
                    a_requant: requant_at(&l, 0)?,
                    b_zero_point: bq.zero_point,
                    b_requant: requant_at(&l, 1)?,
                    output_requant: requant_at(&l, 2)?,
                    output,
                })
            }
            _ => bail!(
                "{}: activation {}: the typed graph form does not emit this int8 node; \
                 embed the model file instead (export without --typed)",
                where_(),
                l.activation.name()
            ),
        };
        let field = matches!(op, Op::Dense { .. } | Op::Conv { .. }).then(|| {
            fields += 1;
            format!("l{fields}")
        });
        locs.push(dst);
        out.push(Step {
            plan: Plan {
                field,
                out_len: shape_len(l.out_shape),
                output,
                input_zp,
                packed: false,
                layer: l,
            },
            op,
            inputs,
            output: dst,
            relu: relu && matches!(op, Op::Pool { .. } | Op::Copy),
        });
    }
    if out.is_empty() {
        bail!("the model has no layers");
    }
    Ok(out)
}

/// The layer as the core's kernels take it, read from the model file.
fn conv_q<'a>(p: &Plan<'a>) -> Result<ConvQ<'a>> {
    let l = &p.layer;
    let (Some(w), Some(b), Some(r)) = (
        l.tensor(0).and_then(|t| t.as_i8()),
        l.tensor(1).and_then(|t| t.as_i32()),
        l.tensor(2).and_then(|t| t.as_requant()),
    ) else {
        bail!("layer {}: unreadable tensors", l.index + 1);
    };
    Ok(ConvQ {
        weights: w,
        bias: b,
        requant: r,
        input_zero_point: p.input_zp,
        output: p.output,
    })
}

/// Runs `steps` on the host, each node's kernel on the model file's tensors
/// at the locations the module uses: the output codes for input `x`.
pub(super) fn run_steps(
    steps: &[Step<'_>],
    arena_len: usize,
    x: &[i8],
    out_len: usize,
) -> Result<Vec<i8>> {
    let mut arena = vec![0i8; arena_len];
    let mut y = vec![0i8; out_len];
    for s in steps {
        if matches!(s.op, Op::Alias) {
            continue;
        }
        let n = s.plan.out_len;
        let ins: Vec<Vec<i8>> = s
            .inputs
            .iter()
            .map(|&(loc, len)| match loc {
                Loc::Input => x.to_vec(),
                Loc::Arena(at) => arena[at..at + len].to_vec(),
                Loc::Output => y.clone(),
            })
            .collect();
        let mut out = vec![0i8; n];
        run_op(s, &ins, &mut out)?;
        match s.output {
            Loc::Arena(at) => arena[at..at + n].copy_from_slice(&out),
            Loc::Output => y.copy_from_slice(&out),
            Loc::Input => bail!("a node writes the caller's input"),
        }
    }
    Ok(y)
}

fn run_op(s: &Step<'_>, ins: &[Vec<i8>], y: &mut [i8]) -> Result<()> {
    let x = &ins[0];
    match s.op {
        Op::Dense { single_rounding } => {
            let c = conv_q(&s.plan)?;
            let d = DenseQ {
                weights: c.weights,
                bias: c.bias,
                requant: c.requant,
                input_zero_point: c.input_zero_point,
                output: c.output,
            };
            if single_rounding {
                int8::dense_single_rounding(&d, x, y)?;
            } else {
                int8::dense(&d, x, y)?;
            }
        }
        Op::Conv {
            shape,
            depthwise: true,
        } => depthwise::depthwise_conv2d(&conv_q(&s.plan)?, &shape, x, y)?,
        Op::Conv { shape, .. } => int8::conv2d(&conv_q(&s.plan)?, &shape, x, y)?,
        Op::Pool { max: true, shape } => int8::max_pool2d(&shape, x, y)?,
        Op::Pool { shape, .. } => int8::avg_pool2d(&shape, x, y)?,
        Op::Softmax(q) => softmax::softmax(&q, x.len().max(1), x, y)?,
        Op::Sigmoid(r) => int8::sigmoid(x, s.plan.input_zp, r, y)?,
        Op::Tanh(r) => int8::tanh(x, s.plan.input_zp, r, y)?,
        Op::Add(q) => int8::add(&q, x, &ins[1], y)?,
        Op::Copy => y.copy_from_slice(x),
        Op::Alias => {}
    }
    if s.relu {
        int8::relu(y, s.plan.output.zero_point);
    }
    Ok(())
}

/// Fails unless [`run_steps`] gives `Model::infer_int8`'s codes on every golden input.
fn check_steps(model: &Model<'_>, steps: &[Step<'_>], arena: usize, g: &Goldens) -> Result<()> {
    let (il, ol) = (model.input_len(), model.output_len());
    for (i, (x, want)) in g
        .inputs
        .chunks_exact(il)
        .zip(g.outputs.chunks_exact(ol))
        .enumerate()
    {
        let got = run_steps(steps, arena, x, ol)?;
        if got != want {
            bail!("golden sample {i}: the typed network's steps differ from Model::infer_int8");
        }
    }
    Ok(())
}

fn requant_lit(r: Requant) -> String {
    format!(
        "Requant {{ multiplier: {}, shift: {} }}",
        r.multiplier, r.shift
    )
}

/// Generates the typed module of the planned int8 `model` with `goldens`
/// embedded, after checking its steps against `Model::infer_int8` on them.
///
/// # Errors
/// For a file without a memory plan, node kinds the form does not emit
/// (LSTM, concat, lookup), or steps whose outputs differ from the model's.
pub fn rust_source_planned(
    model: &Model<'_>,
    name: &str,
    goldens: Option<&Goldens>,
) -> Result<String> {
    let steps = steps(model)?;
    let Some(arena) = model.planned_arena() else {
        bail!("no memory plan");
    };
    if let Some(g) = goldens {
        check_steps(model, &steps, arena, g)?;
    }
    let (in_len, out_len) = (model.input_len(), model.output_len());
    let macs: usize = steps.iter().map(|s| macs(&s.plan.layer)).sum();
    let weights_bytes: usize = steps
        .iter()
        .filter(|s| s.plan.field.is_some())
        .flat_map(|s| (0..s.plan.layer.tensor_count()).filter_map(|j| s.plan.layer.tensor(j)))
        .map(|t| t.data.len())
        .sum();
    let uses = |f: &dyn Fn(&Op) -> bool| steps.iter().any(|s| f(&s.op));
    let uses_depthwise = uses(&|o| {
        matches!(
            o,
            Op::Conv {
                depthwise: true,
                ..
            }
        )
    });
    let uses_softmax = uses(&|o| matches!(o, Op::Softmax(_)));

    let mut s = String::new();
    let w = &mut s;
    emit_summary(
        w,
        model,
        Summary {
            name,
            dtype: "int8",
            form: "a typed network over its memory plan",
            count: steps.len(),
            units: "nodes",
            macs,
        },
    );
    wl(w, "//!");
    wl(
        w,
        &format!(
            "//! Model file: {} bytes, CRC-32 {:#010x}. Every weight is a `static` (flash on a",
            model.bytes().len(),
            crc(model)
        ),
    );
    wl(
        w,
        "//! microcontroller), every activation at its offset in the file's memory plan, and",
    );
    wl(
        w,
        "//! [`Network::infer`] calls the int8 kernels of `myelin-core` each node needs, so it",
    );
    wl(
        w,
        "//! gives the bits the host's `Model::infer_int8` gives (checked on the samples when",
    );
    wl(w, "//! this file was generated).");
    wl(w, "//!");
    emit_layer_table(w, steps.iter().map(|s| &s.plan.layer));
    wl(w, "#![allow(clippy::unreadable_literal)]");
    wl(w, "");
    wl(w, "use myelin_core::Error;");
    wl(w, "#[allow(unused_imports)]");
    wl(
        w,
        "use myelin_core::quant::int8::{self, AddQ, Conv2dShape, ConvQ, DenseQ, Pool2dShape};",
    );
    wl(w, "#[allow(unused_imports)]");
    wl(w, "use myelin_core::quant::{OutputQuant, Requant};");
    if uses_depthwise {
        wl(w, "use myelin_core::quant::depthwise;");
    }
    if uses_softmax {
        wl(w, "use myelin_core::quant::softmax::{self, SoftmaxQ};");
    }
    wl(w, "");
    super::file_form::emit_io_len(w, model);
    wl(
        w,
        "/// `i8` elements of the activation arena (the file's memory plan).",
    );
    wl(w, &format!("pub const ARENA: usize = {arena};"));
    wl(
        w,
        "/// The largest sum of activations live at once: no plan without in-place writes is smaller.",
    );
    wl(
        w,
        &format!(
            "pub const ARENA_LOWER_BOUND: usize = {};",
            arena_lower_bound(model)
        ),
    );
    wl(
        w,
        "/// The same sum with each in-place pair counted once: no plan's arena is smaller.",
    );
    wl(
        w,
        &format!(
            "pub const ARENA_IN_PLACE_BOUND: usize = {};",
            arena_in_place_bound(model)
        ),
    );
    wl(w, "/// Multiply-accumulates per inference.");
    wl(w, &format!("pub const MACS: usize = {macs};"));
    wl(w, "/// Bytes of weights, biases and multipliers.");
    wl(
        w,
        &format!("pub const WEIGHTS_BYTES: usize = {weights_bytes};"),
    );
    emit_io_quant(w, model)?;
    wl(w, "");
    emit_layer_types(
        w,
        uses(&|o| matches!(o, Op::Dense { .. })),
        false,
        uses(&|o| matches!(o, Op::Conv { .. })),
    );
    emit_network_type(w, &steps)?;
    emit_arena_helpers(w);
    emit_infer(w, &steps);
    wl(w, "/// The trained weights.");
    wl(w, "pub static NETWORK: Network = Network {");
    for st in &steps {
        if let Some(f) = &st.plan.field {
            emit_weights(w, f, &st.plan)?;
        }
    }
    wl(w, "};");
    if let Some(g) = goldens {
        emit_goldens(w, g, in_len, out_len)?;
    }
    Ok(s)
}

fn emit_network_type(w: &mut String, steps: &[Step<'_>]) -> Result<()> {
    wl(w, "/// The network: one field per node with weights.");
    wl(w, "#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
    wl(w, "pub struct Network {");
    for st in steps {
        let Some(f) = &st.plan.field else { continue };
        let l = &st.plan.layer;
        let r = l.tensor(2).map(|t| t.len()).unwrap_or(0);
        wl(
            w,
            &format!(
                "    /// Node {}: {} {} -> {}, activation {}.",
                l.index + 1,
                l.kind.name(),
                shape(l.in_shape),
                shape(l.out_shape),
                l.activation.name()
            ),
        );
        let ty = match st.op {
            Op::Conv { .. } => {
                let d = l.tensor(0).map(|t| t.shape().to_vec()).unwrap_or_default();
                let &[oc, ci, kh, kw] = d.as_slice() else {
                    bail!(
                        "layer {}: weights of {} dimensions, not 4",
                        l.index + 1,
                        d.len()
                    );
                };
                format!("Conv8<{oc}, {ci}, {kh}, {kw}, {r}>")
            }
            _ => format!(
                "Dense8<{}, {}, {r}>",
                shape_len(l.in_shape),
                shape_len(l.out_shape)
            ),
        };
        wl(w, &format!("    pub {f}: {ty},"));
    }
    wl(w, "}");
    wl(w, "");
    Ok(())
}

fn emit_arena_helpers(w: &mut String) {
    for line in [
        "/// The activation arena of [`Network::infer`].",
        "#[derive(Debug, Clone, Copy, PartialEq, Eq)]",
        "pub struct Scratch(pub [i8; ARENA]);",
        "",
        "impl Scratch {",
        "    /// Zeroed (usable in a `static`).",
        "    pub const ZERO: Self = Self([0; ARENA]);",
        "}",
        "",
        "/// `N` elements of `s` from `at` as an array (in bounds: offsets are constants).",
        "#[inline(always)]",
        "fn array<const N: usize>(s: &[i8], at: usize) -> &[i8; N] {",
        "    match s.get(at..).and_then(|s| s.first_chunk::<N>()) {",
        "        Some(a) => a,",
        "        None => unreachable!(),",
        "    }",
        "}",
        "",
        "/// The arena split around the output at `Y..Y + N`: the bytes before it, the output,",
        "/// the bytes after it.",
        "#[inline(always)]",
        "fn around<const Y: usize, const N: usize>(a: &mut [i8; ARENA]) -> (&[i8], &mut [i8; N], &[i8]) {",
        "    const { assert!(Y + N <= ARENA, \"output outside the arena\") };",
        "    let (lo, rest) = a.split_at_mut(Y);",
        "    match rest.split_first_chunk_mut::<N>() {",
        "        Some((y, hi)) => (lo, y, hi),",
        "        None => unreachable!(),",
        "    }",
        "}",
        "",
        "/// The input at `AT..AT + N` of a node writing `Y..Y + YN`, from the parts [`around`]",
        "/// returns (the plan keeps them apart: checked at compile time).",
        "#[inline(always)]",
        "fn input<'a, const AT: usize, const N: usize, const Y: usize, const YN: usize>(",
        "    lo: &'a [i8],",
        "    hi: &'a [i8],",
        ") -> &'a [i8; N] {",
        "    const { assert!(AT + N <= Y || Y + YN <= AT, \"input overlaps the output\") };",
        "    if AT < Y { array(lo, AT) } else { array(hi, AT - Y - YN) }",
        "}",
        "",
    ] {
        wl(w, line);
    }
}

/// The expression of a value at `loc` of `len` elements, read by a node
/// writing `out` (`lo`, `hi` split around it).
fn read_expr(loc: Loc, len: usize, out: Loc) -> String {
    match (loc, out) {
        (Loc::Input, _) => "x".into(),
        // `N`: the output's length, a constant of the node's block.
        (Loc::Arena(at), Loc::Arena(y)) => format!("input::<{at}, {len}, {y}, N>(lo, hi)"),
        (Loc::Arena(at), _) => format!("array::<{len}>(a, {at})"),
        (Loc::Output, _) => "y".into(),
    }
}

fn emit_infer(w: &mut String, steps: &[Step<'_>]) {
    super::int8::emit_infer_head(w);
    wl(w, "        let a = &mut scratch.0;");
    for st in steps {
        let l = &st.plan.layer;
        wl(
            w,
            &format!(
                "        // Node {}: {} {} -> {}.",
                l.index + 1,
                l.kind.name(),
                shape(l.in_shape),
                shape(l.out_shape)
            ),
        );
        if matches!(st.op, Op::Alias) {
            wl(w, "        // (planned over its input: nothing moves)");
            continue;
        }
        let n = st.plan.out_len;
        wl(w, "        {");
        let dst = match st.output {
            Loc::Arena(at) => {
                let reads = st.inputs.iter().any(|(l, _)| matches!(l, Loc::Arena(_)));
                let parts = if reads { "(lo, h, hi)" } else { "(_, h, _)" };
                wl(w, &format!("            const N: usize = {n};"));
                wl(
                    w,
                    &format!("            let {parts} = around::<{at}, N>(a);"),
                );
                "h"
            }
            _ => "y",
        };
        let args: Vec<String> = st
            .inputs
            .iter()
            .map(|&(loc, len)| read_expr(loc, len, st.output))
            .collect();
        let x = &args[0];
        let f = st.plan.field.as_deref().unwrap_or_default();
        let call = match st.op {
            Op::Dense { single_rounding } => format!(
                "int8::{}(&self.{f}.view(), {x}, {dst})?;",
                if single_rounding {
                    "dense_single_rounding"
                } else {
                    "dense"
                }
            ),
            Op::Conv {
                shape: c,
                depthwise,
            } => format!(
                "{}(\n                &self.{f}.view(),\n                &Conv2dShape {{ in_channels: {}, in_size: {:?}, out_channels: {}, kernel: {:?}, stride: {:?}, padding: {:?} }},\n                {x},\n                {dst},\n            )?;",
                if depthwise {
                    "depthwise::depthwise_conv2d"
                } else {
                    "int8::conv2d"
                },
                c.in_channels,
                c.in_size,
                c.out_channels,
                c.kernel,
                c.stride,
                c.padding
            ),
            Op::Pool { max, shape: p } => format!(
                "int8::{}(\n                &Pool2dShape {{ channels: {}, in_size: {:?}, kernel: {:?}, stride: {:?} }},\n                {x},\n                {dst},\n            )?;",
                if max { "max_pool2d" } else { "avg_pool2d" },
                p.channels,
                p.in_size,
                p.kernel,
                p.stride
            ),
            Op::Softmax(q) => format!(
                "softmax::softmax(&SoftmaxQ {{ input_beta: {}, diff_min: {} }}, {n}, {x}, {dst})?;",
                requant_lit(q.input_beta),
                q.diff_min
            ),
            Op::Sigmoid(r) | Op::Tanh(r) => format!(
                "int8::{}({x}, {}, {}, {dst})?;",
                if matches!(st.op, Op::Sigmoid(_)) {
                    "sigmoid"
                } else {
                    "tanh"
                },
                st.plan.input_zp,
                requant_lit(r)
            ),
            Op::Add(q) => format!(
                "int8::add(\n                &AddQ {{ a_zero_point: {}, a_requant: {}, b_zero_point: {}, b_requant: {}, output_requant: {}, output: {} }},\n                {x},\n                {},\n                {dst},\n            )?;",
                q.a_zero_point,
                requant_lit(q.a_requant),
                q.b_zero_point,
                requant_lit(q.b_requant),
                requant_lit(q.output_requant),
                output_quant(q.output),
                args[1]
            ),
            Op::Copy => format!("{dst}.copy_from_slice({x});"),
            Op::Alias => String::new(),
        };
        wl(w, &format!("            {call}"));
        if st.relu {
            wl(
                w,
                &format!(
                    "            int8::relu({dst}, {});",
                    st.plan.output.zero_point
                ),
            );
        }
        wl(w, "        }");
    }
    wl(w, "        Ok(())");
    wl(w, "    }");
    wl(w, "}");
    wl(w, "");
}
