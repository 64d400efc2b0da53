//! Training survives faults: a run killed with SIGKILL at random moments
//! keeps a loadable checkpoint and, resumed, ends where an uninterrupted run
//! ends; a write that fails (file-size limit, as on a full disk) stops the run
//! with a clear message and leaves the previous files untouched.

#![forbid(unsafe_code)]

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use myelin::host::checkpoint::Checkpoint;
use myelin::host::idx;

const SIDE: u32 = 6;
const TRAIN: u32 = 3000;
const TEST: u32 = 500;
const EPOCHS: usize = 6;

/// A learnable set: class `k` brightens a 2x2 patch at a place fixed by
/// `k`, over noise from a fixed generator.
fn write_data(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let px = (SIDE * SIDE) as usize;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (set, n) in [("train", TRAIN), ("t10k", TEST)] {
        let mut images = Vec::with_capacity(n as usize * px);
        let mut labels = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let k = (next() % 10) as usize;
            let (r, c) = (k / 5 * 3, k % 5);
            for i in 0..px {
                let (y, x) = (i / SIDE as usize, i % SIDE as usize);
                let on = (r..r + 2).contains(&y) && (c..c + 2).contains(&x);
                // Heavy noise keeps accuracy below 100%, so a resumed run
                // that drifted would show.
                let noise = (next() % 200) as u8;
                images.push(if on { 255 - noise / 2 } else { noise });
            }
            labels.push(k as u8);
        }
        std::fs::write(
            dir.join(format!("{set}-images-idx3-ubyte")),
            idx::encode(&[n, SIDE, SIDE], &images),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{set}-labels-idx1-ubyte")),
            idx::encode(&[n], &labels),
        )
        .unwrap();
    }
}

fn myelin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_myelin"))
}

/// The training command line shared by every run.
fn train_args(data: &Path, out: &Path) -> Vec<String> {
    [
        "train",
        "--preset",
        "mnist-mlp",
        "--epochs",
        &EPOCHS.to_string(),
        "--batch",
        "32",
        "--validation",
        "300",
        "--seed",
        "11",
        "--threads",
        "1",
        "--json",
        "--data",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        data.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ])
    .collect()
}

fn resume_args(data: &Path, out: &Path, ckpt: &Path) -> Vec<String> {
    [
        "train",
        "--resume",
        &ckpt.display().to_string(),
        "--threads",
        "1",
        "--json",
        "--data",
        &data.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn check_ok(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    stdout
}

/// `test_accuracy` from the JSON line of a `train --json` run.
fn test_accuracy(stdout: &str) -> f64 {
    let line = stdout.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
    v["test_accuracy"].as_f64().expect("test_accuracy")
}

/// A random `u64` for this run (or `MYELIN_KILL_SEED`), printed for reproduction.
fn run_seed() -> u64 {
    let seed = std::env::var("MYELIN_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.finish()
        });
    eprintln!("kill schedule seed: {seed} (set MYELIN_KILL_SEED to repeat)");
    seed
}

/// Reads and validates a checkpoint through the library, then through the
/// binary (`inspect` and `eval`); returns its completed epochs.
fn check_checkpoint(ckpt: &Path, data: &Path) -> usize {
    let bytes = std::fs::read(ckpt).expect("checkpoint exists");
    let c = Checkpoint::decode(&bytes).expect("checkpoint decodes");
    myelin::core::model::Model::parse(&c.model).expect("its model parses");
    for args in [
        vec!["inspect".to_string(), ckpt.display().to_string()],
        vec![
            "eval".to_string(),
            ckpt.display().to_string(),
            "--data".to_string(),
            data.display().to_string(),
            "--threads".to_string(),
            "1".to_string(),
        ],
    ] {
        let out = myelin().args(&args).output().unwrap();
        check_ok(&format!("myelin {}", args[0]), &out);
    }
    c.meta.epochs_done
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("myelin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run() {
    let dir = scratch("kill");
    let data = dir.join("data");
    write_data(&data);

    // The reference: one uninterrupted run.
    let reference = dir.join("reference.myl");
    let start = Instant::now();
    let out = myelin()
        .args(train_args(&data, &reference))
        .output()
        .unwrap();
    let full_time = start.elapsed();
    let want = test_accuracy(&check_ok("uninterrupted run", &out));
    assert!(want > 0.5, "the reference run did not learn ({want})");

    // The same run, killed at random moments after its first checkpoint,
    // resumed each time, until it finishes.
    let mut rng = run_seed();
    let mut random = move || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) as f64 / (1u64 << 31) as f64
    };
    let model = dir.join("killed.myl");
    let ckpt = PathBuf::from(format!("{}.ckpt", model.display()));
    let mut kills = 0;
    let mut epochs_seen = 0;
    let got = loop {
        let args = if ckpt.exists() {
            resume_args(&data, &model, &ckpt)
        } else {
            train_args(&data, &model)
        };
        let mut child = myelin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Kill somewhere in the next stretch of training, up to three times;
        // the first kill comes early enough to land before the run ends.
        if kills < 3 {
            let reach = if kills == 0 { 0.3 } else { 0.5 };
            let delay = full_time.mul_f64(random() * reach);
            let deadline = Instant::now() + delay + Duration::from_secs(120);
            // Wait for a first checkpoint so there is something to keep.
            while !ckpt.exists() && Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(delay);
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                let status = child.wait().unwrap();
                assert!(!status.success());
                kills += 1;
                let done = check_checkpoint(&ckpt, &data);
                assert!(
                    done >= epochs_seen,
                    "checkpoint went back from epoch {epochs_seen} to {done}"
                );
                epochs_seen = done;
                eprintln!("kill {kills} after {delay:?}: checkpoint at epoch {done} is intact");
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        break test_accuracy(&check_ok("resumed run", &out));
    };
    assert!(kills >= 1, "no kill landed while training ran");
    assert_eq!(check_checkpoint(&ckpt, &data), EPOCHS);
    let same = std::fs::read(&model).unwrap() == std::fs::read(&reference).unwrap();
    eprintln!(
        "uninterrupted accuracy {want:.4}, after {kills} kills {got:.4}; model files identical: {same}"
    );
    assert!(
        (got - want).abs() <= 0.02,
        "resumed run reached {got}, uninterrupted {want}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_write_stops_the_run_and_keeps_the_previous_files() {
    let dir = scratch("full-disk");
    let data = dir.join("data");
    write_data(&data);
    let model = dir.join("m.myl");
    let ckpt = dir.join("m.myl.ckpt");
    let mut args = train_args(&data, &model);
    args[4] = "1".into(); // --epochs 1
    let out = myelin().args(&args).output().unwrap();
    check_ok("first run", &out);
    let (model_before, ckpt_before) = (
        std::fs::read(&model).unwrap(),
        std::fs::read(&ckpt).unwrap(),
    );

    // The same run again, with writes past 16 KiB failing as on a full disk
    // (RLIMIT_FSIZE, SIGXFSZ ignored so the write returns EFBIG).
    args[4] = "2".into();
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "trap '' XFSZ; ulimit -f 16; exec '{}' {}",
        env!("CARGO_BIN_EXE_myelin"),
        quoted.join(" ")
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run succeeded despite the limit");
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("m.myl") && stderr.contains("cannot write"),
        "unclear message: {stderr}"
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        model_before,
        "model changed"
    );
    assert_eq!(
        std::fs::read(&ckpt).unwrap(),
        ckpt_before,
        "checkpoint changed"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["data", "m.myl", "m.myl.ckpt"], "files left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}
