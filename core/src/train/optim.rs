//! Optimizers over flat parameter and gradient slices. State (velocity,
//! moments) lives in caller-owned slices of the same length, so one optimizer
//! value serves every tensor of a network and nothing allocates.

/// Stochastic gradient descent with momentum and L2 weight decay:
/// `v = momentum * v + (g + weight_decay * p)`, then `p -= lr * v`.
/// With `momentum == 0` this is plain SGD and `velocity` may be empty.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum coefficient in `[0, 1)`.
    pub momentum: f32,
    /// L2 penalty coefficient (added to the gradient).
    pub weight_decay: f32,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub const fn new(lr: f32) -> Self {
        Self {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// SGD with momentum.
    pub const fn with_momentum(lr: f32, momentum: f32) -> Self {
        Self {
            lr,
            momentum,
            weight_decay: 0.0,
        }
    }

    /// Updates `params` in place from `grads`.
    ///
    /// # Panics
    /// If `grads` differs in length from `params`, or `velocity` does while
    /// `momentum != 0`.
    pub fn update(&self, params: &mut [f32], grads: &[f32], velocity: &mut [f32]) {
        assert_eq!(params.len(), grads.len(), "Sgd: gradient length");
        if self.momentum == 0.0 {
            for (p, &g) in params.iter_mut().zip(grads) {
                *p -= self.lr * (g + self.weight_decay * *p);
            }
            return;
        }
        assert_eq!(params.len(), velocity.len(), "Sgd: velocity length");
        for ((p, &g), v) in params.iter_mut().zip(grads).zip(velocity) {
            *v = self.momentum * *v + g + self.weight_decay * *p;
            *p -= self.lr * *v;
        }
    }
}

/// Adam (Kingma & Ba) with bias correction and optional decoupled weight
/// decay (AdamW: `p -= lr * weight_decay * p`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub eps: f32,
    /// Decoupled weight decay coefficient.
    pub weight_decay: f32,
}

impl Adam {
    /// Adam with learning rate `lr` and the usual `beta1 = 0.9`,
    /// `beta2 = 0.999`, `eps = 1e-8`, no weight decay.
    pub const fn new(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// Updates `params` in place from `grads` at step `t` (1 for the first
    /// update; every tensor of one step uses the same `t`).
    ///
    /// # Panics
    /// If the slices differ in length or `t == 0`.
    pub fn update(&self, t: u32, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
        assert!(t > 0, "Adam: steps count from 1");
        let n = params.len();
        assert!(
            grads.len() == n && m.len() == n && v.len() == n,
            "Adam: length mismatch"
        );
        let c1 = 1.0 - powi(self.beta1, t);
        let c2 = 1.0 - powi(self.beta2, t);
        let step = self.lr / c1;
        let decay = 1.0 - self.lr * self.weight_decay;
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(m).zip(v) {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let denom = crate::math::sqrtf(*v / c2) + self.eps;
            *p = *p * decay - step * *m / denom;
        }
    }
}

/// `b^t` by squaring (no libm `powf` needed).
fn powi(mut b: f32, mut t: u32) -> f32 {
    let mut r = 1.0;
    while t > 0 {
        if t & 1 == 1 {
            r *= b;
        }
        b *= b;
        t >>= 1;
    }
    r
}

/// Euclidean norm of `x`.
pub fn l2_norm(x: &[f32]) -> f32 {
    crate::math::sqrtf(crate::kernels::dot(x, x))
}

/// Scales `grads` so their joint L2 norm is at most `max_norm`; returns the
/// norm before scaling. Pass every gradient tensor of the network as one slice,
/// or combine per-tensor squared norms yourself.
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> f32 {
    let norm = l2_norm(grads);
    if norm > max_norm && norm > 0.0 {
        crate::kernels::scalar::scale(max_norm / norm, grads);
    }
    norm
}
