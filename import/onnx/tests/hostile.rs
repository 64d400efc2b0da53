//! Malformed and hostile models give clear errors, never a panic, and never
//! read outside the model's folder.

mod common;

use common::{MODELS, model_file};
use myelin_onnx::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_shape_proto, type_proto,
};
use myelin_onnx::{OnnxError, TensorData, parse};
use prost::Message;

fn value(name: &str, dims: &[i64], batch: bool) -> ValueInfoProto {
    let mut dim: Vec<_> = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    if batch {
        dim.insert(
            0,
            tensor_shape_proto::Dimension {
                value: Some(tensor_shape_proto::dimension::Value::DimParam(
                    "batch".into(),
                )),
                ..Default::default()
            },
        );
    }
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

fn i64_tensor(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: vec![data.len() as i64],
        data_type: Some(7),
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

/// x [batch, 4] -> Gemm(W 3x4, B 3, transB) -> Relu -> y [batch, 3].
fn small_model() -> ModelProto {
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.1).collect();
    let mut gemm = node("Gemm", "fc", &["x", "W", "B"], &["h"]);
    gemm.attribute.push(int_attr("transB", 1));
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        producer_name: Some("test".into()),
        graph: Some(GraphProto {
            node: vec![gemm, node("Relu", "act", &["h"], &["y"])],
            initializer: vec![
                f32_tensor("W", &[3, 4], &w),
                f32_tensor("B", &[3], &[0.5, -0.5, 0.0]),
            ],
            input: vec![value("x", &[4], true)],
            output: vec![value("y", &[3], true)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn graph(m: &mut ModelProto) -> &mut GraphProto {
    m.graph.as_mut().expect("graph")
}

fn error_of(m: &ModelProto) -> String {
    match parse(&m.encode_to_vec(), None) {
        Ok(g) => panic!("accepted: {g:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_small_model_is_valid() {
    let g = parse(&small_model().encode_to_vec(), None).expect("valid");
    assert_eq!(g.op_types(), ["Gemm", "Relu"]);
    assert_eq!(
        g.initializer("W").and_then(|t| t.as_f32()).map(|v| v[11]),
        Some(11.0 * 0.1)
    );
}

#[test]
fn truncated_files_give_errors_not_panics() {
    for name in MODELS {
        let bytes = std::fs::read(model_file(name, ".onnx")).expect("model");
        let mut errors = 0;
        for cut in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            if parse(&bytes[..cut], None).is_err() {
                errors += 1;
            }
        }
        assert!(
            errors > bytes.len() / 14,
            "{name}: most truncations must be refused ({errors})"
        );
    }
}

#[test]
fn random_byte_flips_give_errors_not_panics() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in MODELS {
        let bytes = std::fs::read(model_file(name, ".onnx")).expect("model");
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % b.len() as u64) as usize;
                b[at] ^= 1 << (next() % 8);
            }
            let _ = parse(&b, None);
        }
    }
}

#[test]
fn a_cycle_is_named() {
    let mut m = small_model();
    let g = graph(&mut m);
    g.node[0].input[0] = "y".into();
    let e = error_of(&m);
    assert!(e.contains("cycle"), "{e}");
    assert!(
        e.contains("`fc` (Gemm)") || e.contains("`act` (Relu)"),
        "{e}"
    );
}

#[test]
fn an_unknown_input_is_named() {
    let mut m = small_model();
    graph(&mut m).node[1].input[0] = "nowhere".into();
    let e = error_of(&m);
    assert!(
        e.contains("node `act` (Relu)") && e.contains("`nowhere`"),
        "{e}"
    );
}

#[test]
fn a_missing_initializer_is_named() {
    let mut m = small_model();
    graph(&mut m).initializer.remove(0);
    let e = error_of(&m);
    assert!(
        e.contains("node `fc` (Gemm)") && e.contains("input `W`"),
        "{e}"
    );
}

#[test]
fn huge_dims_are_refused_before_allocating() {
    for dims in [
        vec![1i64 << 40, 1 << 40],
        vec![1 << 29],
        vec![-3, 4],
        vec![i64::MAX, 2],
    ] {
        let mut m = small_model();
        graph(&mut m).initializer[0].dims = dims.clone();
        let e = error_of(&m);
        assert!(
            e.contains("tensor `W`") && (e.contains("more than") || e.contains("negative")),
            "{dims:?}: {e}"
        );
    }
    let mut m = small_model();
    graph(&mut m).input[0] = value("x", &[1 << 20, 1 << 20], true);
    let e = error_of(&m);
    assert!(e.contains("input `x`") && e.contains("more than"), "{e}");
}

#[test]
fn a_data_size_mismatch_is_named() {
    let mut m = small_model();
    graph(&mut m).initializer[0].dims = vec![3, 5];
    let e = error_of(&m);
    assert!(
        e.contains("tensor `W`") && e.contains("15 elements") && e.contains("12"),
        "{e}"
    );
    let mut m = small_model();
    let w = &mut graph(&mut m).initializer[0];
    w.float_data = vec![1.0; 11];
    w.raw_data = None;
    let e = error_of(&m);
    assert!(e.contains("float_data holds 11"), "{e}");
}

#[test]
fn a_huge_constant_of_shape_is_refused() {
    let mut m = small_model();
    let g = graph(&mut m);
    g.initializer.push(i64_tensor("big", &[1 << 14, 1 << 14]));
    g.node
        .insert(0, node("ConstantOfShape", "zeros", &["big"], &["z"]));
    g.node[2] = node("Add", "act", &["h", "z"], &["y"]);
    let e = error_of(&m);
    assert!(
        e.contains("node `zeros` (ConstantOfShape)") && e.contains("larger than the model file"),
        "{e}"
    );
}

fn external(location: &str) -> ModelProto {
    let mut m = small_model();
    let w = &mut graph(&mut m).initializer[0];
    w.raw_data = None;
    w.data_location = Some(1);
    w.external_data = vec![
        StringStringEntryProto {
            key: Some("location".into()),
            value: Some(location.into()),
        },
        StringStringEntryProto {
            key: Some("length".into()),
            value: Some("48".into()),
        },
    ];
    m
}

#[test]
fn external_data_outside_the_folder_is_refused() {
    let dir = std::env::temp_dir().join(format!("myelin-onnx-ext-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("inner")).expect("dir");
    std::fs::write(dir.join("secret.bin"), [0u8; 48]).expect("write");
    for loc in [
        "../secret.bin",
        "inner/../../secret.bin",
        "/etc/passwd",
        "..\\secret.bin",
        "C:secret.bin",
        "",
    ] {
        let bytes = external(loc).encode_to_vec();
        let e = parse(&bytes, Some(&dir.join("inner"))).expect_err(loc);
        assert!(matches!(e, OnnxError::ExternalData { .. }), "{loc}: {e}");
        assert!(e.to_string().contains("tensor `W`"), "{e}");
    }
    // Without a folder nothing external is read.
    let e = parse(&external("w.bin").encode_to_vec(), None).expect_err("no folder");
    assert!(e.to_string().contains("without its folder"), "{e}");
    #[cfg(unix)]
    {
        let link = dir.join("inner/link.bin");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(dir.join("secret.bin"), &link).expect("symlink");
        let e = parse(
            &external("link.bin").encode_to_vec(),
            Some(&dir.join("inner")),
        )
        .expect_err("symlink out");
        assert!(e.to_string().contains("outside the model's folder"), "{e}");
    }
    std::fs::remove_dir_all(&dir).expect("clean");
}

#[test]
fn external_data_inside_the_folder_is_read_with_its_size_checked() {
    let dir = std::env::temp_dir().join(format!("myelin-onnx-in-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let w: Vec<f32> = (0..12).map(|i| i as f32 - 5.0).collect();
    std::fs::write(
        dir.join("w.bin"),
        w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .expect("write");
    let model = external("w.bin").encode_to_vec();
    let path = dir.join("m.onnx");
    std::fs::write(&path, &model).expect("write");
    let g = myelin_onnx::load(&path).expect("inside the folder");
    assert_eq!(
        g.initializer("W").map(|t| &t.data),
        Some(&TensorData::F32(w))
    );
    std::fs::write(dir.join("w.bin"), [0u8; 20]).expect("shorten");
    let e = myelin_onnx::load(&path).expect_err("short file");
    assert!(e.to_string().contains("holds 20 bytes"), "{e}");
    std::fs::remove_dir_all(&dir).expect("clean");
}

#[test]
fn opsets_outside_13_to_20_are_refused() {
    for v in [11, 12, 21] {
        let mut m = small_model();
        m.opset_import[0].version = Some(v);
        let e = error_of(&m);
        assert!(e.contains(&format!("opset {v} is not supported")), "{e}");
    }
    for v in [13, 20] {
        let mut m = small_model();
        m.opset_import[0].version = Some(v);
        parse(&m.encode_to_vec(), None).expect("accepted opset");
    }
}

#[test]
fn non_f32_compute_tensors_are_refused() {
    let mut m = small_model();
    let w = &mut graph(&mut m).initializer[0];
    w.data_type = Some(11);
    w.raw_data = Some(vec![0; 96]);
    let e = error_of(&m);
    assert!(e.contains("tensor `W`") && e.contains("DOUBLE"), "{e}");
    let mut m = small_model();
    graph(&mut m).initializer[1] = i64_tensor("B", &[1, 2, 3]);
    let e = error_of(&m);
    assert!(
        e.contains("node `fc` (Gemm)") && e.contains("`B` is an integer tensor"),
        "{e}"
    );
    let mut m = small_model();
    graph(&mut m).input[0].r#type = Some(TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(7),
            shape: Some(TensorShapeProto::default()),
        })),
        ..Default::default()
    });
    assert!(error_of(&m).contains("INT64 is not supported"));
}

#[test]
fn an_unsupported_op_is_named() {
    let mut m = small_model();
    graph(&mut m).node[1] = node("Sin", "wave", &["h"], &["y"]);
    let e = error_of(&m);
    assert!(
        e.contains("node `wave`") && e.contains("unsupported op `Sin`"),
        "{e}"
    );
}

#[test]
fn symbolic_dims_beyond_the_batch_are_refused() {
    let mut m = small_model();
    let dims = &mut graph(&mut m).input[0]
        .r#type
        .as_mut()
        .and_then(|t| t.value.as_mut());
    if let Some(type_proto::Value::TensorType(t)) = dims {
        let d = &mut t.shape.as_mut().expect("shape").dim[1];
        d.value = Some(tensor_shape_proto::dimension::Value::DimParam("n".into()));
    }
    let e = error_of(&m);
    assert!(e.contains("axis 1 is symbolic"), "{e}");
}

/// x [2, 3, 4] (fixed) -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) -> Identity -> y.
#[test]
fn a_view_subgraph_folds_into_a_constant_reshape_target() {
    let mut m = small_model();
    let g = graph(&mut m);
    g.input[0] = value("x", &[2, 3, 4], false);
    g.output[0] = value("y", &[2, 12], false);
    g.initializer = vec![
        TensorProto {
            name: Some("zero".into()),
            dims: vec![],
            data_type: Some(7),
            int64_data: vec![0],
            ..Default::default()
        },
        i64_tensor("axes0", &[0]),
        i64_tensor("minus_one", &[-1]),
    ];
    let mut gather = node("Gather", "g", &["s", "zero"], &["n"]);
    gather.attribute.push(int_attr("axis", 0));
    let mut concat = node("Concat", "c", &["n1", "minus_one"], &["shape"]);
    concat.attribute.push(int_attr("axis", 0));
    // Listed out of order: the reader sorts them.
    g.node = vec![
        node("Identity", "id", &["r"], &["y"]),
        node("Reshape", "view", &["x", "shape"], &["r"]),
        concat,
        node("Unsqueeze", "u", &["n", "axes0"], &["n1"]),
        gather,
        node("Shape", "s", &["x"], &["s"]),
    ];
    let out = parse(&m.encode_to_vec(), None).expect("folds");
    assert_eq!(out.op_types(), ["Reshape"]);
    let view = &out.nodes[0];
    assert_eq!(
        view.outputs,
        ["y"],
        "the Identity's graph output name moves to the producer"
    );
    assert_eq!(
        out.initializer(view.input(1).expect("shape"))
            .and_then(|t| t.as_i64()),
        Some(&[2, -1][..])
    );
}

#[test]
fn a_batch_dependent_view_becomes_reshape_zero() {
    let mut m = small_model();
    let g = graph(&mut m);
    g.input[0] = value("x", &[3, 4], true);
    g.output[0] = value("y", &[12], true);
    g.initializer = vec![
        TensorProto {
            name: Some("zero".into()),
            dims: vec![],
            data_type: Some(7),
            int64_data: vec![0],
            ..Default::default()
        },
        i64_tensor("axes0", &[0]),
        i64_tensor("minus_one", &[-1]),
    ];
    let mut gather = node("Gather", "g", &["s", "zero"], &["n"]);
    gather.attribute.push(int_attr("axis", 0));
    let mut concat = node("Concat", "c", &["n1", "minus_one"], &["shape"]);
    concat.attribute.push(int_attr("axis", 0));
    g.node = vec![
        node("Shape", "s", &["x"], &["s"]),
        gather,
        node("Unsqueeze", "u", &["n", "axes0"], &["n1"]),
        concat,
        node("Reshape", "view", &["x", "shape"], &["y"]),
    ];
    let out = parse(&m.encode_to_vec(), None).expect("folds");
    assert_eq!(out.op_types(), ["Reshape"]);
    assert_eq!(
        out.initializer(out.nodes[0].input(1).expect("shape"))
            .and_then(|t| t.as_i64()),
        Some(&[0, -1][..])
    );
    // The same batch size anywhere else cannot be folded.
    let g = graph(&mut m);
    g.node[4] = node("Add", "plus", &["x", "shape"], &["y"]);
    let e = error_of(&m);
    assert!(
        e.contains("node `plus` (Add)") && e.contains("batch size"),
        "{e}"
    );
}
