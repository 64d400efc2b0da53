//! Training throughput on real MNIST (criterion): one training step of each
//! preset (batch 64, 1 thread, through [`Trainer::step`], measured in the
//! thread's CPU time, see `support/cpu_time.rs`); one full
//! mnist-mlp epoch (60,000 samples, batch 64, 2 threads), and mnist-cnn /
//! mnist-lstm on a 6,400-sample slice. Data loading is outside the timed
//! region.
//!
//! `cargo bench --bench train` (`-- step` for the steps alone);
//! `MYELIN_BENCH_THREADS` overrides the epochs' thread count.

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::CpuTime;
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

/// One optimizer step on the first batch of `data`, 1 thread.
fn step(c: &mut Criterion<CpuTime>, name: &str, data: &Dataset) {
    let recipe = preset(name).unwrap();
    let shape = input_shape(&data.sample_dims).unwrap();
    let hyper = recipe.hyper;
    let rows: Vec<u32> = (0..hyper.batch as u32).collect();
    let mut net = Network::from_nodes(shape, &recipe.layers).unwrap();
    net.init(&mut Rng::new(1));
    let mut trainer = Trainer::new(net, name, hyper, 1, 1);
    let mut group = c.benchmark_group("train step");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(6));
    let id = format!("{name} batch {}, 1 thread", hyper.batch);
    group.bench_function(id, |b| {
        b.iter(|| trainer.step(data, &rows, hyper.lr).unwrap())
    });
    group.finish();
}

fn steps(c: &mut Criterion<CpuTime>) {
    let data = mnist();
    for name in ["mnist-mlp", "mnist-cnn", "mnist-lstm"] {
        step(c, name, &data);
    }
}

fn epochs(c: &mut Criterion) {
    let mut data = mnist();
    epoch(c, "mnist-mlp", &data);
    data.truncate(6400);
    epoch(c, "mnist-cnn", &data);
    epoch(c, "mnist-lstm", &data);
}

criterion_group! {
    name = step_benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = steps
}
criterion_group!(epoch_benches, epochs);
criterion_main!(step_benches, epoch_benches);
