//! The real `myelin` binary on small data: training, `--json`, eval,
//! inspect, resume, and a table of bad inputs that must fail cleanly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use myelin::host::idx;

fn myelin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(args)
        .output()
        .expect("the myelin binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Stdout as JSON: exactly one line, one object.
fn json(o: &Output) -> serde_json::Value {
    let out = stdout(o);
    assert_eq!(out.lines().count(), 1, "stdout is not one JSON line: {out}");
    let last = out.lines().last().expect("some output");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("myelin-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// `n` images of `side x side`: class `c` (of 4) lights rows `2c` and `2c+1`.
fn images_and_labels(n: usize, side: usize, seed: u32) -> (Vec<u8>, Vec<u8>) {
    let mut s = seed;
    let mut img = Vec::with_capacity(n * side * side);
    let mut lab = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 4;
        for y in 0..side {
            for _ in 0..side {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (s >> 27) as u8;
                img.push(if y / 2 == c { 200 + noise } else { noise });
            }
        }
        lab.push(c as u8);
    }
    (img, lab)
}

/// An MNIST-layout directory: gzip training files, raw test files.
fn write_dataset(dir: &Path, side: usize, train: usize, test: usize) {
    let side32 = side as u32;
    let (img, lab) = images_and_labels(train, side, 1);
    let files = [
        (
            "train-images-idx3-ubyte.gz",
            gzip(&idx::encode(&[train as u32, side32, side32], &img)),
        ),
        (
            "train-labels-idx1-ubyte.gz",
            gzip(&idx::encode(&[train as u32], &lab)),
        ),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let (img, lab) = images_and_labels(test, side, 2);
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx::encode(&[test as u32, side32, side32], &img),
    )
    .unwrap();
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte"),
        idx::encode(&[test as u32], &lab),
    )
    .unwrap();
}

fn train_small(t: &TempDir, out: &str, extra: &[&str]) -> Output {
    let data = t.s("data");
    let out = t.s(out);
    let mut args = vec![
        "train",
        "--data",
        &data,
        "--epochs",
        "2",
        "--batch",
        "16",
        "--lr",
        "0.01",
        "--optimizer",
        "adam",
        "--validation",
        "40",
        "--threads",
        "2",
        "--out",
        &out,
        "--json",
    ];
    args.extend_from_slice(extra);
    myelin(&args)
}

#[test]
fn train_eval_inspect_resume_with_json() {
    let t = TempDir::new("flow");
    std::fs::create_dir_all(t.path("data")).unwrap();
    write_dataset(&t.path("data"), 8, 240, 80);
    let svg = t.s("curves.svg");
    let o = train_small(&t, "m.myl", &["--plot", &svg]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    let j = json(&o);
    for key in [
        "test_accuracy",
        "epochs",
        "train_seconds",
        "samples_per_second",
    ] {
        assert!(j.get(key).is_some(), "missing {key} in {j}");
    }
    assert_eq!(j["epochs"], 2);
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "did not learn the bars: {acc}");
    assert!(j["samples_per_second"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

    let model = t.s("m.myl");
    let o = myelin(&["eval", &model, "--data", &t.s("data"), "--json"]);
    assert!(o.status.success(), "eval failed: {}", stderr(&o));
    let e = json(&o);
    assert_eq!(e["samples"], 80);
    assert!((e["accuracy"].as_f64().unwrap() - acc).abs() < 1e-12);

    let o = myelin(&["inspect", &model, "--json"]);
    assert!(o.status.success(), "inspect failed: {}", stderr(&o));
    let i = json(&o);
    let params = 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10;
    assert_eq!(i["parameters"], params);
    assert_eq!(i["dtypes"]["f32"]["values"], params);
    assert_eq!(i["layers"].as_array().unwrap().len(), 3);
    assert!(stderr(&o).contains("dense"));
    let o = myelin(&["inspect", &model]);
    assert!(stdout(&o).contains("dense") && stdout(&o).contains("parameters: "));

    // Resume the checkpoint for one more epoch.
    let ckpt = t.s("m.myl.ckpt");
    let data = t.s("data");
    let out2 = t.s("m2.myl");
    let o = myelin(&[
        "train",
        "--resume",
        &ckpt,
        "--epochs",
        "3",
        "--data",
        &data,
        "--out",
        &out2,
        "--json",
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "resume failed: {}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["epochs"], 3);
    assert_eq!(r["history"][0], j["history"][0]);
    // The checkpoint itself evaluates too.
    let o = myelin(&["eval", &ckpt, "--data", &data]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn same_seed_and_threads_give_the_same_model() {
    let t = TempDir::new("det");
    std::fs::create_dir_all(t.path("data")).unwrap();
    write_dataset(&t.path("data"), 6, 120, 20);
    for name in ["a.myl", "b.myl"] {
        let o = train_small(&t, name, &["--seed", "7"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(
        std::fs::read(t.path("a.myl")).unwrap(),
        std::fs::read(t.path("b.myl")).unwrap()
    );
}

/// Every bad input: non-zero exit, the file named in the message, no panic,
/// and no model written.
#[test]
fn bad_inputs_fail_cleanly() {
    let t = TempDir::new("bad");
    let good = t.path("data");
    std::fs::create_dir_all(&good).unwrap();
    write_dataset(&good, 8, 64, 16);
    let o = train_small(&t, "ok.myl", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let model = std::fs::read(t.path("ok.myl")).unwrap();

    // Variants of the data directory, each with one broken file.
    let variant = |name: &str, file: &str, bytes: Vec<u8>| -> String {
        let d = t.path(name);
        std::fs::create_dir_all(&d).unwrap();
        write_dataset(&d, 8, 64, 16);
        std::fs::write(d.join(file), bytes).unwrap();
        d.display().to_string()
    };
    let train_img = "train-images-idx3-ubyte.gz";
    let full = std::fs::read(good.join(train_img)).unwrap();
    let empty = variant("empty", train_img, Vec::new());
    let magic = variant("magic", train_img, gzip(&[1, 2, 8, 3, 0, 0, 0, 1]));
    let trunc = variant("trunc", train_img, full[..full.len() / 2].to_vec());
    let (img, _) = images_and_labels(64, 8, 1);
    let short = variant(
        "short",
        train_img,
        gzip(&idx::encode(&[64, 8, 8], &img[..100])),
    );
    let count = variant(
        "count",
        "train-labels-idx1-ubyte.gz",
        gzip(&idx::encode(&[63], &[0; 63])),
    );
    let huge = variant(
        "huge",
        train_img,
        gzip(&idx::encode(&[u32::MAX, u32::MAX, 8], &[])),
    );
    let small_images = t.path("six");
    std::fs::create_dir_all(&small_images).unwrap();
    write_dataset(&small_images, 6, 64, 16);
    let six = small_images.display().to_string();

    let truncated = t.path("trunc.myl");
    std::fs::write(&truncated, &model[..model.len() - 9]).unwrap();
    let flipped = t.path("flip.myl");
    let mut f = model.clone();
    f[200] ^= 0x10;
    std::fs::write(&flipped, f).unwrap();
    let junk = t.path("junk.myl");
    std::fs::write(&junk, b"definitely not a model").unwrap();
    let logits_toml = t.path("logits.toml");
    std::fs::write(
        &logits_toml,
        "[[layer]]\nkind = \"dense\"\nunits = 10\nactivation = \"relu\"\n",
    )
    .unwrap();
    let bad_toml = t.path("bad.toml");
    std::fs::write(&bad_toml, "[[layer]\nkind = ").unwrap();
    let sizes_toml = t.path("sizes.toml");
    std::fs::write(
        &sizes_toml,
        "[[layer]]\nkind = \"dense\"\nunits = 32\n[[layer]]\nkind = \"dense\"\ninputs = 64\nunits = 10\n",
    )
    .unwrap();

    let g = good.display().to_string();
    let s = |p: &Path| p.display().to_string();
    let lt = s(&logits_toml);
    let missing = t.s("missing-dir");
    let (tr, fl, jk, bt, st) = (
        s(&truncated),
        s(&flipped),
        s(&junk),
        s(&bad_toml),
        s(&sizes_toml),
    );
    let ok_model = t.s("ok.myl");
    let absent = t.s("absent.myl");
    let nowhere = "/nonexistent-dir/m.myl".to_string();
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["train", "--data", &missing], vec!["missing-dir"]),
        (vec!["train", "--data", &empty], vec![train_img, "truncated"]),
        (vec!["train", "--data", &magic], vec![train_img, "not an IDX file"]),
        (vec!["train", "--data", &trunc], vec![train_img]),
        (vec!["train", "--data", &short], vec![train_img, "truncated"]),
        (vec!["train", "--data", &count], vec!["train-labels-idx1-ubyte.gz", "63 labels"]),
        (vec!["train", "--data", &huge], vec![train_img, "limit"]),
        (vec!["train", "--data", &g, "--preset", "nope"], vec!["unknown preset 'nope'"]),
        (vec!["train", "--data", &g, "--config", &bt], vec!["bad.toml"]),
        (vec!["train", "--data", &g, "--config", &lt], vec!["logits.toml", "no activation"]),
        (vec!["train", "--data", &g, "--config", &st], vec!["sizes.toml", "layer 2", "64", "32"]),
        (vec!["train", "--data", &g, "--preset", "mnist-mlp", "--config", &st], vec!["cannot be used with"]),
        (vec!["train", "--data", &g, "--epochs", "0"], vec!["epochs"]),
        (vec!["train", "--data", &g, "--out", &nowhere], vec!["/nonexistent-dir/m.myl"]),
        (vec!["train", "--data", &g, "--resume", &fl], vec!["flip.myl", "checksum"]),
        (vec!["eval", &tr, "--data", &g], vec!["trunc.myl", "truncated"]),
        (vec!["eval", &fl, "--data", &g], vec!["flip.myl", "checksum"]),
        (vec!["eval", &jk, "--data", &g], vec!["junk.myl", "magic"]),
        (vec!["eval", &absent, "--data", &g], vec!["absent.myl"]),
        (vec!["eval", &ok_model, "--data", &six], vec!["t10k-images-idx3-ubyte", "expects"]),
        (vec!["inspect", &tr], vec!["trunc.myl", "truncated"]),
        (vec!["inspect", &jk], vec!["junk.myl", "magic"]),
    ];
    for (args, needles) in cases {
        let before: Vec<_> = std::fs::read_dir(&t.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let o = myelin(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: '{n}' not in: {err}");
        }
        assert!(
            err.starts_with("error:") || err.contains("\nerror:"),
            "{args:?}: {err}"
        );
        let after: Vec<_> = std::fs::read_dir(&t.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(before, after, "{args:?} left files behind");
    }
    // The training run that failed on an unwritable path never started.
    assert!(!Path::new(&nowhere).exists());
}

#[test]
fn trains_on_a_few_hundred_real_mnist_samples() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let t = TempDir::new("mnist");
    let out = t.s("m.myl");
    let o = myelin(&[
        "train",
        "--data",
        &data.display().to_string(),
        "--limit",
        "600",
        "--validation",
        "100",
        "--test-limit",
        "300",
        "--epochs",
        "2",
        "--out",
        &out,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["test_samples"], 300);
    // 600 samples, two epochs: well above chance, far below a full run.
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.6, "{acc}");
}

#[test]
fn killing_a_run_leaves_a_loadable_checkpoint() {
    let t = TempDir::new("kill");
    std::fs::create_dir_all(t.path("data")).unwrap();
    write_dataset(&t.path("data"), 8, 400, 40);
    let (data, out) = (t.s("data"), t.s("k.myl"));
    let ckpt = t.path("k.myl.ckpt");
    for delay_ms in [150u64, 400, 900] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_myelin"))
            .args([
                "train",
                "--data",
                &data,
                "--epochs",
                "500",
                "--batch",
                "8",
                "--validation",
                "40",
                "--out",
                &out,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        if ckpt.exists() {
            let o = myelin(&[
                "eval",
                &ckpt.display().to_string(),
                "--data",
                &data,
                "--json",
            ]);
            assert!(o.status.success(), "after {delay_ms} ms: {}", stderr(&o));
            let o = myelin(&[
                "train",
                "--resume",
                &ckpt.display().to_string(),
                "--data",
                &data,
                "--epochs",
                "1000",
                "--out",
                &out,
                "--limit",
                "0",
            ]);
            // Resuming parses the checkpoint; an empty training set is then refused.
            assert!(stderr(&o).contains("no training samples"), "{}", stderr(&o));
        }
    }
    assert!(ckpt.exists(), "no epoch finished before the last kill");
}
