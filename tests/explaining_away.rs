//! The explaining-away experiment end to end on a small synthetic IDX data
//! set: files in, table, plot and JSON out; the belief net's posterior is
//! dependent, the RBM's factorizes, and bad input fails cleanly.

use std::path::Path;

use myelin::host::experiment::explaining_away::{self, ExplainingAwayArgs};
use myelin::host::idx;

/// 8x8 images made of random horizontal and vertical bars with 3% noise,
/// as an MNIST-layout IDX directory (uncompressed).
fn write_bars(dir: &Path, train: usize, test: usize) {
    let mut state = 0x9e37_79b9_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % 1000
    };
    for (stem, n) in [("train", train), ("t10k", test)] {
        let mut pixels = Vec::with_capacity(n * 64);
        for _ in 0..n {
            let rows: Vec<bool> = (0..4).map(|_| next() < 300).collect();
            let cols: Vec<bool> = (0..4).map(|_| next() < 300).collect();
            for r in 0..8 {
                for c in 0..8 {
                    let on = rows[r / 2] || cols[c / 2];
                    pixels.push(if on != (next() < 30) { 255 } else { 0 });
                }
            }
        }
        let images = idx::encode(&[n as u32, 8, 8], &pixels);
        let labels = idx::encode(&[n as u32], &vec![0u8; n]);
        std::fs::write(dir.join(format!("{stem}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{stem}-labels-idx1-ubyte")), labels).unwrap();
    }
}

#[test]
fn experiment_measures_dependent_and_factorized_posteriors() {
    let dir = std::env::temp_dir().join(format!("myelin-explaining-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_bars(&dir, 2000, 100);
    let args = ExplainingAwayArgs {
        hidden: 8,
        epochs: 20,
        rbm_epochs: 10,
        batch: 20,
        test_images: 50,
        data: dir.clone(),
        out: dir.join("out"),
        plot: Some(dir.join("fig.svg")),
        json: true,
        ..ExplainingAwayArgs::default()
    };
    explaining_away::main(&args).unwrap();
    for f in ["out/table.md", "out/results.json", "fig.svg"] {
        assert!(dir.join(f).is_file(), "{f} not written");
    }
    let text = std::fs::read_to_string(dir.join("out/results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["visible"], 16);
    let f = |x: &serde_json::Value| x.as_f64().unwrap();
    // Textbook: the effect makes the causes anticorrelated; the second cause explains it away.
    let c = &v["textbook"]["conditions"];
    assert!(f(&c[1]["correlation"]) < -0.99);
    assert!(f(&c[2]["p_h1"]) < 1e-3 && f(&c[1]["p_h1"]) > 0.49);
    let b = &v["belief_net"];
    assert!(f(&b["prior"]["total_correlation"]) < 1e-12);
    assert!(f(&b["posterior"]["total_correlation"]) > 1e-3, "{b}");
    let r = &v["rbm"];
    assert!(f(&r["max_posterior_total_correlation"]) < 1e-12, "{r}");
    assert!(f(&r["prior"]["total_correlation"]) > 1e-3, "{r}");
    // The table redraws from the JSON without training.
    let redraw = ExplainingAwayArgs {
        from_json: Some(dir.join("out/results.json")),
        out: dir.join("again"),
        ..ExplainingAwayArgs::default()
    };
    explaining_away::main(&redraw).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("again/table.md")).unwrap(),
        std::fs::read_to_string(dir.join("out/table.md")).unwrap()
    );
    // Bad input names the problem and writes nothing.
    let bad = ExplainingAwayArgs {
        pool: 3,
        out: dir.join("bad"),
        data: dir.clone(),
        ..ExplainingAwayArgs::default()
    };
    let e = format!("{:#}", explaining_away::main(&bad).unwrap_err());
    assert!(e.contains("train-images") && e.contains("--pool"), "{e}");
    assert!(!dir.join("bad").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
