//! Writes the committed seed corpora under `fuzz/seeds/<target>/`:
//! small valid inputs of every kind each parser accepts, so fuzzing starts
//! from deep inside the formats. Run after a format change:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.

use std::io::Write;
use std::path::{Path, PathBuf};

use myelin_core::model::{
    self, Activation, LayerDesc, LayerKind, Shape, TensorData, TensorDesc, crc32,
};
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

/// A one-layer int8 dense model (per-channel i8 weights, per-tensor i32
/// bias), laid out by hand: the encoder writes f32 only.
fn int8_dense() -> Vec<u8> {
    let (inp, out) = (3usize, 2usize);
    let tables = model::HEADER_LEN + model::LAYER_ENTRY_LEN + 2 * model::TENSOR_ENTRY_LEN;
    let w_off = tables.next_multiple_of(16);
    let wq_off = (w_off + inp * out).next_multiple_of(16);
    let b_off = (wq_off + out * model::QUANT_CHANNEL_LEN).next_multiple_of(16);
    let bq_off = (b_off + 4 * out).next_multiple_of(16);
    let total = (bq_off + model::QUANT_CHANNEL_LEN).next_multiple_of(16) + 4;
    let mut b = vec![0u8; total];
    let put =
        |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    b[..8].copy_from_slice(&model::MAGIC);
    b[8..10].copy_from_slice(&model::VERSION.to_le_bytes());
    b[10..12].copy_from_slice(&(model::HEADER_LEN as u16).to_le_bytes());
    put(&mut b, 16, total as u32);
    put(&mut b, 20, 1);
    put(&mut b, 24, 2);
    for (k, d) in [1u32, 1, inp as u32].into_iter().enumerate() {
        put(&mut b, 28 + 4 * k, d);
    }
    let l = model::HEADER_LEN;
    b[l..l + 2].copy_from_slice(&LayerKind::Dense.code().to_le_bytes());
    b[l + 2] = Activation::Relu.code();
    put(&mut b, l + 8, 2);
    for (k, d) in [1u32, 1, inp as u32].into_iter().enumerate() {
        put(&mut b, l + 12 + 4 * k, d);
    }
    for (k, d) in [1u32, 1, out as u32].into_iter().enumerate() {
        put(&mut b, l + 24 + 4 * k, d);
    }
    let t = model::HEADER_LEN + model::LAYER_ENTRY_LEN;
    // Weights: i8 [OUT, IN], per channel.
    b[t..t + 4].copy_from_slice(&[3, 2, 2, 0]);
    put(&mut b, t + 4, out as u32);
    put(&mut b, t + 8, inp as u32);
    put(&mut b, t + 20, w_off as u32);
    put(&mut b, t + 24, (inp * out) as u32);
    put(&mut b, t + 28, wq_off as u32);
    put(&mut b, t + 32, (out * model::QUANT_CHANNEL_LEN) as u32);
    // Bias: i32 [OUT], per tensor.
    let t = t + model::TENSOR_ENTRY_LEN;
    b[t..t + 4].copy_from_slice(&[4, 1, 1, 0]);
    put(&mut b, t + 4, out as u32);
    put(&mut b, t + 20, b_off as u32);
    put(&mut b, t + 24, (4 * out) as u32);
    put(&mut b, t + 28, bq_off as u32);
    put(&mut b, t + 32, model::QUANT_CHANNEL_LEN as u32);
    for (k, w) in [1i8, -2, 3, -128, 127, 0].into_iter().enumerate() {
        b[w_off + k] = w as u8;
    }
    for c in 0..out {
        let q = wq_off + c * model::QUANT_CHANNEL_LEN;
        b[q..q + 4].copy_from_slice(&0.02f32.to_le_bytes());
        put(&mut b, q + 8, 1 << 30);
        put(&mut b, q + 12, (-7i32) as u32);
    }
    put(&mut b, b_off, 100);
    put(&mut b, b_off + 4, (-5i32) as u32);
    b[bq_off..bq_off + 4].copy_from_slice(&0.0004f32.to_le_bytes());
    let body = total - 4;
    let c = crc32(&b[..body]);
    b[body..].copy_from_slice(&c.to_le_bytes());
    model::Model::parse(&b).expect("valid int8 seed");
    b
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
        kind: LayerKind::Dense,
        activation: Activation::Softmax,
        in_shape: [1, 1, 4],
        out_shape: [1, 1, 3],
        params: [0; 6],
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
            kind: LayerKind::Conv2d,
            activation: Activation::Relu,
            in_shape: [1, 5, 5],
            out_shape: [2, 5, 5],
            params: [3, 3, 1, 1, 0, 0],
            tensors: &conv,
        },
        LayerDesc {
            kind: LayerKind::MaxPool2d,
            activation: Activation::Identity,
            in_shape: [2, 5, 5],
            out_shape: [2, 2, 2],
            params: [2, 2, 0, 0, 0, 0],
            tensors: &[],
        },
        LayerDesc {
            kind: LayerKind::AvgPool2d,
            activation: Activation::Identity,
            in_shape: [2, 2, 2],
            out_shape: [2, 2, 2],
            params: [1, 1, 0, 0, 0, 0],
            tensors: &[],
        },
        LayerDesc {
            kind: LayerKind::Activation,
            activation: Activation::Tanh,
            in_shape: [2, 2, 2],
            out_shape: [2, 2, 2],
            params: [0; 6],
            tensors: &[],
        },
        LayerDesc {
            kind: LayerKind::Dense,
            activation: Activation::Sigmoid,
            in_shape: [2, 2, 2],
            out_shape: [1, 1, 2],
            params: [0; 6],
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
            kind: LayerKind::Lstm,
            activation: Activation::Identity,
            in_shape: [1, 4, 3],
            out_shape: [1, 1, 2],
            params: [2, 0, 0, 0, 0, 0],
            tensors: &lstm,
        },
        LayerDesc {
            kind: LayerKind::Dense,
            activation: Activation::Identity,
            in_shape: [1, 1, 2],
            out_shape: [1, 1, 2],
            params: [0; 6],
            tensors: &head,
        },
    ];
    write(&dir, "lstm.myl", &encode_layers([1, 4, 3], &layers));
    write(&dir, "int8-dense.myl", &int8_dense());

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
    let mut net = Network::from_specs([1, 2, 2], &recipe.layers).expect("seed network");
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
}
