//! `cargo xtask gen-firmware-models [--check] [NAME...]`: the trained models
//! the QEMU firmware runs, reproducibly.
//!
//! For each model: `myelin train` (fixed preset, seed and thread count) into
//! `target/firmware-models/`, the model file copied to
//! `firmware/models/data/NAME.myl`, then `myelin export --rust` of that file
//! with the first test images of `data/mnist` and the host's outputs for them
//! into `firmware/models/src/`. Both are committed; CI does not retrain.
//!
//! `--check` retrains nothing: it exports every committed model file again
//! and fails if the result differs from the committed source, so the weights,
//! samples and expected outputs the firmware checks against are exactly what
//! the host computes from the committed model.

use crate::qemu::{cargo_in, firmware_dir};
use crate::util::{self, root};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// One model the firmware runs.
struct Spec {
    /// File stem under `firmware/models/data/` and the name in the generated docs.
    name: &'static str,
    /// Module file under `firmware/models/src/`.
    module: &'static str,
    /// `myelin train` arguments (besides data, seed, threads and output).
    train: &'static [&'static str],
    /// Test images embedded with the host's outputs.
    samples: usize,
}

const SPECS: [Spec; 1] = [Spec {
    name: "mnist-mlp",
    module: "mnist_mlp_f32.rs",
    train: &["--preset", "mnist-mlp"],
    samples: 500,
}];

/// Seed and thread count of every training run (the result depends on both).
const SEED: &str = "1";
const THREADS: &str = "2";

fn models_dir() -> PathBuf {
    firmware_dir().join("models")
}

/// `cargo run --release --bin myelin -- args` in the repository root.
fn myelin(args: &[&str]) -> Result<()> {
    util::run(
        cargo_in(&root())
            .args(["run", "--release", "--quiet", "--bin", "myelin", "--"])
            .args(args),
    )
}

fn export(spec: &Spec, model: &Path, out: &Path) -> Result<()> {
    let samples = spec.samples.to_string();
    myelin(&[
        "export",
        &model.to_string_lossy(),
        "--rust",
        &out.to_string_lossy(),
        "--name",
        spec.name,
        "--samples-from",
        &root().join("data/mnist").to_string_lossy(),
        "--samples",
        &samples,
    ])
}

/// Runs the command.
pub fn run(args: &[String]) -> Result<()> {
    let mut check = false;
    let mut names = Vec::new();
    for a in args {
        match a.as_str() {
            "--check" => check = true,
            s if s.starts_with('-') => {
                bail!(
                    "unknown option `{s}` (usage: cargo xtask gen-firmware-models [--check] [NAME...])"
                )
            }
            s => names.push(s.to_string()),
        }
    }
    let selected: Vec<&Spec> = SPECS
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .collect();
    if selected.is_empty() {
        let known: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
        bail!("no model named {names:?} (known: {})", known.join(", "));
    }
    let work = root().join("target/firmware-models");
    std::fs::create_dir_all(&work).with_context(|| format!("{}", work.display()))?;
    let data = models_dir().join("data");
    std::fs::create_dir_all(&data)?;
    let mut stale = Vec::new();
    for spec in selected {
        let committed_model = data.join(format!("{}.myl", spec.name));
        let module = models_dir().join("src").join(spec.module);
        if check {
            let fresh = work.join(spec.module);
            export(spec, &committed_model, &fresh)?;
            let a = std::fs::read(&fresh)?;
            let b = std::fs::read(&module).with_context(|| format!("{}", module.display()))?;
            if a == b {
                println!(
                    "[pass] {}: matches `myelin export` of {}",
                    module.display(),
                    committed_model.display()
                );
            } else {
                println!(
                    "[fail] {}: differs from `myelin export` of {}",
                    module.display(),
                    committed_model.display()
                );
                stale.push(spec.name);
            }
            continue;
        }
        let trained = work.join(format!("{}.myl", spec.name));
        let mut train = vec!["train"];
        train.extend_from_slice(spec.train);
        let data_dir = root().join("data/mnist");
        let data_dir = data_dir.to_string_lossy();
        let out = trained.to_string_lossy();
        train.extend_from_slice(&[
            "--data",
            &data_dir,
            "--seed",
            SEED,
            "--threads",
            THREADS,
            "--out",
            &out,
        ]);
        myelin(&train)?;
        std::fs::copy(&trained, &committed_model)
            .with_context(|| format!("copying to {}", committed_model.display()))?;
        export(spec, &committed_model, &module)?;
    }
    if !stale.is_empty() {
        bail!(
            "committed firmware model sources out of date: {} (run `cargo xtask gen-firmware-models`)",
            stale.join(", ")
        );
    }
    Ok(())
}
