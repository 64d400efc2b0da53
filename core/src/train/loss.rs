//! Losses for one sample: each returns the loss and writes its gradient with
//! respect to the network output. Averaging over a batch is the caller's
//! (scale the gradients by `1 / batch`).

use crate::kernels;

/// Softmax cross-entropy with class index `target`: returns
/// `-ln softmax(logits)[target]`, writes `grad = softmax(logits) - onehot`.
///
/// # Panics
/// If `target >= logits.len()` or the slices differ in length.
pub fn cross_entropy(logits: &[f32], target: usize, grad: &mut [f32]) -> f32 {
    kernels::softmax_cross_entropy(logits, target, grad)
}

/// Mean squared error `sum (p - t)² / n`, with `grad = 2 (p - t) / n`.
///
/// # Panics
/// If the slices differ in length.
pub fn mse(pred: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
    assert!(
        pred.len() == target.len() && pred.len() == grad.len(),
        "mse: length mismatch"
    );
    let n = pred.len().max(1) as f32;
    let mut loss = 0.0;
    for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(target) {
        let d = p - t;
        loss += d * d;
        *g = 2.0 * d / n;
    }
    loss / n
}

/// Binary cross-entropy on logits (sigmoid folded in), averaged over outputs:
/// `mean(softplus(z) - t z)`, with `grad = (sigmoid(z) - t) / n`. Stable for
/// any finite logit.
///
/// # Panics
/// If the slices differ in length.
pub fn bce_with_logits(logits: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
    assert!(
        logits.len() == target.len() && logits.len() == grad.len(),
        "bce_with_logits: length mismatch"
    );
    let n = logits.len().max(1) as f32;
    let mut loss = 0.0;
    for ((g, &z), &t) in grad.iter_mut().zip(logits).zip(target) {
        // softplus(z) = max(z, 0) + ln(1 + e^-|z|)
        let softplus =
            z.max(0.0) + crate::math::lnf(1.0 + crate::math::expf(-crate::math::absf(z)));
        loss += softplus - t * z;
        *g = (kernels::scalar::sigmoid1(z) - t) / n;
    }
    loss / n
}

/// Index of the largest value (the first one on ties; 0 for an empty slice).
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}
