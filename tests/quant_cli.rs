//! The real `myelin` binary: `quantize --int8` and `--f16` of a trained
//! model, then `eval` and `inspect` of the results, and refusals.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use myelin::core::model::Activation;
use myelin::core::train::Rng;
use myelin::host::data::MnistFiles;
use myelin::host::idx;
use myelin::host::net::{Hyper, LayerSpec, Network, OptimizerKind, Schedule};
use myelin::host::train::{Options, Trainer};

fn myelin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(args)
        .output()
        .expect("the myelin binary runs")
}

/// The last stdout line as JSON, after checking the command succeeded.
fn json(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(out.lines().last().expect("output")).expect("JSON")
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` 8x8 images: class `c` (0-3) lights rows `2c` and `2c + 1`, plus noise.
fn bars(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut r = Rng::new(seed);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 4;
        for y in 0..8 {
            for _ in 0..8 {
                let on = if y / 2 == c { 150.0 } else { 0.0 };
                images.push((on + 100.0 * r.uniform()) as u8);
            }
        }
        labels.push(c as u8);
    }
    (images, labels)
}

fn write_set(dir: &Path, stem: &str, n: usize, seed: u64) {
    let (images, labels) = bars(n, seed);
    std::fs::write(
        dir.join(format!("{stem}-images-idx3-ubyte")),
        idx::encode(&[n as u32, 8, 8], &images),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{stem}-labels-idx1-ubyte")),
        idx::encode(&[n as u32], &labels),
    )
    .unwrap();
}

#[test]
fn quantize_then_eval_and_inspect() {
    let tmp = TempDir(std::env::temp_dir().join(format!("myelin-qcli-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0).unwrap();
    let dir = &tmp.0;
    write_set(dir, "train", 400, 1);
    write_set(dir, "t10k", 200, 2);
    let train = MnistFiles::locate(dir).unwrap().train().unwrap();
    let specs = [
        LayerSpec::Dense {
            units: 16,
            activation: Activation::Relu,
        },
        LayerSpec::Dense {
            units: 4,
            activation: Activation::Identity,
        },
    ];
    let mut net = Network::from_specs([1, 8, 8], &specs).unwrap();
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
    let mut t = Trainer::new(net, "bars", hyper, 5, 1);
    let opts = Options {
        checkpoint: None,
        progress: false,
    };
    t.run(&train, &myelin::host::data::Dataset::empty(&[8, 8]), &opts)
        .unwrap();
    let model = dir.join("bars.myl");
    std::fs::write(&model, t.net.encode().unwrap()).unwrap();
    let (m, d) = (model.to_str().unwrap(), dir.to_str().unwrap());
    let q8 = dir.join("bars.int8.myl");
    let q16 = dir.join("bars.f16.myl");
    let (q8s, q16s) = (q8.to_str().unwrap(), q16.to_str().unwrap());

    let r = json(&myelin(&[
        "quantize",
        m,
        "--int8",
        "--calib-data",
        d,
        "--calib-samples",
        "100",
        "--calibration",
        "percentile:99.9",
        "--out",
        q8s,
        "--json",
    ]));
    assert_eq!(r["mode"], "int8");
    assert_eq!(r["calibration"], "percentile:99.9");
    let (fa, qa) = (
        r["float_accuracy"].as_f64().unwrap(),
        r["quantized_accuracy"].as_f64().unwrap(),
    );
    assert!(fa > 0.9, "float accuracy {fa}");
    assert!((qa - fa).abs() <= 0.03, "int8 {qa} vs float {fa}");
    let size = std::fs::metadata(&q8).unwrap().len();
    assert_eq!(r["quantized_bytes"].as_u64(), Some(size));
    assert_eq!(
        r["float_bytes"].as_u64(),
        Some(std::fs::metadata(&model).unwrap().len())
    );
    // eval runs the same integer path: the same accuracy.
    let e = json(&myelin(&["eval", q8s, "--data", d, "--json"]));
    assert_eq!(e["arithmetic"], "int8");
    assert_eq!(e["accuracy"].as_f64(), Some(qa));
    let i = json(&myelin(&["inspect", q8s, "--json"]));
    assert_eq!(i["arithmetic"], "int8");
    assert_eq!(i["format_version"], 2);
    assert_eq!(i["parameters"], 64 * 16 + 16 + 16 * 4 + 4);
    assert_eq!(i["layers"][0]["quant"]["input_zero_point"], -128);
    assert!(i["dtypes"]["i8"].is_object() && i["dtypes"]["requant"].is_object());

    let r = json(&myelin(&[
        "quantize",
        m,
        "--f16",
        "--calib-data",
        d,
        "--out",
        q16s,
        "--json",
    ]));
    assert_eq!(r["mode"], "f16");
    let e = json(&myelin(&["eval", q16s, "--data", d, "--json"]));
    assert_eq!(e["accuracy"], r["quantized_accuracy"]);
    let i = json(&myelin(&["inspect", q16s, "--json"]));
    assert_eq!(i["arithmetic"], "float");
    assert!(i["dtypes"]["f16"].is_object());

    // Refusals: an int8 model cannot be quantized or trained; a mode is required.
    let out = dir.join("again.myl");
    let o = myelin(&[
        "quantize",
        q8s,
        "--int8",
        "--calib-data",
        d,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("int8 model"));
    assert!(!out.exists());
    let o = myelin(&["quantize", m, "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let o = myelin(&["train", "--resume", q8s, "--data", d, "--epochs", "1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("int8"));
}
