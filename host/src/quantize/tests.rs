use super::*;
use crate::engine::Workspace;
use crate::net::LayerSpec;
use myelin_core::train::Rng;
use myelin_core::train::argmax;

fn random_set(n: usize, dims: &[usize], seed: u64) -> Dataset {
    let mut r = Rng::new(seed);
    let len: usize = dims.iter().product();
    Dataset {
        sample_dims: dims.to_vec(),
        inputs: (0..n * len).map(|_| r.uniform()).collect(),
        labels: (0..n).map(|i| (i % 4) as u8).collect(),
    }
}

fn net(specs: &[LayerSpec], input: Shape) -> Network {
    let mut n = Network::from_specs(input, specs).unwrap();
    n.init(&mut Rng::new(7));
    n
}

#[test]
fn calibration_methods_parse() {
    assert_eq!(parse_calibration("minmax"), Ok(Calibration::MinMax));
    assert_eq!(
        parse_calibration("percentile"),
        Ok(Calibration::Percentile(99.99))
    );
    assert_eq!(
        parse_calibration("percentile:99.9"),
        Ok(Calibration::Percentile(99.9))
    );
    assert!(parse_calibration("percentile:120").is_err());
    assert!(parse_calibration("percentile:x").is_err());
    assert!(parse_calibration("kl").is_err());
}

/// Every layer kind the int8 format has: conv, pooling, dense with a
/// sigmoid (split into dense + activation layer), dense logits.
#[test]
fn int8_file_and_in_memory_network_agree_bit_for_bit() {
    let specs = [
        LayerSpec::Conv2d {
            filters: 3,
            kernel: 3,
            stride: 1,
            padding: 1,
            activation: Activation::Relu,
        },
        LayerSpec::MaxPool2d { size: 2, stride: 2 },
        LayerSpec::Dense {
            units: 12,
            activation: Activation::Sigmoid,
        },
        LayerSpec::Dense {
            units: 4,
            activation: Activation::Identity,
        },
    ];
    let n = net(&specs, [1, 6, 6]);
    let data = random_set(64, &[6, 6], 1);
    let q = quantize_int8(&n, &data, Calibration::MinMax).unwrap();
    assert_eq!(q.layers.len(), 5);
    assert_eq!(q.layers[3].kind, LayerKind::Activation);
    assert_eq!(q.input_quant(), MNIST_INPUT);
    let file = AlignedBytes::new(&q.encode().unwrap());
    let m = Model::parse(file.bytes()).unwrap();
    let need = model::int8_scratch_len(&m);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let mut x = vec![0i8; 36];
    let mut agree = 0;
    let mut out = vec![0f32; 4];
    let mut float = Workspace::new(&n, 1);
    for i in 0..data.len() {
        MNIST_INPUT.quantize_slice(data.sample(i), &mut x);
        let host = q.forward(&x).unwrap();
        let core = m.infer_int8(&x, &mut act, &mut cell).unwrap();
        assert_eq!(host, core, "sample {i}");
        q.output_quant().dequantize_slice(core, &mut out);
        let k = float.gather(&data, &[i as u32]);
        let f = float.forward(&n, k);
        agree += usize::from(argmax(f) == argmax_i8(core));
    }
    assert!(agree >= 56, "int8 and f32 agree on {agree} of 64");
}

#[test]
fn lstm_quantizes_and_matches() {
    let specs = [
        LayerSpec::Lstm { hidden: 6 },
        LayerSpec::Dense {
            units: 4,
            activation: Activation::Identity,
        },
    ];
    let n = net(&specs, [1, 5, 3]);
    let data = random_set(32, &[5, 3], 2);
    let q = quantize_int8(&n, &data, Calibration::Percentile(99.9)).unwrap();
    assert_eq!(q.layers[0].quant.output, LSTM_HIDDEN);
    let file = AlignedBytes::new(&q.encode().unwrap());
    let m = Model::parse(file.bytes()).unwrap();
    let need = model::int8_scratch_len(&m);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let mut x = vec![0i8; 15];
    for i in 0..data.len() {
        MNIST_INPUT.quantize_slice(data.sample(i), &mut x);
        assert_eq!(
            q.forward(&x).unwrap(),
            m.infer_int8(&x, &mut act, &mut cell).unwrap()
        );
    }
}

#[test]
fn f16_model_widens_to_the_rounded_weights() {
    let specs = [
        LayerSpec::Dense {
            units: 5,
            activation: Activation::Relu,
        },
        LayerSpec::Dense {
            units: 3,
            activation: Activation::Identity,
        },
    ];
    let n = net(&specs, [1, 1, 7]);
    let bytes = encode_f16(&n).unwrap();
    let f = AlignedBytes::new(&bytes);
    let m = Model::parse(f.bytes()).unwrap();
    assert_eq!(m.layer(0).unwrap().tensor(0).unwrap().dtype, DType::F16);
    assert_eq!(m.layer(0).unwrap().tensor(1).unwrap().dtype, DType::F32);
    let back = float_network(&m).unwrap();
    for (a, b) in n.layers.iter().zip(&back.layers) {
        for (ta, tb) in a.tensors.iter().zip(&b.tensors) {
            for (x, y) in ta.data.iter().zip(&tb.data) {
                assert!((x - y).abs() <= x.abs() * 1e-3 + 1e-7, "{x} vs {y}");
            }
        }
    }
    // The core computes the same network in place from the f16 file.
    let mut scratch = vec![0f32; model::scratch_len(&m)];
    let x = [0.1f32, 0.5, -0.3, 0.9, 0.0, 0.2, 0.7];
    let core = m.infer(&x, &mut scratch).unwrap().to_vec();
    let mut ws = Workspace::new(&back, 1);
    ws.x[..7].copy_from_slice(&x);
    let host = ws.forward(&back, 1);
    for (c, h) in core.iter().zip(host) {
        assert!((c - h).abs() <= 1e-5 * (1.0 + h.abs()), "{c} vs {h}");
    }
}

#[test]
fn float_loader_refuses_int8() {
    let specs = [LayerSpec::Dense {
        units: 2,
        activation: Activation::Identity,
    }];
    let n = net(&specs, [1, 1, 3]);
    let q = quantize_int8(&n, &random_set(8, &[3], 3), Calibration::MinMax).unwrap();
    let f = AlignedBytes::new(&q.encode().unwrap());
    let m = Model::parse(f.bytes()).unwrap();
    let e = float_network(&m).unwrap_err().to_string();
    assert!(e.contains("int8"), "{e}");
}

#[test]
fn f16_lstm_runs_in_the_core() {
    let specs = [
        LayerSpec::Lstm { hidden: 5 },
        LayerSpec::Dense {
            units: 3,
            activation: Activation::Identity,
        },
    ];
    let n = net(&specs, [1, 4, 6]);
    let f = AlignedBytes::new(&encode_f16(&n).unwrap());
    let m = Model::parse(f.bytes()).unwrap();
    let back = float_network(&m).unwrap();
    let data = random_set(8, &[4, 6], 4);
    let mut scratch = vec![0f32; model::scratch_len(&m)];
    let mut ws = Workspace::new(&back, 1);
    for i in 0..data.len() {
        let core = m.infer(data.sample(i), &mut scratch).unwrap().to_vec();
        let k = ws.gather(&data, &[i as u32]);
        let host = ws.forward(&back, k);
        for (c, h) in core.iter().zip(host) {
            assert!((c - h).abs() <= 1e-5 * (1.0 + h.abs()), "{c} vs {h}");
        }
    }
}

/// A residual graph with batch norms (folded), strided convolutions, a 1x1
/// projection, an int8 add and global average pooling.
#[test]
fn residual_graph_quantizes_and_file_agrees_bit_for_bit() {
    use crate::net::{NodeOp, NodeSpec};
    let nodes = [
        NodeOp::Layer(LayerSpec::Conv2d {
            filters: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            activation: Activation::Relu,
        }),
        NodeOp::Residual {
            filters: 4,
            kernel: 3,
            stride: 1,
            batch_norm: true,
        },
        NodeOp::Residual {
            filters: 8,
            kernel: 3,
            stride: 2,
            batch_norm: true,
        },
        NodeOp::Layer(LayerSpec::GlobalAvgPool),
        NodeOp::Layer(LayerSpec::Dense {
            units: 4,
            activation: Activation::Identity,
        }),
    ]
    .map(|op| NodeSpec {
        name: None,
        inputs: vec![],
        op,
        dropout: 0.0,
    });
    let mut n = Network::from_nodes([1, 8, 8], &nodes).unwrap();
    n.init(&mut Rng::new(9));
    let data = random_set(64, &[8, 8], 2);
    let q = quantize_int8(&n, &data, Calibration::MinMax).unwrap();
    assert!(q.layers.iter().all(|l| l.kind != LayerKind::BatchNorm));
    assert_eq!(
        q.layers.iter().filter(|l| l.kind == LayerKind::Add).count(),
        2
    );
    let version = file_agrees_with_host(&q, &n, &data);
    assert_eq!(version, 3);
}

#[test]
fn ds_cnn_graph_quantizes_and_file_agrees_bit_for_bit() {
    use crate::net::{NodeOp, NodeSpec};
    use myelin_core::kernels::Padding;
    // The DS-CNN shape: a 10x4 stride-2 SAME stem (uneven padding on a
    // 15x12 input: 4/5 rows, 1/1 columns), batch norm, depthwise-separable
    // blocks, global pooling, classifier.
    let nodes = [
        NodeOp::Layer(LayerSpec::Conv {
            filters: 6,
            kernel: [10, 4],
            stride: [2, 2],
            padding: Padding::Same,
            depthwise: false,
            activation: Activation::Identity,
        }),
        NodeOp::Layer(LayerSpec::BatchNorm {
            eps: 1e-3,
            activation: Activation::Relu,
        }),
        NodeOp::Separable {
            filters: 6,
            kernel: 3,
            stride: 1,
            batch_norm: true,
        },
        NodeOp::Separable {
            filters: 8,
            kernel: 3,
            stride: 2,
            batch_norm: true,
        },
        NodeOp::Layer(LayerSpec::GlobalAvgPool),
        NodeOp::Layer(LayerSpec::Dense {
            units: 4,
            activation: Activation::Identity,
        }),
    ]
    .map(|op| NodeSpec {
        name: None,
        inputs: vec![],
        op,
        dropout: 0.0,
    });
    let mut n = Network::from_nodes([1, 15, 12], &nodes).unwrap();
    n.init(&mut Rng::new(11));
    let data = random_set(64, &[15, 12], 3);
    let q = quantize_int8(&n, &data, Calibration::MinMax).unwrap();
    let convs: Vec<&QLayer> = q
        .layers
        .iter()
        .filter(|l| l.kind == LayerKind::Conv2d)
        .collect();
    let depthwise = convs.iter().filter(|l| l.params[gp::GROUPS] > 1).count();
    assert_eq!(depthwise, 2);
    let stem = convs[0].params;
    assert_eq!(
        stem[gp::PAD_TOP..=gp::PAD_RIGHT],
        [4, 5, 1, 1],
        "TFLite SAME for 10x4 at stride 2 on 15x12"
    );
    file_agrees_with_host(&q, &n, &data);
}

/// Encodes `q`, runs every sample of `data` through the file with the core's
/// int8 inference and through `q`'s scalar twin, asserts they agree bit for
/// bit and that the int8 class equals the float network `n`'s on at least
/// 52 of 64 samples; returns the file's version.
fn file_agrees_with_host(q: &QuantizedNet, n: &Network, data: &Dataset) -> u16 {
    let file = AlignedBytes::new(&q.encode().unwrap());
    let m = Model::parse(file.bytes()).unwrap();
    let need = model::int8_scratch_len(&m);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let mut x = vec![0i8; m.input_len()];
    let mut float = Workspace::new(n, 1);
    let mut agree = 0;
    for i in 0..data.len() {
        MNIST_INPUT.quantize_slice(data.sample(i), &mut x);
        let host = q.forward(&x).unwrap();
        let core = m.infer_int8(&x, &mut act, &mut cell).unwrap();
        assert_eq!(host, core, "sample {i}");
        let k = float.gather(data, &[i as u32]);
        agree += usize::from(argmax(float.forward(n, k)) == argmax_i8(core));
    }
    assert!(
        agree * 64 >= 52 * data.len(),
        "int8 and f32 agree on {agree} of {}",
        data.len()
    );
    m.version()
}
