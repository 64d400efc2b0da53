//! mnist-mlp (784-256-256-10) inference at batch 1 on the host, int8 and
//! f32 (criterion, single thread). `cargo bench --bench quant`.
//!
//! int8 runs the core's integer path over the parsed model file
//! (`Model::infer_int8`, what `myelin eval` and firmware run), from codes and
//! from f32 pixels (quantizing the input first). f32 runs the host engine's
//! forward pass and the core's in-place `Model::infer`. Weights are random:
//! the time does not depend on their values. Time is the thread's CPU time.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use myelin::core::model::{Model, int8_scratch_len, scratch_len};
use myelin::core::quant::Calibration;
use myelin::core::train::Rng;
use myelin::host::data::Dataset;
use myelin::host::engine::Workspace;
use myelin::host::net::{Network, preset};
use myelin::host::quantize::{AlignedBytes, quantize_int8};

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::CpuTime;

fn mnist_mlp() -> (Network, Dataset) {
    let recipe = preset("mnist-mlp").expect("preset");
    let mut net = Network::from_nodes([1, 28, 28], &recipe.layers).expect("network");
    let mut rng = Rng::new(1);
    net.init(&mut rng);
    let n = 64;
    let data = Dataset {
        sample_dims: vec![28, 28],
        inputs: (0..n * 784).map(|_| rng.uniform()).collect(),
        labels: vec![0; n],
    };
    (net, data)
}

fn mlp_batch1(c: &mut Criterion<CpuTime>) {
    let (net, data) = mnist_mlp();
    let q = quantize_int8(&net, &data, Calibration::MinMax).expect("quantize");
    let int8_file = AlignedBytes::new(&q.encode().expect("encode"));
    let f32_file = AlignedBytes::new(&net.encode().expect("encode"));
    let m8 = Model::parse(int8_file.bytes()).expect("int8 model");
    let m32 = Model::parse(f32_file.bytes()).expect("f32 model");
    let inq = m8.input_quant().expect("input quantization");
    let need = int8_scratch_len(&m8);
    let (mut act, mut cell) = (vec![0i8; need.act], vec![0i16; need.cell]);
    let pixels = data.sample(0);
    let mut x = vec![0i8; 784];
    inq.quantize_slice(pixels, &mut x);

    let mut g = c.benchmark_group("mnist-mlp batch 1");
    g.bench_function("int8 core path (codes in)", |b| {
        b.iter(|| {
            let y = m8
                .infer_int8(black_box(&x), &mut act, &mut cell)
                .expect("infer");
            black_box(y[0]);
        })
    });
    let mut xq = vec![0i8; 784];
    g.bench_function("int8 core path (f32 pixels in)", |b| {
        b.iter(|| {
            inq.quantize_slice(black_box(pixels), &mut xq);
            let y = m8.infer_int8(&xq, &mut act, &mut cell).expect("infer");
            black_box(y[0]);
        })
    });
    let mut ws = Workspace::new(&net, 1);
    ws.x[..784].copy_from_slice(pixels);
    g.bench_function("f32 host engine", |b| {
        b.iter(|| black_box(ws.forward(&net, 1)[0]))
    });
    let mut scratch = vec![0f32; scratch_len(&m32)];
    g.bench_function("f32 core path", |b| {
        b.iter(|| {
            let y = m32.infer(black_box(pixels), &mut scratch).expect("infer");
            black_box(y[0]);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = mlp_batch1
}
criterion_main!(benches);
