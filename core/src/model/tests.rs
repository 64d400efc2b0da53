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
            kind: LayerKind::Dense,
            activation: Activation::Relu,
            in_shape: [1, 2, 2],
            out_shape: [1, 1, 3],
            params: [0; PARAMS],
            tensors: t1,
        },
        LayerDesc {
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
    let mut buf = [0u8; 512];
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
        let tables = HEADER_LEN + 2 * LAYER_ENTRY_LEN + 4 * TENSOR_ENTRY_LEN;
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
        let mut m = [0u8; 512];
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
        let o = HEADER_LEN + LAYER_ENTRY_LEN + L_IN + 8;
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
        kind: LayerKind::Dense,
        activation: Activation::Identity,
        in_shape: [1, 1, 4],
        out_shape: [1, 1, 3],
        params: [0; PARAMS],
        tensors: &t,
    }];
    let n = encoded_len(&layers).unwrap();
    let mut buf = [0u8; 512];
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
            kind: LayerKind::Conv2d,
            activation: Activation::Relu,
            in_shape: [1, 6, 6],
            out_shape: [2, 4, 4],
            params: [3, 3, 1, 0, 0, 0],
            tensors: &conv_t,
        },
        LayerDesc {
            kind: LayerKind::MaxPool2d,
            activation: Activation::Identity,
            in_shape: [2, 4, 4],
            out_shape: [2, 2, 2],
            params: [2, 2, 0, 0, 0, 0],
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
        kind: LayerKind::Lstm,
        activation: Activation::Identity,
        in_shape: [1, 5, 3],
        out_shape: [1, 1, 2],
        params: [2, 0, 0, 0, 0, 0],
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
        let mut buf = [0u8; 520];
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
