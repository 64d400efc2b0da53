//! Scalar reference kernels: the definition every fast variant is tested against.

/// `sum(a[i] * b[i])`, accumulated left to right.
///
/// # Panics
/// If the slices differ in length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    a.iter().zip(b).fold(0.0, |acc, (x, y)| acc + x * y)
}

/// `y = W x + b`.
pub fn gemv(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    assert_eq!(w.len(), x.len() * y.len(), "gemv: weight shape");
    assert_eq!(b.len(), y.len(), "gemv: bias length");
    if x.is_empty() {
        y.copy_from_slice(b);
        return;
    }
    for ((yo, row), bo) in y.iter_mut().zip(w.chunks_exact(x.len())).zip(b) {
        *yo = bo + dot(row, x);
    }
}

/// `y += W x`.
pub fn gemv_acc(w: &[f32], x: &[f32], y: &mut [f32]) {
    assert_eq!(w.len(), x.len() * y.len(), "gemv_acc: weight shape");
    if x.is_empty() {
        return;
    }
    for (yo, row) in y.iter_mut().zip(w.chunks_exact(x.len())) {
        *yo += dot(row, x);
    }
}

/// `dx = Wᵀ dy`.
pub fn gemv_t(w: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(w.len(), dx.len() * dy.len(), "gemv_t: weight shape");
    dx.fill(0.0);
    for (row, &g) in w.chunks_exact(dx.len().max(1)).zip(dy) {
        for (d, &wv) in dx.iter_mut().zip(row) {
            *d += wv * g;
        }
    }
}

/// `dw += dy xᵀ`.
pub fn outer_acc(dw: &mut [f32], dy: &[f32], x: &[f32]) {
    assert_eq!(dw.len(), dy.len() * x.len(), "outer_acc: gradient shape");
    for (row, &g) in dw.chunks_exact_mut(x.len().max(1)).zip(dy) {
        for (d, &xv) in row.iter_mut().zip(x) {
            *d += g * xv;
        }
    }
}

/// `c = beta * c + op(a) · op(b)`; see [`super::gemm`].
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
    assert_eq!(a.len(), m * k, "gemm: a shape");
    assert_eq!(b.len(), k * n, "gemm: b shape");
    assert_eq!(c.len(), m * n, "gemm: c shape");
    let at = |i: usize, p: usize| if trans_a { a[p * m + i] } else { a[i * k + p] };
    let bt = |p: usize, j: usize| if trans_b { b[j * k + p] } else { b[p * n + j] };
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += at(i, p) * bt(p, j);
            }
            let old = if beta == 0.0 {
                0.0
            } else {
                beta * c[i * n + j]
            };
            c[i * n + j] = old + acc;
        }
    }
}

/// `y[i] += alpha * x[i]`.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: length mismatch");
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += alpha * xv;
    }
}

/// `max(x, 0)` of one value; NaN maps to 0.
#[inline]
pub fn relu1(x: f32) -> f32 {
    if x > 0.0 { x } else { 0.0 }
}

/// `y = max(x, 0)`; NaN maps to 0.
pub fn relu(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "relu: length mismatch");
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = relu1(xv);
    }
}

/// `dx = dy` where `y > 0`, else 0.
pub fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "relu_backward: length mismatch");
    assert_eq!(y.len(), dx.len(), "relu_backward: length mismatch");
    for ((d, &yv), &g) in dx.iter_mut().zip(y).zip(dy) {
        *d = if yv > 0.0 { g } else { 0.0 };
    }
}

/// `min(max(x, 0), 6)` of one value; NaN maps to 0.
#[inline]
pub fn relu6_1(x: f32) -> f32 {
    if x > 6.0 { 6.0 } else { relu1(x) }
}

/// `y = min(max(x, 0), 6)`; NaN maps to 0.
pub fn relu6(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "relu6: length mismatch");
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = relu6_1(xv);
    }
}

/// `dx = dy` where `0 < y < 6`, else 0.
pub fn relu6_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "relu6_backward: length mismatch");
    assert_eq!(y.len(), dx.len(), "relu6_backward: length mismatch");
    for ((d, &yv), &g) in dx.iter_mut().zip(y).zip(dy) {
        *d = if yv > 0.0 && yv < 6.0 { g } else { 0.0 };
    }
}

/// The logistic function of one value, `1 / (1 + e^-x)`, without overflow.
#[inline]
pub fn sigmoid1(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + crate::math::expf(-x))
    } else {
        let e = crate::math::expf(x);
        e / (1.0 + e)
    }
}

/// `y = 1 / (1 + e^-x)`.
pub fn sigmoid(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "sigmoid: length mismatch");
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = sigmoid1(xv);
    }
}

/// `dx = dy * y * (1 - y)`, from the forward output `y`.
pub fn sigmoid_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "sigmoid_backward: length mismatch");
    assert_eq!(y.len(), dx.len(), "sigmoid_backward: length mismatch");
    for ((d, &yv), &g) in dx.iter_mut().zip(y).zip(dy) {
        *d = g * yv * (1.0 - yv);
    }
}

/// `y = tanh(x)`.
pub fn tanh(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "tanh: length mismatch");
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = crate::math::tanhf(xv);
    }
}

/// `dx = dy * (1 - y²)`, from the forward output `y`.
pub fn tanh_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "tanh_backward: length mismatch");
    assert_eq!(y.len(), dx.len(), "tanh_backward: length mismatch");
    for ((d, &yv), &g) in dx.iter_mut().zip(y).zip(dy) {
        *d = g * (1.0 - yv * yv);
    }
}

/// Largest element (NaN if any element is NaN; `-inf` for an empty slice).
pub fn max(x: &[f32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for &v in x {
        if v > m || v.is_nan() {
            m = v;
            if v.is_nan() {
                return v;
            }
        }
    }
    m
}

/// `y = e^(x - shift)`, returning `sum(y)`.
pub fn exp_shift_sum(x: &[f32], shift: f32, y: &mut [f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "exp_shift_sum: length mismatch");
    let mut sum = 0.0;
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = crate::math::expf(xv - shift);
        sum += *yv;
    }
    sum
}

/// `y *= s`.
pub fn scale(s: f32, y: &mut [f32]) {
    for v in y {
        *v *= s;
    }
}

/// Row correlation: `y[j] += sum_t w'[t] * x[j + t]` for every `j`, where
/// `w' = w`, or `w` reversed when `rev`.
///
/// # Panics
/// If `x.len() < y.len() + w.len() - 1`.
pub fn corr_acc(y: &mut [f32], x: &[f32], w: &[f32], rev: bool) {
    if y.is_empty() || w.is_empty() {
        return;
    }
    assert!(
        x.len() + 1 >= y.len() + w.len(),
        "corr_acc: input too short"
    );
    let k = w.len();
    for (j, yv) in y.iter_mut().enumerate() {
        let mut s = 0.0;
        for t in 0..k {
            let wt = if rev { w[k - 1 - t] } else { w[t] };
            s += wt * x[j + t];
        }
        *yv += s;
    }
}

/// Row cross-correlation sums: `out[t] += sum_j g[j] * x[j + t]` for every
/// tap `t` (the weight gradient of a stride-1 convolution row).
///
/// # Panics
/// If `x.len() < g.len() + out.len() - 1`.
pub fn corr_dot_acc(out: &mut [f32], x: &[f32], g: &[f32]) {
    if out.is_empty() || g.is_empty() {
        return;
    }
    assert!(
        x.len() + 1 >= g.len() + out.len(),
        "corr_dot_acc: input too short"
    );
    for (t, o) in out.iter_mut().enumerate() {
        *o += dot(g, &x[t..t + g.len()]);
    }
}
