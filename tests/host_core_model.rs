//! A model trained and saved by the host, parsed by the core without copying,
//! gives the same outputs as the host's in-memory network.

use myelin::core::model::{Activation, Model, scratch_len};
use myelin::core::train::Rng;
use myelin::host::checkpoint::write_atomic;
use myelin::host::data::Dataset;
use myelin::host::net::{Hyper, LayerSpec, Network, OptimizerKind, Schedule};
use myelin::host::train::{Options, Trainer, evaluate, predict};

/// `n` samples of `h x w` images: class `c` lights a bar at row `2c`, plus noise.
fn bars(n: usize, h: usize, w: usize, classes: usize, seed: u64) -> Dataset {
    let mut r = Rng::new(seed);
    let mut inputs = Vec::with_capacity(n * h * w);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        for y in 0..h {
            for _ in 0..w {
                let on = if y == 2 * c || y == 2 * c + 1 {
                    0.8
                } else {
                    0.0
                };
                inputs.push(on + 0.2 * r.uniform());
            }
        }
        labels.push(c as u8);
    }
    Dataset {
        sample_dims: vec![h, w],
        inputs,
        labels,
    }
}

/// The bytes at a 4-byte aligned start, so the core can view f32 tensors in place.
fn aligned_copy(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut buf = Vec::with_capacity(bytes.len() + 4);
    let off = (4 - buf.as_ptr() as usize % 4) % 4;
    buf.resize(off, 0);
    buf.extend_from_slice(bytes);
    (buf, off)
}

fn train_save_and_compare(specs: &[LayerSpec], name: &str) {
    let (h, w) = (8, 6);
    let train = bars(240, h, w, 4, 1);
    let test = bars(64, h, w, 4, 2);
    let mut net = Network::from_specs([1, h, w], specs).unwrap();
    net.init(&mut Rng::new(3));
    let hyper = Hyper {
        epochs: 3,
        batch: 16,
        lr: 0.01,
        optimizer: OptimizerKind::ADAM,
        schedule: Schedule::Constant,
        weight_decay: 0.0,
        patience: 0,
        validation: 0,
        clip_grad_norm: 0.0,
        augment_shift: 0,
    };
    let mut trainer = Trainer::new(net, name, hyper, 5, 2);
    let opts = Options {
        checkpoint: None,
        progress: false,
    };
    trainer
        .run(&train, &Dataset::empty(&train.sample_dims), &opts)
        .unwrap();
    let (_, acc) = evaluate(&trainer.net, &test, 2);
    assert!(acc > 0.9, "{name}: the network did not learn ({acc})");

    let dir = std::env::temp_dir().join(format!("myelin-hc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.myl");
    write_atomic(&path, &trainer.net.encode().unwrap()).unwrap();
    let (buf, off) = aligned_copy(&std::fs::read(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    let model = Model::parse(&buf[off..]).unwrap();
    assert_eq!(model.layer_count(), trainer.net.layers.len());
    assert_eq!(model.param_count(), trainer.net.param_count());
    let host = predict(&trainer.net, &test);
    let classes = trainer.net.classes();
    let mut scratch = vec![0.0; scratch_len(&model)];
    for i in 0..test.len() {
        let core = model.infer(test.sample(i), &mut scratch).unwrap();
        let want = &host[i * classes..(i + 1) * classes];
        for (k, (c, h)) in core.iter().zip(want).enumerate() {
            // Batched gemm (host) and gemv (core) sum in different orders.
            assert!(
                (c - h).abs() <= 1e-4 * (1.0 + h.abs()),
                "{name}: sample {i} output {k}: core {c}, host {h}"
            );
        }
        assert_eq!(
            myelin::core::train::argmax(core),
            myelin::core::train::argmax(want)
        );
    }
}

#[test]
fn mlp_host_and_core_agree() {
    train_save_and_compare(
        &[
            LayerSpec::Dense {
                units: 32,
                activation: Activation::Relu,
            },
            LayerSpec::Dense {
                units: 16,
                activation: Activation::Sigmoid,
            },
            LayerSpec::Dense {
                units: 4,
                activation: Activation::Identity,
            },
        ],
        "mlp",
    );
}

#[test]
fn cnn_host_and_core_agree() {
    train_save_and_compare(
        &[
            LayerSpec::Conv2d {
                filters: 4,
                kernel: 3,
                stride: 1,
                padding: 1,
                activation: Activation::Relu,
            },
            LayerSpec::MaxPool2d { size: 2, stride: 2 },
            LayerSpec::Conv2d {
                filters: 6,
                kernel: 2,
                stride: 1,
                padding: 0,
                activation: Activation::Tanh,
            },
            LayerSpec::Dense {
                units: 4,
                activation: Activation::Identity,
            },
        ],
        "cnn",
    );
}

#[test]
fn lstm_host_and_core_agree() {
    train_save_and_compare(
        &[
            LayerSpec::Lstm { hidden: 12 },
            LayerSpec::Dense {
                units: 4,
                activation: Activation::Identity,
            },
        ],
        "lstm",
    );
}
