//! Batch normalization over a shard of `n` samples of `ch` channels of
//! `plane` values each (`x` is `n x ch x plane`; `plane = 1` after a dense
//! layer): statistics per channel over `n x plane` values.
//!
//! Training: `y = gamma * (x - mean) / sqrt(var + eps) + beta` with the
//! shard's mean and biased variance; the running statistics move as
//! PyTorch's do (`running = (1 - momentum) * running + momentum * batch`,
//! the variance unbiased). Inference uses the running statistics. For
//! deployment, [`fold_batch_norm`] merges the normalization into the
//! preceding convolution or dense layer.

use super::reduce::{sum, sum_and_dot_dev, sum_sq_dev};
use crate::Error;

/// Shape and constants of a batch normalization.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BatchNorm {
    /// Channels (normalized independently).
    pub ch: usize,
    /// Values per channel per sample (`h * w`; 1 after a dense layer).
    pub plane: usize,
    /// Added to the variance before its square root.
    pub eps: f32,
    /// Weight of the batch statistics in the running ones (PyTorch: 0.1).
    pub momentum: f32,
}

impl BatchNorm {
    /// A batch normalization; an error if `ch` or `plane` is zero, `eps` is
    /// not positive and finite, or `momentum` is outside `[0, 1]`.
    pub fn new(ch: usize, plane: usize, eps: f32, momentum: f32) -> Result<BatchNorm, Error> {
        if ch == 0 || plane == 0 {
            return Err(Error::InvalidShape {
                what: "batch norm: no channels or an empty plane",
            });
        }
        if !(eps > 0.0 && eps.is_finite() && (0.0..=1.0).contains(&momentum)) {
            return Err(Error::InvalidShape {
                what: "batch norm: eps must be positive and momentum in [0, 1]",
            });
        }
        Ok(BatchNorm {
            ch,
            plane,
            eps,
            momentum,
        })
    }

    /// Elements of one sample: `ch * plane`.
    pub const fn len(&self) -> usize {
        self.ch * self.plane
    }

    /// Whether a sample has no elements (never, for a valid shape).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the lengths of a shard of `n` samples.
    fn check(&self, n: usize, x: usize, y: usize) {
        assert!(n > 0, "batch norm: empty shard");
        assert_eq!(x, n * self.len(), "batch norm: input length");
        assert_eq!(y, x, "batch norm: output length");
    }
}

/// Checks that every per-channel slice has `ch` entries.
fn check_ch(bn: &BatchNorm, lens: &[usize]) {
    for &l in lens {
        assert_eq!(l, bn.ch, "batch norm: per-channel length");
    }
}

/// Channel `c`'s plane in sample `s`.
#[inline]
fn plane_of<'a>(bn: &BatchNorm, x: &'a [f32], s: usize, c: usize) -> &'a [f32] {
    &x[(s * bn.ch + c) * bn.plane..][..bn.plane]
}

/// Batch normalization forward in training mode over `n` samples: writes
/// `y`, the batch `mean` and `inv_std = 1 / sqrt(var + eps)` per channel
/// (what [`batch_norm_backward`] needs), and updates `running_mean` and
/// `running_var` in place (unbiased variance; the biased one when the
/// channel has a single value).
///
/// # Panics
/// If `n == 0` or a slice length does not match `bn` and `n`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_train(
    bn: &BatchNorm,
    n: usize,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    inv_std: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
) {
    bn.check(n, x.len(), y.len());
    check_ch(
        bn,
        &[
            gamma.len(),
            beta.len(),
            mean.len(),
            inv_std.len(),
            running_mean.len(),
            running_var.len(),
        ],
    );
    let m = (n * bn.plane) as f32;
    for c in 0..bn.ch {
        let s: f32 = (0..n).map(|smp| sum(plane_of(bn, x, smp, c))).sum();
        let mu = s / m;
        let ss: f32 = (0..n)
            .map(|smp| sum_sq_dev(plane_of(bn, x, smp, c), mu))
            .sum();
        let var = ss / m;
        let is = 1.0 / crate::math::sqrtf(var + bn.eps);
        mean[c] = mu;
        inv_std[c] = is;
        let unbiased = if m > 1.0 { ss / (m - 1.0) } else { var };
        let k = bn.momentum;
        running_mean[c] = (1.0 - k) * running_mean[c] + k * mu;
        running_var[c] = (1.0 - k) * running_var[c] + k * unbiased;
        let (scale, shift) = (gamma[c] * is, beta[c] - gamma[c] * is * mu);
        for smp in 0..n {
            let o = (smp * bn.ch + c) * bn.plane;
            for (yv, &xv) in y[o..o + bn.plane].iter_mut().zip(&x[o..o + bn.plane]) {
                *yv = xv * scale + shift;
            }
        }
    }
}

/// Batch normalization forward in inference mode over `n` samples, from the
/// running statistics: `y = gamma * (x - running_mean) / sqrt(running_var +
/// eps) + beta`; overwrites `y`.
///
/// # Panics
/// If `n == 0` or a slice length does not match `bn` and `n`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_infer(
    bn: &BatchNorm,
    n: usize,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
) {
    bn.check(n, x.len(), y.len());
    check_ch(
        bn,
        &[
            gamma.len(),
            beta.len(),
            running_mean.len(),
            running_var.len(),
        ],
    );
    for c in 0..bn.ch {
        let is = 1.0 / crate::math::sqrtf(running_var[c] + bn.eps);
        let (scale, shift) = (gamma[c] * is, beta[c] - gamma[c] * is * running_mean[c]);
        for smp in 0..n {
            let o = (smp * bn.ch + c) * bn.plane;
            for (yv, &xv) in y[o..o + bn.plane].iter_mut().zip(&x[o..o + bn.plane]) {
                *yv = xv * scale + shift;
            }
        }
    }
}

/// Batch normalization backward (training mode) over the `n` samples of the
/// forward pass, from its input `x`, its saved `mean` and `inv_std` and the
/// output gradient `dy`: overwrites `dx` and accumulates `dgamma += ∂L/∂gamma`,
/// `dbeta += ∂L/∂beta`.
///
/// # Panics
/// If `n == 0` or a slice length does not match `bn` and `n`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    bn: &BatchNorm,
    n: usize,
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    bn.check(n, x.len(), dy.len());
    assert_eq!(dx.len(), x.len(), "batch norm: input gradient length");
    check_ch(
        bn,
        &[
            gamma.len(),
            mean.len(),
            inv_std.len(),
            dgamma.len(),
            dbeta.len(),
        ],
    );
    let m = (n * bn.plane) as f32;
    for c in 0..bn.ch {
        let (mu, is) = (mean[c], inv_std[c]);
        let (mut sg, mut sgd) = (0.0, 0.0);
        for smp in 0..n {
            let (xp, gp) = (plane_of(bn, x, smp, c), plane_of(bn, dy, smp, c));
            let (a, b) = sum_and_dot_dev(gp, xp, mu);
            sg += a;
            sgd += b;
        }
        let sgx = sgd * is;
        dbeta[c] += sg;
        dgamma[c] += sgx;
        // dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))
        let (k, mg, mgx) = (gamma[c] * is, sg / m, sgx / m);
        for smp in 0..n {
            let o = (smp * bn.ch + c) * bn.plane;
            for ((d, &xv), &gv) in dx[o..o + bn.plane]
                .iter_mut()
                .zip(&x[o..o + bn.plane])
                .zip(&dy[o..o + bn.plane])
            {
                *d = k * (gv - mg - (xv - mu) * is * mgx);
            }
        }
    }
}

/// Folds an inference-mode batch normalization into the convolution or dense
/// layer before it, in place: `w` is out-channel-major (`b.len()` rows of
/// `w.len() / b.len()` weights), and afterwards `conv(x, w) + b` equals
/// `bn(conv(x, w_old) + b_old)` with the running statistics. Computed in f64.
///
/// # Panics
/// If `b` is empty, `w.len()` is not a multiple of `b.len()`, or a
/// per-channel slice does not have `b.len()` entries.
#[allow(clippy::too_many_arguments)]
pub fn fold_batch_norm(
    w: &mut [f32],
    b: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    eps: f32,
) {
    let out = b.len();
    assert!(
        out > 0 && w.len().is_multiple_of(out),
        "fold_batch_norm: weight shape"
    );
    for l in [
        gamma.len(),
        beta.len(),
        running_mean.len(),
        running_var.len(),
    ] {
        assert_eq!(l, out, "fold_batch_norm: per-channel length");
    }
    let row = w.len() / out;
    for o in 0..out {
        let scale = gamma[o] as f64 / libm::sqrt(running_var[o] as f64 + eps as f64);
        for v in &mut w[o * row..(o + 1) * row] {
            *v = (*v as f64 * scale) as f32;
        }
        b[o] = ((b[o] as f64 - running_mean[o] as f64) * scale + beta[o] as f64) as f32;
    }
}
