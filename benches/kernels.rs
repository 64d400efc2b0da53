//! Kernel benchmarks (criterion).

use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn dot(c: &mut Criterion) {
    let a = vec![1.0f32; 4096];
    let b = vec![0.5f32; 4096];
    c.bench_function("dot 4096", |bench| {
        bench.iter(|| myelin::core::kernels::dot(black_box(&a), black_box(&b)))
    });
}

criterion_group!(benches, dot);
criterion_main!(benches);
