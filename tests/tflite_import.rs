//! The MLPerf Tiny int8 models imported from TFLite agree bit for bit with
//! TFLite's reference kernels (`models/mlperf-tiny/goldens`), end to end
//! through `myelin run` and layer by layer; damaged or unsupported files are
//! refused with clear errors and nothing written.

mod support;

use std::path::{Path, PathBuf};

use myelin_core::model::{Activation, IoLayout, LayerKind, Model};
use myelin_core::quant::Requant;
use myelin_host::import::{import_bytes, tflite};
use myelin_host::npy::{NpyArray, NpyData, read_npy};
use myelin_host::quantize::{AlignedBytes, QTensor, QuantizedNet};
use myelin_host::run::run_batch;
use support::{import_fails, myelin, tmp, to_chw};

fn models() -> PathBuf {
    support::root().join("models/mlperf-tiny")
}

fn model_bytes(name: &str) -> Vec<u8> {
    std::fs::read(models().join(format!("{name}.tflite"))).unwrap()
}

/// The golden tensor `index` of `name` after running input 0.
fn golden_tensor(name: &str, index: usize) -> NpyArray {
    support::golden_tensor(&models().join("goldens").join(name), index)
}

/// Imports `name` with `myelin import`, runs the 16 golden inputs with
/// `myelin run` and compares with the golden outputs.
fn end_to_end(name: &str) {
    support::end_to_end(&models(), name);
}

/// Every node of `name`'s graph against TFLite's tensors for input 0.
fn layer_by_layer(name: &str) -> (usize, Option<String>) {
    support::layer_by_layer(&model_bytes(name), &models().join("goldens").join(name))
}

/// LiteRT's reference int8 FULLY_CONNECTED requantizes with one rounding:
/// `(acc * M + 2^(30 - shift)) >> (31 - shift)`.
fn single_rounding(acc: i32, m: Requant) -> i64 {
    let total = 31 - i64::from(m.shift);
    (i64::from(acc) * i64::from(m.multiplier) + (1i64 << (total - 1))) >> total
}

/// Every dense node of the imported graph, computed by a scalar twin of
/// TFLite's int8 FULLY_CONNECTED from the node's weights, biases and
/// multipliers on TFLite's own input tensor, equals TFLite's output tensor:
/// the translation (weight order, biases, multipliers) is exact, whatever
/// the core's rounding.
fn dense_nodes_match_scalar_twin(name: &str) -> usize {
    let bytes = model_bytes(name);
    let m = myelin_tflite::parse(&bytes).unwrap();
    let imp = tflite::translate(&m).unwrap();
    let mut checked = 0;
    for (k, l) in imp.net.layers.iter().enumerate() {
        if l.kind != LayerKind::Dense {
            continue;
        }
        let r = l.inputs[0];
        let src = if r == 0 {
            m.inputs[0]
        } else {
            imp.node_tensors[r - 1]
        };
        let x = to_chw(&golden_tensor(name, src));
        let want = to_chw(&golden_tensor(name, imp.node_tensors[k]));
        let (QTensor::I8 { values: w, .. }, QTensor::I32 { values: b, .. }, QTensor::Requant(req)) =
            (&l.tensors[0], &l.tensors[1], &l.tensors[2])
        else {
            panic!("dense node {k} without W, b, M");
        };
        let (zi, zo) = (
            i32::from(l.quant.input.zero_point),
            i64::from(l.quant.output.zero_point),
        );
        let lo = if l.activation == Activation::Relu {
            zo
        } else {
            -128
        };
        for (o, &want) in want.iter().enumerate() {
            let row = &w[o * x.len()..(o + 1) * x.len()];
            let acc: i32 = row
                .iter()
                .zip(&x)
                .map(|(&w, &v)| i32::from(w) * (i32::from(v) - zi))
                .sum();
            let y = (single_rounding(acc + b[o], req[o]) + zo).clamp(lo, 127);
            assert_eq!(y, i64::from(want), "{name}: dense node {k}, output {o}");
        }
        checked += 1;
    }
    checked
}

/// Every conv2d node (full or depthwise, any padding), computed by a scalar
/// twin of LiteRT's reference int8 convolution (which, unlike its
/// FULLY_CONNECTED, requantizes with the double rounding of
/// `Requant::apply`) from the imported `[OC, C/G, KH, KW]`
/// weights, per-side padding, biases and multipliers on TFLite's own input
/// tensor, equals TFLite's output tensor.
fn conv_nodes_match_scalar_twin(name: &str) -> usize {
    let bytes = model_bytes(name);
    let m = myelin_tflite::parse(&bytes).unwrap();
    let imp = tflite::translate(&m).unwrap();
    let mut checked = 0;
    for (k, l) in imp.net.layers.iter().enumerate() {
        if l.kind != LayerKind::Conv2d {
            continue;
        }
        let r = l.inputs[0];
        let src = if r == 0 {
            m.inputs[0]
        } else {
            imp.node_tensors[r - 1]
        };
        let x = to_chw(&golden_tensor(name, src));
        let want = to_chw(&golden_tensor(name, imp.node_tensors[k]));
        let (QTensor::I8 { values: w, .. }, QTensor::I32 { values: b, .. }, QTensor::Requant(req)) =
            (&l.tensors[0], &l.tensors[1], &l.tensors[2])
        else {
            panic!("conv node {k} without W, b, M");
        };
        let p = l.params.map(|v| v as usize);
        let ([c, h, wd], [oc, oh, ow]) = (l.in_shape, l.out_shape);
        let (kh, kw, sh, sw, pt, pl, g) = (p[0], p[1], p[2], p[3], p[4], p[6], p[8]);
        let cg = c / g;
        let (zi, zo) = (
            i32::from(l.quant.input.zero_point),
            i64::from(l.quant.output.zero_point),
        );
        let lo = if l.activation == Activation::Relu {
            zo
        } else {
            -128
        };
        for o in 0..oc {
            let group = o / (oc / g);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[o];
                    for i in 0..cg {
                        let ic = group * cg + i;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (y, xx) = (
                                    (oy * sh + ky) as isize - pt as isize,
                                    (ox * sw + kx) as isize - pl as isize,
                                );
                                if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                let v = i32::from(x[(ic * h + y as usize) * wd + xx as usize]) - zi;
                                acc += v * i32::from(w[((o * cg + i) * kh + ky) * kw + kx]);
                            }
                        }
                    }
                    // TFLite's convolutions round twice (MultiplyByQuantizedMultiplier).
                    let y = (i64::from(req[o].apply(acc)) + zo).clamp(lo, 127);
                    let at = (o * oh + oy) * ow + ox;
                    assert_eq!(
                        y,
                        i64::from(want[at]),
                        "{name}: conv node {k}, output ({o}, {oy}, {ox})"
                    );
                }
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn kws_and_resnet_convolutions_translate_exactly() {
    // KWS: a 10x4 stride-2 SAME convolution (padding 4/5 and 1/2) and four
    // depthwise-separable blocks; ResNet: stride-2 SAME (uneven) and 1x1
    // shortcut convolutions.
    assert_eq!(conv_nodes_match_scalar_twin("kws_ref_model"), 9);
    assert_eq!(conv_nodes_match_scalar_twin("pretrainedResnet_quant"), 9);
}

#[test]
fn ad01_translation_matches_tflite_exactly() {
    assert_eq!(dense_nodes_match_scalar_twin("ad01_int8"), 10);
}

#[test]
fn ad01_first_layer_matches_tflite_through_the_core() {
    // The first layer's outputs carry no double-rounding tie; the core agrees.
    let bytes = model_bytes("ad01_int8");
    let m = myelin_tflite::parse(&bytes).unwrap();
    let imp = tflite::translate(&m).unwrap();
    let first = QuantizedNet {
        input: imp.net.input,
        layers: imp.net.layers[..1].to_vec(),
    };
    let file = AlignedBytes::new(&first.encode().unwrap());
    let model = Model::parse(file.bytes()).unwrap();
    let need = myelin_core::model::int8_scratch_len(&model);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let x = to_chw(&golden_tensor("ad01_int8", m.inputs[0]));
    let y = model.infer_int8(&x, &mut act, &mut cell).unwrap();
    assert_eq!(y, to_chw(&golden_tensor("ad01_int8", imp.node_tensors[0])));
}

#[test]
fn ad01_matches_tflite_end_to_end() {
    end_to_end("ad01_int8");
}

#[test]
fn ad01_matches_tflite_layer_by_layer() {
    assert_eq!(layer_by_layer("ad01_int8"), (10, None));
}

#[test]
fn kws_matches_tflite_end_to_end() {
    end_to_end("kws_ref_model");
}

#[test]
fn kws_matches_tflite_layer_by_layer() {
    let n = myelin_tflite::parse(&model_bytes("kws_ref_model"))
        .unwrap()
        .operators
        .len();
    // Every operator is one node, and every node matches.
    assert_eq!(layer_by_layer("kws_ref_model"), (n, None));
}

#[test]
fn resnet_matches_tflite_end_to_end() {
    end_to_end("pretrainedResnet_quant");
}

#[test]
fn resnet_matches_tflite_layer_by_layer() {
    let n = myelin_tflite::parse(&model_bytes("pretrainedResnet_quant"))
        .unwrap()
        .operators
        .len();
    // Every operator is one node, and every node matches.
    assert_eq!(layer_by_layer("pretrainedResnet_quant"), (n, None));
}

#[test]
fn kws_and_resnet_dense_layers_translate_exactly() {
    // Their classifier reads a flattened (or pooled) channel-last image: the
    // permuted columns and multipliers reproduce TFLite's logits.
    assert_eq!(dense_nodes_match_scalar_twin("kws_ref_model"), 1);
    assert_eq!(dense_nodes_match_scalar_twin("pretrainedResnet_quant"), 1);
}

#[test]
fn import_refuses_truncated_flipped_and_foreign_files() {
    let b = model_bytes("kws_ref_model");
    let e = import_fails(&b[..b.len() / 2], "truncated.tflite");
    assert!(e.contains("malformed") || e.contains("buffer"), "{e}");
    let mut c = b.clone();
    c[4..8].copy_from_slice(b"ONNX");
    let e = import_fails(&c, "wrong-id.tflite");
    assert!(e.contains("TFL3"), "{e}");
    let e = import_fails(b"\x08\x07\x12\x04", "model.onnx");
    assert!(
        !e.contains("not available") && e.to_lowercase().contains("onnx"),
        "{e}"
    );
    // Flipped bytes in the tables: refused, or imported as a valid model;
    // never a panic (the library API, many times).
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..400 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut c = b.clone();
        let at = (rng % 4096) as usize % c.len();
        c[at] ^= 0x80 >> (rng >> 61);
        if let Ok(f) = import_bytes(Path::new("flipped.tflite"), &c) {
            assert!(Model::parse(AlignedBytes::new(&f).bytes()).is_ok());
        }
    }
}

#[test]
fn import_names_an_unsupported_op_and_its_index() {
    // ad01 with its fourth op code turned into GATHER.
    let b = myelin_tflite::rewrite(&model_bytes("ad01_int8"), |m| {
        let g = &mut m.subgraphs.as_mut().unwrap()[0];
        let ops = g.operators.as_mut().unwrap();
        let codes = m.operator_codes.as_mut().unwrap();
        let mut gather = codes[0].clone();
        gather.builtin_code = myelin_tflite::BuiltinOperator::Gather;
        gather.deprecated_builtin_code = 36;
        codes.push(gather);
        ops[3].opcode_index = codes.len() as u32 - 1;
    })
    .unwrap();
    let e = import_fails(&b, "gather.tflite");
    assert!(e.contains("operator 3 (GATHER)"), "{e}");
    assert!(
        e.contains("not supported") && e.contains("FULLY_CONNECTED, CONV_2D"),
        "{e}"
    );
}

#[test]
fn run_refuses_wrong_dtype_and_shape() {
    let bytes = model_bytes("ad01_int8");
    let model = tmp("ad01-run.myl");
    std::fs::write(
        &model,
        import_bytes(Path::new("ad01_int8.tflite"), &bytes).unwrap(),
    )
    .unwrap();
    let bad = |shape: &[usize], data: NpyData, what: &str| {
        let x = tmp(&format!("bad-{what}.npy"));
        myelin_host::npy::write_npy(&x, shape, &data).unwrap();
        let y = tmp(&format!("bad-{what}-out.npy"));
        let _ = std::fs::remove_file(&y);
        let st = myelin()
            .arg("run")
            .arg(&model)
            .arg("--input")
            .arg(&x)
            .arg("--output")
            .arg(&y)
            .output()
            .unwrap();
        assert!(!st.status.success());
        assert!(!y.exists());
        String::from_utf8_lossy(&st.stderr).to_string()
    };
    let e = bad(&[2, 640], NpyData::F32(vec![0.0; 1280]), "dtype");
    assert!(
        e.contains("float32 samples") && e.contains("int8 codes"),
        "{e}"
    );
    let e = bad(&[2, 600], NpyData::I8(vec![0; 1200]), "shape");
    assert!(e.contains("[600]") && e.contains("[640]"), "{e}");
    // TFLite's leading batch of one is accepted.
    let x = tmp("batch1.npy");
    myelin_host::npy::write_npy(&x, &[3, 1, 640], &NpyData::I8(vec![5; 1920])).unwrap();
    let y = tmp("batch1-out.npy");
    let st = myelin()
        .arg("run")
        .arg(&model)
        .arg("--input")
        .arg(&x)
        .arg("--output")
        .arg(&y)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(read_npy(&y).unwrap().shape, [3, 640]);
}

#[test]
fn resnet_nodes_the_core_runs_match_tflite() {
    // Convolutions with even padding and the first residual add run on
    // today's core, bit for bit; the first stride-2 SAME convolution
    // (uneven padding) stops it.
    let (checked, stop) = layer_by_layer("pretrainedResnet_quant");
    assert!(checked >= 4, "{checked} nodes, stopped by {stop:?}");
}

#[test]
fn run_takes_and_gives_channel_last_samples() {
    // ResNet's first convolution as a model of its own, channel-last: run
    // on TFLite's NHWC input gives TFLite's NHWC output tensor.
    let name = "pretrainedResnet_quant";
    let bytes = model_bytes(name);
    let m = myelin_tflite::parse(&bytes).unwrap();
    let mut imp = tflite::translate(&m).unwrap();
    assert_eq!(imp.io_layout, IoLayout::ChannelLast);
    imp.net.layers.truncate(1);
    let file = AlignedBytes::new(&imp.encode().unwrap());
    let model = Model::parse(file.bytes()).unwrap();
    assert_eq!(model.io_layout(), IoLayout::ChannelLast);
    let x = golden_tensor(name, m.inputs[0]);
    assert_eq!(x.shape, [1, 32, 32, 3]);
    let (shape, y) = run_batch(&model, &x).unwrap();
    let want = golden_tensor(name, imp.node_tensors[0]);
    assert_eq!(shape, [1, 32, 32, 16]);
    assert_eq!(want.shape, [1, 32, 32, 16]);
    assert_eq!(y, want.data);
}

/// Every node of `kind`, run alone by the core's int8 inference on TFLite's
/// own input tensor, equals TFLite's output tensor. Returns how many ran.
fn nodes_alone_match_through_the_core(name: &str, kind: LayerKind) -> usize {
    let bytes = model_bytes(name);
    let m = myelin_tflite::parse(&bytes).unwrap();
    let imp = tflite::translate(&m).unwrap();
    let mut checked = 0;
    for (k, l) in imp.net.layers.iter().enumerate() {
        if l.kind != kind {
            continue;
        }
        let r = l.inputs[0];
        let src = if r == 0 {
            m.inputs[0]
        } else {
            imp.node_tensors[r - 1]
        };
        let alone = QuantizedNet {
            input: l.in_shape,
            layers: vec![myelin_host::quantize::QLayer {
                inputs: vec![0],
                ..l.clone()
            }],
        };
        let file = AlignedBytes::new(&alone.encode().unwrap());
        let model = Model::parse(file.bytes()).unwrap();
        let need = myelin_core::model::int8_scratch_len(&model);
        let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
        let x = to_chw(&golden_tensor(name, src));
        let y = model.infer_int8(&x, &mut act, &mut cell).unwrap();
        assert_eq!(
            y,
            to_chw(&golden_tensor(name, imp.node_tensors[k])),
            "{name}: node {k}"
        );
        checked += 1;
    }
    checked
}

#[test]
fn average_pools_match_tflite_through_the_core() {
    assert_eq!(
        nodes_alone_match_through_the_core("kws_ref_model", LayerKind::AvgPool2d),
        1
    );
    assert_eq!(
        nodes_alone_match_through_the_core("pretrainedResnet_quant", LayerKind::AvgPool2d),
        1
    );
}

/// The imported files carry a memory plan: it runs every golden input to the
/// same output codes as the same file without a plan (one slot per value),
/// in an arena no larger than the unplanned scratch and within 5% of the
/// lower bound (largest sum of simultaneously live activations).
#[test]
fn planned_inference_equals_unplanned() {
    use myelin_core::model::plan;
    for name in ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant"] {
        let path = models().join(format!("{name}.tflite"));
        let planned = AlignedBytes::new(&import_bytes(&path, &model_bytes(name)).unwrap());
        let mut bare = planned.bytes().to_vec();
        plan::clear_plan(&mut bare).unwrap();
        let bare = AlignedBytes::new(&bare);
        let (p, u) = (
            Model::parse(planned.bytes()).unwrap(),
            Model::parse(bare.bytes()).unwrap(),
        );
        let arena = p.planned_arena().expect("imported file without a plan");
        assert_eq!(u.planned_arena(), None);
        let bound = plan::lower_bound(&p);
        let unplanned = myelin_core::model::int8_scratch_len(&u).act;
        assert!(arena <= unplanned, "{name}: arena {arena} > {unplanned}");
        assert!(
            arena * 100 <= bound * 105,
            "{name}: arena {arena}, bound {bound}"
        );
        let x = read_npy(models().join("goldens").join(name).join("inputs.npy")).unwrap();
        let (_, yp) = run_batch(&p, &x).unwrap();
        let (_, yu) = run_batch(&u, &x).unwrap();
        assert_eq!(yp, yu, "{name}: planned and unplanned outputs differ");
        let want = read_npy(models().join("goldens").join(name).join("outputs.npy")).unwrap();
        assert_eq!(yp, want.data, "{name}: outputs differ from TFLite's");
    }
}
