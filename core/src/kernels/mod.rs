//! Kernels over slices: scalar references, with SIMD variants chosen at compile
//! time (no_std) or run time (feature `std`).
//!
//! Conventions: matrices are row-major and contiguous; a weight matrix of a
//! dense layer is `OUT x IN` (`w[o * IN + i]`). Every function here panics if
//! the slice lengths do not match the shapes it is given (a programming error,
//! never run-time input).
//!
//! Selection: an x86-64 build with `avx2` and `fma` enabled at compile time
//! uses the AVX2 kernels directly; otherwise, with feature `std`, the CPU is
//! probed once and the result cached; otherwise the scalar kernels run. An
//! aarch64 build uses NEON. f32 results differ between ISAs in the last bits
//! (summation order, approximate `exp`); the int8 path is where bits must match.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(myelin_cortex_m_fpu)]
mod cortex_m;
#[cfg(target_arch = "aarch64")]
mod neon;
pub mod scalar;

mod conv;
mod conv_gemm;
mod conv_geom;
pub mod geom;
mod join;
mod lstm;
mod norm;
mod pool;
mod pool_geom;
mod reduce;

pub use conv::{
    Conv1dShape, Conv2dShape, col2im, conv_out_len, conv1d_backward, conv1d_forward,
    conv2d_backward, conv2d_forward, conv2d_forward_im2col, im2col,
};
pub use conv_gemm::conv_cache_samples;
pub use conv_geom::{
    conv_backward, conv_backward_fast, conv_backward_scratch_len, conv_col2im, conv_forward,
    conv_forward_fast, conv_forward_scratch_len, conv_im2col, conv_im2col_len, conv_is_pointwise,
};
pub use geom::{ConvGeom, Padding, Window2d, same_padding, window_out_len};
pub use join::{
    add_backward, add_forward, concat_backward, concat_forward, dropout_backward, dropout_forward,
    dropout_mask,
};
pub use lstm::{
    LstmShape, LstmStepGrads, lstm_cell_backward, lstm_cell_forward, lstm_step_backward,
    lstm_step_forward,
};
pub use norm::{
    BatchNorm, batch_norm_backward, batch_norm_forward_infer, batch_norm_forward_train,
    fold_batch_norm,
};
pub use pool::{
    Pool2dShape, avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward,
    max_pool2d_backward_indexed, max_pool2d_forward, max_pool2d_forward_indexed,
};
pub use pool_geom::{
    avg_pool_backward, avg_pool_forward, global_avg_pool_backward, global_avg_pool_forward,
    max_pool_backward, max_pool_forward,
};

#[cfg(test)]
mod tests;

/// The instruction set the dispatching kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Isa {
    /// Portable scalar code.
    Scalar,
    /// x86-64 AVX2 with FMA.
    Avx2Fma,
    /// x86-64 AVX-512F for [`gemm`], AVX2 with FMA for the other kernels.
    Avx512F,
    /// aarch64 NEON.
    Neon,
}

impl Isa {
    /// Rank of the tier: scalar 1, AVX2/NEON 2, AVX-512 3.
    const fn rank(self) -> u8 {
        match self {
            Isa::Scalar => 1,
            Isa::Avx2Fma | Isa::Neon => 2,
            Isa::Avx512F => 3,
        }
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
static MAX_RANK: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(3);

/// Caps the instruction-set tier every kernel here may use, process-wide: a
/// cap of [`Isa::Avx2Fma`] turns off the AVX-512 gemm, [`Isa::Scalar`] all
/// SIMD. For comparing tiers (benchmarks, tests) or ruling one out;
/// [`Isa::Avx512F`] lifts the cap. Targets without SIMD variants ignore it.
pub fn set_max_isa(max: Isa) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    MAX_RANK.store(max.rank(), core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = max.rank();
}

/// Whether the cap set by [`set_max_isa`] allows tier `isa`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn allowed(isa: Isa) -> bool {
    isa.rank() <= MAX_RANK.load(core::sync::atomic::Ordering::Relaxed)
}

/// The instruction set the kernels in this module run with on this CPU
/// (within the cap of [`set_max_isa`]).
pub fn isa() -> Isa {
    if use_avx512() {
        Isa::Avx512F
    } else if use_avx2() {
        Isa::Avx2Fma
    } else if use_neon() {
        Isa::Neon
    } else {
        Isa::Scalar
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn use_avx2() -> bool {
    has_avx2() && allowed(Isa::Avx2Fma)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn use_avx512() -> bool {
    has_avx512() && allowed(Isa::Avx512F)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn use_avx2() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn use_avx512() -> bool {
    false
}

/// Probes `feature` once with std and caches the answer in `cache`
/// (0: not probed yet, 1: absent, 2: present).
#[cfg(all(target_arch = "x86_64", any(feature = "std", test)))]
#[inline]
fn cached(cache: &core::sync::atomic::AtomicU8, probe: fn() -> bool) -> bool {
    use core::sync::atomic::Ordering;
    match cache.load(Ordering::Relaxed) {
        0 => {
            let yes = probe();
            cache.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
#[inline(always)]
fn has_avx2() -> bool {
    true
}

#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", test),
    not(all(target_feature = "avx2", target_feature = "fma"))
))]
#[inline]
fn has_avx2() -> bool {
    extern crate std;
    static CACHE: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);
    cached(&CACHE, || {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    })
}

#[cfg(all(
    target_arch = "x86_64",
    not(any(feature = "std", test)),
    not(all(target_feature = "avx2", target_feature = "fma"))
))]
#[inline(always)]
fn has_avx2() -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn has_avx512() -> bool {
    true
}

#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", test),
    not(target_feature = "avx512f")
))]
#[inline]
fn has_avx512() -> bool {
    extern crate std;
    static CACHE: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);
    cached(&CACHE, || {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    })
}

#[cfg(all(
    target_arch = "x86_64",
    not(any(feature = "std", test)),
    not(target_feature = "avx512f")
))]
#[inline(always)]
fn has_avx512() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn use_neon() -> bool {
    cfg!(target_feature = "neon") && allowed(Isa::Neon)
}

#[cfg(not(target_arch = "aarch64"))]
#[inline(always)]
fn use_neon() -> bool {
    false
}

/// Runs `$avx2` when AVX2+FMA is usable, `$neon` on NEON, else `$scalar`.
macro_rules! dispatch {
    (avx2: $avx2:expr, neon: $neon:expr, scalar: $scalar:expr $(,)?) => {{
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            // SAFETY: `use_avx2` confirmed AVX2 and FMA at compile or run time.
            #[allow(unused_unsafe)]
            return unsafe { $avx2 };
        }
        #[cfg(target_arch = "aarch64")]
        if use_neon() {
            // SAFETY: NEON is enabled at compile time on this target.
            #[allow(unused_unsafe)]
            return unsafe { $neon };
        }
        $scalar
    }};
}

/// `sum(a[i] * b[i])`.
///
/// # Panics
/// If the slices differ in length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(myelin_cortex_m_fpu)]
    {
        cortex_m::dot(a, b)
    }
    #[cfg(not(myelin_cortex_m_fpu))]
    {
        dispatch!(avx2: avx2::dot(a, b), neon: neon::dot(a, b), scalar: scalar::dot(a, b))
    }
}

/// `y = W x + b`, with `W` of shape `y.len() x x.len()`.
pub fn gemv(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    #[cfg(myelin_cortex_m_fpu)]
    {
        cortex_m::gemv(w, x, b, y)
    }
    #[cfg(not(myelin_cortex_m_fpu))]
    {
        dispatch!(
            avx2: avx2::gemv(w, x, b, y),
            neon: neon::gemv(w, x, b, y),
            scalar: scalar::gemv(w, x, b, y),
        )
    }
}

/// `y += W x`, with `W` of shape `y.len() x x.len()`.
pub fn gemv_acc(w: &[f32], x: &[f32], y: &mut [f32]) {
    dispatch!(
        avx2: avx2::gemv_acc(w, x, y),
        neon: neon::gemv_acc(w, x, y),
        scalar: scalar::gemv_acc(w, x, y),
    )
}

/// `dx = Wᵀ dy` (overwrites `dx`), with `W` of shape `dy.len() x dx.len()`:
/// the input gradient of a dense layer.
pub fn gemv_t(w: &[f32], dy: &[f32], dx: &mut [f32]) {
    dispatch!(
        avx2: avx2::gemv_t(w, dy, dx),
        neon: neon::gemv_t(w, dy, dx),
        scalar: scalar::gemv_t(w, dy, dx),
    )
}

/// `dw += dy xᵀ` (rank-1 update), with `dw` of shape `dy.len() x x.len()`:
/// the weight gradient of a dense layer for one sample.
pub fn outer_acc(dw: &mut [f32], dy: &[f32], x: &[f32]) {
    dispatch!(
        avx2: avx2::outer_acc(dw, dy, x),
        neon: neon::outer_acc(dw, dy, x),
        scalar: scalar::outer_acc(dw, dy, x),
    )
}

/// `c = beta * c + op(a) · op(b)` where `op(a)` is `m x k`, `op(b)` is `k x n`
/// and `c` is `m x n`. `trans_a`: `a` is stored `k x m`; `trans_b`: `b` is
/// stored `n x k`. With `beta == 0.0` the old contents of `c` are ignored
/// (NaN in `c` does not propagate). Uses AVX-512F where the CPU has it.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if use_avx512() {
        // SAFETY: `use_avx512` confirmed AVX-512F, AVX2 and FMA.
        return unsafe { avx512::gemm(trans_a, trans_b, m, n, k, a, b, beta, c) };
    }
    dispatch!(
        avx2: avx2::gemm(trans_a, trans_b, m, n, k, a, b, beta, c),
        neon: neon::gemm(trans_a, trans_b, m, n, k, a, b, beta, c),
        scalar: scalar::gemm(trans_a, trans_b, m, n, k, a, b, beta, c),
    )
}

/// `y += alpha * x`.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    dispatch!(
        avx2: avx2::axpy(alpha, x, y),
        neon: neon::axpy(alpha, x, y),
        scalar: scalar::axpy(alpha, x, y),
    )
}

/// Row correlation: `y[j] += sum_t w'[t] * x[j + t]` for every `j`, with
/// `w' = w`, or `w` reversed when `rev` (a convolution). The inner loop of
/// the stride-1 convolutions.
///
/// # Panics
/// If `x.len() < y.len() + w.len() - 1`.
pub fn corr_acc(y: &mut [f32], x: &[f32], w: &[f32], rev: bool) {
    dispatch!(
        avx2: avx2::corr_acc(y, x, w, rev),
        neon: neon::corr_acc(y, x, w, rev),
        scalar: scalar::corr_acc(y, x, w, rev),
    )
}

/// Row cross-correlation sums: `out[t] += sum_j g[j] * x[j + t]` for every
/// tap `t`. The weight-gradient loop of the stride-1 convolutions.
///
/// # Panics
/// If `x.len() < g.len() + out.len() - 1`.
pub fn corr_dot_acc(out: &mut [f32], x: &[f32], g: &[f32]) {
    dispatch!(
        avx2: avx2::corr_dot_acc(out, x, g),
        neon: scalar::corr_dot_acc(out, x, g),
        scalar: scalar::corr_dot_acc(out, x, g),
    )
}

/// Checks that three slices have one length and returns it.
#[inline]
fn same_len(name: &str, a: usize, b: usize, c: usize) -> usize {
    assert!(a == b && b == c, "{name}: length mismatch");
    a
}

macro_rules! unary {
    ($name:ident, $inplace:ident, $elem:path, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(x: &[f32], y: &mut [f32]) {
            assert_eq!(x.len(), y.len(), concat!(stringify!($name), ": length mismatch"));
            let (src, dst, n) = (x.as_ptr(), y.as_mut_ptr(), x.len());
            let _ = (src, dst, n);
            dispatch!(
                // SAFETY (both arms): x and y hold n floats each.
                avx2: avx2::$name(src, dst, n),
                neon: neon::$name(src, dst, n),
                scalar: scalar::$name(x, y),
            )
        }

        #[doc = $doc]
        #[doc = ""]
        #[doc = "In place: `x` is overwritten with the result."]
        pub fn $inplace(x: &mut [f32]) {
            let (p, n) = (x.as_mut_ptr(), x.len());
            let _ = (p, n);
            dispatch!(
                // SAFETY (both arms): x holds n floats; the kernels allow src == dst.
                avx2: avx2::$name(p, p, n),
                neon: neon::$name(p, p, n),
                scalar: {
                    for v in x.iter_mut() {
                        *v = $elem(*v);
                    }
                },
            )
        }
    };
}

macro_rules! backward {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(y: &[f32], dy: &[f32], dx: &mut [f32]) {
            let n = same_len(stringify!($name), y.len(), dy.len(), dx.len());
            let (py, pdy, pdx) = (y.as_ptr(), dy.as_ptr(), dx.as_mut_ptr());
            let _ = (py, pdy, pdx, n);
            dispatch!(
                // SAFETY (both arms): the three slices hold n floats each.
                avx2: avx2::$name(py, pdy, pdx, n),
                neon: neon::$name(py, pdy, pdx, n),
                scalar: scalar::$name(y, dy, dx),
            )
        }
    };
}

unary!(
    relu,
    relu_inplace,
    scalar::relu1,
    "`y = max(x, 0)`; NaN maps to 0."
);
unary!(
    relu6,
    relu6_inplace,
    scalar::relu6_1,
    "`y = min(max(x, 0), 6)`; NaN maps to 0."
);
unary!(
    sigmoid,
    sigmoid_inplace,
    scalar::sigmoid1,
    "`y = 1 / (1 + e^-x)`. SIMD variants use an approximate `exp`: absolute \
     error at most 2e-7 and relative error at most 1e-6 against the exact \
     value (tested); the scalar one uses `libm`."
);
unary!(
    tanh,
    tanh_inplace,
    crate::math::tanhf,
    "`y = tanh(x)`. SIMD variants use an approximate `exp`: absolute error at \
     most 2e-7 and relative error at most 1e-6 against the exact value \
     (tested); the scalar one uses `libm`."
);
backward!(
    relu_backward,
    "`dx = dy` where the forward output `y > 0`, else 0."
);
backward!(
    relu6_backward,
    "`dx = dy` where the forward output `0 < y < 6`, else 0."
);
backward!(
    sigmoid_backward,
    "`dx = dy * y * (1 - y)`, from the forward output `y`."
);
backward!(
    tanh_backward,
    "`dx = dy * (1 - y²)`, from the forward output `y`."
);

/// `y = e^(x - shift)`, returning `sum(y)`; same accuracy as [`sigmoid`].
pub fn exp_shift_sum(x: &[f32], shift: f32, y: &mut [f32]) -> f32 {
    dispatch!(
        avx2: avx2::exp_shift_sum(x, shift, y),
        neon: neon::exp_shift_sum(x, shift, y),
        scalar: scalar::exp_shift_sum(x, shift, y),
    )
}

/// Largest element; NaN if any element is NaN; `-inf` for an empty slice.
pub fn max(x: &[f32]) -> f32 {
    dispatch!(
        avx2: avx2::max(x),
        neon: neon::max(x),
        scalar: scalar::max(x),
    )
}

/// Numerically stable softmax: `y[i] = e^(x[i] - max x) / sum_j e^(x[j] - max x)`.
///
/// # Panics
/// If the slices differ in length or are empty.
pub fn softmax(x: &[f32], y: &mut [f32]) {
    assert!(!x.is_empty(), "softmax: empty input");
    let m = max(x);
    let s = exp_shift_sum(x, m, y);
    scalar::scale(1.0 / s, y);
}

/// Softmax backward from the forward output `y`: `dx[i] = y[i] * (dy[i] - sum_j y[j] dy[j])`.
pub fn softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    same_len("softmax_backward", y.len(), dy.len(), dx.len());
    let s = dot(y, dy);
    for ((d, &yv), &g) in dx.iter_mut().zip(y).zip(dy) {
        *d = yv * (g - s);
    }
}

/// Fused softmax + cross-entropy for one sample with class index `target`:
/// returns `-ln softmax(logits)[target]` and writes `grad = softmax(logits) - onehot(target)`,
/// the gradient of that loss with respect to the logits.
///
/// The loss is computed as `ln(sum e^(x - max)) + max - x[target]`, so it stays
/// finite for any finite logits.
///
/// # Panics
/// If `target >= logits.len()` or the slices differ in length.
pub fn softmax_cross_entropy(logits: &[f32], target: usize, grad: &mut [f32]) -> f32 {
    assert!(
        target < logits.len(),
        "softmax_cross_entropy: target out of range"
    );
    let m = max(logits);
    let s = exp_shift_sum(logits, m, grad);
    scalar::scale(1.0 / s, grad);
    grad[target] -= 1.0;
    crate::math::lnf(s) + m - logits[target]
}

/// Fused softmax + cross-entropy against a probability vector `target`
/// (soft labels summing to 1): returns `-sum t[i] ln softmax(x)[i]` and writes
/// `grad = softmax(x) - t`.
///
/// # Panics
/// If the slices differ in length or are empty.
pub fn softmax_cross_entropy_soft(logits: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
    same_len(
        "softmax_cross_entropy_soft",
        logits.len(),
        target.len(),
        grad.len(),
    );
    assert!(
        !logits.is_empty(),
        "softmax_cross_entropy_soft: empty input"
    );
    let m = max(logits);
    let s = exp_shift_sum(logits, m, grad);
    let lse = crate::math::lnf(s) + m;
    let inv = 1.0 / s;
    let mut loss = 0.0;
    for ((g, &x), &t) in grad.iter_mut().zip(logits).zip(target) {
        if t != 0.0 {
            loss += t * (lse - x);
        }
        *g = *g * inv - t;
    }
    loss
}
