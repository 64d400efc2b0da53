//! Helpers shared by the TFLite import tests: the CLI, golden tensors, and
//! node-by-node comparison of an imported graph with TFLite's tensors.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use myelin_core::model::{LayerKind, Model, Shape, shape_len};
use myelin_host::import::tflite;
use myelin_host::npy::{NpyArray, NpyData, read_npy};
use myelin_host::quantize::{AlignedBytes, QuantizedNet};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `myelin` binary.
pub fn myelin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_myelin"))
}

/// A path in this test process's temporary folder.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("myelin-tflite-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Runs `myelin ARGS...`, asserting success.
pub fn myelin_ok(args: &[&Path]) {
    let st = myelin().args(args).output().unwrap();
    assert!(
        st.status.success(),
        "myelin {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// `myelin import SRC --out OUT`, then `myelin run OUT --input X --output Y`.
pub fn import_and_run(src: &Path, out: &Path, x: &Path, y: &Path) {
    myelin_ok(&[Path::new("import"), src, Path::new("--out"), out]);
    myelin_ok(&[
        Path::new("run"),
        out,
        Path::new("--input"),
        x,
        Path::new("--output"),
        y,
    ]);
}

/// `myelin import` of `models/NAME.tflite`, then `myelin run` on the 16
/// inputs of `models/goldens/NAME`: the outputs must equal the golden
/// outputs bit for bit. Returns the golden inputs and our outputs.
pub fn end_to_end(models: &Path, name: &str) -> (NpyArray, NpyArray) {
    let g = models.join("goldens").join(name);
    let (model, y) = (tmp(&format!("{name}.myl")), tmp(&format!("{name}-out.npy")));
    import_and_run(
        &models.join(format!("{name}.tflite")),
        &model,
        &g.join("inputs.npy"),
        &y,
    );
    let (ours, want) = (
        read_npy(&y).unwrap(),
        read_npy(g.join("outputs.npy")).unwrap(),
    );
    assert_eq!(ours.shape[0], 16);
    let differ = bits_differ(&ours, &want);
    let total: usize = ours.shape.iter().product();
    assert_eq!(
        differ, 0,
        "{name}: {differ} of {total} outputs differ from LiteRT's"
    );
    (read_npy(g.join("inputs.npy")).unwrap(), ours)
}

/// `myelin import` of `bytes` written as `file`, which must fail: the
/// error message (naming the file, without a panic), and no output written.
pub fn import_fails(bytes: &[u8], file: &str) -> String {
    let (src, out) = (tmp(file), tmp(&format!("{file}.myl")));
    std::fs::write(&src, bytes).unwrap();
    let _ = std::fs::remove_file(&out);
    let st = myelin()
        .arg("import")
        .arg(&src)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!st.status.success(), "{file} imported");
    assert!(!out.exists(), "{file}: output written despite the error");
    let err = String::from_utf8_lossy(&st.stderr).to_string();
    assert!(err.contains(file), "{file}: the error names no file: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The int8 codes of `a`.
pub fn i8s(a: &NpyArray) -> &[i8] {
    match &a.data {
        NpyData::I8(v) => v,
        other => panic!("expected int8, found {}", other.dtype_name()),
    }
}

/// Elements of `a` and `b` (same dtype) whose bits differ.
pub fn bits_differ(a: &NpyArray, b: &NpyArray) -> usize {
    assert_eq!(a.shape, b.shape);
    match (&a.data, &b.data) {
        (NpyData::I8(x), NpyData::I8(y)) => x.iter().zip(y).filter(|(p, q)| p != q).count(),
        (NpyData::F32(x), NpyData::F32(y)) => x
            .iter()
            .zip(y)
            .filter(|(p, q)| p.to_bits() != q.to_bits())
            .count(),
        (x, y) => panic!("dtypes {} and {}", x.dtype_name(), y.dtype_name()),
    }
}

/// Golden tensor `index` (`NNN_name.npy` under `goldens/tensors`) after
/// running input 0.
pub fn golden_tensor(goldens: &Path, index: usize) -> NpyArray {
    let dir = goldens.join("tensors");
    let prefix = format!("{index:03}_");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .unwrap_or_else(|| panic!("{}: no golden tensor {index}", dir.display()));
    read_npy(file).unwrap()
}

/// `[1, H, W, C]` (or `[1, N]`) codes in myelin's `[C, H, W]` order.
pub fn to_chw(a: &NpyArray) -> Vec<i8> {
    let v = i8s(a);
    match a.shape[..] {
        [1, h, w, c] => {
            let mut y = vec![0; v.len()];
            for p in 0..h * w {
                for ci in 0..c {
                    y[ci * h * w + p] = v[p * c + ci];
                }
            }
            y
        }
        _ => v.to_vec(),
    }
}

/// Flat `[N]` codes in TFLite's HWC order of image `[C, H, W]`, in CHW order.
fn flat_to_chw(v: &[i8], [c, h, w]: Shape) -> Vec<i8> {
    let mut y = vec![0; v.len()];
    for p in 0..h * w {
        for ci in 0..c {
            y[ci * h * w + p] = v[p * c + ci];
        }
    }
    y
}

/// Imports `tflite` and runs TFLite's int8 input tensor for input 0 through
/// every prefix of the graph with the core's int8 inference, comparing each
/// node's output with TFLite's tensor under `goldens` (a flattened image,
/// which myelin keeps in CHW order, after reordering TFLite's). Returns the
/// number of nodes checked and why the core stopped, if it did.
pub fn layer_by_layer(tflite: &[u8], goldens: &Path) -> (usize, Option<String>) {
    let m = myelin_tflite::parse(tflite).unwrap();
    let imp = tflite::translate(&m).unwrap();
    let x = to_chw(&golden_tensor(goldens, imp.input_tensor));
    // For each value, the image whose CHW order its flat elements are in.
    let mut chw_of: Vec<Option<Shape>> = vec![None];
    for l in &imp.net.layers {
        let from = chw_of[l.inputs[0]];
        let [c, h, w] = l.in_shape;
        chw_of.push(match l.kind {
            _ if l.out_shape[..2] != [1, 1] => None,
            LayerKind::Reshape if from.is_none() && c > 1 && h * w > 1 => Some(l.in_shape),
            LayerKind::Reshape | LayerKind::Lookup | LayerKind::Activation => from,
            _ => None,
        });
    }
    for (k, &image) in chw_of.iter().enumerate().skip(1) {
        let prefix = QuantizedNet {
            input: imp.net.input,
            layers: imp.net.layers[..k].to_vec(),
        };
        let file = match prefix.encode() {
            Ok(f) => AlignedBytes::new(&f),
            Err(e) => return (k - 1, Some(format!("node {}: {e}", k - 1))),
        };
        let model = Model::parse(file.bytes()).unwrap();
        let need = myelin_core::model::int8_scratch_len(&model);
        let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
        let y = match model.infer_int8(&x, &mut act, &mut cell) {
            Ok(y) => y.to_vec(),
            Err(e) => return (k - 1, Some(format!("node {}: {e}", k - 1))),
        };
        let t = imp.node_tensors[k - 1];
        let want = match image {
            Some(image) => flat_to_chw(i8s(&golden_tensor(goldens, t)), image),
            None => to_chw(&golden_tensor(goldens, t)),
        };
        assert_eq!(y.len(), shape_len(imp.net.layers[k - 1].out_shape));
        let differ = y.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{}: node {} ({:?}, TFLite tensor {t}): {differ} of {} codes differ",
            goldens.display(),
            k - 1,
            imp.net.layers[k - 1].kind,
            y.len()
        );
    }
    (imp.net.layers.len(), None)
}
