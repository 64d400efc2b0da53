//! Reading the MLPerf Tiny models, and refusing damaged files cleanly.

use myelin_tflite::schema::tflite::Model;
use myelin_tflite::{Options, TfliteError, parse, rewrite};

fn model(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../models/mlperf-tiny/{name}.tflite",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const MODELS: [&str; 3] = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant"];

#[test]
fn reads_the_reference_models() {
    let ad = model("ad01_int8");
    let m = parse(&ad).unwrap();
    assert_eq!(m.operators.len(), 10);
    assert!(m.operators.iter().all(|o| o.name() == "FULLY_CONNECTED"));
    assert_eq!(m.tensors[m.inputs[0]].shape, vec![1, 640]);

    let kws = model("kws_ref_model");
    let m = parse(&kws).unwrap();
    let names: Vec<String> = m.operators.iter().map(|o| o.name()).collect();
    assert_eq!(names.first().map(String::as_str), Some("CONV_2D"));
    assert!(names.contains(&"DEPTHWISE_CONV_2D".to_string()));
    assert_eq!(names.last().map(String::as_str), Some("SOFTMAX"));
    assert_eq!(m.tensors[m.inputs[0]].shape, vec![1, 49, 10, 1]);
    let dw = m
        .operators
        .iter()
        .find(|o| o.name() == "DEPTHWISE_CONV_2D")
        .unwrap();
    assert!(matches!(
        dw.options,
        Options::DepthwiseConv2d {
            depth_multiplier: 1,
            ..
        }
    ));

    let ic = model("pretrainedResnet_quant");
    let m = parse(&ic).unwrap();
    assert_eq!(m.tensors[m.inputs[0]].shape, vec![1, 32, 32, 3]);
    assert!(m.operators.iter().any(|o| o.name() == "ADD"));
    // Every constant tensor's bytes lie inside the file.
    for t in &m.tensors {
        if let Some(d) = t.data {
            let start = d.as_ptr() as usize - ic.as_ptr() as usize;
            assert!(start + d.len() <= ic.len());
        }
    }
}

#[test]
fn refuses_a_wrong_identifier() {
    let mut b = model("ad01_int8");
    b[4..8].copy_from_slice(b"TFL2");
    let e = parse(&b).unwrap_err();
    assert!(matches!(e, TfliteError::Identifier { .. }), "{e}");
    assert!(e.to_string().contains("TFL3"), "{e}");
    assert!(matches!(
        parse(b"ab").unwrap_err(),
        TfliteError::Identifier { .. }
    ));
}

#[test]
fn refuses_truncated_files_without_panicking() {
    for name in MODELS {
        let b = model(name);
        let whole = parse(&b).unwrap();
        // A spread of cuts: each is refused, or (when only unreferenced
        // trailing bytes are cut) reads as the same model.
        let step = (b.len() / 2000).max(1);
        let mut refused = 0;
        for cut in (0..b.len()).step_by(step) {
            match parse(&b[..cut]) {
                Err(_) => refused += 1,
                Ok(m) => {
                    assert_eq!(m.tensors.len(), whole.tensors.len(), "{name} cut at {cut}");
                    for (t, u) in m.tensors.iter().zip(&whole.tensors) {
                        assert_eq!(
                            (t.data, &t.shape),
                            (u.data, &u.shape),
                            "{name} cut at {cut}"
                        );
                    }
                }
            }
        }
        assert!(refused > 1900, "{name}: only {refused} cuts refused");
    }
}

#[test]
fn flipped_bytes_give_errors_or_a_verified_model() {
    // A flipped byte either leaves a model that still verifies (data bytes)
    // or is refused; never a panic, and a verified model's tensors still fit.
    let b = model("kws_ref_model");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut c = b.clone();
        let at = (rng % c.len() as u64) as usize;
        c[at] ^= 1 << (rng >> 60 & 7);
        if let Ok(m) = parse(&c) {
            for t in &m.tensors {
                assert!(t.len() <= myelin_tflite::MAX_ELEMENTS);
                if let Some(d) = t.data {
                    assert!(d.len() <= c.len());
                }
            }
        }
    }
}

fn edited(name: &str, edit: impl FnOnce(&mut Model)) -> Vec<u8> {
    rewrite(&model(name), edit).unwrap()
}

fn tensor0(m: &mut Model) -> &mut myelin_tflite::schema::tflite::Tensor {
    &mut m.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[0]
}

#[test]
fn a_rewritten_model_reads_the_same() {
    let b = model("kws_ref_model");
    let c = edited("kws_ref_model", |_| {});
    assert_eq!(&c[4..8], b"TFL3");
    let (m, n) = (parse(&b).unwrap(), parse(&c).unwrap());
    assert_eq!(m.operators.len(), n.operators.len());
    for (t, u) in m.tensors.iter().zip(&n.tensors) {
        assert_eq!((&t.shape, t.data, &t.quant), (&u.shape, u.data, &u.quant));
    }
}

#[test]
fn refuses_huge_and_non_positive_shapes() {
    let c = edited("ad01_int8", |m| {
        tensor0(m).shape = Some(vec![i32::MAX, i32::MAX, 4])
    });
    let e = parse(&c).unwrap_err().to_string();
    assert!(e.contains("tensor 0") && e.contains("more than"), "{e}");
    let c = edited("ad01_int8", |m| tensor0(m).shape = Some(vec![1, -3]));
    let e = parse(&c).unwrap_err().to_string();
    assert!(e.contains("dimension -3"), "{e}");
    let c = edited("ad01_int8", |m| tensor0(m).shape = Some(vec![1; 9]));
    let e = parse(&c).unwrap_err().to_string();
    assert!(e.contains("9 dimensions"), "{e}");
}

#[test]
fn refuses_buffers_out_of_range_or_of_the_wrong_size() {
    let c = edited("ad01_int8", |m| tensor0(m).buffer = 100_000);
    let e = parse(&c).unwrap_err().to_string();
    assert!(e.contains("buffer 100000 does not exist"), "{e}");
    // A large-model buffer pointing past the end of the file.
    let c = edited("ad01_int8", |m| {
        let b = &mut m.buffers.as_mut().unwrap()[1];
        b.data = None;
        b.offset = 1 << 40;
        b.size = 16;
    });
    let e = parse(&c).unwrap_err().to_string();
    assert!(e.contains("past the end of the file"), "{e}");
    // A weight tensor whose shape no longer matches its buffer.
    let ad = model("ad01_int8");
    let m = parse(&ad).unwrap();
    let w = m.tensors.iter().position(|t| t.data.is_some()).unwrap();
    let c = edited("ad01_int8", |m| {
        let t = &mut m.subgraphs.as_mut().unwrap()[0].tensors.as_mut().unwrap()[w];
        t.shape.as_mut().unwrap()[0] += 1;
    });
    let e = parse(&c).unwrap_err().to_string();
    assert!(e.contains("holds") && e.contains("needs"), "{e}");
}

#[test]
fn refuses_operators_naming_missing_tensors_or_codes() {
    let c = edited("ad01_int8", |m| {
        let op = &mut m.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[3];
        op.inputs.as_mut().unwrap()[0] = 9999;
    });
    let e = parse(&c).unwrap_err().to_string();
    assert!(
        e.contains("operator 3 (FULLY_CONNECTED)") && e.contains("9999"),
        "{e}"
    );
    let c = edited("ad01_int8", |m| {
        m.subgraphs.as_mut().unwrap()[0].operators.as_mut().unwrap()[2].opcode_index = 7;
    });
    let e = parse(&c).unwrap_err().to_string();
    assert!(e.contains("operator 2") && e.contains("op code 7"), "{e}");
}
