use super::*;
use myelin_core::model::{
    Activation, LayerDesc, LayerKind, Model, PARAMS, Shape, TensorData, TensorDesc, encode,
    encoded_len,
};

fn file(input: Shape, layers: &[LayerDesc<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(layers).unwrap()];
    encode(input, layers, &mut out).unwrap();
    out
}

fn dense<'t>(i: usize, o: usize, act: Activation, t: &'t [TensorDesc<'t>]) -> LayerDesc<'t> {
    LayerDesc {
        inputs: &[],
        kind: LayerKind::Dense,
        activation: act,
        in_shape: [1, 1, i],
        out_shape: [1, 1, o],
        params: [0; PARAMS],
        tensors: t,
    }
}

/// Every token of `text` that parses as a float, in order.
fn floats(text: &str) -> Vec<f32> {
    text.split(|c: char| c.is_whitespace() || ",[]{}:;()".contains(c))
        .filter_map(|t| t.parse::<f32>().ok())
        .collect()
}

fn weights_of(src: &str) -> &str {
    let start = src.find("pub static NETWORK").unwrap();
    let end = start + src[start..].find("\n};").unwrap();
    &src[start..end]
}

fn mlp() -> Vec<u8> {
    let w1: Vec<f32> = (0..12).map(|k| (k as f32 - 5.5) * 0.1).collect();
    let b1 = [0.1, -0.2, 1.0 / 3.0];
    let w2 = [1e-7, -2.5e9, 0.5, -0.0, 7.0, f32::MIN_POSITIVE];
    let b2 = [0.0, 3.0];
    let t1 = [
        TensorDesc {
            dims: &[3, 4],
            data: TensorData::F32(&w1),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&b1),
        },
    ];
    let t2 = [
        TensorDesc {
            dims: &[2, 3],
            data: TensorData::F32(&w2),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&b2),
        },
    ];
    file(
        [1, 1, 4],
        &[
            dense(4, 3, Activation::Relu, &t1),
            dense(3, 2, Activation::Identity, &t2),
        ],
    )
}

#[test]
fn dense_network_source() {
    let bytes = mlp();
    let m = Model::parse(&bytes).unwrap();
    let src = rust_source(&m, "tiny", None).unwrap();
    assert!(src.starts_with("// @generated"));
    for want in [
        "pub const INPUT: usize = 4;",
        "pub const OUTPUT: usize = 2;",
        "pub const SCRATCH_A: usize = 3;",
        "pub const SCRATCH_B: usize = 1;",
        "pub const MACS: usize = 18;",
        "pub const WEIGHTS_BYTES: usize = 92;",
        "pub l1: Dense<4, 3>,",
        "pub l2: Dense<3, 2>,",
        "let h1: &mut [f32; 3] = part(a);",
        "self.l1.infer(x, h1);",
        "kernels::relu_inplace(h1);",
        "self.l2.infer(h1, y);",
    ] {
        assert!(src.contains(want), "missing `{want}` in:\n{src}");
    }
    assert!(!src.contains("relu_inplace(y)"));
    assert!(!src.contains("pub mod samples"));
}

#[test]
fn weight_literals_round_trip_bit_for_bit() {
    let bytes = mlp();
    let m = Model::parse(&bytes).unwrap();
    let src = rust_source(&m, "tiny", None).unwrap();
    let got = floats(weights_of(&src));
    let mut want = Vec::new();
    for l in m.layers() {
        for j in 0..l.tensor_count() {
            let t = l.tensor(j).unwrap();
            let mut v = vec![0.0; t.len()];
            t.read_f32(&mut v).unwrap();
            want.extend(v);
        }
    }
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.to_bits(), w.to_bits(), "{g} != {w}");
    }
}

#[test]
fn conv_pool_dense_source() {
    let wc: Vec<f32> = (0..8).map(|k| k as f32 * 0.25 - 1.0).collect();
    let bc = [0.5, -0.5];
    let wd: Vec<f32> = (0..24).map(|k| (k % 5) as f32 - 2.0).collect();
    let bd = [0.0; 3];
    let tc = [
        TensorDesc {
            dims: &[2, 1, 2, 2],
            data: TensorData::F32(&wc),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&bc),
        },
    ];
    let td = [
        TensorDesc {
            dims: &[3, 8],
            data: TensorData::F32(&wd),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&bd),
        },
    ];
    let layers = [
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Conv2d,
            activation: Activation::Relu,
            in_shape: [1, 4, 4],
            out_shape: [2, 3, 3],
            params: myelin_core::model::graph::conv_params(2, 2, 1, 0),
            tensors: &tc,
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::MaxPool2d,
            activation: Activation::Identity,
            in_shape: [2, 3, 3],
            out_shape: [2, 2, 2],
            params: myelin_core::model::graph::pool_params(2, 1),
            tensors: &[],
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Dense,
            activation: Activation::Softmax,
            in_shape: [2, 2, 2],
            out_shape: [1, 1, 3],
            params: [0; PARAMS],
            tensors: &td,
        },
    ];
    let bytes = file([1, 4, 4], &layers);
    let m = Model::parse(&bytes).unwrap();
    let src = rust_source(&m, "conv", None).unwrap();
    for want in [
        "pub l1: Conv2d<1, 4, 4, 2, 2, 1, 0, 3, 3>,",
        "pub l2: Dense<8, 3>,",
        "pub const SCRATCH_A: usize = 18;",
        "pub const SCRATCH_B: usize = 8;",
        // 18 outputs x 4 taps + 8 x 3.
        "pub const MACS: usize = 96;",
        "k_h: 2, k_w: 2, stride: 1, pad: 0",
        "kernels::max_pool2d_forward(",
        "let h2: &mut [f32; 8] = part(b);",
        "self.l2.infer(h2, y);",
        "kernels::softmax(&logits, y);",
    ] {
        assert!(src.contains(want), "missing `{want}` in:\n{src}");
    }
    let got = floats(weights_of(&src));
    let want: Vec<f32> = wc
        .iter()
        .chain(&bc)
        .chain(&wd)
        .chain(&bd)
        .copied()
        .collect();
    assert_eq!(got, want);
}

#[test]
fn refuses_what_it_cannot_emit() {
    let bad = [f32::NAN, 1.0, 2.0, 3.0];
    let b = [0.0];
    let t = [
        TensorDesc {
            dims: &[1, 4],
            data: TensorData::F32(&bad),
        },
        TensorDesc {
            dims: &[1],
            data: TensorData::F32(&b),
        },
    ];
    let bytes = file([1, 1, 4], &[dense(4, 1, Activation::Identity, &t)]);
    let m = Model::parse(&bytes).unwrap();
    let e = rust_source(&m, "nan", None).unwrap_err().to_string();
    assert!(e.contains("not finite"), "{e}");

    let wx = [0.0f32; 8];
    let wh = [0.0f32; 4];
    let bl = [0.0f32; 4];
    let tl = [
        TensorDesc {
            dims: &[4, 2],
            data: TensorData::F32(&wx),
        },
        TensorDesc {
            dims: &[4, 1],
            data: TensorData::F32(&wh),
        },
        TensorDesc {
            dims: &[4],
            data: TensorData::F32(&bl),
        },
    ];
    let lstm = LayerDesc {
        inputs: &[],
        kind: LayerKind::Lstm,
        activation: Activation::Identity,
        in_shape: [1, 3, 2],
        out_shape: [1, 1, 1],
        params: myelin_core::model::graph::lstm_params(1),
        tensors: &tl,
    };
    let bytes = file([1, 3, 2], &[lstm]);
    let m = Model::parse(&bytes).unwrap();
    let e = rust_source(&m, "lstm", None).unwrap_err().to_string();
    assert!(
        e.contains("layer 1 (lstm)") && e.contains("include_bytes!"),
        "{e}"
    );
}

#[test]
fn samples_carry_the_hosts_outputs() {
    let bytes = mlp();
    let m = Model::parse(&bytes).unwrap();
    let pixels = vec![0, 255, 128, 7, 255, 0, 0, 30];
    let s = Samples::compute(&m, 5, pixels.clone(), vec![1, 0]).unwrap();
    let Outputs::F32(outputs) = &s.outputs else {
        panic!("f32 model, int8 outputs");
    };
    let mut scratch = vec![0.0; myelin_core::model::scratch_len(&m)];
    for (k, img) in pixels.chunks(4).enumerate() {
        let x: Vec<f32> = img.iter().map(|&p| f32::from(p) / 255.0).collect();
        let y = m.infer(&x, &mut scratch).unwrap();
        assert_eq!(&outputs[2 * k..2 * k + 2], y);
        assert_eq!(
            usize::from(s.classes[k]),
            myelin_core::train::argmax(y),
            "sample {k}"
        );
    }
    let src = rust_source(&m, "tiny", Some(&s)).unwrap();
    for want in [
        "pub const COUNT: usize = 2;",
        "pub const FIRST: usize = 5;",
        "pub static PIXELS: [[u8; 4]; COUNT] = ",
        "[0, 255, 128, 7],",
        "pub static LABELS: [u8; COUNT] = [1, 0];",
        "pub static OUTPUTS: [[f32; 2]; COUNT] = ",
    ] {
        assert!(src.contains(want), "missing `{want}` in:\n{src}");
    }
    assert!(Samples::compute(&m, 0, vec![0; 7], vec![1, 2]).is_err());
}

mod int8 {
    use super::*;
    use myelin_core::model::shape_len;
    use myelin_core::model::{LayerQuant, encode_int8};
    use myelin_core::quant::packed::{self, DensePackedQ};
    use myelin_core::quant::{ActQuant, OutputQuant, Requant};

    fn q(scale: f32, zero_point: i8) -> ActQuant {
        ActQuant { scale, zero_point }
    }

    fn int8_file(input: Shape, layers: &[LayerDesc<'_>], quant: &[LayerQuant]) -> Vec<u8> {
        let mut out = vec![0u8; encoded_len(layers).unwrap()];
        encode_int8(input, layers, quant, &mut out).unwrap();
        out
    }

    const W1: [i8; 12] = [1, -2, 3, -4, 5, -6, 7, -8, 127, -127, 0, 9];
    const B1: [i32; 3] = [100, -50, 0];
    const W2: [i8; 6] = [10, -20, 30, -40, 50, -60];
    const B2: [i32; 2] = [-7, 7];

    fn tiny() -> Vec<u8> {
        let rq1 = [
            Requant {
                multiplier: 1 << 30,
                shift: -4,
            },
            Requant {
                multiplier: 1_500_000_000,
                shift: -5,
            },
            Requant {
                multiplier: 1_100_000_000,
                shift: -3,
            },
        ];
        let rq2 = [
            Requant {
                multiplier: 1 << 30,
                shift: -6,
            },
            Requant {
                multiplier: 2_000_000_000,
                shift: -7,
            },
        ];
        let (s1, s2) = ([0.01f32; 3], [0.02f32; 2]);
        let (sb1, sb2) = ([1e-4f32; 3], [2e-4f32; 2]);
        let t1 = [
            TensorDesc {
                dims: &[3, 4],
                data: TensorData::I8 {
                    values: &W1,
                    scales: &s1,
                },
            },
            TensorDesc {
                dims: &[3],
                data: TensorData::I32 {
                    values: &B1,
                    scales: &sb1,
                },
            },
            TensorDesc {
                dims: &[3],
                data: TensorData::Requant(&rq1),
            },
        ];
        let t2 = [
            TensorDesc {
                dims: &[2, 3],
                data: TensorData::I8 {
                    values: &W2,
                    scales: &s2,
                },
            },
            TensorDesc {
                dims: &[2],
                data: TensorData::I32 {
                    values: &B2,
                    scales: &sb2,
                },
            },
            TensorDesc {
                dims: &[2],
                data: TensorData::Requant(&rq2),
            },
        ];
        let layers = [
            dense(4, 3, Activation::Relu, &t1),
            dense(3, 2, Activation::Identity, &t2),
        ];
        let quant = [
            LayerQuant {
                input: q(1.0 / 255.0, -128),
                output: q(0.05, -100),
            },
            LayerQuant {
                input: q(0.05, -100),
                output: q(0.1, 3),
            },
        ];
        int8_file([1, 1, 4], &layers, &quant)
    }

    /// Every integer token between `from` and the next `to`, in order,
    /// comments left out.
    fn ints(text: &str, from: &str, to: &str) -> Vec<i64> {
        let start = text.find(from).unwrap() + from.len();
        let end = start + text[start..].find(to).unwrap();
        text[start..end]
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .flat_map(|l| l.split(|c: char| !(c.is_ascii_digit() || c == '-')))
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    /// An int8 MLP with pseudo-random tensors: `sizes[0]` inputs, then one
    /// dense layer per further size (the first with ReLU).
    fn random_mlp(sizes: &[usize], seed: u32) -> Vec<u8> {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let layers_n = sizes.len() - 1;
        let mut w = Vec::new();
        let mut b = Vec::new();
        let mut rq = Vec::new();
        let mut scales = Vec::new();
        for k in 0..layers_n {
            let (i, o) = (sizes[k], sizes[k + 1]);
            w.push((0..i * o).map(|_| next() as i8).collect::<Vec<i8>>());
            b.push(
                (0..o)
                    .map(|_| (next() >> 20) as i32 - (1 << 11))
                    .collect::<Vec<i32>>(),
            );
            rq.push(
                (0..o)
                    .map(|_| Requant {
                        multiplier: (1 << 30) | (next() >> 2) as i32,
                        shift: -((next() % 3) as i32) - 6,
                    })
                    .collect::<Vec<Requant>>(),
            );
            scales.push(vec![0.01f32; o]);
        }
        let tensors: Vec<[TensorDesc<'_>; 3]> = (0..layers_n)
            .map(|k| {
                [
                    TensorDesc {
                        dims: &sizes[k..k + 2],
                        data: TensorData::I8 {
                            values: &w[k],
                            scales: &scales[k],
                        },
                    },
                    TensorDesc {
                        dims: &sizes[k + 1..k + 2],
                        data: TensorData::I32 {
                            values: &b[k],
                            scales: &scales[k],
                        },
                    },
                    TensorDesc {
                        dims: &sizes[k + 1..k + 2],
                        data: TensorData::Requant(&rq[k]),
                    },
                ]
            })
            .collect();
        // Swapped dims: the weight tensor is OUT x IN.
        let dims: Vec<[usize; 2]> = (0..layers_n).map(|k| [sizes[k + 1], sizes[k]]).collect();
        let tensors: Vec<[TensorDesc<'_>; 3]> = tensors
            .into_iter()
            .zip(&dims)
            .map(|([wt, bt, rt], d)| [TensorDesc { dims: d, ..wt }, bt, rt])
            .collect();
        let layers: Vec<LayerDesc<'_>> = (0..layers_n)
            .map(|k| {
                let act = if k == 0 {
                    Activation::Relu
                } else {
                    Activation::Identity
                };
                dense(sizes[k], sizes[k + 1], act, &tensors[k])
            })
            .collect();
        let quant: Vec<LayerQuant> = (0..layers_n)
            .map(|k| LayerQuant {
                input: q(0.05, [-128, 7, -3, 20, -1][k % 5]),
                output: q(0.05, [7, -3, 20, -1, 127][k % 5]),
            })
            .collect();
        int8_file([1, 1, sizes[0]], &layers, &quant)
    }

    /// A packed dense kernel: layer, input, output.
    type Kernel<'k> = &'k dyn Fn(&DensePackedQ<'_>, &[i8], &mut [i8]);

    /// Runs the packed layers of the generated `src` (weights, biases and
    /// multipliers parsed back from it) on `x`, through `kernel`.
    fn run_generated(src: &str, m: &Model<'_>, x: &[i8], kernel: Kernel<'_>) -> Vec<i8> {
        let mut h = x.to_vec();
        for (k, l) in m.layers().enumerate() {
            let field = format!("    l{}: DensePacked8 {{", k + 1);
            let bytes: Vec<i8> = ints(src, &field, "bias:")
                .into_iter()
                .map(|v| i8::try_from(v).unwrap())
                .collect();
            let words: Vec<u32> = bytes
                .chunks_exact(4)
                .map(|b| u32::from_ne_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]))
                .collect();
            let tail = ints(src, &field, "output:");
            let o = shape_len(l.out_shape);
            let bias: Vec<i32> = tail[bytes.len()..bytes.len() + o]
                .iter()
                .map(|&v| i32::try_from(v).unwrap())
                .collect();
            let requant: Vec<Requant> = tail[bytes.len() + o..]
                .chunks_exact(2)
                .map(|p| Requant {
                    multiplier: p[0] as i32,
                    shift: p[1] as i32,
                })
                .collect();
            let zp = l.quant.unwrap().output.zero_point;
            let layer = DensePackedQ {
                weights: &words,
                bias: &bias,
                requant: &requant,
                output: if l.activation == Activation::Relu {
                    OutputQuant::relu(zp)
                } else {
                    OutputQuant::linear(zp)
                },
            };
            let mut y = vec![0i8; o];
            kernel(&layer, &h, &mut y);
            h = y;
        }
        h
    }

    #[test]
    fn packed_network_equals_the_model_path() {
        // Groups of four rows, single rows after them, inputs not a multiple
        // of four, and input zero points from -128 to 100.
        let raw = random_mlp(&[13, 9, 8, 6, 3], 0x9e37_79b9);
        let (buf, at) = super::super::aligned(&raw);
        let m = Model::parse(&buf[at..]).unwrap();
        let src = rust_source(&m, "random-mlp", None).unwrap();
        for want in [
            "pub l1: DensePacked8<144, 9, 9>,",
            "pub l2: DensePacked8<96, 8, 8>,",
            "pub l3: DensePacked8<48, 6, 6>,",
            "pub l4: DensePacked8<24, 3, 3>,",
            "pub const SCRATCH_UNPACKED: usize = 8;",
            "            // Rows 4..8.",
            "            // Row 8.",
        ] {
            assert!(src.contains(want), "missing `{want}` in:\n{src}");
        }
        let need = myelin_core::model::int8_scratch_len(&m);
        let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
        let mut outputs = std::collections::BTreeSet::new();
        for s in 0..40u8 {
            let x: Vec<i8> = (0..13u8)
                .map(|i| (i.wrapping_mul(37) ^ s.wrapping_mul(101)) as i8)
                .collect();
            let want = m.infer_int8(&x, &mut act, &mut cell).unwrap().to_vec();
            let scalar = run_generated(&src, &m, &x, &|l, x, y| {
                packed::dense_packed_scalar(l, x, y).unwrap();
            });
            let emulated = run_generated(&src, &m, &x, &|l, x, y| {
                packed::dense_packed_emulated(l, x, y, &mut [0u32; 8]).unwrap();
            });
            let active = run_generated(&src, &m, &x, &|l, x, y| {
                packed::dense_packed(l, x, y, &mut [0u32; 8]).unwrap();
            });
            assert_eq!(scalar, want, "sample {s}");
            assert_eq!(emulated, want, "sample {s}");
            assert_eq!(active, want, "sample {s}");
            outputs.insert(want);
        }
        // The samples are not all mapped to one output.
        assert!(outputs.len() > 10, "{} distinct outputs", outputs.len());
    }

    #[test]
    fn dense_network_source() {
        let raw = tiny();
        let (buf, at) = super::super::aligned(&raw);
        let m = Model::parse(&buf[at..]).unwrap();
        let src = rust_source(&m, "tiny-int8", None).unwrap();
        for want in [
            "pub const INPUT: usize = 4;",
            "pub const SCRATCH_A: usize = 3;",
            "pub const MACS: usize = 18;",
            // 12 + 8 packed weights (rows padded to whole blocks of four
            // inputs) + 5 biases x 4 + 5 multipliers x 8.
            "pub const WEIGHTS_BYTES: usize = 80;",
            "pub const SCRATCH_UNPACKED: usize = 2;",
            "pub const INPUT_ZERO_POINT: i8 = -128;",
            "pub const OUTPUT_ZERO_POINT: i8 = 3;",
            "pub l1: DensePacked8<12, 3, 3>,",
            "pub l2: DensePacked8<8, 2, 2>,",
            "packed::dense_packed(&self.l1.view(), x, h1, xs)?;",
            "packed::dense_packed(&self.l2.view(), h1, y, xs)?;",
            "output: OutputQuant { zero_point: -100, min: -100, max: 127 },",
            "output: OutputQuant { zero_point: 3, min: -128, max: 127 },",
            "Requant { multiplier: 1500000000, shift: -5 }",
        ] {
            assert!(src.contains(want), "missing `{want}` in:\n{src}");
        }
        // Fewer than four rows: each row alone, padded to a whole block; the
        // biases less input_zero_point * row sum.
        let l1 = ints(&src, "    l1: DensePacked8 {", "requant:");
        let want: Vec<i64> = [1, -2, 3, -4, 5, -6, 7, -8, 127, -127, 0, 9]
            .into_iter()
            .chain([100 + 128 * -2, -50 + 128 * -2, 128 * 9])
            .collect();
        assert_eq!(l1, want);
        let l2 = ints(&src, "    l2: DensePacked8 {", "requant:");
        let want: Vec<i64> = [10, -20, 30, 0, -40, 50, -60, 0]
            .into_iter()
            .chain([-7 + 100 * 20, 7 + 100 * -50])
            .collect();
        assert_eq!(l2, want);
        // The pixel table is the model's input quantization of p / 255.
        let codes = ints(&src, "pub static PIXEL_CODES: [i8; 256] =", ";");
        assert_eq!(codes.len(), 256);
        let inq = m.input_quant().unwrap();
        for (p, c) in codes.iter().enumerate() {
            assert_eq!(*c, i64::from(inq.quantize(p as f32 / 255.0)));
        }
    }

    #[test]
    fn samples_carry_the_hosts_output_codes() {
        let raw = tiny();
        let (buf, at) = super::super::aligned(&raw);
        let m = Model::parse(&buf[at..]).unwrap();
        let pixels = vec![0, 255, 128, 7, 255, 0, 3, 200];
        let s = Samples::compute(&m, 0, pixels.clone(), vec![0, 1]).unwrap();
        let Outputs::I8(codes) = &s.outputs else {
            panic!("int8 model, f32 outputs");
        };
        let inq = m.input_quant().unwrap();
        let need = myelin_core::model::int8_scratch_len(&m);
        let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
        for (k, img) in pixels.chunks(4).enumerate() {
            let x: Vec<i8> = img
                .iter()
                .map(|&p| inq.quantize(f32::from(p) / 255.0))
                .collect();
            let y = m.infer_int8(&x, &mut act, &mut cell).unwrap();
            assert_eq!(&codes[2 * k..2 * k + 2], y);
        }
        let src = rust_source(&m, "tiny-int8", Some(&s)).unwrap();
        assert!(src.contains("pub static OUTPUTS: [[i8; 2]; COUNT] = "));
    }
}

/// The bytes of the generated `FILE` literal.
fn file_literal(src: &str) -> Vec<u8> {
    let start = src.find("pub static FILE").unwrap();
    let body = &src[start + src[start..].find("Aligned([").unwrap() + 9..];
    let body = &body[..body.find(']').unwrap()];
    body.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| u8::from_str_radix(t.trim_start_matches("0x"), 16).unwrap())
        .collect()
}

#[test]
fn a_graph_is_emitted_as_its_model_file() {
    let w = [0.5f32, -1.0, 0.25, 2.0];
    let b = [0.1f32, -0.1];
    let t = [
        TensorDesc {
            dims: &[2, 2],
            data: TensorData::F32(&w),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&b),
        },
    ];
    let d = dense(2, 2, Activation::Relu, &t);
    let join = LayerDesc {
        inputs: &[0, 1],
        kind: LayerKind::Add,
        activation: Activation::Identity,
        in_shape: [1, 1, 2],
        out_shape: [1, 1, 2],
        params: [0; PARAMS],
        tensors: &[],
    };
    let bytes = file([1, 1, 2], &[d, join]);
    let m = Model::parse(&bytes).unwrap();
    let src = rust_source(&m, "skip", None).unwrap();
    assert_eq!(file_literal(&src), bytes);
    assert!(src.contains("pub const INPUT: usize = 2;"), "{src}");
    assert!(src.contains("pub const OUTPUT: usize = 2;"));
    assert!(src.contains(&format!(
        "pub const SCRATCH: usize = {};",
        myelin_core::model::scratch_len(&m)
    )));
    assert!(src.contains("model()?.infer(x, &mut scratch.0)?"));
    // A chain keeps the typed form.
    let chain = mlp();
    let src = rust_source(&Model::parse(&chain).unwrap(), "mlp", None).unwrap();
    assert!(!src.contains("pub static FILE"));
}

mod planned {
    use super::super::planned::{Op, run_steps, rust_source_planned, steps};
    use myelin_core::model::Model;

    /// A committed firmware model file, 16-byte aligned.
    fn committed(name: &str) -> (Vec<u8>, usize) {
        let path = format!(
            "{}/../firmware/models/data/{name}.myl",
            env!("CARGO_MANIFEST_DIR")
        );
        super::super::aligned(&std::fs::read(&path).unwrap())
    }

    /// Input codes: all -128, all 127, then pseudo-random ones.
    fn inputs(len: usize, n: usize) -> Vec<Vec<i8>> {
        let mut state = 0x2545_f491u32;
        let mut v = vec![vec![-128i8; len], vec![127i8; len]];
        for _ in 2..n {
            v.push(
                (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        state as i8
                    })
                    .collect(),
            );
        }
        v
    }

    /// The typed steps of `name` give `Model::infer_int8`'s codes; returns
    /// the steps' kernels for the caller to check what was covered.
    fn steps_equal_the_file(name: &str, samples: usize) -> Vec<Op> {
        let (buf, at) = committed(name);
        let m = Model::parse(&buf[at..]).unwrap();
        let st = steps(&m).unwrap();
        let arena = m.planned_arena().unwrap();
        let need = myelin_core::model::int8_scratch_len(&m);
        let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
        let mut distinct = std::collections::BTreeSet::new();
        for (i, x) in inputs(m.input_len(), samples).iter().enumerate() {
            let want = m.infer_int8(x, &mut act, &mut cell).unwrap().to_vec();
            let got = run_steps(&st, arena, x, m.output_len()).unwrap();
            assert_eq!(got, want, "{name}: sample {i}");
            distinct.insert(want);
        }
        assert!(distinct.len() > 1, "{name}: every sample gave one output");
        st.iter().map(|s| s.op).collect()
    }

    #[test]
    fn kws_steps_equal_the_model_file() {
        let ops = steps_equal_the_file("mlperf-kws", 6);
        assert!(ops.iter().any(|o| matches!(
            o,
            Op::Conv {
                depthwise: true,
                ..
            }
        )));
        assert!(ops.iter().any(|o| matches!(
            o,
            Op::Conv { depthwise: false, shape, .. } if shape.stride == [2, 2] && shape.kernel == [10, 4]
        )));
        assert!(ops.iter().any(|o| matches!(o, Op::Softmax(_))));
        assert!(ops.iter().any(|o| matches!(o, Op::Alias)));
    }

    #[test]
    fn resnet_steps_equal_the_model_file() {
        let ops = steps_equal_the_file("mlperf-resnet", 3);
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::Add(_))).count(), 3);
    }

    #[test]
    fn ad01_steps_equal_the_model_file() {
        let ops = steps_equal_the_file("mlperf-ad01", 4);
        assert!(
            ops.iter()
                .all(|o| matches!(o, Op::Dense { .. } | Op::Alias | Op::Copy))
        );
    }

    /// Every integer token between `from` and the next `to`.
    fn ints(text: &str, from: &str, to: &str) -> Vec<i64> {
        let start = text.find(from).unwrap() + from.len();
        let end = start + text[start..].find(to).unwrap();
        text[start..end]
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    #[test]
    fn kws_source_calls_each_nodes_kernel() {
        let (buf, at) = committed("mlperf-kws");
        let m = Model::parse(&buf[at..]).unwrap();
        let src = rust_source_planned(&m, "kws", None).unwrap();
        for want in [
            "pub const ARENA: usize = 16000;",
            "pub l1: Conv8<64, 1, 10, 4, 64>,",
            "pub l2: Conv8<64, 1, 3, 3, 64>,",
            "pub l10: Dense8<64, 12, 12>,",
            "kernel: [10, 4], stride: [2, 2], padding: [4, 5, 1, 1]",
            "depthwise::depthwise_conv2d(",
            "int8::dense_single_rounding(&self.l10.view(), input::<8000, 64, 0, N>(lo, hi), h)?;",
            "softmax::softmax(&SoftmaxQ {",
        ] {
            assert!(src.contains(want), "missing `{want}`");
        }
        for absent in ["Model::parse", "pub static FILE", "infer_int8("] {
            assert!(!src.contains(absent), "`{absent}` in the typed form");
        }
        // The first convolution's weights, as emitted, are the file's.
        let l = m.layer(0).unwrap();
        let w: Vec<i64> = l
            .tensor(0)
            .unwrap()
            .as_i8()
            .unwrap()
            .iter()
            .map(|&v| v.into())
            .collect();
        assert_eq!(ints(&src, "    l1: Conv8 {", "bias:"), w);
    }

    #[test]
    fn the_typed_graph_form_needs_a_memory_plan() {
        let (buf, at) = committed("mnist-cnn-int8");
        let m = Model::parse(&buf[at..]).unwrap();
        let e = rust_source_planned(&m, "cnn", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("memory plan"), "{e}");
    }

    #[test]
    fn the_typed_graph_form_refuses_in_place_plans() {
        let (buf, at) = committed("mlperf-kws-small");
        let m = Model::parse(&buf[at..]).unwrap();
        let e = rust_source_planned(&m, "kws", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("layer 2 (") && e.contains("over its input"),
            "{e}"
        );
    }
}
