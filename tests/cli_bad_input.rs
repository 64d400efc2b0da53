//! The `myelin` binary on bad input: every case must exit non-zero with a
//! message that names the file (or flag) and the problem, never panic, and
//! leave the directory it ran in exactly as it was (no output, checkpoint or
//! temporary file).

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use myelin::core::model::{Activation, crc32};
use myelin::core::train::Rng;
use myelin::host::idx;
use myelin::host::net::{LayerSpec, Network};

/// Image side of the small data sets.
const SIDE: u32 = 4;

/// Writes an MNIST-layout directory: `n` training and `n` test images of
/// `side x side` with labels `i % 10`.
fn write_data(dir: &Path, side: u32, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let px = (side * side) as usize;
    let images: Vec<u8> = (0..n as usize * px).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for set in ["train", "t10k"] {
        std::fs::write(
            dir.join(format!("{set}-images-idx3-ubyte")),
            idx::encode(&[n, side, side], &images),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{set}-labels-idx1-ubyte")),
            idx::encode(&[n], &labels),
        )
        .unwrap();
    }
}

/// A valid model file for `side x side` inputs and 10 classes.
fn model_bytes(side: usize) -> Vec<u8> {
    let specs = [LayerSpec::Dense {
        units: 10,
        activation: Activation::Identity,
    }];
    let mut net = Network::from_specs([1, side, side], &specs).unwrap();
    net.init(&mut Rng::new(1));
    net.encode().unwrap()
}

/// `bytes` as a gzip stream of stored (uncompressed) deflate blocks: enough
/// to make valid and truncated `.gz` inputs without a compression crate.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = bytes.chunks(65535).collect();
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(bytes).to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), Vec::new());
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

/// One bad input: files to create, the command line, and what stderr must say.
struct Case {
    name: &'static str,
    setup: fn(&Path),
    args: &'static [&'static str],
    expect: &'static [&'static str],
}

fn data(dir: &Path) {
    write_data(&dir.join("data"), SIDE, 20);
}

fn replace(dir: &Path, file: &str, bytes: &[u8]) {
    data(dir);
    std::fs::write(dir.join("data").join(file), bytes).unwrap();
}

fn model(dir: &Path, name: &str, edit: fn(&mut Vec<u8>)) {
    data(dir);
    let mut b = model_bytes(SIDE as usize);
    edit(&mut b);
    std::fs::write(dir.join(name), b).unwrap();
}

const TRAIN: &[&str] = &["train", "--data", "data", "--epochs", "1", "--threads", "1"];

const CASES: &[Case] = &[
    Case {
        name: "eval: missing model file",
        setup: data,
        args: &["eval", "missing.myl", "--data", "data"],
        expect: &["missing.myl", "No such file"],
    },
    Case {
        name: "inspect: empty model file",
        setup: |d| model(d, "empty.myl", |b| b.clear()),
        args: &["inspect", "empty.myl"],
        expect: &["empty.myl", "truncated"],
    },
    Case {
        name: "inspect: wrong magic",
        setup: |d| model(d, "magic.myl", |b| b[..8].copy_from_slice(b"NOTMODEL")),
        args: &["inspect", "magic.myl"],
        expect: &["magic.myl", "magic"],
    },
    Case {
        name: "eval: truncated model file",
        setup: |d| model(d, "cut.myl", |b| b.truncate(b.len() / 2)),
        args: &["eval", "cut.myl", "--data", "data"],
        expect: &["cut.myl", "truncated"],
    },
    Case {
        name: "eval: corrupted model file",
        setup: |d| {
            model(d, "flip.myl", |b| {
                let mid = b.len() / 2;
                b[mid] ^= 0x10;
            })
        },
        args: &["eval", "flip.myl", "--data", "data"],
        expect: &["flip.myl", "checksum"],
    },
    Case {
        name: "eval: model input size differs from the data",
        setup: |d| {
            write_data(&d.join("data"), SIDE + 1, 20);
            std::fs::write(d.join("m.myl"), model_bytes(SIDE as usize)).unwrap();
        },
        args: &["eval", "m.myl", "--data", "data"],
        expect: &["t10k-images-idx3-ubyte", "model expects", "16 values"],
    },
    Case {
        name: "eval: label beyond the model's classes",
        setup: |d| {
            model(d, "m.myl", |_| {});
            let labels: Vec<u8> = (0..20).map(|i| if i == 3 { 12 } else { 1 }).collect();
            std::fs::write(
                d.join("data/t10k-labels-idx1-ubyte"),
                idx::encode(&[20], &labels),
            )
            .unwrap();
        },
        args: &["eval", "m.myl", "--data", "data"],
        expect: &["t10k-labels-idx1-ubyte", "label 12"],
    },
    Case {
        name: "train: data directory missing",
        setup: |_| {},
        args: &["train", "--data", "nodata", "--epochs", "1"],
        expect: &["nodata", "not a directory"],
    },
    Case {
        name: "train: IDX file missing",
        setup: |d| {
            data(d);
            std::fs::remove_file(d.join("data/t10k-labels-idx1-ubyte")).unwrap();
        },
        args: TRAIN,
        expect: &["data", "missing t10k-labels-idx1-ubyte"],
    },
    Case {
        name: "train: empty IDX file",
        setup: |d| replace(d, "train-images-idx3-ubyte", b""),
        args: TRAIN,
        expect: &["train-images-idx3-ubyte", "truncated IDX header"],
    },
    Case {
        name: "train: IDX with wrong magic",
        setup: |d| {
            replace(
                d,
                "train-labels-idx1-ubyte",
                b"\x1f\x00\x08\x01\x00\x00\x00\x01\x05",
            )
        },
        args: TRAIN,
        expect: &["train-labels-idx1-ubyte", "not an IDX file"],
    },
    Case {
        name: "train: truncated IDX",
        setup: |d| {
            let full = idx::encode(&[20, SIDE, SIDE], &[7; 20 * 16]);
            replace(d, "train-images-idx3-ubyte", &full[..full.len() - 5]);
        },
        args: TRAIN,
        expect: &[
            "train-images-idx3-ubyte",
            "truncated",
            "needs 336 bytes, file has 331",
        ],
    },
    Case {
        name: "train: truncated gzip IDX",
        setup: |d| {
            data(d);
            let p = d.join("data/t10k-images-idx3-ubyte");
            let gz = gzip(&std::fs::read(&p).unwrap());
            std::fs::remove_file(&p).unwrap();
            std::fs::write(
                d.join("data/t10k-images-idx3-ubyte.gz"),
                &gz[..gz.len() - 40],
            )
            .unwrap();
        },
        args: TRAIN,
        expect: &["t10k-images-idx3-ubyte.gz"],
    },
    Case {
        name: "train: gzip IDX with fewer data bytes than its header claims",
        setup: |d| {
            data(d);
            let p = d.join("data/train-images-idx3-ubyte");
            std::fs::remove_file(&p).unwrap();
            let short = idx::encode(&[20, SIDE, SIDE], &[3; 100]);
            std::fs::write(d.join("data/train-images-idx3-ubyte.gz"), gzip(&short)).unwrap();
        },
        args: TRAIN,
        expect: &["train-images-idx3-ubyte.gz", "truncated", "found 100"],
    },
    Case {
        name: "train: IDX header claims 2^40 elements",
        setup: |d| {
            replace(
                d,
                "train-images-idx3-ubyte",
                &idx::encode(&[1 << 20, 1 << 10, 1 << 10], &[0; 64]),
            )
        },
        args: TRAIN,
        expect: &["train-images-idx3-ubyte", "more than the limit"],
    },
    Case {
        name: "train: labels and images count mismatch",
        setup: |d| replace(d, "train-labels-idx1-ubyte", &idx::encode(&[19], &[1; 19])),
        args: TRAIN,
        expect: &[
            "train-labels-idx1-ubyte",
            "19 labels",
            "train-images-idx3-ubyte",
        ],
    },
    Case {
        name: "train: test images differ in size from training images",
        setup: |d| {
            replace(
                d,
                "t10k-images-idx3-ubyte",
                &idx::encode(&[20, 5, 5], &[1; 20 * 25]),
            )
        },
        args: TRAIN,
        expect: &["t10k-images-idx3-ubyte", "model expects"],
    },
    Case {
        name: "train: image set of rank 1",
        setup: |d| replace(d, "train-images-idx3-ubyte", &idx::encode(&[20], &[1; 20])),
        args: TRAIN,
        expect: &["train-images-idx3-ubyte", "rank"],
    },
    Case {
        name: "train: unknown preset",
        setup: data,
        args: &["train", "--data", "data", "--preset", "mnist-nope"],
        expect: &["mnist-nope", "unknown preset"],
    },
    Case {
        name: "train: invalid TOML",
        setup: |d| {
            data(d);
            std::fs::write(d.join("net.toml"), "[[layer]\nkind = \"dense\"\n").unwrap();
        },
        args: &["train", "--data", "data", "--config", "net.toml"],
        expect: &["net.toml", "invalid"],
    },
    Case {
        name: "train: TOML with an inconsistent layer size",
        setup: |d| {
            data(d);
            std::fs::write(
                d.join("net.toml"),
                "[[layer]]\nkind = \"dense\"\ninputs = 784\nunits = 10\n",
            )
            .unwrap();
        },
        args: &["train", "--data", "data", "--config", "net.toml"],
        expect: &["net.toml", "layer 1", "784", "16"],
    },
    Case {
        name: "train: TOML with an unknown field",
        setup: |d| {
            data(d);
            std::fs::write(
                d.join("net.toml"),
                "[[layer]]\nkind = \"dense\"\nunit = 10\n",
            )
            .unwrap();
        },
        args: &["train", "--data", "data", "--config", "net.toml"],
        expect: &["net.toml", "unit"],
    },
    Case {
        name: "train: TOML asking for 2^36 parameters",
        setup: |d| {
            data(d);
            std::fs::write(
                d.join("net.toml"),
                "[[layer]]\nkind = \"dense\"\nunits = 4294967295\n",
            )
            .unwrap();
        },
        args: &["train", "--data", "data", "--config", "net.toml"],
        expect: &["net.toml", "layer 1", "too large"],
    },
    Case {
        name: "train: --preset and --config together",
        setup: |d| {
            data(d);
            std::fs::write(d.join("net.toml"), "").unwrap();
        },
        args: &["train", "--preset", "mnist-mlp", "--config", "net.toml"],
        expect: &["--preset", "--config", "cannot be used with"],
    },
    Case {
        name: "train: --resume and --preset together",
        setup: |d| model(d, "m.myl", |_| {}),
        args: &["train", "--resume", "m.myl", "--preset", "mnist-mlp"],
        expect: &["--resume", "--preset", "cannot be used with"],
    },
    Case {
        name: "train: --resume from a corrupted checkpoint",
        setup: |d| {
            data(d);
            let mut b = b"MYELINCK".to_vec();
            b.extend_from_slice(&[1, 0, 0, 0, 9, 9, 9, 9, 1, 2, 3, 4]);
            std::fs::write(d.join("run.ckpt"), b).unwrap();
        },
        args: &["train", "--data", "data", "--resume", "run.ckpt"],
        expect: &["run.ckpt", "checksum"],
    },
    Case {
        name: "train: --resume from a missing file",
        setup: data,
        args: &["train", "--data", "data", "--resume", "gone.ckpt"],
        expect: &["gone.ckpt", "No such file"],
    },
    Case {
        name: "train: output directory does not exist",
        setup: data,
        args: &[
            "train",
            "--data",
            "data",
            "--epochs",
            "1",
            "--out",
            "nodir/m.myl",
        ],
        expect: &["nodir/m.myl", "cannot write"],
    },
    Case {
        name: "train: output path is a directory",
        setup: |d| {
            data(d);
            std::fs::create_dir(d.join("outdir")).unwrap();
        },
        args: &[
            "train", "--data", "data", "--epochs", "1", "--out", "outdir",
        ],
        expect: &["outdir", "is a directory"],
    },
    Case {
        name: "train: output under a regular file",
        setup: |d| {
            data(d);
            std::fs::write(d.join("afile"), b"keep").unwrap();
        },
        args: &[
            "train",
            "--data",
            "data",
            "--epochs",
            "1",
            "--out",
            "afile/m.myl",
        ],
        expect: &["afile/m.myl", "cannot write"],
    },
    Case {
        name: "train: zero epochs",
        setup: data,
        args: &["train", "--data", "data", "--epochs", "0"],
        expect: &["epochs must be at least 1"],
    },
    Case {
        name: "train: zero batch",
        setup: data,
        args: &["train", "--data", "data", "--batch", "0"],
        expect: &["batch must be at least 1"],
    },
    Case {
        name: "train: learning rate not a number",
        setup: data,
        args: &["train", "--data", "data", "--lr", "NaN"],
        expect: &["learning rate"],
    },
    Case {
        name: "train: shift augmentation as large as the images",
        setup: data,
        args: &["train", "--data", "data", "--augment-shift", "4"],
        expect: &["shift augmentation of 4 pixels", "4x4 images"],
    },
    Case {
        name: "train: unknown optimizer",
        setup: data,
        args: &["train", "--data", "data", "--optimizer", "rmsprop"],
        expect: &["--optimizer", "rmsprop"],
    },
];

fn run_case(root: &Path, i: usize, case: &Case) -> Result<(), String> {
    let dir = root.join(format!("case-{i:02}"));
    std::fs::create_dir_all(&dir).unwrap();
    (case.setup)(&dir);
    let before = snapshot(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(case.args)
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    match out.status.code() {
        None => problems.push(format!("killed by a signal ({})", out.status)),
        Some(0) => problems.push("exited 0".to_string()),
        Some(_) => {}
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push("panic text on stderr".to_string());
    }
    for want in case.expect {
        if !stderr.contains(want) {
            problems.push(format!("stderr does not mention `{want}`"));
        }
    }
    let after = snapshot(&dir);
    if after != before {
        let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        let changed: Vec<_> = before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        problems.push(format!(
            "files added {added:?}, changed or removed {changed:?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n  args: {:?}\n  stderr: {}",
            case.name,
            problems.join("; "),
            case.args,
            stderr.trim()
        ))
    }
}

#[test]
fn bad_input_is_refused_clearly_and_leaves_nothing_behind() {
    let root = std::env::temp_dir().join(format!("myelin-bad-input-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        if let Err(e) = run_case(&root, i, case) {
            failures.push(e);
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_required_kind_of_bad_input() {
    // Guards against silently dropping a row: each kind the hardening
    // checklist names has at least one case.
    let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    for kind in [
        "missing model file",
        "empty model file",
        "wrong magic",
        "truncated model file",
        "corrupted model file",
        "truncated IDX",
        "count mismatch",
        "input size differs",
        "unknown preset",
        "invalid TOML",
        "together",
    ] {
        assert!(
            names.iter().any(|n| n.contains(kind)),
            "no case for `{kind}`"
        );
    }
}
