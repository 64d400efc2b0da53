//! int8 models of MNIST: the host's in-memory network (scalar kernels) and
//! the core's no_std path over the parsed file (SIMD-dispatched kernels,
//! inputs quantized with integers from the raw IDX bytes) give the same
//! output codes, bit for bit, on 1,000 test images; and the int8 models
//! classify about as well as their f32 originals.

use std::path::Path;

use myelin::core::model::{Activation, Arithmetic, Model, int8_scratch_len};
use myelin::core::quant::Calibration;
use myelin::core::train::{Rng, argmax};
use myelin::host::data::{Dataset, MnistFiles};
use myelin::host::idx;
use myelin::host::net::{Hyper, LayerSpec, Network, OptimizerKind, Schedule};
use myelin::host::quantize::{AlignedBytes, MNIST_INPUT, argmax_i8, quantize_int8};
use myelin::host::train::{Options, Trainer, predict};

const TRAIN: usize = 3000;
const TEST: usize = 1000;

struct Mnist {
    train: Dataset,
    test: Dataset,
    /// The raw test pixels, `TEST x 784` bytes.
    test_bytes: Vec<u8>,
}

fn mnist() -> Mnist {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let files = MnistFiles::locate(&dir).unwrap();
    let mut train = files.train().unwrap();
    train.truncate(TRAIN);
    let mut test = files.test().unwrap();
    test.truncate(TEST);
    let raw = idx::read(&files.test_images).unwrap();
    let test_bytes = raw.data[..TEST * 784].to_vec();
    Mnist {
        train,
        test,
        test_bytes,
    }
}

fn train(specs: &[LayerSpec], data: &Dataset, lr: f32) -> Network {
    let mut net = Network::from_specs([1, 28, 28], specs).unwrap();
    net.init(&mut Rng::new(11));
    let hyper = Hyper {
        epochs: 1,
        batch: 32,
        lr,
        optimizer: OptimizerKind::ADAM,
        schedule: Schedule::Constant,
        weight_decay: 0.0,
        patience: 0,
        validation: 0,
        clip_grad_norm: 0.0,
        augment_shift: 0,
    };
    let mut t = Trainer::new(net, "quant-test", hyper, 3, 2);
    let opts = Options {
        checkpoint: None,
        progress: false,
    };
    t.run(data, &Dataset::empty(&data.sample_dims), &opts)
        .unwrap();
    t.net
}

/// Trains `specs`, quantizes, and compares the two int8 paths; the f32
/// network must reach `min_acc` (chance is 0.1).
fn check(name: &str, specs: &[LayerSpec], lr: f32, min_acc: f64, d: &Mnist) {
    let net = train(specs, &d.train, lr);
    let mut calib = d.train.clone();
    calib.truncate(500);
    let q = quantize_int8(&net, &calib, Calibration::MinMax).unwrap();
    assert_eq!(q.input_quant(), MNIST_INPUT);
    let file = AlignedBytes::new(&q.encode().unwrap());
    let m = Model::parse(file.bytes()).unwrap();
    assert_eq!(m.arithmetic(), Arithmetic::Int8);
    let need = int8_scratch_len(&m);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let float = predict(&net, &d.test);
    let classes = net.classes();
    let (mut f_ok, mut q_ok) = (0, 0);
    let mut host_x = vec![0i8; 784];
    for i in 0..TEST {
        // Core path: codes straight from the pixel bytes (byte - 128).
        let x: Vec<i8> = d.test_bytes[i * 784..(i + 1) * 784]
            .iter()
            .map(|&b| (i16::from(b) - 128) as i8)
            .collect();
        // Host path: the f32 sample quantized with the model's parameters.
        MNIST_INPUT.quantize_slice(d.test.sample(i), &mut host_x);
        assert_eq!(host_x, x, "{name}: input quantization of image {i}");
        let host = q.forward(&host_x).unwrap();
        let core = m.infer_int8(&x, &mut act, &mut cell).unwrap();
        assert_eq!(host, core, "{name}: image {i}");
        let label = usize::from(d.test.labels[i]);
        f_ok += usize::from(argmax(&float[i * classes..(i + 1) * classes]) == label);
        q_ok += usize::from(argmax_i8(core) == label);
    }
    let (fa, qa) = (f_ok as f64 / TEST as f64, q_ok as f64 / TEST as f64);
    eprintln!("{name}: f32 {fa:.3}, int8 {qa:.3} on {TEST} test images");
    assert!(fa > min_acc, "{name}: the f32 network did not learn ({fa})");
    assert!(qa >= fa - 0.02, "{name}: int8 {qa} vs f32 {fa}");
}

#[test]
fn int8_host_and_core_agree_on_mnist() {
    let d = mnist();
    let logits = LayerSpec::Dense {
        units: 10,
        activation: Activation::Identity,
    };
    check(
        "mlp",
        &[
            LayerSpec::Dense {
                units: 32,
                activation: Activation::Relu,
            },
            logits.clone(),
        ],
        2e-3,
        0.75,
        &d,
    );
    check(
        "cnn",
        &[
            LayerSpec::Conv2d {
                filters: 4,
                kernel: 5,
                stride: 1,
                padding: 0,
                activation: Activation::Relu,
            },
            LayerSpec::MaxPool2d { size: 2, stride: 2 },
            LayerSpec::Conv2d {
                filters: 8,
                kernel: 3,
                stride: 2,
                padding: 1,
                activation: Activation::Relu,
            },
            logits.clone(),
        ],
        3e-3,
        0.75,
        &d,
    );
    check(
        "lstm",
        &[LayerSpec::Lstm { hidden: 16 }, logits],
        1e-2,
        0.5,
        &d,
    );
}
