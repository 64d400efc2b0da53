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
            kind: LayerKind::Conv2d,
            activation: Activation::Relu,
            in_shape: [1, 4, 4],
            out_shape: [2, 3, 3],
            params: [2, 2, 1, 0, 0, 0],
            tensors: &tc,
        },
        LayerDesc {
            kind: LayerKind::MaxPool2d,
            activation: Activation::Identity,
            in_shape: [2, 3, 3],
            out_shape: [2, 2, 2],
            params: [2, 1, 0, 0, 0, 0],
            tensors: &[],
        },
        LayerDesc {
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
        kind: LayerKind::Lstm,
        activation: Activation::Identity,
        in_shape: [1, 3, 2],
        out_shape: [1, 1, 1],
        params: [1, 0, 0, 0, 0, 0],
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
    use myelin_core::model::{LayerQuant, encode_int8};
    use myelin_core::quant::{ActQuant, Requant};

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

    /// Every integer token between `from` and the next `to`, in order.
    fn ints(text: &str, from: &str, to: &str) -> Vec<i64> {
        let start = text.find(from).unwrap() + from.len();
        let end = start + text[start..].find(to).unwrap();
        text[start..end]
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .filter_map(|t| t.parse().ok())
            .collect()
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
            // 18 weights + 5 biases x 4 + 5 multipliers x 8.
            "pub const WEIGHTS_BYTES: usize = 78;",
            "pub const INPUT_ZERO_POINT: i8 = -128;",
            "pub const OUTPUT_ZERO_POINT: i8 = 3;",
            "pub l1: Dense8<4, 3, 3>,",
            "pub l2: Dense8<3, 2, 2>,",
            "int8::dense(&self.l1.view(), x, h1)?;",
            "int8::dense(&self.l2.view(), h1, y)?;",
            "output: OutputQuant { zero_point: -100, min: -100, max: 127 },",
            "output: OutputQuant { zero_point: 3, min: -128, max: 127 },",
            "Requant { multiplier: 1500000000, shift: -5 }",
        ] {
            assert!(src.contains(want), "missing `{want}` in:\n{src}");
        }
        let l1: Vec<i64> = ints(&src, "    l1: Dense8 {", "requant:");
        let want: Vec<i64> = W1
            .iter()
            .map(|&v| v.into())
            .chain(B1.map(i64::from))
            .collect();
        assert_eq!(l1, want);
        let l2: Vec<i64> = ints(&src, "    l2: Dense8 {", "requant:");
        let want: Vec<i64> = W2
            .iter()
            .map(|&v| v.into())
            .chain(B2.map(i64::from))
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
