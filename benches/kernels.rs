//! Kernel benchmarks (criterion), single thread. `cargo bench --bench kernels`.
//!
//! Throughput is reported in elements: FLOPs for the matrix kernels (one
//! multiply-add = 2), values for the activations.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use myelin::core::kernels;
use std::time::Duration;

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

fn quick(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("kernels");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    g
}

fn dense(c: &mut Criterion) {
    let mut g = quick(c);
    let (n_in, n_out) = (784, 256);
    let w = data(n_in * n_out, 1);
    let x = data(n_in, 2);
    let b = data(n_out, 3);
    let mut y = vec![0.0; n_out];
    g.throughput(Throughput::Elements(2 * (n_in * n_out) as u64));
    g.bench_function("gemv 784x256", |bench| {
        bench.iter(|| kernels::gemv(black_box(&w), black_box(&x), &b, &mut y))
    });
    let mut dx = vec![0.0; n_in];
    g.bench_function("gemv_t 784x256", |bench| {
        bench.iter(|| kernels::gemv_t(black_box(&w), black_box(&y), &mut dx))
    });
    let mut dw = vec![0.0; n_in * n_out];
    g.bench_function("outer_acc 784x256", |bench| {
        bench.iter(|| kernels::outer_acc(black_box(&mut dw), black_box(&y), &x))
    });
    g.throughput(Throughput::Elements(2 * 4096));
    let (a4, b4) = (data(4096, 4), data(4096, 5));
    g.bench_function("dot 4096", |bench| {
        bench.iter(|| kernels::dot(black_box(&a4), black_box(&b4)))
    });
    g.finish();
}

fn gemm(c: &mut Criterion) {
    let mut g = quick(c);
    let (k, n) = (784, 256);
    for m in [64usize, 256] {
        g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        // forward: Y = X · Wᵀ (X: m x k, W: n x k)
        let x = data(m * k, 6);
        let w = data(n * k, 7);
        let mut y = vec![0.0; m * n];
        g.bench_function(
            BenchmarkId::new("gemm A·Bt", format!("{m}x{k}x{n}")),
            |bench| {
                bench.iter(|| {
                    kernels::gemm(
                        false,
                        true,
                        m,
                        n,
                        k,
                        black_box(&x),
                        black_box(&w),
                        0.0,
                        &mut y,
                    )
                })
            },
        );
        // input gradient: dX = dY · W (dY: m x n, W: n x k)
        let dy = data(m * n, 8);
        let mut dx = vec![0.0; m * k];
        g.bench_function(
            BenchmarkId::new("gemm A·B", format!("{m}x{k}x{n}")),
            |bench| {
                bench.iter(|| {
                    kernels::gemm(
                        false,
                        false,
                        m,
                        k,
                        n,
                        black_box(&dy),
                        black_box(&w),
                        0.0,
                        &mut dx,
                    )
                })
            },
        );
        // weight gradient: dW += dYᵀ · X (dY: m x n, X: m x k)
        let mut dw = vec![0.0; n * k];
        g.bench_function(
            BenchmarkId::new("gemm At·B", format!("{m}x{k}x{n}")),
            |bench| {
                bench.iter(|| {
                    kernels::gemm(
                        true,
                        false,
                        n,
                        k,
                        m,
                        black_box(&dy),
                        black_box(&x),
                        1.0,
                        &mut dw,
                    )
                })
            },
        );
    }
    g.finish();
}

fn activations(c: &mut Criterion) {
    let mut g = quick(c);
    let n = 4096;
    let x = data(n, 9);
    let x5: Vec<f32> = x.iter().map(|v| v * 5.0).collect();
    let dy = data(n, 10);
    let mut y = vec![0.0; n];
    let mut dx = vec![0.0; n];
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("relu 4096", |b| {
        b.iter(|| kernels::relu(black_box(&x5), &mut y))
    });
    g.bench_function("relu_backward 4096", |b| {
        b.iter(|| kernels::relu_backward(black_box(&y), &dy, &mut dx))
    });
    g.bench_function("sigmoid 4096", |b| {
        b.iter(|| kernels::sigmoid(black_box(&x5), &mut y))
    });
    g.bench_function("sigmoid_backward 4096", |b| {
        b.iter(|| kernels::sigmoid_backward(black_box(&y), &dy, &mut dx))
    });
    g.bench_function("tanh 4096", |b| {
        b.iter(|| kernels::tanh(black_box(&x5), &mut y))
    });
    g.bench_function("tanh_backward 4096", |b| {
        b.iter(|| kernels::tanh_backward(black_box(&y), &dy, &mut dx))
    });
    g.bench_function("softmax 4096", |b| {
        b.iter(|| kernels::softmax(black_box(&x5), &mut y))
    });
    g.finish();
}

criterion_group!(benches, dense, gemm, activations);
criterion_main!(benches);
