//! Kernel benchmarks (criterion), single thread. `cargo bench --bench kernels`.
//!
//! Throughput is reported in elements: FLOPs for the matrix kernels (one
//! multiply-add = 2), values for the activations. Time is the thread's CPU
//! time, so other processes on a shared machine do not inflate the figures
//! (they still compete for caches and memory bandwidth).

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, black_box, criterion_group, criterion_main,
};
use myelin::core::kernels;
use std::time::Duration;

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::CpuTime;

type Crit = Criterion<CpuTime>;

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

fn quick(c: &mut Crit) -> criterion::BenchmarkGroup<'_, CpuTime> {
    let mut g = c.benchmark_group("kernels");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(40);
    g
}

fn dense(c: &mut Crit) {
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

/// Twelve independent FMA chains of 8 lanes: the AVX2 FMA throughput bound.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let (m, a) = (_mm256_set1_ps(0.999), _mm256_set1_ps(1e-3));
    let mut acc = [_mm256_setzero_ps(); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, m, a);
        }
    }
    let mut out = [0.0f32; 8];
    let s = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, v| _mm256_add_ps(s, *v));
    // SAFETY: `out` holds 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// As [`fma_loop_avx2`] with 16-lane AVX-512 FMAs.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let (m, a) = (_mm512_set1_ps(0.999), _mm512_set1_ps(1e-3));
    let mut acc = [_mm512_setzero_ps(); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, m, a);
        }
    }
    _mm512_reduce_add_ps(
        acc.iter()
            .fold(_mm512_setzero_ps(), |s, v| _mm512_add_ps(s, *v)),
    )
}

/// The FMA throughput bound of one core, for the fractions in docs/benchmarks.md.
fn fma_peak(c: &mut Crit) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut g = quick(c);
        let iters = 10_000;
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            g.throughput(Throughput::Elements((iters * 12 * 8 * 2) as u64));
            g.bench_function("peak fma avx2", |b| {
                // SAFETY: AVX2 and FMA were just detected.
                b.iter(|| unsafe { fma_loop_avx2(black_box(iters)) })
            });
        }
        if is_x86_feature_detected!("avx512f") {
            g.throughput(Throughput::Elements((iters * 12 * 16 * 2) as u64));
            g.bench_function("peak fma avx512", |b| {
                // SAFETY: AVX-512F was just detected.
                b.iter(|| unsafe { fma_loop_avx512(black_box(iters)) })
            });
        }
        g.finish();
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = c;
}

fn gemm(c: &mut Crit) {
    let mut g = quick(c);
    let (k, n) = (784, 256);
    // Each shape with the best gemm this CPU has, then capped at AVX2.
    for (cap, tier) in [
        (kernels::Isa::Avx512F, "best"),
        (kernels::Isa::Avx2Fma, "avx2"),
    ] {
        kernels::set_max_isa(cap);
        for m in [64usize, 256] {
            let shape = format!("{m}x{k}x{n}");
            g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
            // forward: Y = X · Wᵀ (X: m x k, W: n x k)
            let x = data(m * k, 6);
            let w = data(n * k, 7);
            let mut y = vec![0.0; m * n];
            g.bench_function(
                BenchmarkId::new(format!("gemm {tier} A·Bt"), &shape),
                |bench| {
                    bench.iter(|| {
                        kernels::gemm(false, true, m, n, k, black_box(&x), &w, 0.0, &mut y)
                    })
                },
            );
            // input gradient: dX = dY · W (dY: m x n, W: n x k)
            let dy = data(m * n, 8);
            let mut dx = vec![0.0; m * k];
            g.bench_function(
                BenchmarkId::new(format!("gemm {tier} A·B"), &shape),
                |bench| {
                    bench.iter(|| {
                        kernels::gemm(false, false, m, k, n, black_box(&dy), &w, 0.0, &mut dx)
                    })
                },
            );
            // weight gradient: dW += dYᵀ · X (dY: m x n, X: m x k)
            let mut dw = vec![0.0; n * k];
            g.bench_function(
                BenchmarkId::new(format!("gemm {tier} At·B"), &shape),
                |bench| {
                    bench.iter(|| {
                        kernels::gemm(true, false, n, k, m, black_box(&dy), &x, 1.0, &mut dw)
                    })
                },
            );
        }
    }
    kernels::set_max_isa(kernels::Isa::Avx512F);
    // The per-sample im2col products of the host's MNIST CNN.
    for (m, n, k, name) in [
        (8usize, 576usize, 25usize, "gemm conv1 im2col 8x576x25"),
        (16, 64, 200, "gemm conv2 im2col 16x64x200"),
    ] {
        g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        let a = data(m * k, 21);
        let b = data(k * n, 22);
        let mut c = vec![0.0; m * n];
        g.bench_function(name, |bench| {
            bench.iter(|| {
                kernels::gemm(
                    false,
                    false,
                    m,
                    n,
                    k,
                    black_box(&a),
                    black_box(&b),
                    0.0,
                    &mut c,
                )
            })
        });
    }
    g.finish();
}

fn activations(c: &mut Crit) {
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

fn conv_lstm(c: &mut Crit) {
    let mut g = quick(c);
    let shape = kernels::Conv2dShape {
        in_ch: 1,
        in_h: 28,
        in_w: 28,
        out_ch: 8,
        k_h: 5,
        k_w: 5,
        stride: 1,
        pad: 0,
    };
    let x = data(shape.in_len(), 11);
    let w = data(shape.weight_len(), 12);
    let b = data(shape.out_ch, 13);
    let mut y = vec![0.0; shape.out_len()];
    let mut scratch = vec![0.0; shape.im2col_len()];
    g.throughput(Throughput::Elements(2 * (shape.out_len() * 25) as u64));
    g.bench_function("conv2d 1x28x28->8x24x24 k5 direct", |bench| {
        bench.iter(|| kernels::conv2d_forward(&shape, black_box(&x), &w, &b, &mut y))
    });
    g.bench_function("conv2d 1x28x28->8x24x24 k5 im2col", |bench| {
        bench.iter(|| {
            kernels::conv2d_forward_im2col(&shape, black_box(&x), &w, &b, &mut y, &mut scratch)
        })
    });
    let dy = data(shape.out_len(), 14);
    let mut dx = vec![0.0; shape.in_len()];
    let mut dw = vec![0.0; shape.weight_len()];
    let mut db = vec![0.0; shape.out_ch];
    g.throughput(Throughput::Elements(4 * (shape.out_len() * 25) as u64));
    g.bench_function("conv2d 1x28x28->8x24x24 k5 backward", |bench| {
        bench.iter(|| {
            kernels::conv2d_backward(
                &shape,
                black_box(&x),
                &w,
                &dy,
                Some(&mut dx),
                &mut dw,
                &mut db,
            )
        })
    });

    let ls = kernels::LstmShape {
        input: 28,
        hidden: 128,
    };
    let wx = data(ls.wx_len(), 15);
    let wh = data(ls.wh_len(), 16);
    let lb = data(ls.gates(), 17);
    let xt = data(28, 18);
    let h0 = data(128, 19);
    let c0 = data(128, 20);
    let mut gates = vec![0.0; ls.gates()];
    let (mut c1, mut h1) = (vec![0.0; 128], vec![0.0; 128]);
    g.throughput(Throughput::Elements(2 * (ls.wx_len() + ls.wh_len()) as u64));
    g.bench_function("lstm step 28->128", |bench| {
        bench.iter(|| {
            kernels::lstm_step_forward(
                &ls,
                &wx,
                &wh,
                &lb,
                black_box(&xt),
                &h0,
                &c0,
                &mut gates,
                &mut c1,
                &mut h1,
            )
        })
    });
    g.finish();
}

/// Convolutions over `ConvGeom` on a shard of 8 samples: the DS-CNN keyword
/// spotter's first layer (1x49x10 -> 64x25x5, 10x4 kernel, stride 2, SAME)
/// and one of its depthwise 3x3 layers over 64x25x5.
fn conv_geom(c: &mut Crit) {
    let mut g = quick(c);
    let n = 8;
    let kws = kernels::Window2d::new(49, 10, (10, 4), (2, 2), kernels::Padding::Same).unwrap();
    let dw = kernels::Window2d::new(25, 5, (3, 3), (1, 1), kernels::Padding::Same).unwrap();
    let cases = [
        (
            "kws 10x4 s2 1->64",
            kernels::ConvGeom::new(1, 64, 1, kws).unwrap(),
        ),
        (
            "dw 3x3 64x25x5",
            kernels::ConvGeom::new(64, 64, 64, dw).unwrap(),
        ),
    ];
    for (name, geom) in cases {
        let x = data(n * geom.in_len(), 21);
        let w = data(geom.weight_len(), 22);
        let b = data(geom.out_ch, 23);
        let dy = data(n * geom.out_len(), 24);
        let mut y = vec![0.0; n * geom.out_len()];
        let mut dx = vec![0.0; n * geom.in_len()];
        let mut dw = vec![0.0; geom.weight_len()];
        let mut db = vec![0.0; geom.out_ch];
        let mut scratch = vec![0.0; kernels::conv_backward_scratch_len(&geom)];
        g.throughput(Throughput::Elements(2 * (n * geom.macs()) as u64));
        g.bench_function(format!("conv {name} n8 forward direct"), |bench| {
            bench.iter(|| kernels::conv_forward(&geom, n, black_box(&x), &w, &b, &mut y))
        });
        g.bench_function(format!("conv {name} n8 forward fast"), |bench| {
            bench.iter(|| {
                kernels::conv_forward_fast(&geom, n, black_box(&x), &w, &b, &mut y, &mut scratch)
            })
        });
        g.throughput(Throughput::Elements(4 * (n * geom.macs()) as u64));
        g.bench_function(format!("conv {name} n8 backward direct"), |bench| {
            bench.iter(|| {
                kernels::conv_backward(
                    &geom,
                    n,
                    black_box(&x),
                    &w,
                    &dy,
                    Some(&mut dx),
                    &mut dw,
                    &mut db,
                )
            })
        });
        g.bench_function(format!("conv {name} n8 backward fast"), |bench| {
            bench.iter(|| {
                kernels::conv_backward_fast(
                    &geom,
                    n,
                    black_box(&x),
                    &w,
                    &dy,
                    Some(&mut dx),
                    &mut dw,
                    &mut db,
                    &mut scratch,
                )
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = fma_peak, dense, gemm, conv_lstm, conv_geom, activations
}
criterion_main!(benches);
