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

#[test]
fn an_imported_model_fine_tunes_and_quantizes_on_numpy_data() {
    use myelin_host::npy::{NpyData, write_npy};
    // A 3-class set of 1 x 16 x 16 samples, the residual CNN's input (the
    // CNN ends with logits; a model ending with a softmax fine-tunes too).
    let data = tmp("images");
    std::fs::create_dir_all(&data).unwrap();
    let mut seed = 0x9e37_79b9u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as f32 / u32::MAX as f32 - 0.5
    };
    for (split, n) in [("train", 300usize), ("test", 60)] {
        let x: Vec<f32> = (0..n * 256).map(|_| next()).collect();
        let y: Vec<i64> = x
            .chunks_exact(256)
            .map(|r| i64::from(r[0] > 0.0) + i64::from(r[17] > 0.2))
            .collect();
        write_npy(
            data.join(format!("x_{split}.npy")),
            &[n, 1, 16, 16],
            &NpyData::F32(x),
        )
        .unwrap();
        write_npy(data.join(format!("y_{split}.npy")), &[n], &NpyData::I64(y)).unwrap();
    }
    let (model, tuned, int8) = (tmp("cnn.myl"), tmp("cnn-tuned.myl"), tmp("cnn-int8.myl"));
    let onnx = models().join("res_cnn.onnx");
    myelin(&[
        "import".as_ref(),
        onnx.as_os_str(),
        "--out".as_ref(),
        model.as_os_str(),
    ]);
    let said = myelin(&[
        "train".as_ref(),
        "--resume".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "--epochs".as_ref(),
        "3".as_ref(),
        "--out".as_ref(),
        tuned.as_os_str(),
    ]);
    assert!(said.contains("test accuracy"), "{said}");
    let said = myelin(&[
        "quantize".as_ref(),
        tuned.as_os_str(),
        "--int8".as_ref(),
        "--calib-data".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        int8.as_os_str(),
    ]);
    assert!(said.contains("int8: test accuracy"), "{said}");
    assert!(int8.is_file());
}
