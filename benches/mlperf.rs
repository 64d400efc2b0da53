//! The three MLPerf Tiny int8 models (`models/mlperf-tiny/`) on the host,
//! imported from TFLite in the setup (`myelin import`'s library path), over
//! their golden inputs (criterion, single thread). `cargo bench --bench mlperf`.
//!
//! - `myelin run batch 1/NAME`: one sample through [`run_batch`], the code
//!   behind `myelin run` (channel-last samples reordered, scratch allocated,
//!   [`Model::infer_int8`]).
//! - `infer_int8 batch 1/NAME`: the core's [`Model::infer_int8`] alone, on a
//!   sample already in the model's order, scratch reused (what firmware runs).
//! - `myelin run batch 16/NAME`: all 16 golden inputs in one [`run_batch`];
//!   divide by 16 for the time per inference.
//!
//! The setup checks that the 16 outputs equal TFLite's (`outputs.npy`), so a
//! figure is never that of a wrong answer. Time is the thread's CPU time.

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use myelin::core::model::{Model, int8_scratch_len};
use myelin::host::import::import_bytes;
use myelin::host::npy::{NpyArray, NpyData, read_npy};
use myelin::host::quantize::AlignedBytes;
use myelin::host::run::{run_batch, to_model_order};

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::CpuTime;

/// Short name (as in the figures) and file stem of each model.
const MODELS: [(&str, &str); 3] = [
    ("ad01", "ad01_int8"),
    ("kws", "kws_ref_model"),
    ("resnet", "pretrainedResnet_quant"),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mlperf-tiny")
}

/// One model imported into an aligned model file, with its golden inputs.
struct Case {
    name: &'static str,
    file: AlignedBytes,
    inputs: NpyArray,
}

fn load(name: &'static str, stem: &str) -> Case {
    let path = dir().join(format!("{stem}.tflite"));
    let bytes = std::fs::read(&path).expect("read the .tflite");
    let file = AlignedBytes::new(&import_bytes(&path, &bytes).expect("import"));
    let goldens = dir().join("goldens").join(stem);
    let inputs = read_npy(goldens.join("inputs.npy")).expect("golden inputs");
    let want = read_npy(goldens.join("outputs.npy")).expect("golden outputs");
    let m = Model::parse(file.bytes()).expect("imported model parses");
    let (_, got) = run_batch(&m, &inputs).expect("run the golden inputs");
    assert_eq!(got, want.data, "{name}: outputs differ from TFLite's");
    Case { name, file, inputs }
}

fn codes(a: &NpyArray) -> &[i8] {
    match &a.data {
        NpyData::I8(v) => v,
        other => panic!("golden inputs are {}, not int8", other.dtype_name()),
    }
}

/// The first `n` samples of `a`.
fn first(a: &NpyArray, n: usize) -> NpyArray {
    let per = a.shape[1..].iter().product::<usize>();
    let mut shape = a.shape.clone();
    shape[0] = n;
    NpyArray {
        shape,
        data: NpyData::I8(codes(a)[..n * per].to_vec()),
    }
}

fn mlperf(c: &mut Criterion<CpuTime>) {
    let cases: Vec<Case> = MODELS.iter().map(|&(n, s)| load(n, s)).collect();

    let mut g = c.benchmark_group("myelin run batch 1");
    for case in &cases {
        let m = Model::parse(case.file.bytes()).expect("model");
        let one = first(&case.inputs, 1);
        g.bench_function(case.name, |b| {
            b.iter(|| black_box(run_batch(&m, black_box(&one)).expect("run")))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("infer_int8 batch 1");
    for case in &cases {
        let m = Model::parse(case.file.bytes()).expect("model");
        let x = to_model_order(&m, &codes(&case.inputs)[..m.input_len()]);
        let need = int8_scratch_len(&m);
        let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
        g.bench_function(case.name, |b| {
            b.iter(|| {
                let y = m
                    .infer_int8(black_box(&x), &mut act, &mut cell)
                    .expect("infer");
                black_box(y[0]);
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("myelin run batch 16");
    g.throughput(Throughput::Elements(16));
    for case in &cases {
        let m = Model::parse(case.file.bytes()).expect("model");
        let all = first(&case.inputs, 16);
        g.bench_function(case.name, |b| {
            b.iter(|| black_box(run_batch(&m, black_box(&all)).expect("run")))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = mlperf
}
criterion_main!(benches);
