//! Writes the committed seed corpora under `fuzz/seeds/<target>/`:
//! small valid inputs of every kind each parser accepts, so fuzzing starts
//! from deep inside the formats (model files in the current format version;
//! the `v1-*` files there were written by the version 1 encoder and stay as
//! seeds of the older layout). Run after a format change:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.

use std::io::Write;
use std::path::{Path, PathBuf};

use myelin_core::model::{
    self, Activation, LayerDesc, LayerKind, LayerQuant, Shape, TensorData, TensorDesc,
};
use myelin_core::quant::{ActQuant, Requant};
use myelin_core::train::Rng;
use myelin_host::checkpoint::{Checkpoint, EpochStats, Meta};
use myelin_host::idx;
use myelin_host::net::{self, Network, recipe_from_toml_str};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create seed directory");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn encode_layers(input: Shape, layers: &[LayerDesc<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; model::encoded_len(layers).expect("small model")];
    model::encode(input, layers, &mut out).expect("valid seed model");
    out
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.37).sin()).collect()
}

/// A one-layer int8 dense model: per-channel i8 weights, i32 biases,
/// fixed-point multipliers, input and output quantization.
fn int8_dense() -> Vec<u8> {
    let w = [1i8, -2, 3, -128, 127, 0];
    let w_scales = [0.02f32, 0.01];
    let b = [100i32, -5];
    let b_scales = [0.02f32 * 0.05, 0.01 * 0.05];
    let m = [
        Requant {
            multiplier: 1 << 30,
            shift: -7,
        },
        Requant {
            multiplier: 1_500_000_000,
            shift: -8,
        },
    ];
    let tensors = [
        TensorDesc {
            dims: &[2, 3],
            data: TensorData::I8 {
                values: &w,
                scales: &w_scales,
            },
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::I32 {
                values: &b,
                scales: &b_scales,
            },
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::Requant(&m),
        },
    ];
    let layers = [LayerDesc {
        inputs: &[],
        kind: LayerKind::Dense,
        activation: Activation::Relu,
        in_shape: [1, 1, 3],
        out_shape: [1, 1, 2],
        params: [0; myelin_core::model::PARAMS],
        tensors: &tensors,
    }];
    let quant = [LayerQuant {
        input: ActQuant {
            scale: 0.05,
            zero_point: -3,
        },
        output: ActQuant {
            scale: 0.1,
            zero_point: -128,
        },
    }];
    let mut out = vec![0u8; model::encoded_len(&layers).expect("small model")];
    model::encode_int8([1, 1, 3], &layers, &quant, &mut out).expect("valid int8 seed");
    out
}

/// A one-layer dense model with f16 weights and f32 biases.
fn f16_dense() -> Vec<u8> {
    let w: Vec<u16> = ramp(12)
        .iter()
        .map(|&v| half::f16::from_f32(v).to_bits())
        .collect();
    let b = [0.5f32, -0.25, 0.0];
    let tensors = [
        TensorDesc {
            dims: &[3, 4],
            data: TensorData::F16(&w),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&b),
        },
    ];
    let layers = [LayerDesc {
        inputs: &[],
        kind: LayerKind::Dense,
        activation: Activation::Identity,
        in_shape: [1, 1, 4],
        out_shape: [1, 1, 3],
        params: [0; myelin_core::model::PARAMS],
        tensors: &tensors,
    }];
    encode_layers([1, 1, 4], &layers)
}

const TOML_SEEDS: [(&str, &str); 6] = [
    (
        "mlp.toml",
        "[train]\noptimizer = \"adam\"\nlr = 0.001\nepochs = 2\nbatch = 32\n\n[[layer]]\nkind = \"dense\"\nunits = 16\nactivation = \"relu\"\n\n[[layer]]\nkind = \"dense\"\ninputs = 16\nunits = 10\n",
    ),
    (
        "cnn.toml",
        "[train]\noptimizer = \"sgd\"\nmomentum = 0.8\nschedule = \"step\"\nstep_every = 2\nstep_gamma = 0.5\nweight_decay = 0.0001\n\n[[layer]]\nkind = \"conv2d\"\nfilters = 2\nkernel = 3\nstride = 1\npadding = 1\nactivation = \"relu\"\n\n[[layer]]\nkind = \"maxpool2d\"\nsize = 2\nstride = 2\n\n[[layer]]\nkind = \"dense\"\nunits = 10\n",
    ),
    (
        "lstm.toml",
        "[train]\nschedule = \"cosine\"\npatience = 2\nvalidation = 100\n\n[[layer]]\nkind = \"lstm\"\nhidden = 8\n\n[[layer]]\nkind = \"dense\"\nunits = 10\nactivation = \"none\"\n",
    ),
    (
        "sigmoid.toml",
        "[train]\nschedule = \"constant\"\nlr = 0.1\n\n[[layer]]\nkind = \"dense\"\nunits = 8\nactivation = \"sigmoid\"\n\n[[layer]]\nkind = \"dense\"\nunits = 8\nactivation = \"tanh\"\n\n[[layer]]\nkind = \"dense\"\nunits = 4\n",
    ),
    (
        "bad-inputs.toml",
        "[[layer]]\nkind = \"dense\"\ninputs = 3\nunits = 4\n",
    ),
    (
        "bad-kernel.toml",
        "[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 40\n[[layer]]\nkind = \"dense\"\nunits = 2\n",
    ),
];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");

    // Model files: every layer kind and activation, f32 and int8.
    let dir = root.join("model");
    let w = ramp(64);
    let dense = [
        TensorDesc {
            dims: &[3, 4],
            data: TensorData::F32(&w[..12]),
        },
        TensorDesc {
            dims: &[3],
            data: TensorData::F32(&w[12..15]),
        },
    ];
    let layers = [LayerDesc {
        inputs: &[],
        kind: LayerKind::Dense,
        activation: Activation::Softmax,
        in_shape: [1, 1, 4],
        out_shape: [1, 1, 3],
        params: [0; myelin_core::model::PARAMS],
        tensors: &dense,
    }];
    write(&dir, "dense.myl", &encode_layers([1, 1, 4], &layers));

    let conv = [
        TensorDesc {
            dims: &[2, 1, 3, 3],
            data: TensorData::F32(&w[..18]),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&w[18..20]),
        },
    ];
    let head = [
        TensorDesc {
            dims: &[2, 8],
            data: TensorData::F32(&w[20..36]),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&w[36..38]),
        },
    ];
    let layers = [
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Conv2d,
            activation: Activation::Relu,
            in_shape: [1, 5, 5],
            out_shape: [2, 5, 5],
            params: myelin_core::model::graph::conv_params(3, 3, 1, 1),
            tensors: &conv,
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::MaxPool2d,
            activation: Activation::Identity,
            in_shape: [2, 5, 5],
            out_shape: [2, 2, 2],
            params: myelin_core::model::graph::pool_params(2, 2),
            tensors: &[],
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::AvgPool2d,
            activation: Activation::Identity,
            in_shape: [2, 2, 2],
            out_shape: [2, 2, 2],
            params: myelin_core::model::graph::pool_params(1, 1),
            tensors: &[],
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Activation,
            activation: Activation::Tanh,
            in_shape: [2, 2, 2],
            out_shape: [2, 2, 2],
            params: [0; myelin_core::model::PARAMS],
            tensors: &[],
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Dense,
            activation: Activation::Sigmoid,
            in_shape: [2, 2, 2],
            out_shape: [1, 1, 2],
            params: [0; myelin_core::model::PARAMS],
            tensors: &head,
        },
    ];
    write(&dir, "cnn.myl", &encode_layers([1, 5, 5], &layers));

    let lstm = [
        TensorDesc {
            dims: &[8, 3],
            data: TensorData::F32(&w[..24]),
        },
        TensorDesc {
            dims: &[8, 2],
            data: TensorData::F32(&w[24..40]),
        },
        TensorDesc {
            dims: &[8],
            data: TensorData::F32(&w[40..48]),
        },
    ];
    let head = [
        TensorDesc {
            dims: &[2, 2],
            data: TensorData::F32(&w[48..52]),
        },
        TensorDesc {
            dims: &[2],
            data: TensorData::F32(&w[52..54]),
        },
    ];
    let layers = [
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Lstm,
            activation: Activation::Identity,
            in_shape: [1, 4, 3],
            out_shape: [1, 1, 2],
            params: myelin_core::model::graph::lstm_params(2),
            tensors: &lstm,
        },
        LayerDesc {
            inputs: &[],
            kind: LayerKind::Dense,
            activation: Activation::Identity,
            in_shape: [1, 1, 2],
            out_shape: [1, 1, 2],
            params: [0; myelin_core::model::PARAMS],
            tensors: &head,
        },
    ];
    write(&dir, "lstm.myl", &encode_layers([1, 4, 3], &layers));
    write(&dir, "int8-dense.myl", &int8_dense());
    write(&dir, "f16-dense.myl", &f16_dense());

    // IDX: images and labels of every rank, raw and gzip.
    let dir = root.join("idx");
    let images = idx::encode(&[3, 2, 2], &[0, 255, 7, 9, 1, 2, 3, 4, 5, 6, 7, 8]);
    write(&dir, "images-rank3", &images);
    write(&dir, "images-rank3.gz", &gzip(&images));
    let labels = idx::encode(&[3], &[0, 9, 4]);
    write(&dir, "labels-rank1", &labels);
    write(&dir, "labels-rank1.gz", &gzip(&labels));
    write(&dir, "rank2", &idx::encode(&[2, 3], &[1, 2, 3, 4, 5, 6]));
    write(&dir, "rank4", &idx::encode(&[1, 2, 1, 2], &[1, 2, 3, 4]));

    // TOML network descriptions.
    let dir = root.join("network_toml");
    for (name, text) in TOML_SEEDS {
        write(&dir, name, text.as_bytes());
        let _ = recipe_from_toml_str(text, [1, 28, 28]);
    }

    // Checkpoints: a small network with its optimizer state and history.
    let dir = root.join("checkpoint");
    let recipe = recipe_from_toml_str(TOML_SEEDS[0].1, [1, 2, 2]).expect("seed recipe");
    let mut net = Network::from_nodes([1, 2, 2], &recipe.layers).expect("seed network");
    net.init(&mut Rng::new(7));
    let model = net.encode().expect("encode seed network");
    let stats = EpochStats {
        epoch: 1,
        lr: 1e-3,
        train_loss: 1.5,
        train_accuracy: 0.5,
        val_loss: 1.25,
        val_accuracy: 0.625,
        seconds: 0.5,
        samples_per_second: 1000.0,
    };
    let ck = Checkpoint {
        meta: Meta {
            recipe: "mlp".into(),
            hyper: net::preset("mnist-mlp").expect("preset").hyper,
            seed: 3,
            epochs_done: 1,
            steps: 4,
            history: vec![stats],
            best: Some((0.625, 1)),
        },
        model: model.clone(),
        best_model: model,
        optimizer: ramp(2 * net.param_count()),
    };
    write(&dir, "mlp.ckpt", &ck.encode().expect("encode checkpoint"));
    // A run without a validation set: NaN figures, written as JSON null.
    let mut no_val = ck;
    no_val.meta.history[0].val_loss = f64::NAN;
    no_val.meta.history[0].val_accuracy = f64::NAN;
    no_val.meta.best = None;
    no_val.best_model.clear();
    write(
        &dir,
        "no-validation.ckpt",
        &no_val.encode().expect("encode checkpoint"),
    );
}
