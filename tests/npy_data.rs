//! A NumPy data directory end to end: the breast-cancer table
//! (`data/breast-cancer`) trains with `examples/breast-cancer.toml`,
//! quantizes to int8 with calibration from the same directory, and
//! `myelin run` of the float model gives the classes `train` reported.

use std::path::{Path, PathBuf};
use std::process::Command;

use myelin_host::npy::{NpyData, read_npy};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn myelin(args: &[&str]) -> String {
    let st = Command::new(env!("CARGO_BIN_EXE_myelin"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "myelin {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    String::from_utf8_lossy(&st.stdout).into_owned()
}

fn json_number(text: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

#[test]
fn breast_cancer_table_trains_quantizes_and_runs() {
    let dir = std::env::temp_dir().join(format!("myelin-npy-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| -> PathBuf { dir.join(f) };
    let (model, int8, out) = (p("bc.myl"), p("bc-int8.myl"), p("y.npy"));
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let trained = myelin(&[
        "train",
        "--config",
        "examples/breast-cancer.toml",
        "--data",
        "data/breast-cancer",
        "--seed",
        "1",
        "--threads",
        "2",
        "--json",
        "--out",
        &s(&model),
    ]);
    let acc = json_number(&trained, "test_accuracy");
    assert!(acc > 0.93, "test accuracy {acc}");
    let quantized = myelin(&[
        "quantize",
        &s(&model),
        "--int8",
        "--calib-data",
        "data/breast-cancer",
        "--json",
        "--out",
        &s(&int8),
    ]);
    assert!(quantized.contains("accuracy"), "{quantized}");
    // Calibrating from the .npy file of the same training samples gives the
    // same model, with no accuracy report unless a test set is named.
    let from_file = p("bc-int8-file.myl");
    let said = myelin(&[
        "quantize",
        &s(&model),
        "--int8",
        "--calibrate",
        "data/breast-cancer/x_train.npy",
        "--out",
        &s(&from_file),
    ]);
    assert!(said.contains("no test set"), "{said}");
    assert_eq!(
        std::fs::read(&int8).unwrap(),
        std::fs::read(&from_file).unwrap()
    );
    myelin(&[
        "run",
        &s(&model),
        "--input",
        "data/breast-cancer/x_test.npy",
        "--output",
        &s(&out),
    ]);
    let y = read_npy(&out).unwrap();
    let labels = read_npy(root().join("data/breast-cancer/y_test.npy")).unwrap();
    let (NpyData::F32(scores), NpyData::I64(labels)) = (y.data, labels.data) else {
        panic!("unexpected dtypes");
    };
    assert_eq!(y.shape, [114, 2]);
    let right = scores
        .chunks_exact(2)
        .zip(&labels)
        .filter(|(s, l)| i64::from(s[1] > s[0]) == **l)
        .count();
    let ran = right as f64 / labels.len() as f64;
    assert!(
        (ran - acc).abs() < 1e-9,
        "run gives {ran}, train reported {acc}"
    );
}
