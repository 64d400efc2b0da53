//! f32 models exported from PyTorch to ONNX (`models/onnx-tests`), imported
//! with `myelin import` and run with `myelin run`, agree with onnxruntime's
//! outputs within 1e-4 (absolute, or relative for large values).

use std::path::{Path, PathBuf};
use std::process::Command;

use myelin_host::npy::{NpyData, read_npy};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/onnx-tests")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("myelin-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn myelin(args: &[&std::ffi::OsStr]) -> String {
    let st = Command::new(env!("CARGO_BIN_EXE_myelin"))
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

fn f32s(d: NpyData) -> Vec<f32> {
    match d {
        NpyData::F32(v) => v,
        other => panic!("expected float32, found {}", other.dtype_name()),
    }
}

fn matches_onnxruntime(name: &str) {
    let model = tmp(&format!("{name}.myl"));
    let y = tmp(&format!("{name}-out.npy"));
    let onnx = models().join(format!("{name}.onnx"));
    let x = models().join(format!("{name}.inputs.npy"));
    let said = myelin(&[
        "import".as_ref(),
        onnx.as_os_str(),
        "--out".as_ref(),
        model.as_os_str(),
    ]);
    assert!(said.contains("imported"), "{said}");
    myelin(&[
        "run".as_ref(),
        model.as_os_str(),
        "--input".as_ref(),
        x.as_os_str(),
        "--output".as_ref(),
        y.as_os_str(),
    ]);
    let ours = read_npy(&y).unwrap();
    let want = read_npy(models().join(format!("{name}.outputs.npy"))).unwrap();
    assert_eq!(ours.shape, want.shape, "{name}");
    let (a, b) = (f32s(ours.data), f32s(want.data));
    for (i, (&g, &w)) in a.iter().zip(&b).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= 1e-4 || err <= 1e-4 * w.abs(),
            "{name}[{i}]: myelin {g}, onnxruntime {w}"
        );
    }
}

#[test]
fn every_reference_model_matches_onnxruntime_through_the_cli() {
    for name in [
        "res_cnn",
        "res_cnn_bn",
        "ds_cnn",
        "tabular_mlp",
        "lstm",
        "conv1d",
    ] {
        matches_onnxruntime(name);
    }
}
