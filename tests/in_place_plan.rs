//! Memory plans that write nodes over their input (`plan::Placement::Smallest`,
//! `myelin import --plan smallest`): on the three MLPerf Tiny models and on
//! random chains of depthwise, 1x1, elementwise and add nodes, inference
//! through the smallest plan gives the same codes, bit for bit, as the same
//! file without a plan (one slot per value) and as the host's scalar
//! reference; its arena is never above the free plan's and never below the
//! in-place bound; damaged in-place plans are refused with clear errors.

mod support;

use myelin_core::model::plan;
use myelin_core::model::{
    Activation, HEADER_LEN, LayerKind, LayerQuant, Model, PARAMS, graph::p as gp, int8_scratch_len,
};
use myelin_core::quant::{ActQuant, Requant};
use myelin_host::import::{import_bytes, replan_smallest};
use myelin_host::npy::read_npy;
use myelin_host::quantize::{AlignedBytes, QLayer, QTensor, QuantizedNet};
use myelin_host::run::run_batch;

/// `bytes` replanned for the smallest arena.
fn smallest(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    replan_smallest(&mut b).unwrap();
    b
}

/// `bytes` without a plan.
fn bare(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    plan::clear_plan(&mut b).unwrap();
    b
}

/// Nodes of `m` planned over an input, other than reshapes, by kind
/// (`Conv2d` depthwise or 1x1 as `(Conv2d, true)` or `(Conv2d, false)`).
fn written_over(m: &Model<'_>) -> Vec<(LayerKind, bool)> {
    (1..=m.layer_count())
        .filter(|&v| plan::overwritten_input(m, v).is_some())
        .filter_map(|v| m.layer(v - 1))
        .map(|l| (l.kind, l.params[gp::GROUPS] > 1))
        .filter(|&(k, _)| k != LayerKind::Reshape)
        .collect()
}

#[test]
fn smallest_plans_run_the_mlperf_models_bit_for_bit() {
    let models = support::root().join("models/mlperf-tiny");
    for name in ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant"] {
        let path = models.join(format!("{name}.tflite"));
        let free = import_bytes(&path, &std::fs::read(&path).unwrap()).unwrap();
        let (small, unplanned) = (smallest(&free), bare(&free));
        let files = [&free, &small, &unplanned].map(|b| AlignedBytes::new(b));
        let [f, s, u] = [0, 1, 2].map(|i| Model::parse(files[i].bytes()).unwrap());
        let (fa, sa) = (f.planned_arena().unwrap(), s.planned_arena().unwrap());
        let (bound, in_place) = (plan::lower_bound(&s), plan::in_place_bound(&s));
        eprintln!(
            "{name}: free arena {fa}, smallest {sa} + scratch {}, bound {bound}, in-place bound {in_place}",
            s.planned_in_place_scratch()
        );
        assert!(sa <= fa && in_place <= sa && in_place <= bound, "{name}");
        assert_eq!(
            f.planned_in_place_scratch(),
            0,
            "{name}: free plan with scratch"
        );
        assert_eq!(
            int8_scratch_len(&s).act,
            sa + s.planned_in_place_scratch(),
            "{name}"
        );
        let x = read_npy(models.join("goldens").join(name).join("inputs.npy")).unwrap();
        let want = read_npy(models.join("goldens").join(name).join("outputs.npy")).unwrap();
        let (_, ys) = run_batch(&s, &x).unwrap();
        let (_, yu) = run_batch(&u, &x).unwrap();
        assert_eq!(ys, yu, "{name}: smallest plan and no plan differ");
        assert_eq!(ys, want.data, "{name}: outputs differ from TFLite's");
        if name == "kws_ref_model" {
            // Four depthwise and four pointwise layers over their input: one
            // 64x25x5 tensor and the input, the in-place bound exactly.
            let dw_pw = [(LayerKind::Conv2d, true), (LayerKind::Conv2d, false)];
            assert_eq!(written_over(&s), dw_pw.repeat(4));
            assert!(sa < bound && sa == in_place, "{sa} {bound} {in_place}");
        }
    }
}

#[test]
fn damaged_in_place_plans_are_refused() {
    let path = support::root().join("models/mlperf-tiny/kws_ref_model.tflite");
    let small = smallest(&import_bytes(&path, &std::fs::read(&path).unwrap()).unwrap());
    let reseal = |b: &mut Vec<u8>| {
        let body = b.len() - 4;
        let c = myelin_core::model::crc32(&b[..body]);
        b[body..].copy_from_slice(&c.to_le_bytes());
    };
    let message = |b: &[u8]| match Model::parse(AlignedBytes::new(b).bytes()) {
        Err(e) => e.to_string(),
        Ok(_) => String::from("accepted"),
    };
    // Node 0 stores the in-place scratch length in its third plan word.
    let scratch_at = HEADER_LEN + 88;
    let mut b = small.clone();
    let scratch = u32::from_le_bytes(b[scratch_at..scratch_at + 4].try_into().unwrap());
    assert!(scratch > 0);
    b[scratch_at..scratch_at + 4].copy_from_slice(&(scratch - 1).to_le_bytes());
    reseal(&mut b);
    let e = message(&b);
    assert!(e.contains("in-place scratch"), "{e}");
    // The first (10x4, strided) convolution over its input: refused.
    let file = AlignedBytes::new(&small);
    let m = Model::parse(file.bytes()).unwrap();
    let input_at = m.value_offset(0).unwrap() as u32;
    let mut b = small.clone();
    let out_at = HEADER_LEN + 60;
    b[out_at..out_at + 4].copy_from_slice(&input_at.to_le_bytes());
    reseal(&mut b);
    let e = message(&b);
    assert!(e.contains("over another live value"), "{e}");
}

/// xorshift64*.
struct Bits(u64);

impl Bits {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    /// An int8 code, the extremes one time in four.
    fn code(&mut self) -> i8 {
        match self.next() % 8 {
            0 => i8::MIN,
            1 => i8::MAX,
            _ => self.next() as i8,
        }
    }

    fn codes(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.code()).collect()
    }

    fn quant(&mut self) -> ActQuant {
        ActQuant {
            scale: 0.01 + (self.next() % 1000) as f32 / 1000.0,
            zero_point: self.code(),
        }
    }

    fn requant(&mut self, shifts: std::ops::RangeInclusive<i32>) -> Requant {
        let (lo, hi) = (*shifts.start(), *shifts.end());
        Requant {
            multiplier: (1 << 30) + (self.next() % (1 << 30)) as i32,
            shift: lo + (self.next() % (hi - lo + 1) as u64) as i32,
        }
    }
}

fn i8_tensor(bits: &mut Bits, dims: Vec<usize>) -> QTensor {
    let n = dims.iter().product();
    QTensor::I8 {
        scales: vec![0.01; dims[0]],
        values: bits.codes(n),
        dims,
    }
}

/// A conv2d node over value `input` of shape `shape`.
#[allow(clippy::too_many_arguments)]
fn conv(
    bits: &mut Bits,
    input: usize,
    shape: [usize; 3],
    q_in: ActQuant,
    oc: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    depthwise: bool,
) -> Option<QLayer> {
    let [c, h, w] = shape;
    let (eh, ew) = (h + pad[0] + pad[1], w + pad[2] + pad[3]);
    if eh < k[0] || ew < k[1] {
        return None;
    }
    let out = [oc, (eh - k[0]) / stride[0] + 1, (ew - k[1]) / stride[1] + 1];
    let mut params = [0u32; PARAMS];
    let p = [
        (gp::K_H, k[0]),
        (gp::K_W, k[1]),
        (gp::STRIDE_H, stride[0]),
        (gp::STRIDE_W, stride[1]),
        (gp::PAD_TOP, pad[0]),
        (gp::PAD_BOTTOM, pad[1]),
        (gp::PAD_LEFT, pad[2]),
        (gp::PAD_RIGHT, pad[3]),
        (gp::GROUPS, if depthwise { c } else { 1 }),
    ];
    for (i, v) in p {
        params[i] = v as u32;
    }
    let per = if depthwise { 1 } else { c };
    let requants = if bits.next().is_multiple_of(4) { 1 } else { oc };
    Some(QLayer {
        kind: LayerKind::Conv2d,
        activation: if bits.next().is_multiple_of(2) {
            Activation::Relu
        } else {
            Activation::Identity
        },
        in_shape: shape,
        out_shape: out,
        params,
        quant: LayerQuant {
            input: q_in,
            output: bits.quant(),
        },
        tensors: vec![
            i8_tensor(bits, vec![oc, per, k[0], k[1]]),
            QTensor::I32 {
                values: (0..oc)
                    .map(|_| (bits.next() % 20_000) as i32 - 10_000)
                    .collect(),
                scales: vec![0.001; oc],
            },
            QTensor::Requant((0..requants).map(|_| bits.requant(-12..=-6)).collect()),
        ],
        inputs: vec![input],
    })
}

/// A random chain of depthwise, 1x1 and elementwise nodes, with an add now
/// and then over the value before.
fn random_net(bits: &mut Bits) -> QuantizedNet {
    let input = [bits.range(1, 6), bits.range(1, 9), bits.range(1, 9)];
    let mut quants = vec![bits.quant()];
    let mut shapes = vec![input];
    let mut layers: Vec<QLayer> = Vec::new();
    let nodes = bits.range(3, 8);
    while layers.len() < nodes {
        let v = layers.len();
        let (shape, q_in) = (shapes[v], quants[v]);
        let l = match bits.next() % 6 {
            0 | 1 => {
                let k = [bits.range(1, 3), bits.range(1, 3)];
                let stride = [bits.range(1, 2), bits.range(1, 2)];
                let pad = [0; 4].map(|_| bits.range(0, 1));
                conv(bits, v, shape, q_in, shape[0], k, stride, pad, shape[0] > 1)
            }
            2 => {
                let oc = bits.range(1, 9);
                conv(bits, v, shape, q_in, oc, [1, 1], [1, 1], [0; 4], false)
            }
            3 => Some(QLayer {
                kind: LayerKind::Activation,
                activation: Activation::Relu,
                in_shape: shape,
                out_shape: shape,
                params: [0; PARAMS],
                quant: LayerQuant {
                    input: q_in,
                    output: q_in,
                },
                tensors: vec![],
                inputs: vec![v],
            }),
            4 => Some(QLayer {
                kind: LayerKind::Lookup,
                activation: Activation::Identity,
                in_shape: shape,
                out_shape: shape,
                params: [0; PARAMS],
                quant: LayerQuant {
                    input: q_in,
                    output: bits.quant(),
                },
                tensors: vec![QTensor::I8 {
                    dims: vec![256],
                    values: bits.codes(256),
                    scales: vec![0.01],
                }],
                inputs: vec![v],
            }),
            _ => {
                // Add the newest value and an earlier one of the same shape.
                let Some(other) = (0..v).rev().find(|&r| shapes[r] == shape) else {
                    continue;
                };
                let (a, b) = if bits.next().is_multiple_of(2) {
                    (v, other)
                } else {
                    (other, v)
                };
                Some(QLayer {
                    kind: LayerKind::Add,
                    activation: Activation::Identity,
                    in_shape: shape,
                    out_shape: shape,
                    params: [0; PARAMS],
                    quant: LayerQuant {
                        input: quants[a],
                        output: bits.quant(),
                    },
                    tensors: vec![QTensor::Requant(vec![
                        bits.requant(-22..=-18),
                        bits.requant(-22..=-18),
                        bits.requant(-6..=-1),
                    ])],
                    inputs: vec![a, b],
                })
            }
        };
        let Some(l) = l else { continue };
        shapes.push(l.out_shape);
        quants.push(l.quant.output);
        layers.push(l);
    }
    QuantizedNet { input, layers }
}

#[test]
fn random_chains_run_in_place_as_out_of_place() {
    let mut bits = Bits(0x9e37_79b9_7f4a_7c15);
    let (mut nets, mut over) = (0, Vec::new());
    while nets < 300 {
        let net = random_net(&mut bits);
        let Ok(free) = net.encode() else {
            continue;
        };
        nets += 1;
        let (small, unplanned) = (smallest(&free), bare(&free));
        let files = [&free, &small, &unplanned].map(|b| AlignedBytes::new(b));
        let [f, s, u] = [0, 1, 2].map(|i| Model::parse(files[i].bytes()).unwrap());
        let sa = s.planned_arena().unwrap();
        assert!(sa <= f.planned_arena().unwrap() && plan::in_place_bound(&s) <= sa);
        over.extend(written_over(&s));
        for _ in 0..3 {
            let x = bits.codes(s.input_len());
            let want = net.forward(&x).unwrap();
            for m in [&f, &s, &u] {
                let need = int8_scratch_len(m);
                // Scratch filled with garbage: nothing may depend on it.
                let (mut act, mut cell) = (vec![0x5a_i8; need.act], vec![0i16; need.cell]);
                let y = m.infer_int8(&x, &mut act, &mut cell).unwrap();
                assert_eq!(y, want, "{net:?}");
            }
        }
    }
    // The chains exercise every in-place path, not only the planner.
    let kinds = [
        (LayerKind::Conv2d, true),
        (LayerKind::Conv2d, false),
        (LayerKind::Activation, false),
        (LayerKind::Lookup, false),
        (LayerKind::Add, false),
    ];
    let counts = kinds.map(|k| over.iter().filter(|&&o| o == k).count());
    eprintln!("{nets} chains; written over their input: {kinds:?} {counts:?}");
    assert!(counts.iter().all(|&n| n >= 20), "{counts:?}");
}
