//! Int8 TFLite models with op mixes the importer was not tuned on
//! (`models/tflite-tests`, made by `tools/tflite-goldens/make_models.py`)
//! agree bit for bit with LiteRT's reference kernels: every output of the
//! 16 golden inputs through `myelin import` and `myelin run` (float I/O
//! included), and every node's output for input 0.

mod support;

use std::path::PathBuf;

use myelin_core::model::{LayerKind, Model};
use myelin_host::import::tflite;
use myelin_host::npy::{NpyData, read_npy};
use myelin_host::quantize::AlignedBytes;
use support::{import_fails, layer_by_layer, root, tmp};

fn dir() -> PathBuf {
    root().join("models/tflite-tests")
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.tflite"))).unwrap()
}

/// [`support::end_to_end`] on `name`; returns the dtypes of inputs and
/// outputs.
fn end_to_end(name: &str) -> (&'static str, &'static str) {
    let (x, ours) = support::end_to_end(&dir(), name);
    (x.data.dtype_name(), ours.data.dtype_name())
}

/// The node kinds of the imported graph.
fn kinds(name: &str) -> Vec<LayerKind> {
    let b = bytes(name);
    let imp = tflite::translate(&myelin_tflite::parse(&b).unwrap()).unwrap();
    imp.net.layers.iter().map(|l| l.kind).collect()
}

fn layers(name: &str) -> usize {
    let g = dir().join("goldens").join(name);
    let (n, stop) = layer_by_layer(&bytes(name), &g);
    assert_eq!(stop, None, "{name}");
    // The host's scalar walk of the in-memory graph agrees too.
    let b = bytes(name);
    let imp = tflite::translate(&myelin_tflite::parse(&b).unwrap()).unwrap();
    let x = support::to_chw(&support::golden_tensor(&g, imp.input_tensor));
    let last = *imp.node_tensors.last().unwrap();
    let want = support::to_chw(&support::golden_tensor(&g, last));
    assert_eq!(
        imp.net.forward(&x).unwrap(),
        want,
        "{name}: QuantizedNet::forward"
    );
    n
}

#[test]
fn pads_folded_into_convolutions_with_float_io_match_litert() {
    // QUANTIZE, PAD, CONV_2D, MAX_POOL_2D, PAD, DEPTHWISE_CONV_2D, CONV_2D,
    // AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, DEQUANTIZE: the edges and
    // both PADs leave no node of their own.
    assert_eq!(end_to_end("pad_conv_pools"), ("float32", "float32"));
    use LayerKind::*;
    let k = kinds("pad_conv_pools");
    assert_eq!(
        k,
        [Conv2d, MaxPool2d, Conv2d, Conv2d, AvgPool2d, Reshape, Dense]
    );
    assert_eq!(layers("pad_conv_pools"), k.len());
}

#[test]
fn concatenated_branches_and_tanh_sigmoid_heads_match_litert() {
    assert_eq!(end_to_end("concat_heads"), ("int8", "int8"));
    let k = kinds("concat_heads");
    assert!(k.contains(&LayerKind::Concat), "{k:?}");
    assert_eq!(k.iter().filter(|&&k| k == LayerKind::Lookup).count(), 2);
    assert_eq!(layers("concat_heads"), 9);
}

#[test]
fn per_tensor_dense_mlp_with_tanh_matches_litert() {
    assert_eq!(end_to_end("mlp_tanh"), ("float32", "int8"));
    assert_eq!(layers("mlp_tanh"), 5);
}

#[test]
fn float_io_flags_are_in_the_file() {
    let path = dir().join("pad_conv_pools.tflite");
    let file = myelin_host::import::import_bytes(&path, &bytes("pad_conv_pools")).unwrap();
    let file = AlignedBytes::new(&file);
    let m = Model::parse(file.bytes()).unwrap();
    assert!(m.float_input() && m.float_output());
    // The core quantizes as TFLite's QUANTIZE: the QUANTIZE output tensor
    // of input 0 is the core's codes of the float input.
    let g = dir().join("goldens/pad_conv_pools");
    let imp = tflite::translate(&myelin_tflite::parse(&bytes("pad_conv_pools")).unwrap()).unwrap();
    let x = read_npy(g.join("inputs.npy")).unwrap();
    let NpyData::F32(v) = &x.data else {
        panic!("float inputs expected")
    };
    let sample = myelin_host::run::to_model_order(&m, &v[..m.input_len()]);
    let mut codes = vec![0i8; m.input_len()];
    m.quantize_input(&sample, &mut codes).unwrap();
    let want = support::to_chw(&support::golden_tensor(&g, imp.input_tensor));
    assert_eq!(codes, want);
    // An int8 batch is refused, naming what the model takes.
    let bad = tmp("pad-int8.npy");
    myelin_host::npy::write_npy(&bad, &[1, 16, 16, 3], &NpyData::I8(vec![0; 768])).unwrap();
    let model = tmp("pad-flags.myl");
    std::fs::write(&model, file.bytes()).unwrap();
    let out = tmp("pad-int8-out.npy");
    let st = support::myelin()
        .arg("run")
        .arg(&model)
        .arg("--input")
        .arg(&bad)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!st.status.success());
    let e = String::from_utf8_lossy(&st.stderr);
    assert!(e.contains("int8 samples") && e.contains("float32"), "{e}");
    assert!(!out.exists());
}

#[test]
fn inspect_shows_float_io() {
    let model = tmp("mlp-inspect.myl");
    std::fs::write(
        &model,
        myelin_host::import::import_bytes(&dir().join("mlp_tanh.tflite"), &bytes("mlp_tanh"))
            .unwrap(),
    )
    .unwrap();
    let st = support::myelin()
        .arg("inspect")
        .arg(&model)
        .output()
        .unwrap();
    assert!(st.status.success());
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(text.contains("float32 input"), "{text}");
    assert!(text.contains("int8 output"), "{text}");
}

/// `bytes` with operator `op`'s code turned into `code`.
fn with_op(bytes: &[u8], op: usize, code: myelin_tflite::BuiltinOperator, old: i8) -> Vec<u8> {
    myelin_tflite::rewrite(bytes, |m| {
        let codes = m.operator_codes.as_mut().unwrap();
        let mut c = codes[0].clone();
        c.builtin_code = code;
        c.deprecated_builtin_code = old;
        codes.push(c);
        let n = codes.len() as u32 - 1;
        m.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[op].opcode_index = n;
    })
    .unwrap()
}

#[test]
fn quantize_and_dequantize_inside_the_graph_are_refused() {
    use myelin_tflite::BuiltinOperator as B;
    // mlp_tanh's first TANH (operator 2) as a requantizing QUANTIZE, then
    // as a DEQUANTIZE to an int8 tensor inside the graph.
    let e = import_fails(
        &with_op(&bytes("mlp_tanh"), 2, B::Quantize, 114),
        "mid-quantize.tflite",
    );
    assert!(
        e.contains("operator 2 (QUANTIZE)") && e.contains("inside the graph"),
        "{e}"
    );
    let e = import_fails(
        &with_op(&bytes("mlp_tanh"), 2, B::Dequantize, 6),
        "mid-dequantize.tflite",
    );
    assert!(
        e.contains("operator 2 (DEQUANTIZE)") && e.contains("inside the graph"),
        "{e}"
    );
}

#[test]
fn a_pad_before_a_pool_is_refused_naming_the_pad() {
    // pad_conv_pools with its MAX_POOL_2D (operator 3) reading the first
    // PAD's output (operator 1) instead of the convolution's.
    let b = myelin_tflite::rewrite(&bytes("pad_conv_pools"), |m| {
        let ops = m.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap();
        let padded = ops[1].outputs.as_ref().unwrap()[0];
        ops[3].inputs.as_mut().unwrap()[0] = padded;
    })
    .unwrap();
    let e = import_fails(&b, "pad-pool.tflite");
    assert!(
        e.contains("operator 3 (MAX_POOL_2D)") && e.contains("PAD (operator 1)"),
        "{e}"
    );
}

#[test]
fn tanh_and_sigmoid_tables_match_litert_on_every_code() {
    for name in ["tanh_sweep", "sigmoid_sweep"] {
        // 16 x 256 inputs drawn over the codes reach all 256 of them.
        let x = read_npy(dir().join("goldens").join(name).join("inputs.npy")).unwrap();
        let mut seen = [false; 256];
        for &c in support::i8s(&x) {
            seen[(i16::from(c) + 128) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "{name}: not every code drawn");
        assert_eq!(end_to_end(name), ("int8", "int8"));
        assert_eq!(kinds(name), [LayerKind::Lookup]);
    }
}
