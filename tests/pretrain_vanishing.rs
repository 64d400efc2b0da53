//! The vanishing-gradient experiment end to end on a small synthetic IDX data
//! set: files in, table, plots and JSON out, and the measured gradient norms
//! show the effect and its cures.

use std::path::Path;

use myelin::host::experiment::{self, VanishingArgs};
use myelin::host::idx;

/// Ten classes of noisy 8x8 binary prototypes, written as an MNIST-layout
/// IDX directory (uncompressed).
fn write_dataset(dir: &Path, train: usize, test: usize) {
    let mut state = 0x1234_5678_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let protos: Vec<Vec<bool>> = (0..10)
        .map(|_| (0..64).map(|_| next() % 2 == 0).collect())
        .collect();
    for (stem, n) in [("train", train), ("t10k", test)] {
        let mut pixels = Vec::with_capacity(n * 64);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % 10;
            for &on in &protos[class] {
                let flip = next() % 10 == 0;
                pixels.push(if on != flip { 255 } else { 0 });
            }
            labels.push(class as u8);
        }
        let images = idx::encode(&[n as u32, 8, 8], &pixels);
        let labels = idx::encode(&[n as u32], &labels);
        std::fs::write(dir.join(format!("{stem}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{stem}-labels-idx1-ubyte")), labels).unwrap();
    }
}

#[test]
fn experiment_shows_vanishing_gradients_and_their_cures() {
    let dir = std::env::temp_dir().join(format!("myelin-vanishing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_dataset(&dir, 3000, 500);
    let args = VanishingArgs {
        depth: 5,
        width: 32,
        epochs: 3,
        batch: 32,
        pretrain_epochs: 10,
        data: dir.clone(),
        out: dir.join("out"),
        json: true,
        ..VanishingArgs::default()
    };
    experiment::main(&args).unwrap();

    for f in [
        "table.md",
        "grad-norms.svg",
        "test-accuracy.svg",
        "results.json",
    ] {
        assert!(dir.join("out").join(f).is_file(), "{f} not written");
    }
    let text = std::fs::read_to_string(dir.join("out/results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let runs = v["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "sigmoid",
            "sigmoid+dbn",
            "sigmoid+discriminative",
            "relu",
            "sigmoid+residual"
        ]
    );

    // Layer-1 gradient norm, alone and relative to the output layer's, per run.
    let norms = |r: &serde_json::Value| {
        let g: Vec<f64> = r["grad_norms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(g.len(), 6, "5 hidden layers + output");
        assert!(g.iter().all(|x| x.is_finite() && *x > 0.0), "{g:?}");
        (g[0], g[0] / g[5])
    };
    let (plain_first, plain_ratio) = norms(&runs[0]);
    assert!(
        plain_ratio < 1e-2,
        "plain sigmoid: layer 1 / output = {plain_ratio:.2e}"
    );
    for r in &runs[1..] {
        let (first, ratio) = norms(r);
        let name = &r["name"];
        assert!(
            first > 10.0 * plain_first,
            "{name}: layer 1 norm {first:.2e}, plain sigmoid {plain_first:.2e}"
        );
        assert!(
            ratio > 10.0 * plain_ratio,
            "{name}: layer 1 / output = {ratio:.2e}, plain sigmoid {plain_ratio:.2e}"
        );
    }
    // Every run but the plain sigmoid one learns the task.
    let last = |r: &serde_json::Value| {
        r["test_accuracy"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_f64()
            .unwrap()
    };
    for r in &runs[1..] {
        assert!(last(r) > 0.8, "{}: test accuracy {}", r["name"], last(r));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
