//! The TFLite reader (`myelin-tflite`) and `myelin import`'s translation on
//! arbitrary bytes. A verified model holds what the reader promises (indices
//! in range, constant data exactly its shape's bytes and inside the input);
//! a model the importer accepts is a model file the core parses.
//! Seeds: the MLPerf Tiny models of `models/mlperf-tiny/` (copied; `cargo
//! xtask fuzz` raises `-max_len` to the largest seed so they are not cut) and
//! the few-KB `small-*.tflite` models of `tools/tflite-fuzz-seeds/`, which
//! hold every imported op.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_host::import::tflite::translate;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = myelin_tflite::parse(data) else {
        return;
    };
    let n = m.tensors.len();
    assert!(m.inputs.iter().chain(&m.outputs).all(|&i| i < n));
    for op in &m.operators {
        assert!(
            op.inputs
                .iter()
                .flatten()
                .chain(&op.outputs)
                .all(|&i| i < n)
        );
    }
    for t in &m.tensors {
        assert!(t.len() <= myelin_tflite::MAX_ELEMENTS);
        if let Some(d) = t.data {
            let start = d.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + d.len() <= data.len());
        }
    }
    if let Ok(imported) = translate(&m)
        && let Ok(file) = imported.encode()
    {
        let aligned = myelin_host::quantize::AlignedBytes::new(&file);
        let model = myelin_core::model::Model::parse(aligned.bytes()).expect("encoded file parses");
        assert_eq!(model.layer_count(), imported.net.layers.len());
    }
});
