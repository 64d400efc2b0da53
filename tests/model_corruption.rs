//! Damaged model files: every truncation, and random bit flips (with the
//! checksum left alone, and re-sealed so that the structural checks are
//! reached), are refused with an error or parse to a model that is safe to
//! walk and run. A panic anywhere (including an out-of-bounds index) fails
//! the test.

use myelin::core::model::Activation;
use myelin::core::model::{Arithmetic, DType, Model, crc32, int8_scratch_len, scratch_len};
use myelin::core::quant::Calibration;
use myelin::core::train::Rng;
use myelin::host::data::Dataset;
use myelin::host::net::{LayerSpec, Network};
use myelin::host::quantize::{AlignedBytes, encode_f16, quantize_int8};

fn network(input: [usize; 3], specs: &[LayerSpec]) -> Network {
    let mut n = Network::from_specs(input, specs).unwrap();
    n.init(&mut Rng::new(5));
    n
}

fn samples(n: usize, dims: &[usize]) -> Dataset {
    let mut r = Rng::new(9);
    let len: usize = dims.iter().product();
    Dataset {
        sample_dims: dims.to_vec(),
        inputs: (0..n * len).map(|_| r.uniform()).collect(),
        labels: vec![0; n],
    }
}

/// Small models of every kind: int8 conv/pool/dense with a sigmoid layer,
/// int8 LSTM, f16 and f32.
fn models() -> Vec<(&'static str, Vec<u8>)> {
    let cnn = network(
        [1, 6, 6],
        &[
            LayerSpec::Conv2d {
                filters: 2,
                kernel: 3,
                stride: 1,
                padding: 1,
                activation: Activation::Relu,
            },
            LayerSpec::MaxPool2d { size: 2, stride: 2 },
            LayerSpec::Dense {
                units: 5,
                activation: Activation::Sigmoid,
            },
            LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            },
        ],
    );
    let lstm = network(
        [1, 4, 3],
        &[
            LayerSpec::Lstm { hidden: 3 },
            LayerSpec::Dense {
                units: 2,
                activation: Activation::Identity,
            },
        ],
    );
    let q_cnn = quantize_int8(&cnn, &samples(16, &[6, 6]), Calibration::MinMax).unwrap();
    let q_lstm = quantize_int8(&lstm, &samples(16, &[4, 3]), Calibration::MinMax).unwrap();
    vec![
        ("int8 cnn", q_cnn.encode().unwrap()),
        ("int8 lstm", q_lstm.encode().unwrap()),
        ("f16 cnn", encode_f16(&cnn).unwrap()),
        ("f32 lstm", lstm.encode().unwrap()),
    ]
}

fn reseal(b: &mut [u8]) {
    let body = b.len() - 4;
    let c = crc32(&b[..body]);
    b[body..].copy_from_slice(&c.to_le_bytes());
}

/// Reads every view a parsed model offers and runs it once.
fn walk_and_run(m: &Model<'_>) {
    for l in m.layers() {
        let _ = (l.kind.name(), l.activation.name(), l.param_count(), l.quant);
        for j in 0..l.tensor_count() {
            let t = l.tensor(j).expect("a parsed layer has its tensors");
            assert_eq!(t.len(), t.shape().iter().product::<usize>());
            let last = t.len() - 1;
            match t.dtype {
                DType::F32 => assert!(t.f32_at(last).is_some()),
                DType::F16 => assert!(t.f16_bits_at(last).is_some()),
                DType::I8 => assert_eq!(t.as_i8().map(<[i8]>::len), Some(t.len())),
                DType::I32 => assert!(t.i32_at(last).is_some()),
                DType::Requant => assert!(t.requant_at(last).is_some()),
                _ => {}
            }
            if let Some(q) = t.quant {
                for c in 0..q.channels() {
                    assert!(q.scale(c).is_some());
                }
            }
        }
    }
    const LIMIT: usize = 1 << 20;
    match m.arithmetic() {
        Arithmetic::Int8 => {
            let need = int8_scratch_len(m);
            if need.act <= LIMIT && need.cell <= LIMIT {
                let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
                let x = vec![3i8; m.input_len()];
                let _ = m.infer_int8(&x, &mut act, &mut cell);
            }
        }
        _ => {
            let need = scratch_len(m);
            if need <= LIMIT {
                let mut s = vec![0f32; need];
                let x = vec![0.5f32; m.input_len()];
                let _ = m.infer(&x, &mut s);
            }
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    for (name, bytes) in models() {
        let a = AlignedBytes::new(&bytes);
        let b = a.bytes();
        walk_and_run(&Model::parse(b).unwrap());
        for cut in 0..b.len() {
            assert!(Model::parse(&b[..cut]).is_err(), "{name}: cut at {cut}");
        }
    }
}

#[test]
fn bit_flips_are_refused_or_parse_to_valid_models() {
    let mut rng = Rng::new(17);
    for (name, bytes) in models() {
        let (mut refused, mut parsed) = (0usize, 0usize);
        for trial in 0..3000 {
            let mut b = bytes.clone();
            let flips = 1 + trial % 3;
            for _ in 0..flips {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            if b == bytes {
                continue;
            }
            // Unsealed: the CRC-32 catches every flip of up to 3 bits.
            assert!(Model::parse(&b).is_err(), "{name}: trial {trial}");
            reseal(&mut b);
            let a = AlignedBytes::new(&b);
            match Model::parse(a.bytes()) {
                Ok(m) => {
                    parsed += 1;
                    walk_and_run(&m);
                }
                Err(_) => refused += 1,
            }
        }
        // Both outcomes occur: flips in weights are valid, flips in the
        // tables mostly not.
        assert!(
            refused > 100 && parsed > 100,
            "{name}: {refused} refused, {parsed} parsed"
        );
    }
}
