//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// The reference models, by name.
pub const MODELS: &[&str] = &[
    "res_cnn",
    "res_cnn_bn",
    "ds_cnn",
    "tabular_mlp",
    "lstm",
    "conv1d",
];

/// `models/onnx-tests/` at the repository root.
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/onnx-tests")
}

/// The path of model `name`'s file with `suffix` (".onnx", ".inputs.npy").
pub fn model_file(name: &str, suffix: &str) -> PathBuf {
    models_dir().join(format!("{name}{suffix}"))
}

/// The shape in a `.npy` header (version 1 or 2, little-endian f32).
pub fn npy_shape(bytes: &[u8]) -> Vec<usize> {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not a .npy file");
    let (len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).expect("ascii header");
    assert!(
        header.contains("'descr': '<f4'"),
        "not little-endian f32: {header}"
    );
    let open = header.find("'shape': (").expect("shape") + "'shape': (".len();
    let close = open + header[open..].find(')').expect("shape end");
    header[open..close]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("dim"))
        .collect()
}
