//! `cargo xtask gen-firmware-models [--export | --check] [NAME...]`: the trained models
//! the QEMU firmware runs, reproducibly.
//!
//! For each model, in order: `myelin train` (fixed preset, seed and thread
//! count; the model file copied from `target/firmware-models/` to
//! `firmware/models/data/NAME.myl`) or `myelin quantize --int8` of an
//! earlier one, then `myelin export --rust` of the file with the first test
//! images of `data/mnist` and the host's outputs for them into
//! `firmware/models/src/`. Model files and sources are committed; CI does
//! not retrain.
//!
//! The MLPerf Tiny models are imported instead (`myelin import` of the
//! committed `.tflite` in `models/mlperf-tiny/`) and exported with the first
//! golden inputs of `models/mlperf-tiny/goldens/` and their output codes,
//! which the export checks against TFLite's; each also as a typed network
//! over its memory plan (`myelin export --typed`: weights as statics, one
//! core int8 kernel call per node), checked on the host against the model
//! file's outputs. KWS is imported a second time with the smallest memory
//! plan (`myelin import --plan smallest`) for the Cortex-M0.
//!
//! `--export` retrains nothing: it only exports the committed model files
//! again (after a change to `myelin export`).
//!
//! `--check` retrains nothing: it exports every committed model file again
//! (and imports every `.tflite` again) and fails if the result differs from
//! the committed source (or model file), so the weights, samples and expected
//! outputs the firmware checks against are exactly what the host computes
//! from the committed model.

use crate::qemu::{cargo_in, firmware_dir};
use crate::util::{self, root};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Where a model comes from.
enum Source {
    /// `myelin train` with these arguments (besides data, seed, threads, output).
    Train(&'static [&'static str]),
    /// `myelin quantize --int8` of the named model, calibrated on training images.
    Int8Of(&'static str),
    /// `myelin import` of `models/mlperf-tiny/STEM.tflite`; its samples come
    /// from `models/mlperf-tiny/goldens/STEM/`.
    Import(&'static str),
    /// [`Source::Import`] with the smallest memory plan (`--plan smallest`:
    /// nodes written over their input), for boards short of RAM.
    ImportSmallest(&'static str),
}

impl Source {
    /// The `.tflite` stem and `myelin import` plan of an imported model.
    fn imported(&self) -> Option<(&'static str, &'static str)> {
        match *self {
            Source::Import(stem) => Some((stem, "free")),
            Source::ImportSmallest(stem) => Some((stem, "smallest")),
            _ => None,
        }
    }
}

/// One model the firmware runs (or one the others are made from).
struct Spec {
    /// File stem under `firmware/models/data/` and the name in the generated docs.
    name: &'static str,
    /// How the model file is made.
    source: Source,
    /// Module file under `firmware/models/src/` and the test images embedded
    /// in it with the host's outputs; `None` for a model only quantized.
    export: Option<(&'static str, usize)>,
    /// Module file of the typed network over the file's memory plan
    /// (`myelin export --typed`), with the same samples.
    typed: Option<&'static str>,
}

const SPECS: [Spec; 10] = [
    Spec {
        name: "mnist-mlp",
        source: Source::Train(&["--preset", "mnist-mlp"]),
        export: Some(("mnist_mlp_f32.rs", 500)),
        typed: None,
    },
    Spec {
        name: "mnist-mlp-int8",
        source: Source::Int8Of("mnist-mlp"),
        export: Some(("mnist_mlp_int8.rs", 300)),
        typed: None,
    },
    Spec {
        name: "mnist-cnn",
        source: Source::Train(&["--preset", "mnist-cnn", "--epochs", "3"]),
        export: None,
        typed: None,
    },
    // 200 images keep the Cortex-M0 program within its 256 KiB of flash.
    Spec {
        name: "mnist-cnn-int8",
        source: Source::Int8Of("mnist-cnn"),
        export: Some(("mnist_cnn_int8.rs", 200)),
        typed: None,
    },
    // A graph (residual joins): exported as its model file, parsed in place.
    Spec {
        name: "resnet8",
        source: Source::Train(&["--config", "examples/resnet8.toml"]),
        export: None,
        typed: None,
    },
    Spec {
        name: "resnet8-int8",
        source: Source::Int8Of("resnet8"),
        export: Some(("resnet8_int8.rs", 20)),
        typed: None,
    },
    // MLPerf Tiny: a few golden inputs each keep the QEMU runs short.
    Spec {
        name: "mlperf-ad01",
        source: Source::Import("ad01_int8"),
        export: Some(("mlperf_ad01.rs", 4)),
        typed: Some("mlperf_ad01_typed.rs"),
    },
    Spec {
        name: "mlperf-kws",
        source: Source::Import("kws_ref_model"),
        export: Some(("mlperf_kws.rs", 4)),
        typed: Some("mlperf_kws_typed.rs"),
    },
    Spec {
        name: "mlperf-resnet",
        source: Source::Import("pretrainedResnet_quant"),
        export: Some(("mlperf_resnet.rs", 4)),
        typed: Some("mlperf_resnet_typed.rs"),
    },
    // KWS planned in place for the Cortex-M0's 16 KiB of RAM.
    Spec {
        name: "mlperf-kws-small",
        source: Source::ImportSmallest("kws_ref_model"),
        export: Some(("mlperf_kws_small.rs", 4)),
        typed: None,
    },
];

fn mlperf_dir() -> PathBuf {
    root().join("models/mlperf-tiny")
}

/// Training images the int8 activation ranges are calibrated on.
const CALIB_SAMPLES: &str = "1000";

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

/// `myelin export --rust` of `model` into `out` (`typed`: the typed network
/// over the file's memory plan, named `NAME-typed`).
fn export(spec: &Spec, samples: usize, model: &Path, out: &Path, typed: bool) -> Result<()> {
    let samples = samples.to_string();
    let name = if typed {
        format!("{}-typed", spec.name)
    } else {
        spec.name.to_string()
    };
    let (from, dir) = match spec.source.imported() {
        Some((stem, _)) => ("--goldens", mlperf_dir().join("goldens").join(stem)),
        None => ("--samples-from", root().join("data/mnist")),
    };
    let (model, out, dir) = (
        model.to_string_lossy(),
        out.to_string_lossy(),
        dir.to_string_lossy(),
    );
    let mut args = vec![
        "export",
        &model,
        "--rust",
        &out,
        "--name",
        &name,
        from,
        &dir,
        "--samples",
        &samples,
    ];
    if typed {
        args.push("--typed");
    }
    myelin(&args)
}

/// The module files of `spec` under `firmware/models/src/`, each with its
/// sample count and whether it is the typed form.
fn modules(spec: &Spec) -> Vec<(&'static str, usize, bool)> {
    let Some((module, samples)) = spec.export else {
        return Vec::new();
    };
    let mut m = vec![(module, samples, false)];
    m.extend(spec.typed.map(|t| (t, samples, true)));
    m
}

/// `myelin import` of `models/mlperf-tiny/STEM.tflite` into `out` with
/// memory plan `plan`.
fn import((stem, plan): (&str, &str), out: &Path) -> Result<()> {
    let tflite = mlperf_dir().join(format!("{stem}.tflite"));
    myelin(&[
        "import",
        &tflite.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--plan",
        plan,
    ])
}

/// Prints whether `fresh` equals the committed `file`; true if it does.
fn same(fresh: &Path, file: &Path, what: &str) -> Result<bool> {
    let a = std::fs::read(fresh).with_context(|| format!("{}", fresh.display()))?;
    let b = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
    let verdict = if a == b { "pass" } else { "fail" };
    let relation = if a == b { "matches" } else { "differs from" };
    println!("[{verdict}] {}: {relation} {what}", file.display());
    Ok(a == b)
}

/// Runs the command.
pub fn run(args: &[String]) -> Result<()> {
    let mut check = false;
    let mut export_only = false;
    let mut names = Vec::new();
    for a in args {
        match a.as_str() {
            "--check" => check = true,
            "--export" => export_only = true,
            s if s.starts_with('-') => {
                bail!(
                    "unknown option `{s}` (usage: cargo xtask gen-firmware-models [--export | --check] [NAME...])"
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
    let data_dir = root().join("data/mnist");
    let data_dir = data_dir.to_string_lossy();
    for spec in selected {
        let committed_model = data.join(format!("{}.myl", spec.name));
        if check {
            if let Some(imported) = spec.source.imported() {
                let fresh = work.join(format!("{}.myl", spec.name));
                import(imported, &fresh)?;
                if !same(
                    &fresh,
                    &committed_model,
                    &format!("`myelin import` of {}.tflite", imported.0),
                )? {
                    stale.push(spec.name);
                }
            }
            for (module, samples, typed) in modules(spec) {
                let module = models_dir().join("src").join(module);
                let fresh = work.join(module.file_name().unwrap_or_default());
                export(spec, samples, &committed_model, &fresh, typed)?;
                let what = format!("`myelin export` of {}", committed_model.display());
                if !same(&fresh, &module, &what)? {
                    stale.push(spec.name);
                }
            }
            continue;
        }
        match spec.source {
            _ if export_only => {}
            Source::Train(args) => {
                let trained = work.join(format!("{}.myl", spec.name));
                let out = trained.to_string_lossy();
                let mut train = vec!["train"];
                train.extend_from_slice(args);
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
            }
            Source::Import(_) | Source::ImportSmallest(_) => {
                import(spec.source.imported().unwrap_or_default(), &committed_model)?;
            }
            Source::Int8Of(from) => {
                let from = data.join(format!("{from}.myl"));
                myelin(&[
                    "quantize",
                    &from.to_string_lossy(),
                    "--int8",
                    "--calib-data",
                    &data_dir,
                    "--calib-samples",
                    CALIB_SAMPLES,
                    "--threads",
                    THREADS,
                    "--out",
                    &committed_model.to_string_lossy(),
                ])?;
            }
        }
        for (module, samples, typed) in modules(spec) {
            export(
                spec,
                samples,
                &committed_model,
                &models_dir().join("src").join(module),
                typed,
            )?;
        }
    }
    if !stale.is_empty() {
        bail!(
            "committed firmware model sources out of date: {} (run `cargo xtask gen-firmware-models`)",
            stale.join(", ")
        );
    }
    Ok(())
}
