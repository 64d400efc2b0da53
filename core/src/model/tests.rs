use super::*;

const W1: [f32; 12] = [
    0.5, -1.0, 0.25, 2.0, 0.0, 1.5, -0.5, 1.0, 0.75, -2.0, 0.125, 0.3,
];
const B1: [f32; 3] = [0.1, -0.2, 0.3];
const W2: [f32; 6] = [1.0, -1.0, 0.5, 0.25, 2.0, -0.75];
const B2: [f32; 2] = [0.0, 0.5];

fn mlp_layers<'t>(t1: &'t [TensorDesc<'t>], t2: &'t [TensorDesc<'t>]) -> [LayerDesc<'t>; 2] {
    [
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Dense,
            activation: Activation::Relu,
            in_shape: [1, 2, 2],
            out_shape: [1, 1, 3],
            params: [0; PARAMS],
            tensors: t1,
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Dense,
            activation: Activation::Identity,
            in_shape: [1, 1, 3],
            out_shape: [1, 1, 2],
            params: [0; PARAMS],
            tensors: t2,
        },
    ]
}

fn with_mlp<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let t1 = [
        TensorDesc {
            dims: &[3, 4],
            data: TensorData::F32(&W1),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&B1),
        },
    ];
    let t2 = [
        TensorDesc {
            dims: &[2, 3],
            data: TensorData::F32(&W2),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&B2),
        },
    ];
    let layers = mlp_layers(&t1, &t2);
    let n = encoded_len(&layers).unwrap();
    let mut buf = [0u8; 1024];
    encode([1, 2, 2], &layers, &mut buf[..n]).unwrap();
    f(&mut buf[..n])
}

fn reseal(b: &mut [u8]) {
    let body = b.len() - 4;
    let c = crc32(&b[..body]);
    b[body..].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn round_trip_views() {
    with_mlp(|b| {
        let m = Model::parse(b).unwrap();
        assert_eq!(m.layer_count(), 2);
        assert_eq!(m.tensor_count(), 4);
        assert_eq!(m.input_shape(), [1, 2, 2]);
        assert_eq!(m.output_len(), 2);
        assert_eq!(m.param_count(), 12 + 3 + 6 + 2);
        let l0 = m.layer(0).unwrap();
        assert_eq!(l0.kind, LayerKind::Dense);
        assert_eq!(l0.activation, Activation::Relu);
        let w = l0.tensor(0).unwrap();
        assert_eq!(w.shape(), &[3, 4]);
        let mut out = [0f32; 12];
        w.read_f32(&mut out).unwrap();
        assert_eq!(out, W1);
        assert_eq!(w.f32_at(11), Some(0.3));
        assert_eq!(w.f32_at(12), None);
        assert!(l0.tensor(2).is_none());
        assert!(m.layer(2).is_none());
        let b2 = m.layer(1).unwrap().tensor(1).unwrap();
        assert_eq!(b2.f32_at(1), Some(0.5));
    });
}

#[test]
fn tensor_data_is_aligned_in_the_file() {
    with_mlp(|b| {
        let m = Model::parse(b).unwrap();
        for i in 0..m.tensor_count() {
            let t = m.tensor(i).unwrap();
            let off = t.data.as_ptr() as usize - b.as_ptr() as usize;
            assert_eq!(off % DATA_ALIGN, 0);
        }
    });
}

#[test]
fn every_truncation_is_an_error() {
    with_mlp(|b| {
        for cut in 0..b.len() {
            assert!(Model::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
    });
}

#[test]
fn every_bit_flip_is_caught_by_the_checksum() {
    with_mlp(|b| {
        for i in 0..b.len() {
            for bit in 0..8 {
                b[i] ^= 1 << bit;
                assert!(Model::parse(b).is_err(), "flip byte {i} bit {bit}");
                b[i] ^= 1 << bit;
            }
        }
        assert!(Model::parse(b).is_ok());
    });
}

#[test]
fn resealed_field_corruption_never_panics() {
    // Corrupt each byte of the header and tables, fix the CRC so the
    // structural checks are reached, and parse: an error or a valid model.
    with_mlp(|b| {
        let tables = HEADER_LEN + 2 * LAYER_ENTRY_LEN_V2 + 4 * TENSOR_ENTRY_LEN;
        for i in 8..tables {
            for v in [0u8, 1, 2, 3, 5, 0x7f, 0x80, 0xff] {
                let old = b[i];
                b[i] = v;
                reseal(b);
                if let Ok(m) = Model::parse(b) {
                    // Whatever parsed must be walkable.
                    for l in m.layers() {
                        for j in 0..l.tensor_count() {
                            let t = l.tensor(j).unwrap();
                            let _ = t.f32_at(t.len() - 1);
                        }
                    }
                }
                b[i] = old;
            }
        }
        reseal(b);
        assert!(Model::parse(b).is_ok());
    });
}

#[test]
fn specific_errors() {
    with_mlp(|b| {
        let mut m = [0u8; 1024];
        let n = b.len();
        m[..n].copy_from_slice(b);
        m[0] = b'X';
        assert_eq!(Model::parse(&m[..n]).unwrap_err(), Error::BadMagic);
        m[0] = b'M';
        m[H_VERSION] = 9;
        assert_eq!(
            Model::parse(&m[..n]).unwrap_err(),
            Error::UnsupportedVersion { found: 9 }
        );
        m[H_VERSION] = 1;
        m[n - 1] ^= 1;
        assert!(matches!(
            Model::parse(&m[..n]).unwrap_err(),
            Error::Checksum { .. }
        ));
        assert!(matches!(
            Model::parse(&b[..n - 10]).unwrap_err(),
            Error::Truncated { .. }
        ));
        // Second layer claims 4 inputs while the first gives 3.
        m[..n].copy_from_slice(b);
        let o = HEADER_LEN + LAYER_ENTRY_LEN_V2 + L_IN + 8;
        m[o] = 4;
        reseal(&mut m[..n]);
        assert_eq!(
            Model::parse(&m[..n]).unwrap_err(),
            Error::LayerShape {
                layer: 1,
                expected: 3,
                found: 4
            }
        );
    });
}

#[test]
fn encode_refuses_inconsistent_layers() {
    let w = [0f32; 6];
    let bias = [0f32; 3];
    let t = [
        TensorDesc {
            dims: &[3, 2],
            data: TensorData::F32(&w),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&bias),
        },
    ];
    let layers = [LayerDesc {
        inputs: &[],
        kind: LayerKind::Dense,
        activation: Activation::Identity,
        in_shape: [1, 1, 4],
        out_shape: [1, 1, 3],
        params: [0; PARAMS],
        tensors: &t,
    }];
    let n = encoded_len(&layers).unwrap();
    let mut buf = [0u8; 1024];
    let e = encode([1, 1, 4], &layers, &mut buf[..n]).unwrap_err();
    assert!(matches!(e, Error::LayerShape { layer: 0, .. }), "{e:?}");
}

#[test]
fn conv_pool_lstm_shapes_validate() {
    let cw = [0f32; 2 * 3 * 3];
    let cb = [0f32; 2];
    let conv_t = [
        TensorDesc {
            dims: &[2, 1, 3, 3],
            data: TensorData::F32(&cw),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&cb),
        },
    ];
    let layers = [
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Conv2d,
            activation: Activation::Relu,
            in_shape: [1, 6, 6],
            out_shape: [2, 4, 4],
            params: graph::conv_params(3, 3, 1, 0),
            tensors: &conv_t,
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::MaxPool2d,
            activation: Activation::Identity,
            in_shape: [2, 4, 4],
            out_shape: [2, 2, 2],
            params: graph::pool_params(2, 2),
            tensors: &[],
        },
    ];
    let n = encoded_len(&layers).unwrap();
    let mut buf = [0u8; 1024];
    encode([1, 6, 6], &layers, &mut buf[..n]).unwrap();
    let m = Model::parse(&buf[..n]).unwrap();
    assert_eq!(m.output_len(), 8);

    let wih = [0f32; 8 * 3];
    let whh = [0f32; 8 * 2];
    let b = [0f32; 8];
    let lt = [
        TensorDesc {
            dims: &[8, 3],
            data: TensorData::F32(&wih),
        },
        TensorDesc {
            dims: &[8, 2],
            data: TensorData::F32(&whh),
        },
        TensorDesc {
            dims: &[8],
            data: TensorData::F32(&b),
        },
    ];
    let layers = [LayerDesc {
        inputs: &[],
        kind: LayerKind::Lstm,
        activation: Activation::Identity,
        in_shape: [1, 5, 3],
        out_shape: [1, 1, 2],
        params: graph::lstm_params(2),
        tensors: &lt,
    }];
    let n = encoded_len(&layers).unwrap();
    encode([1, 5, 3], &layers, &mut buf[..n]).unwrap();
    assert_eq!(Model::parse(&buf[..n]).unwrap().output_len(), 2);
}

fn reference_mlp(x: &[f32; 4]) -> [f32; 2] {
    let mut h = [0f32; 3];
    for (o, hv) in h.iter_mut().enumerate() {
        let s: f32 = (0..4).map(|i| W1[o * 4 + i] * x[i]).sum::<f32>() + B1[o];
        *hv = s.max(0.0);
    }
    let mut y = [0f32; 2];
    for (o, yv) in y.iter_mut().enumerate() {
        *yv = (0..3).map(|i| W2[o * 3 + i] * h[i]).sum::<f32>() + B2[o];
    }
    y
}

#[test]
fn infer_matches_reference_aligned_or_not() {
    with_mlp(|b| {
        let x = [0.5f32, -1.0, 2.0, 0.25];
        let want = reference_mlp(&x);
        // Four consecutive start offsets: exactly one is 4-byte aligned, so
        // both the in-place and the row-at-a-time dense paths run.
        let n = b.len();
        let mut buf = [0u8; 1040];
        for shift in 0..4 {
            buf[shift..shift + n].copy_from_slice(b);
            let m = Model::parse(&buf[shift..shift + n]).unwrap();
            let mut scratch = [0f32; 64];
            assert!(scratch_len(&m) <= 64);
            let y = m.infer(&x, &mut scratch).unwrap();
            for (g, w) in y.iter().zip(want) {
                assert!((g - w).abs() < 1e-5, "shift {shift}: {g} vs {w}");
            }
        }
        let m = Model::parse(b).unwrap();
        let mut small = [0f32; 4];
        assert!(matches!(
            m.infer(&x, &mut small),
            Err(Error::ShapeMismatch { .. })
        ));
        let mut scratch = [0f32; 64];
        assert!(m.infer(&x[..3], &mut scratch).is_err());
    });
}

/// Writes a version 1 copy of a version 2 float file into `out` (64-byte
/// layer entries, no arithmetic field, offsets moved); returns its length.
fn to_v1(v2: &[u8], out: &mut [u8]) -> usize {
    let m = Model::parse(v2).unwrap();
    assert_eq!(m.arithmetic(), Arithmetic::Float);
    let (layers, tensors) = (m.layer_count(), m.tensor_count());
    let shrink = (LAYER_ENTRY_LEN_V2 - LAYER_ENTRY_LEN_V1) * layers;
    let n = v2.len() - shrink;
    out[..HEADER_LEN].copy_from_slice(&v2[..HEADER_LEN]);
    for i in 0..layers {
        let (o, o1) = (
            HEADER_LEN + i * LAYER_ENTRY_LEN_V2,
            HEADER_LEN + i * LAYER_ENTRY_LEN_V1,
        );
        out[o1..o1 + LAYER_ENTRY_LEN_V1].copy_from_slice(&v2[o..o + LAYER_ENTRY_LEN_V1]);
    }
    out[HEADER_LEN + layers * LAYER_ENTRY_LEN_V1..n]
        .copy_from_slice(&v2[HEADER_LEN + layers * LAYER_ENTRY_LEN_V2..]);
    out[H_VERSION..H_VERSION + 2].copy_from_slice(&1u16.to_le_bytes());
    out[H_FILE_LEN..H_FILE_LEN + 4].copy_from_slice(&(n as u32).to_le_bytes());
    for t in 0..tensors {
        let o = HEADER_LEN + layers * LAYER_ENTRY_LEN_V1 + t * TENSOR_ENTRY_LEN + T_OFFSET;
        let off = u32::from_le_bytes(out[o..o + 4].try_into().unwrap()) as usize - shrink;
        out[o..o + 4].copy_from_slice(&(off as u32).to_le_bytes());
    }
    reseal(&mut out[..n]);
    n
}

#[test]
fn version_1_files_still_load_and_infer() {
    with_mlp(|b| {
        let mut v1 = [0u8; 1024];
        let n = to_v1(b, &mut v1);
        let v1 = &mut v1[..n];
        let m = Model::parse(v1).unwrap();
        assert_eq!(m.version(), 1);
        assert_eq!(m.arithmetic(), Arithmetic::Float);
        assert!(m.layer(0).unwrap().quant.is_none());
        let x = [0.5f32, -1.0, 2.0, 0.25];
        let mut s = [0f32; 64];
        let y = m.infer(&x, &mut s).unwrap();
        for (g, w) in y.iter().zip(reference_mlp(&x)) {
            assert!((g - w).abs() < 1e-5);
        }
        // Version 1 has no requant dtype and no arithmetic field.
        v1[H_ARITH] = 1;
        reseal(v1);
        assert!(matches!(
            Model::parse(v1),
            Err(Error::InvalidField {
                offset: H_ARITH,
                ..
            })
        ));
    });
}

const QW1: [i8; 12] = [64, -127, 32, 127, 0, 95, -42, 85, 64, -127, 8, 19];
const QB1: [i32; 3] = [10, -20, 30];
const QW2: [i8; 6] = [127, -127, 64, 16, 127, -48];
const QB2: [i32; 2] = [0, 50];
const S3: [f32; 3] = [0.01, 0.02, 0.03];
const S2: [f32; 2] = [0.01, 0.02];
const M3: [Requant; 3] = [
    Requant {
        multiplier: 1 << 30,
        shift: -6,
    },
    Requant {
        multiplier: 1_500_000_000,
        shift: -7,
    },
    Requant {
        multiplier: 1_200_000_000,
        shift: -5,
    },
];
const M2: [Requant; 2] = [
    Requant {
        multiplier: 1 << 30,
        shift: -4,
    },
    Requant {
        multiplier: 2_000_000_000,
        shift: -5,
    },
];
const QIN: ActQuant = ActQuant {
    scale: 1.0 / 255.0,
    zero_point: -128,
};
const QHID: ActQuant = ActQuant {
    scale: 0.05,
    zero_point: -128,
};
const QOUT: ActQuant = ActQuant {
    scale: 0.1,
    zero_point: 3,
};

/// A 4-3-2 int8 MLP with a fused ReLU, then a sigmoid activation layer.
fn with_int8<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let t1 = [
        TensorDesc {
            dims: &[3, 4],
            data: TensorData::I8 {
                values: &QW1,
                scales: &S3,
            },
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::I32 {
                values: &QB1,
                scales: &S3,
            },
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::Requant(&M3),
        },
    ];
    let t2 = [
        TensorDesc {
            dims: &[2, 3],
            data: TensorData::I8 {
                values: &QW2,
                scales: &S2,
            },
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::I32 {
                values: &QB2,
                scales: &[0.001],
            },
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::Requant(&M2),
        },
    ];
    let to_q12 = [Requant {
        multiplier: 1_677_721_600,
        shift: 9,
    }];
    let t3 = [TensorDesc {
        dims: &[1],
        data: TensorData::Requant(&to_q12),
    }];
    let [l1, l2] = mlp_layers(&t1, &t2);
    let l3 = LayerDesc {
        inputs: &[],
        kind: LayerKind::Activation,
        activation: Activation::Sigmoid,
        in_shape: [1, 1, 2],
        out_shape: [1, 1, 2],
        params: [0; PARAMS],
        tensors: &t3,
    };
    let layers = [l1, l2, l3];
    let quant = [
        LayerQuant {
            input: QIN,
            output: QHID,
        },
        LayerQuant {
            input: QHID,
            output: QOUT,
        },
        LayerQuant {
            input: QOUT,
            output: crate::quant::params::SIGMOID_OUTPUT,
        },
    ];
    let n = encoded_len(&layers).unwrap();
    let mut buf = Aligned([0u8; 1024]);
    encode_int8([1, 2, 2], &layers, &quant, &mut buf.0[..n]).unwrap();
    f(&mut buf.0[..n])
}

/// Bytes at a 16-byte aligned address, as firmware embeds a model file.
#[repr(C, align(16))]
struct Aligned([u8; 1024]);

fn int8_reference(x: &[i8]) -> [i8; 2] {
    use crate::quant::int8::{DenseQ, dense_scalar, sigmoid};
    let mut h = [0i8; 3];
    let d1 = DenseQ {
        weights: &QW1,
        bias: &QB1,
        requant: &M3,
        input_zero_point: QIN.zero_point,
        output: QHID.relu(),
    };
    dense_scalar(&d1, x, &mut h).unwrap();
    let d2 = DenseQ {
        weights: &QW2,
        bias: &QB2,
        requant: &M2,
        input_zero_point: QHID.zero_point,
        output: QOUT.linear(),
    };
    let mut y = [0i8; 2];
    dense_scalar(&d2, &h, &mut y).unwrap();
    let mut s = [0i8; 2];
    let m = Requant {
        multiplier: 1_677_721_600,
        shift: 9,
    };
    sigmoid(&y, QOUT.zero_point, m, &mut s).unwrap();
    s
}

#[test]
fn planned_int8_inference_equals_unplanned() {
    with_int8(|b| {
        let xs = [[-128i8, 0, 5, 127], [3, -7, 100, -100], [0, 0, 0, 0]];
        let mut unplanned = [[0i8; 2]; 3];
        for (x, y) in xs.iter().zip(&mut unplanned) {
            let m = Model::parse(b).unwrap();
            assert_eq!(m.planned_arena(), None);
            let (mut act, mut cell) = ([0i8; 64], [0i16; 1]);
            y.copy_from_slice(m.infer_int8(x, &mut act, &mut cell).unwrap());
            assert_eq!(*y, int8_reference(x));
        }
        let mut work = [0usize; 8];
        let arena = plan::write_plan(b, &mut work).unwrap();
        let m = Model::parse(b).unwrap();
        // Input 4 and hidden 3 live together, then hidden 3 and output 2.
        assert_eq!((m.planned_arena(), plan::lower_bound(&m)), (Some(arena), 7));
        assert_eq!(arena, 7);
        assert_eq!(int8_scratch_len(&m).act, arena);
        for (x, want) in xs.iter().zip(&unplanned) {
            let (mut act, mut cell) = ([0x55i8; 7], [0i16; 1]);
            assert_eq!(m.infer_int8(x, &mut act, &mut cell).unwrap(), want);
        }
        plan::clear_plan(b).unwrap();
        assert_eq!(Model::parse(b).unwrap().planned_arena(), None);
    });
}

#[test]
fn damaged_memory_plans_are_refused() {
    with_int8(|b| {
        let mut work = [0usize; 8];
        plan::write_plan(b, &mut work).unwrap();
        let m = Model::parse(b).unwrap();
        let hidden = m.value_offset(1).unwrap();
        let input = m.value_offset(0).unwrap();
        // The hidden layer over the input it reads: refused.
        let at = HEADER_LEN + L_PLAN_OUT;
        b[at..at + 4].copy_from_slice(&(input as u32).to_le_bytes());
        let body = b.len() - 4;
        let c = crc32(&b[..body]);
        b[body..].copy_from_slice(&c.to_le_bytes());
        assert!(matches!(Model::parse(b), Err(Error::InvalidField { .. })));
        // Back in place, but an arena too short for it: refused.
        b[at..at + 4].copy_from_slice(&(hidden as u32).to_le_bytes());
        let arena_at = HEADER_LEN + L_PLAN_ARENA;
        b[arena_at..arena_at + 4].copy_from_slice(&6u32.to_le_bytes());
        let c = crc32(&b[..body]);
        b[body..].copy_from_slice(&c.to_le_bytes());
        assert!(matches!(Model::parse(b), Err(Error::InvalidField { .. })));
    });
}

#[test]
fn int8_model_round_trips_and_infers() {
    with_int8(|b| {
        let m = Model::parse(b).unwrap();
        assert_eq!(m.version(), 2);
        assert_eq!(m.arithmetic(), Arithmetic::Int8);
        assert_eq!(m.input_quant(), Some(QIN));
        assert_eq!(m.output_quant(), Some(crate::quant::params::SIGMOID_OUTPUT));
        assert_eq!(m.param_count(), 12 + 3 + 6 + 2);
        let l0 = m.layer(0).unwrap();
        assert_eq!(l0.tensor(0).unwrap().as_i8(), Some(&QW1[..]));
        assert_eq!(l0.tensor(1).unwrap().as_i32(), Some(&QB1[..]));
        assert_eq!(l0.tensor(2).unwrap().as_requant(), Some(&M3[..]));
        let q = l0.tensor(0).unwrap().quant.unwrap();
        assert_eq!(q.scheme, QuantScheme::PerChannel);
        assert_eq!(q.scale(2), Some(0.03));
        assert_eq!(q.zero_point(0), None);
        let bq = m.layer(1).unwrap().tensor(1).unwrap().quant.unwrap();
        assert_eq!(bq.scheme, QuantScheme::PerTensor);
        let need = int8_scratch_len(&m);
        let (mut act, mut cell) = ([0i8; 64], [0i16; 4]);
        assert!(need.act <= 64 && need.cell == 0);
        let mut seen = [false; 2];
        for k in 0..64i32 {
            let x = [
                (k * 37 % 256 - 128) as i8,
                (k * 11 % 256 - 128) as i8,
                (k * 91 % 256 - 128) as i8,
                (k * 53 % 256 - 128) as i8,
            ];
            let y = m.infer_int8(&x, &mut act, &mut cell).unwrap();
            let want = int8_reference(&x);
            assert_eq!(y, &want[..], "input {x:?}");
            seen[0] |= y[0] != y[1];
            seen[1] |= y[0] > -128 && y[0] < 127;
        }
        assert!(seen[0] && seen[1], "outputs are not trivial");
        assert!(matches!(
            m.infer(&[0.0; 4], &mut [0.0; 64]),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            m.infer_int8(&[0; 3], &mut act, &mut cell),
            Err(Error::ShapeMismatch { .. })
        ));
    });
}

#[test]
fn int8_inference_refuses_unaligned_bytes() {
    with_int8(|b| {
        let n = b.len();
        let mut buf = [0u8; 1040];
        let mut results = 0;
        for shift in 0..4 {
            buf[shift..shift + n].copy_from_slice(b);
            let m = Model::parse(&buf[shift..shift + n]).unwrap();
            let aligned = m.layer(0).unwrap().tensor(1).unwrap().as_i32().is_some();
            let mut act = [0i8; 64];
            let r = m.infer_int8(&[0; 4], &mut act, &mut []);
            if aligned {
                assert!(r.is_ok());
            } else {
                assert!(matches!(r, Err(Error::Unsupported { .. })));
                results += 1;
            }
        }
        assert_eq!(results, 3);
    });
}

#[test]
fn int8_quantization_chain_is_checked() {
    with_int8(|b| {
        let o = HEADER_LEN + LAYER_ENTRY_LEN_V2;
        // Layer 1's input zero point differs from layer 0's output.
        let old: [u8; 4] = b[o + L_IN_ZP..o + L_IN_ZP + 4].try_into().unwrap();
        b[o + L_IN_ZP..o + L_IN_ZP + 4].copy_from_slice(&5i32.to_le_bytes());
        reseal(b);
        assert!(matches!(
            Model::parse(b),
            Err(Error::InvalidField { offset, .. }) if offset == o + L_IN_SCALE
        ));
        // A zero point outside i8.
        b[o + L_IN_ZP..o + L_IN_ZP + 4].copy_from_slice(&(-129i32).to_le_bytes());
        reseal(b);
        assert!(matches!(
            Model::parse(b),
            Err(Error::InvalidField { offset, .. }) if offset == o + L_IN_ZP
        ));
        b[o + L_IN_ZP..o + L_IN_ZP + 4].copy_from_slice(&old);
        // A negative scale.
        b[o + L_OUT_SCALE + 3] |= 0x80;
        reseal(b);
        assert!(Model::parse(b).is_err());
        b[o + L_OUT_SCALE + 3] &= 0x7f;
        // The sigmoid layer must produce the fixed sigmoid output quantization.
        let s = HEADER_LEN + 2 * LAYER_ENTRY_LEN_V2 + L_OUT_ZP;
        b[s] = 0;
        reseal(b);
        assert!(Model::parse(b).is_err());
        b[s] = 0x80;
        reseal(b);
        assert!(Model::parse(b).is_ok());
    });
}

#[test]
fn int8_corruption_never_panics() {
    with_int8(|b| {
        let n = b.len();
        for cut in 0..n {
            assert!(Model::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        let tables = HEADER_LEN + 3 * LAYER_ENTRY_LEN_V2 + 7 * TENSOR_ENTRY_LEN;
        let mut valid = 0;
        for i in 8..n - 4 {
            for v in [0u8, 1, 2, 5, 0x7f, 0x80, 0xff] {
                if i >= tables && v > 2 {
                    continue;
                }
                let old = b[i];
                b[i] = v;
                reseal(b);
                if let Ok(m) = Model::parse(b) {
                    valid += 1;
                    let x = [0i8; 64];
                    let need = int8_scratch_len(&m);
                    let mut act = [0i8; 256];
                    let mut cell = [0i16; 16];
                    if need.act <= 256 && need.cell <= 16 && m.input_len() <= 64 {
                        let _ = m.infer_int8(&x[..m.input_len()], &mut act, &mut cell);
                    }
                }
                b[i] = old;
            }
        }
        reseal(b);
        assert!(valid > 0);
        assert!(Model::parse(b).is_ok());
    });
}

/// A residual graph: `d1 = W1 x + b1` (3), `d2 = W3 d1` (3), `y = relu(d1 + d2)`.
fn with_residual<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    const W3: [f32; 9] = [1.0, 0.0, -1.0, 0.5, 0.5, 0.0, 0.0, 2.0, 1.0];
    const B3: [f32; 3] = [0.0, 0.25, -0.5];
    let t1 = [
        TensorDesc {
            dims: &[3, 4],
            data: TensorData::F32(&W1),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&B1),
        },
    ];
    let t2 = [
        TensorDesc {
            dims: &[3, 3],
            data: TensorData::F32(&W3),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&B3),
        },
    ];
    let dense = |inp: Shape, out: usize, t| LayerDesc {
        kind: LayerKind::Dense,
        activation: Activation::Identity,
        in_shape: inp,
        out_shape: [1, 1, out],
        params: [0; PARAMS],
        inputs: &[],
        tensors: t,
    };
    let layers = [
        dense([1, 1, 4], 3, &t1),
        dense([1, 1, 3], 3, &t2),
        LayerDesc {
            kind: LayerKind::Add,
            activation: Activation::Relu,
            in_shape: [1, 1, 3],
            out_shape: [1, 1, 3],
            params: [0; PARAMS],
            inputs: &[1, 2],
            tensors: &[],
        },
    ];
    let n = encoded_len(&layers).unwrap();
    let mut out = vec_buf(n);
    encode([1, 1, 4], &layers, &mut out[..n]).unwrap();
    f(&mut out[..n])
}

fn vec_buf(n: usize) -> [u8; 1024] {
    assert!(n <= 1024);
    [0u8; 1024]
}

#[test]
fn graphs_with_joins_are_version_3_and_infer() {
    with_residual(|b| {
        let m = Model::parse(b).unwrap();
        assert_eq!(m.version(), 3);
        let add = m.layer(2).unwrap();
        assert_eq!(add.kind, LayerKind::Add);
        assert_eq!(add.inputs(), &[1, 2]);
        assert!(m.layer(1).unwrap().is_chained());
        let x = [1.0f32, -2.0, 0.5, 3.0];
        let mut d1 = [0f32; 3];
        for (o, v) in d1.iter_mut().enumerate() {
            *v = B1[o] + (0..4).map(|i| W1[o * 4 + i] * x[i]).sum::<f32>();
        }
        let w3 = [1.0f32, 0.0, -1.0, 0.5, 0.5, 0.0, 0.0, 2.0, 1.0];
        let b3 = [0.0f32, 0.25, -0.5];
        let want: [f32; 3] = core::array::from_fn(|o| {
            let d2 = b3[o] + (0..3).map(|i| w3[o * 3 + i] * d1[i]).sum::<f32>();
            (d1[o] + d2).max(0.0)
        });
        let mut scratch = [0f32; 64];
        assert!(scratch_len(&m) <= 64);
        let y = m.infer(&x, &mut scratch).unwrap();
        for (a, w) in y.iter().zip(want) {
            assert!((a - w).abs() < 1e-6, "{a} vs {w}");
        }
    });
}

#[test]
fn graph_errors_are_specific() {
    with_residual(|b| {
        let o = HEADER_LEN + 2 * LAYER_ENTRY_LEN;
        // The add reads itself: a cycle.
        b[o + L_INPUTS + 4..o + L_INPUTS + 8].copy_from_slice(&3u32.to_le_bytes());
        reseal(b);
        assert!(matches!(
            Model::parse(b),
            Err(Error::InvalidField { offset, what }) if offset == o + L_INPUTS + 4 && what.contains("cycle")
        ));
        // The add reads the model input (4 values) and node 2 (3 values).
        b[o + L_INPUTS..o + L_INPUTS + 4].copy_from_slice(&0u32.to_le_bytes());
        b[o + L_INPUTS + 4..o + L_INPUTS + 8].copy_from_slice(&2u32.to_le_bytes());
        reseal(b);
        assert!(Model::parse(b).is_err());
        // One input for an add.
        b[o + L_INPUTS..o + L_INPUTS + 4].copy_from_slice(&1u32.to_le_bytes());
        b[o + L_INPUT_COUNT..o + L_INPUT_COUNT + 4].copy_from_slice(&1u32.to_le_bytes());
        reseal(b);
        assert!(matches!(
            Model::parse(b),
            Err(Error::InvalidField { offset, .. }) if offset == o + L_INPUT_COUNT || offset == o + L_INPUTS
        ));
    });
}

#[test]
fn io_layout_is_stored_and_unknown_codes_refused() {
    with_mlp(|b| {
        assert_eq!(Model::parse(b).unwrap().io_layout(), IoLayout::ChannelMajor);
        set_io_layout(b, IoLayout::ChannelLast).unwrap();
        let m = Model::parse(b).unwrap();
        assert_eq!(m.io_layout(), IoLayout::ChannelLast);
        assert_eq!(m.layer_count(), 2);
        b[44..48].copy_from_slice(&2u32.to_le_bytes());
        reseal(b);
        assert!(matches!(
            Model::parse(b),
            Err(Error::InvalidField { offset: 44, .. })
        ));
    });
}

#[test]
fn int8_arena_inference_equals_typed_buffers_at_any_offset() {
    with_int8(|b| {
        let m = Model::parse(b).unwrap();
        let n = arena_len(&m).unwrap();
        assert_eq!(n, int8_scratch_len(&m).act);
        let x = [-128i8, 5, 77, 127];
        let want = int8_reference(&x);
        let mut buf = [0x55u8; 80];
        for at in 0..4 {
            let y = m.infer_int8_arena(&x, &mut buf[at..at + n]).unwrap();
            assert_eq!(y, &want[..], "arena at offset {at}");
            assert!(matches!(
                m.infer_int8_arena(&x, &mut buf[at..at + n - 1]),
                Err(Error::ShapeMismatch { expected, found }) if expected == n && found == n - 1
            ));
        }
        assert!(m.infer_arena(&[0.0; 4], &mut buf).is_err());
        assert!(m.infer_int8_arena(&x[..3], &mut buf).is_err());
    });
}

#[test]
fn float_arena_inference_equals_typed_buffers_at_any_offset() {
    with_mlp(|b| {
        let m = Model::parse(b).unwrap();
        let n = arena_len(&m).unwrap();
        assert_eq!(n, 4 * scratch_len(&m) + 3);
        let x = [0.5f32, -1.0, 2.0, 0.25];
        let mut scratch = [0f32; 64];
        let want = m.infer(&x, &mut scratch).unwrap().to_vec();
        let mut buf = [0u8; 300];
        assert!(n + 4 <= buf.len());
        for at in 0..4 {
            let y = m.infer_arena(&x, &mut buf[at..at + n]).unwrap();
            assert_eq!(y, &want[..], "arena at offset {at}");
        }
        // One byte short fails at every start address, also where the
        // padding happens not to be needed: the size does not depend on luck.
        for at in 0..4 {
            assert!(matches!(
                m.infer_arena(&x, &mut buf[at..at + n - 1]),
                Err(Error::ShapeMismatch { .. })
            ));
        }
        assert!(m.infer_int8_arena(&[0; 4], &mut buf).is_err());
    });
}

#[test]
fn float_io_flags_are_kept_by_plans_and_refused_in_float_files() {
    with_int8(|b| {
        let m = Model::parse(b).unwrap();
        assert!(!m.float_input() && !m.float_output());
        set_float_io(b, true, true).unwrap();
        let mut work = [0usize; 8];
        plan::write_plan(b, &mut work).unwrap();
        let m = Model::parse(b).unwrap();
        assert!(m.float_input() && m.float_output() && m.planned_arena().is_some());
        // TFLite's QUANTIZE: f32 division, rounding, clamping.
        let q = m.input_quant().unwrap();
        let x = [0.0, 3.0 * q.scale, -1e9, f32::INFINITY];
        let mut codes = [0i8; 4];
        m.quantize_input(&x, &mut codes).unwrap();
        let z = q.zero_point;
        assert_eq!(codes, [z, z + 3, -128, 127]);
        assert!(m.quantize_input(&x[..3], &mut codes).is_err());
        // DEQUANTIZE: scale * (code - zero point).
        let o = m.output_quant().unwrap();
        let mut y = [0f32; 2];
        m.dequantize_output(&[-128, 127], &mut y).unwrap();
        let z = i32::from(o.zero_point);
        assert_eq!(y, [o.scale * (-128 - z) as f32, o.scale * (127 - z) as f32]);
        plan::clear_plan(b).unwrap();
        let m = Model::parse(b).unwrap();
        assert!(m.float_input() && m.float_output() && m.planned_arena().is_none());
        set_float_io(b, false, true).unwrap();
        assert!(!Model::parse(b).unwrap().float_input());
        // Bit 3 is unknown.
        b[12] |= 8;
        reseal(b);
        assert!(matches!(
            Model::parse(b),
            Err(Error::InvalidField { offset: 12, .. })
        ));
    });
    with_mlp(|b| {
        assert!(set_float_io(b, true, false).is_err());
        b[12] = 2;
        reseal(b);
        assert!(matches!(
            Model::parse(b),
            Err(Error::InvalidField { offset: 12, .. })
        ));
    });
}

/// An int8 graph: a lookup node (negation) of the input, then the concat
/// of the input and the lookup's output (quantized as `lookup_out`).
fn concat_lookup(lookup_out: ActQuant, buf: &mut [u8]) -> Result<usize, Error> {
    let table: [i8; 256] = core::array::from_fn(|k| (128 - k as i32).clamp(-128, 127) as i8);
    let t = [TensorDesc {
        dims: &[256],
        data: TensorData::I8 {
            values: &table,
            scales: &[lookup_out.scale],
        },
    }];
    let layers = [
        LayerDesc {
            inputs: &[0],
            kind: LayerKind::Lookup,
            activation: Activation::Identity,
            in_shape: [1, 2, 2],
            out_shape: [1, 2, 2],
            params: [0; PARAMS],
            tensors: &t,
        },
        LayerDesc {
            inputs: &[0, 1],
            kind: LayerKind::Concat,
            activation: Activation::Identity,
            in_shape: [1, 2, 2],
            out_shape: [2, 2, 2],
            params: [0; PARAMS],
            tensors: &[],
        },
    ];
    let quant = [
        LayerQuant {
            input: QIN,
            output: lookup_out,
        },
        LayerQuant {
            input: QIN,
            output: QIN,
        },
    ];
    let n = encoded_len(&layers).unwrap();
    encode_int8([1, 2, 2], &layers, &quant, &mut buf[..n]).map(|()| n)
}

#[test]
fn int8_lookup_and_concat_infer() {
    let mut buf = Aligned([0u8; 1024]);
    let n = concat_lookup(QIN, &mut buf.0).unwrap();
    let m = Model::parse(&buf.0[..n]).unwrap();
    assert_eq!(m.version(), 3);
    let need = int8_scratch_len(&m);
    let (mut act, mut cell) = ([0i8; 64], [0i16; 1]);
    assert!(need.act <= act.len());
    let y = m
        .infer_int8(&[-128, -1, 0, 127], &mut act, &mut cell)
        .unwrap();
    assert_eq!(y, [-128, -1, 0, 127, 127, 1, 0, -127]);
    // A concat input quantized unlike the output is refused.
    assert!(matches!(
        concat_lookup(QHID, &mut buf.0),
        Err(Error::InvalidField { .. })
    ));
}
