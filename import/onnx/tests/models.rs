//! The PyTorch-exported reference models load, fold to supported compute
//! ops only, and keep the shapes PyTorch gave their parameters.

mod common;

use common::{MODELS, model_file, npy_shape};
use myelin_onnx::{Dim, OnnxGraph, SUPPORTED_OPS, load};

fn model(name: &str) -> OnnxGraph {
    load(&model_file(name, ".onnx")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_model_loads_with_opset_17_and_only_supported_ops() {
    for name in MODELS {
        let g = model(name);
        assert_eq!(g.opset, 17, "{name}");
        assert!(
            g.producer.starts_with("pytorch"),
            "{name}: producer {}",
            g.producer
        );
        for op in g.op_types() {
            assert!(
                SUPPORTED_OPS.contains(&op),
                "{name}: {op} left after folding"
            );
        }
        for folded in [
            "Shape",
            "Constant",
            "ConstantOfShape",
            "Identity",
            "Dropout",
            "Cast",
            "Range",
            "Slice",
        ] {
            assert!(
                !g.op_types().contains(&folded),
                "{name}: {folded} not folded"
            );
        }
    }
}

#[test]
fn inputs_and_outputs_match_the_reference_arrays() {
    for name in MODELS {
        let g = model(name);
        for (values, suffix) in [(&g.inputs, ".inputs.npy"), (&g.outputs, ".outputs.npy")] {
            assert_eq!(values.len(), 1, "{name}{suffix}");
            let shape = npy_shape(&std::fs::read(model_file(name, suffix)).expect("npy"));
            let dims = &values[0].dims;
            assert_eq!(
                dims[0],
                Dim::Symbolic("batch".into()),
                "{name}{suffix}: batch axis"
            );
            let fixed: Vec<usize> = dims[1..]
                .iter()
                .map(|d| d.fixed().expect("fixed"))
                .collect();
            assert_eq!(fixed, shape[1..], "{name}{suffix}");
        }
    }
}

#[test]
fn every_node_input_is_an_initializer_a_graph_input_or_an_earlier_output() {
    for name in MODELS {
        let g = model(name);
        let mut known: Vec<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
        for n in &g.nodes {
            for i in n.inputs.iter().filter(|i| !i.is_empty()) {
                assert!(
                    known.contains(&i.as_str()) || g.initializer(i).is_some(),
                    "{name}: {} reads {i} before it exists",
                    n.name
                );
            }
            known.extend(n.outputs.iter().map(String::as_str));
        }
        for o in &g.outputs {
            assert!(
                known.contains(&o.name.as_str()),
                "{name}: output {} not produced",
                o.name
            );
        }
        for (k, t) in &g.initializers {
            assert!(
                g.nodes.iter().any(|n| n.inputs.contains(k)),
                "{name}: unused initializer {k}"
            );
            assert_eq!(t.len(), t.dims.iter().product::<usize>(), "{name}: {k}");
        }
    }
}

/// The dims of input `i` of every node of `op`, which must be initializers.
fn param_dims(g: &OnnxGraph, op: &str, i: usize) -> Vec<Vec<usize>> {
    g.nodes
        .iter()
        .filter(|n| n.op_type == op)
        .map(|n| {
            g.initializer(n.input(i).expect("input"))
                .unwrap_or_else(|| panic!("{}: input {i} not constant", n.name))
                .dims
                .clone()
        })
        .collect()
}

#[test]
fn residual_cnn_parameters_have_pytorch_shapes() {
    let g = model("res_cnn");
    // BN folded into the convolutions by the exporter: stem 8x1x3x3, then four 8x8x3x3.
    let convs = param_dims(&g, "Conv", 1);
    assert_eq!(convs[0], [8, 1, 3, 3]);
    assert_eq!(convs.len(), 5);
    assert!(convs[1..].iter().all(|d| d == &[8, 8, 3, 3]));
    assert_eq!(param_dims(&g, "Gemm", 1), [[10, 8]]);
    assert_eq!(param_dims(&g, "Gemm", 2), [[10]]);
    assert_eq!(
        g.nodes.iter().filter(|n| n.op_type == "Add").count(),
        2,
        "two skips"
    );
    let gemm = g.nodes.iter().find(|n| n.op_type == "Gemm").expect("gemm");
    assert_eq!(gemm.int_or("transB", 0).expect("int"), 1);
}

#[test]
fn batch_norm_kept_when_exported_unfolded() {
    let g = model("res_cnn_bn");
    let bn: Vec<_> = g
        .nodes
        .iter()
        .filter(|n| n.op_type == "BatchNormalization")
        .collect();
    assert_eq!(bn.len(), 5);
    for n in bn {
        for i in 1..5 {
            assert_eq!(
                g.initializer(n.input(i).expect("param"))
                    .expect("const")
                    .dims,
                [8],
                "{}",
                n.name
            );
        }
        let eps = n.float_or("epsilon", 0.0).expect("float");
        assert!((eps - 1e-5).abs() < 1e-9, "epsilon {eps}");
        let var = g
            .initializer(n.input(4).expect("var"))
            .and_then(|t| t.as_f32())
            .expect("f32");
        assert!(
            var.iter().all(|&v| (0.75..=1.25).contains(&v)),
            "running variances as the script set them"
        );
    }
}

#[test]
fn depthwise_separable_cnn_has_depthwise_groups() {
    let g = model("ds_cnn");
    let convs: Vec<_> = g.nodes.iter().filter(|n| n.op_type == "Conv").collect();
    let groups: Vec<i64> = convs
        .iter()
        .map(|n| n.int_or("group", 1).expect("int"))
        .collect();
    assert_eq!(groups, [1, 8, 1, 16, 1]);
    assert_eq!(
        param_dims(&g, "Conv", 1),
        [
            vec![8, 3, 3, 3],
            vec![8, 1, 3, 3],
            vec![16, 8, 1, 1],
            vec![16, 1, 3, 3],
            vec![16, 16, 1, 1]
        ]
    );
    let strides: Vec<Vec<i64>> = convs
        .iter()
        .map(|n| n.ints("strides").expect("ints").expect("strides").to_vec())
        .collect();
    assert_eq!(
        strides,
        [vec![2, 2], vec![1, 1], vec![1, 1], vec![2, 2], vec![1, 1]]
    );
    // relu6: Clip with constant bounds 0 and 6 as initializers.
    for clip in g.nodes.iter().filter(|n| n.op_type == "Clip") {
        let lo = g
            .initializer(clip.input(1).expect("min"))
            .and_then(|t| t.as_f32())
            .expect("f32");
        let hi = g
            .initializer(clip.input(2).expect("max"))
            .and_then(|t| t.as_f32())
            .expect("f32");
        assert_eq!((lo, hi), (&[0.0][..], &[6.0][..]));
    }
    assert_eq!(param_dims(&g, "Gemm", 1), [[6, 64]]);
    assert!(g.op_types().contains(&"Softmax"));
}

#[test]
fn tabular_mlp_drops_dropout() {
    let g = model("tabular_mlp");
    assert_eq!(g.op_types(), ["Gemm", "LeakyRelu", "Sigmoid", "Tanh"]);
    assert_eq!(param_dims(&g, "Gemm", 1), [[32, 13], [16, 32], [3, 16]]);
    let lr = g
        .nodes
        .iter()
        .find(|n| n.op_type == "LeakyRelu")
        .expect("leaky");
    assert!((lr.float_or("alpha", 0.0).expect("float") - 0.1).abs() < 1e-7);
}

#[test]
fn lstm_initial_state_zeros_fold_away() {
    let g = model("lstm");
    let lstm = g.nodes.iter().find(|n| n.op_type == "LSTM").expect("lstm");
    assert_eq!(lstm.int("hidden_size").expect("int"), Some(12));
    let dims: Vec<_> = (1..4)
        .map(|i| {
            g.initializer(lstm.input(i).expect("param"))
                .expect("const")
                .dims
                .clone()
        })
        .collect();
    assert_eq!(dims, [vec![1, 48, 6], vec![1, 48, 12], vec![1, 96]]);
    assert_eq!(lstm.input(5), None, "initial_h (batch-sized zeros) dropped");
    assert_eq!(lstm.input(6), None, "initial_c dropped");
    // y[:, -1, :] is a Gather with a constant index.
    let gather = g
        .nodes
        .iter()
        .find(|n| n.op_type == "Gather")
        .expect("gather");
    assert_eq!(gather.int_or("axis", 0).expect("int"), 1);
    assert_eq!(
        g.initializer(gather.input(1).expect("index"))
            .and_then(|t| t.as_i64()),
        Some(&[-1][..])
    );
    let squeeze = g
        .nodes
        .iter()
        .find(|n| n.op_type == "Squeeze")
        .expect("squeeze");
    assert_eq!(
        g.initializer(squeeze.input(1).expect("axes"))
            .and_then(|t| t.as_i64()),
        Some(&[1][..])
    );
}

#[test]
fn conv1d_net_has_rank_3_kernels() {
    let g = model("conv1d");
    assert_eq!(param_dims(&g, "Conv", 1), [[8, 3, 5], [16, 8, 3]]);
    let pads: Vec<Vec<i64>> = g
        .nodes
        .iter()
        .filter(|n| n.op_type == "Conv")
        .map(|n| n.ints("pads").expect("ints").expect("pads").to_vec())
        .collect();
    assert_eq!(pads, [vec![2, 2], vec![1, 1]]);
    let mean = g
        .nodes
        .iter()
        .find(|n| n.op_type == "ReduceMean")
        .expect("mean");
    assert_eq!(mean.ints("axes").expect("ints"), Some(&[2][..]));
    assert_eq!(mean.int_or("keepdims", 1).expect("int"), 0);
}
