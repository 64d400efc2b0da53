//! Training throughput on real MNIST (criterion): one full mnist-mlp epoch
//! (60,000 samples, batch 64, 2 threads), and mnist-cnn / mnist-lstm on a
//! 6,400-sample slice. Data loading is outside the timed region.
//!
//! `cargo bench --bench train`; `MYELIN_BENCH_THREADS` overrides the thread count.

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use myelin::core::train::Rng;
use myelin::host::data::{Dataset, MnistFiles};
use myelin::host::net::{Network, input_shape, preset};
use myelin::host::train::{Options, Trainer};

fn threads() -> usize {
    std::env::var("MYELIN_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn mnist() -> Dataset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    MnistFiles::locate(&dir)
        .and_then(|f| f.train())
        .expect("data/mnist holds the MNIST training set")
}

fn epoch(c: &mut Criterion, name: &str, data: &Dataset) {
    let recipe = preset(name).unwrap();
    let shape = input_shape(&data.sample_dims).unwrap();
    let mut hyper = recipe.hyper;
    hyper.epochs = 1;
    hyper.validation = 0;
    let threads = threads();
    let empty = Dataset::empty(&data.sample_dims);
    let opts = Options {
        checkpoint: None,
        progress: false,
    };
    let mut group = c.benchmark_group("train");
    group.throughput(Throughput::Elements(data.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let id = format!(
        "{name} epoch of {} samples, batch {}, {threads} threads",
        data.len(),
        hyper.batch
    );
    group.bench_function(id, |b| {
        b.iter_batched(
            || {
                let mut net = Network::from_nodes(shape, &recipe.layers).unwrap();
                net.init(&mut Rng::new(1));
                Trainer::new(net, name, hyper, 1, threads)
            },
            |mut t| t.run(data, &empty, &opts).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn train(c: &mut Criterion) {
    let mut data = mnist();
    epoch(c, "mnist-mlp", &data);
    data.truncate(6400);
    epoch(c, "mnist-cnn", &data);
    epoch(c, "mnist-lstm", &data);
}

criterion_group!(benches, train);
criterion_main!(benches);
