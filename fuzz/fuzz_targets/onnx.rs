//! The ONNX reader (`myelin-onnx`) on arbitrary bytes. Accepted graphs must
//! hold what the reader promises: only supported ops, in topological order,
//! every input known before it is read, every constant as long as its dims;
//! the translation into a myelin network then succeeds with a model file the
//! core accepts, or fails with an error (never a panic).
//! Seeds: the reference models of `models/onnx-tests/` (copied).
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_onnx::{SUPPORTED_OPS, parse};
use std::collections::HashSet;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = parse(data, None) else {
        return;
    };
    assert!((myelin_onnx::MIN_OPSET..=myelin_onnx::MAX_OPSET).contains(&g.opset));
    let mut known: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    for n in &g.nodes {
        assert!(SUPPORTED_OPS.contains(&n.op_type.as_str()), "{} left", n.op_type);
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            assert!(known.contains(i.as_str()) || g.initializer(i).is_some(), "{i} read before it exists");
        }
        known.extend(n.outputs.iter().map(String::as_str));
    }
    for o in &g.outputs {
        assert!(known.contains(o.name.as_str()), "output {} not produced", o.name);
    }
    for t in g.initializers.values() {
        assert_eq!(t.len(), t.dims.iter().product::<usize>());
    }
    if let Ok(net) = myelin_host::import::onnx::to_network(&g) {
        let bytes = net.encode().expect("a translated network encodes");
        let aligned = myelin_host::quantize::AlignedBytes::new(&bytes);
        myelin_core::model::Model::parse(aligned.bytes()).expect("the core reads what the importer wrote");
    }
});
