//! Restricted Boltzmann machines trained with contrastive divergence (CD-k).
//!
//! An RBM has `V` visible and `H` hidden units, weights `W` stored `H x V`
//! row-major (the layout of a dense layer from visible to hidden, so a trained
//! RBM initializes one directly), visible biases `b` and hidden biases `c`.
//! Hidden units are always Bernoulli. Visible units are either Bernoulli
//! (`E(v, h) = -bᵀv - cᵀh - hᵀWv`) or Gaussian with unit variance
//! (`E(v, h) = ½‖v - b‖² - cᵀh - hᵀWv`, for data scaled to zero mean and unit
//! variance per component). In both cases `p(h_j = 1 | v) = σ(c_j + W_j·v)`,
//! and `E[v | h]` is `σ(b + Wᵀh)` (Bernoulli) or `b + Wᵀh` (Gaussian).
//!
//! Batches are row-major `n x V` (visible) and `n x H` (hidden) slices. The
//! functions here never allocate: CD-k takes a caller-owned workspace of
//! [`cd_workspace_len`] floats and a source of uniform random numbers in
//! `[0, 1)` (any `FnMut() -> f32`, so the caller picks the generator and its
//! seed). Shape mismatches are programming errors and panic.

use crate::Error;
use crate::kernels;
use crate::math::{expf, lnf, sqrtf};

/// The distribution of the visible units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VisibleUnits {
    /// Binary units (or probabilities in `[0, 1]` used as data).
    Bernoulli,
    /// Real-valued units, Gaussian with unit variance around `b + Wᵀh`.
    Gaussian,
}

/// Sizes and visible-unit kind of an RBM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RbmShape {
    /// Number of visible units `V`.
    pub visible: usize,
    /// Number of hidden units `H`.
    pub hidden: usize,
    /// Distribution of the visible units.
    pub units: VisibleUnits,
}

/// The tensors of an RBM (or of a gradient or velocity of the same shape),
/// over any storage: `&[f32]`, `&mut [f32]`, arrays, or the host's `Vec<f32>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rbm<T> {
    /// Sizes and visible-unit kind.
    pub shape: RbmShape,
    /// `H x V` weights, row-major.
    pub weights: T,
    /// `V` visible biases.
    pub visible_bias: T,
    /// `H` hidden biases.
    pub hidden_bias: T,
}

/// Hyper-parameters of one CD-k step.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CdConfig {
    /// Gibbs steps in the negative phase (`k >= 1`).
    pub k: usize,
    /// Sample the last reconstruction of the visible units instead of using
    /// its mean. The mean (Hinton's recommendation) gives a less noisy
    /// gradient; sampling gives the unbiased statistics of the k-step chain.
    pub sample_last_visible: bool,
}

impl Default for CdConfig {
    fn default() -> Self {
        Self {
            k: 1,
            sample_last_visible: false,
        }
    }
}

/// Learning rate, momentum and L2 weight decay of an RBM update.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RbmUpdate {
    /// Step size.
    pub learning_rate: f32,
    /// Fraction of the previous velocity kept, in `[0, 1)`.
    pub momentum: f32,
    /// L2 penalty on the weights (not the biases).
    pub weight_decay: f32,
}

/// Floats of workspace that [`Rbm::cd_k`] needs for a batch of `batch` samples.
pub const fn cd_workspace_len(shape: RbmShape, batch: usize) -> usize {
    batch * (3 * shape.hidden + shape.visible)
}

/// Floats of workspace that [`Rbm::reconstruction_error`] needs for `batch` samples.
pub const fn reconstruction_workspace_len(shape: RbmShape, batch: usize) -> usize {
    batch * (shape.hidden + shape.visible)
}

impl RbmShape {
    /// Number of weights, `H * V`.
    pub const fn weight_len(&self) -> usize {
        self.hidden * self.visible
    }
}

impl<T: AsRef<[f32]>> Rbm<T> {
    /// Wraps tensors after checking their lengths against `shape`.
    pub fn new(
        shape: RbmShape,
        weights: T,
        visible_bias: T,
        hidden_bias: T,
    ) -> Result<Self, Error> {
        for (found, expected) in [
            (weights.as_ref().len(), shape.weight_len()),
            (visible_bias.as_ref().len(), shape.visible),
            (hidden_bias.as_ref().len(), shape.hidden),
        ] {
            if found != expected {
                return Err(Error::ShapeMismatch { expected, found });
            }
        }
        Ok(Self {
            shape,
            weights,
            visible_bias,
            hidden_bias,
        })
    }

    /// A read-only view of the same tensors.
    pub fn view(&self) -> Rbm<&[f32]> {
        Rbm {
            shape: self.shape,
            weights: self.weights.as_ref(),
            visible_bias: self.visible_bias.as_ref(),
            hidden_bias: self.hidden_bias.as_ref(),
        }
    }

    fn batch_of(&self, visible: &[f32], hidden: &[f32]) -> usize {
        let (nv, nh) = (self.shape.visible, self.shape.hidden);
        assert!(nv > 0 && nh > 0, "rbm: empty layer");
        assert_eq!(self.weights.as_ref().len(), nv * nh, "rbm: weight shape");
        assert_eq!(
            self.visible_bias.as_ref().len(),
            nv,
            "rbm: visible bias length"
        );
        assert_eq!(
            self.hidden_bias.as_ref().len(),
            nh,
            "rbm: hidden bias length"
        );
        assert_eq!(visible.len() % nv, 0, "rbm: visible batch shape");
        let n = visible.len() / nv;
        assert_eq!(hidden.len(), n * nh, "rbm: hidden batch shape");
        n
    }

    /// `h = p(h = 1 | v) = σ(c + W v)` for each row of `visible` (`n x V`)
    /// into `hidden` (`n x H`).
    ///
    /// # Panics
    /// If the slices do not hold whole rows of one batch.
    pub fn hidden_probs(&self, visible: &[f32], hidden: &mut [f32]) {
        let n = self.batch_of(visible, hidden);
        let (nv, nh) = (self.shape.visible, self.shape.hidden);
        kernels::gemm(
            false,
            true,
            n,
            nh,
            nv,
            visible,
            self.weights.as_ref(),
            0.0,
            hidden,
        );
        for row in hidden.chunks_exact_mut(nh) {
            kernels::axpy(1.0, self.hidden_bias.as_ref(), row);
        }
        kernels::sigmoid_inplace(hidden);
    }

    /// `v = E[v | h]` for each row of `hidden` (`n x H`) into `visible`
    /// (`n x V`): `σ(b + Wᵀh)` for Bernoulli units, `b + Wᵀh` for Gaussian.
    ///
    /// # Panics
    /// If the slices do not hold whole rows of one batch.
    pub fn visible_means(&self, hidden: &[f32], visible: &mut [f32]) {
        let n = self.batch_of(visible, hidden);
        let (nv, nh) = (self.shape.visible, self.shape.hidden);
        kernels::gemm(
            false,
            false,
            n,
            nv,
            nh,
            hidden,
            self.weights.as_ref(),
            0.0,
            visible,
        );
        for row in visible.chunks_exact_mut(nv) {
            kernels::axpy(1.0, self.visible_bias.as_ref(), row);
        }
        if self.shape.units == VisibleUnits::Bernoulli {
            kernels::sigmoid_inplace(visible);
        }
    }

    /// Free energy `F(v) = -ln Σ_h e^(-E(v, h))` of one visible vector:
    /// `-bᵀv - Σ_j softplus(c_j + W_j·v)` (Bernoulli) or
    /// `½‖v - b‖² - Σ_j softplus(c_j + W_j·v)` (Gaussian, up to the constant
    /// from the Gaussian's normalization, which cancels in every comparison).
    ///
    /// # Panics
    /// If `v.len() != V`.
    pub fn free_energy(&self, v: &[f32]) -> f32 {
        assert_eq!(v.len(), self.shape.visible, "rbm: visible length");
        let b = self.visible_bias.as_ref();
        let visible_term = match self.shape.units {
            VisibleUnits::Bernoulli => -kernels::dot(b, v),
            VisibleUnits::Gaussian => v
                .iter()
                .zip(b)
                .map(|(&x, &bi)| 0.5 * (x - bi) * (x - bi))
                .sum::<f32>(),
        };
        let rows = self.weights.as_ref().chunks_exact(self.shape.visible);
        let hidden_term: f32 = rows
            .zip(self.hidden_bias.as_ref())
            .map(|(w, &c)| softplus(c + kernels::dot(w, v)))
            .sum();
        visible_term - hidden_term
    }

    /// Mean over the batch of `‖v - E[v | p(h | v)]‖²`: the squared error of
    /// one deterministic up-down pass, the usual progress measure of RBM
    /// training. `workspace` holds [`reconstruction_workspace_len`] floats.
    ///
    /// # Panics
    /// If `visible` is not whole rows or the workspace is too short.
    pub fn reconstruction_error(&self, visible: &[f32], workspace: &mut [f32]) -> f32 {
        let n = visible.len() / self.shape.visible.max(1);
        let need = reconstruction_workspace_len(self.shape, n);
        assert!(workspace.len() >= need, "rbm: workspace too short");
        let (h, rest) = workspace[..need].split_at_mut(n * self.shape.hidden);
        self.hidden_probs(visible, h);
        self.visible_means(h, rest);
        squared_error(visible, rest) / n.max(1) as f32
    }

    /// One CD-k estimate of the log-likelihood gradient over the batch
    /// `visible` (`n x V`), written to `grads` (ascent direction, averaged
    /// over the batch):
    /// `∂W = ⟨h vᵀ⟩_data - ⟨h vᵀ⟩_k`, `∂b = ⟨v⟩_data - ⟨v⟩_k`, `∂c = ⟨h⟩_data - ⟨h⟩_k`.
    ///
    /// Data statistics use `p(h | v)`; the chain starts at the data, samples
    /// binary hidden states, and alternates `k` times (visible sample, then
    /// hidden probabilities). Returns the reconstruction error of the first
    /// mean reconstruction, as [`Self::reconstruction_error`] defines it.
    /// `uniform` must return independent uniform numbers in `[0, 1)`.
    ///
    /// # Panics
    /// If `cfg.k == 0`, the batch is empty or not whole rows, `grads` has
    /// another shape, or the workspace holds fewer than [`cd_workspace_len`] floats.
    pub fn cd_k<G, R>(
        &self,
        cfg: &CdConfig,
        visible: &[f32],
        workspace: &mut [f32],
        uniform: &mut R,
        grads: &mut Rbm<G>,
    ) -> f32
    where
        G: AsMut<[f32]>,
        R: FnMut() -> f32,
    {
        assert!(cfg.k >= 1, "rbm: CD needs k >= 1");
        let (nv, nh) = (self.shape.visible, self.shape.hidden);
        let n = visible.len() / nv.max(1);
        assert!(n > 0, "rbm: empty batch");
        assert_eq!(grads.shape, self.shape, "rbm: gradient shape");
        let need = cd_workspace_len(self.shape, n);
        assert!(workspace.len() >= need, "rbm: workspace too short");
        let (h0, rest) = workspace[..need].split_at_mut(n * nh);
        let (hs, rest) = rest.split_at_mut(n * nh);
        let (hk, vk) = rest.split_at_mut(n * nh);

        self.hidden_probs(visible, h0);
        sample_bernoulli(h0, hs, uniform);
        let mut recon = 0.0;
        for step in 1..=cfg.k {
            self.visible_means(hs, vk);
            if step == 1 {
                recon = squared_error(visible, vk) / n as f32;
            }
            if step < cfg.k || cfg.sample_last_visible {
                self.sample_visible(vk, uniform);
            }
            self.hidden_probs(vk, hk);
            if step < cfg.k {
                sample_bernoulli(hk, hs, uniform);
            }
        }

        let inv_n = 1.0 / n as f32;
        let gb = grads.visible_bias.as_mut();
        assert_eq!(gb.len(), nv, "rbm: gradient visible bias length");
        gb.fill(0.0);
        for (pos, neg) in visible.chunks_exact(nv).zip(vk.chunks_exact(nv)) {
            kernels::axpy(inv_n, pos, gb);
            kernels::axpy(-inv_n, neg, gb);
        }
        let gc = grads.hidden_bias.as_mut();
        assert_eq!(gc.len(), nh, "rbm: gradient hidden bias length");
        gc.fill(0.0);
        for (pos, neg) in h0.chunks_exact(nh).zip(hk.chunks_exact(nh)) {
            kernels::axpy(inv_n, pos, gc);
            kernels::axpy(-inv_n, neg, gc);
        }
        // ∂W = (h0ᵀ v0 - hkᵀ vk) / n, as two accumulating products.
        let gw = grads.weights.as_mut();
        kernels::scalar::scale(inv_n, h0);
        kernels::scalar::scale(-inv_n, hk);
        kernels::gemm(true, false, nh, nv, n, h0, visible, 0.0, gw);
        kernels::gemm(true, false, nh, nv, n, hk, vk, 1.0, gw);
        recon
    }

    /// Replaces visible means by a sample: Bernoulli draws, or the mean plus
    /// unit Gaussian noise.
    fn sample_visible<R: FnMut() -> f32>(&self, v: &mut [f32], uniform: &mut R) {
        match self.shape.units {
            VisibleUnits::Bernoulli => {
                for x in v.iter_mut() {
                    *x = if uniform() < *x { 1.0 } else { 0.0 };
                }
            }
            VisibleUnits::Gaussian => add_standard_normal(v, uniform),
        }
    }
}

impl<T: AsRef<[f32]> + AsMut<[f32]>> Rbm<T> {
    /// Momentum step with L2 weight decay on the weights:
    /// `vel = momentum · vel + lr · (grad - decay · W)` (no decay on biases),
    /// then `θ += vel`. `grads` is an ascent direction, as [`Self::cd_k`] gives.
    ///
    /// # Panics
    /// If `grads` or `velocity` has another shape.
    pub fn apply_update<G, M>(&mut self, grads: &Rbm<G>, velocity: &mut Rbm<M>, update: &RbmUpdate)
    where
        G: AsRef<[f32]>,
        M: AsMut<[f32]>,
    {
        assert_eq!(grads.shape, self.shape, "rbm: gradient shape");
        assert_eq!(velocity.shape, self.shape, "rbm: velocity shape");
        let RbmUpdate {
            learning_rate: lr,
            momentum,
            weight_decay,
        } = *update;
        let tensors = [
            (
                self.weights.as_mut(),
                grads.weights.as_ref(),
                velocity.weights.as_mut(),
                weight_decay,
            ),
            (
                self.visible_bias.as_mut(),
                grads.visible_bias.as_ref(),
                velocity.visible_bias.as_mut(),
                0.0,
            ),
            (
                self.hidden_bias.as_mut(),
                grads.hidden_bias.as_ref(),
                velocity.hidden_bias.as_mut(),
                0.0,
            ),
        ];
        for (param, grad, vel, decay) in tensors {
            assert!(
                param.len() == grad.len() && grad.len() == vel.len(),
                "rbm: tensor length"
            );
            kernels::scalar::scale(momentum, vel);
            kernels::axpy(lr, grad, vel);
            if decay != 0.0 {
                kernels::axpy(-lr * decay, param, vel);
            }
            kernels::axpy(1.0, vel, param);
        }
    }
}

/// `out[i] = 1` with probability `p[i]`, else `0`.
///
/// # Panics
/// If the slices differ in length.
pub fn sample_bernoulli<R: FnMut() -> f32>(p: &[f32], out: &mut [f32], uniform: &mut R) {
    assert_eq!(p.len(), out.len(), "sample_bernoulli: length mismatch");
    for (o, &pi) in out.iter_mut().zip(p) {
        *o = if uniform() < pi { 1.0 } else { 0.0 };
    }
}

/// Adds independent standard normal noise to every element (Marsaglia's
/// polar method on pairs of uniform numbers).
pub fn add_standard_normal<R: FnMut() -> f32>(x: &mut [f32], uniform: &mut R) {
    let mut pairs = x.chunks_mut(2);
    for pair in &mut pairs {
        let (a, b) = loop {
            let a = 2.0 * uniform() - 1.0;
            let b = 2.0 * uniform() - 1.0;
            let s = a * a + b * b;
            if s > 0.0 && s < 1.0 {
                let f = sqrtf(-2.0 * lnf(s) / s);
                break (a * f, b * f);
            }
        };
        pair[0] += a;
        if let Some(second) = pair.get_mut(1) {
            *second += b;
        }
    }
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f32) -> f32 {
    let m = if x > 0.0 { x } else { 0.0 };
    let a = if x > 0.0 { -x } else { x };
    m + lnf(1.0 + expf(a))
}

/// `Σ (a[i] - b[i])²`.
fn squared_error(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| (x - y) * (x - y)).sum()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// SplitMix64: a small, seedable generator for the tests.
    struct TestRng(u64);
    impl TestRng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn uniform(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
        }
        fn normal(&mut self, std: f32) -> f32 {
            let mut x = [0.0];
            add_standard_normal(&mut x, &mut || self.uniform());
            x[0] * std
        }
    }

    fn random_rbm(units: VisibleUnits, nv: usize, nh: usize, std: f32, seed: u64) -> Rbm<Vec<f32>> {
        let mut rng = TestRng(seed);
        let shape = RbmShape {
            visible: nv,
            hidden: nh,
            units,
        };
        let mut draw = |len: usize| (0..len).map(|_| rng.normal(std)).collect::<Vec<f32>>();
        let (w, b, c) = (draw(nv * nh), draw(nv), draw(nh));
        Rbm::new(shape, w, b, c).unwrap()
    }

    fn zeros_like(r: &Rbm<Vec<f32>>) -> Rbm<Vec<f32>> {
        let s = r.shape;
        Rbm::new(
            s,
            vec![0.0; s.weight_len()],
            vec![0.0; s.visible],
            vec![0.0; s.hidden],
        )
        .unwrap()
    }

    /// All binary vectors of length `n`, as f64.
    fn binary_states(n: usize) -> Vec<Vec<f64>> {
        (0..1usize << n)
            .map(|m| (0..n).map(|i| ((m >> i) & 1) as f64).collect())
            .collect()
    }

    fn sigmoid64(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// `W_j·v + c_j` in f64.
    fn hidden_input(r: &Rbm<Vec<f32>>, v: &[f64], j: usize) -> f64 {
        let nv = r.shape.visible;
        let row = &r.weights[j * nv..(j + 1) * nv];
        r.hidden_bias[j] as f64 + row.iter().zip(v).map(|(&w, &x)| w as f64 * x).sum::<f64>()
    }

    /// Energy `E(v, h)` in f64.
    fn energy(r: &Rbm<Vec<f32>>, v: &[f64], h: &[f64]) -> f64 {
        let visible = match r.shape.units {
            VisibleUnits::Bernoulli => -v
                .iter()
                .zip(&r.visible_bias)
                .map(|(x, &b)| x * b as f64)
                .sum::<f64>(),
            VisibleUnits::Gaussian => v
                .iter()
                .zip(&r.visible_bias)
                .map(|(x, &b)| 0.5 * (x - b as f64).powi(2))
                .sum(),
        };
        let mut e = visible;
        for (j, &hj) in h.iter().enumerate() {
            e -= hj * hidden_input(r, v, j);
        }
        e
    }

    /// Exact log-likelihood gradient over `data` (rows of length V), in f64:
    /// (∂W, ∂b, ∂c). The model expectation enumerates every hidden state; for
    /// Bernoulli visibles it also enumerates every visible state, for Gaussian
    /// ones it integrates them out in closed form.
    fn exact_gradient(r: &Rbm<Vec<f32>>, data: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (nv, nh) = (r.shape.visible, r.shape.hidden);
        let mut gw = vec![0.0; nv * nh];
        let mut gb = vec![0.0; nv];
        let mut gc = vec![0.0; nh];
        let rows: Vec<Vec<f64>> = data
            .chunks(nv)
            .map(|v| v.iter().map(|&x| x as f64).collect())
            .collect();
        let inv = 1.0 / rows.len() as f64;
        for v in &rows {
            for j in 0..nh {
                let p = sigmoid64(hidden_input(r, v, j));
                gc[j] += inv * p;
                for i in 0..nv {
                    gw[j * nv + i] += inv * p * v[i];
                }
            }
            for i in 0..nv {
                gb[i] += inv * v[i];
            }
        }
        // Model statistics: weighted (v-mean, h) pairs.
        let mut stats: Vec<(f64, Vec<f64>, Vec<f64>)> = Vec::new();
        for h in binary_states(nh) {
            match r.shape.units {
                VisibleUnits::Bernoulli => {
                    for v in binary_states(nv) {
                        stats.push((-energy(r, &v, &h), v, h.clone()));
                    }
                }
                VisibleUnits::Gaussian => {
                    // ∫ e^(-E) dv ∝ exp(cᵀh + bᵀm + ½‖m‖²) with m = Wᵀh,
                    // and E[v | h] = b + m.
                    let m: Vec<f64> = (0..nv)
                        .map(|i| (0..nh).map(|j| r.weights[j * nv + i] as f64 * h[j]).sum())
                        .collect();
                    let log_w = h
                        .iter()
                        .zip(&r.hidden_bias)
                        .map(|(x, &c)| x * c as f64)
                        .sum::<f64>()
                        + m.iter()
                            .zip(&r.visible_bias)
                            .map(|(mi, &b)| mi * b as f64)
                            .sum::<f64>()
                        + 0.5 * m.iter().map(|x| x * x).sum::<f64>();
                    let mean = m
                        .iter()
                        .zip(&r.visible_bias)
                        .map(|(mi, &b)| mi + b as f64)
                        .collect();
                    stats.push((log_w, mean, h.clone()));
                }
            }
        }
        let top = stats.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = stats.iter().map(|s| (s.0 - top).exp()).sum();
        for (log_w, v, h) in &stats {
            let p = (log_w - top).exp() / z;
            for j in 0..nh {
                gc[j] -= p * h[j];
                for i in 0..nv {
                    gw[j * nv + i] -= p * h[j] * v[i];
                }
            }
            for i in 0..nv {
                gb[i] -= p * v[i];
            }
        }
        (gw, gb, gc)
    }

    fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn new_rejects_wrong_lengths() {
        let shape = RbmShape {
            visible: 3,
            hidden: 2,
            units: VisibleUnits::Bernoulli,
        };
        let err = Rbm::new(shape, vec![0.0; 5], vec![0.0; 3], vec![0.0; 2]).unwrap_err();
        assert_eq!(
            err,
            Error::ShapeMismatch {
                expected: 6,
                found: 5
            }
        );
        let err = Rbm::new(shape, vec![0.0; 6], vec![0.0; 3], vec![0.0; 3]).unwrap_err();
        assert_eq!(
            err,
            Error::ShapeMismatch {
                expected: 2,
                found: 3
            }
        );
    }

    #[test]
    fn conditionals_match_f64_reference() {
        for units in [VisibleUnits::Bernoulli, VisibleUnits::Gaussian] {
            let r = random_rbm(units, 7, 5, 0.7, 3);
            let mut rng = TestRng(9);
            let v: Vec<f32> = (0..3 * 7).map(|_| rng.uniform()).collect();
            let mut h = vec![0.0; 3 * 5];
            r.hidden_probs(&v, &mut h);
            for (n, row) in v.chunks(7).enumerate() {
                let v64: Vec<f64> = row.iter().map(|&x| x as f64).collect();
                for j in 0..5 {
                    let want = sigmoid64(hidden_input(&r, &v64, j));
                    assert!((h[n * 5 + j] as f64 - want).abs() < 1e-5);
                }
            }
            let mut back = vec![0.0; 3 * 7];
            r.visible_means(&h, &mut back);
            for n in 0..3 {
                for i in 0..7 {
                    let a: f64 = r.visible_bias[i] as f64
                        + (0..5)
                            .map(|j| r.weights[j * 7 + i] as f64 * h[n * 5 + j] as f64)
                            .sum::<f64>();
                    let want = if units == VisibleUnits::Bernoulli {
                        sigmoid64(a)
                    } else {
                        a
                    };
                    assert!((back[n * 7 + i] as f64 - want).abs() < 1e-5, "{units:?}");
                }
            }
        }
    }

    #[test]
    fn free_energy_matches_enumeration_over_hidden_states() {
        for units in [VisibleUnits::Bernoulli, VisibleUnits::Gaussian] {
            let r = random_rbm(units, 4, 3, 1.0, 11);
            let mut rng = TestRng(5);
            for _ in 0..10 {
                let v: Vec<f32> = (0..4).map(|_| 2.0 * rng.uniform() - 0.5).collect();
                let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
                let sum: f64 = binary_states(3)
                    .iter()
                    .map(|h| (-energy(&r, &v64, h)).exp())
                    .sum();
                let want = -sum.ln();
                let got = r.free_energy(&v) as f64;
                assert!(
                    (got - want).abs() < 1e-4 * want.abs().max(1.0),
                    "{units:?}: {got} vs {want}"
                );
            }
        }
    }

    fn check_cd_against_exact(units: VisibleUnits, tol: f64) {
        let r = random_rbm(units, 4, 3, 0.5, 21);
        let data: [f32; 16] = match units {
            VisibleUnits::Bernoulli => [
                1., 1., 0., 0., 0., 1., 1., 0., 1., 0., 0., 1., 1., 1., 1., 0.,
            ],
            VisibleUnits::Gaussian => [
                0.5, -1.0, 1.5, 0.0, -0.3, 0.8, 0.2, -1.2, 1.1, 0.4, -0.6, 0.9, 0.0, 0.0, 1.0, -0.5,
            ],
        };
        let (ew, eb, ec) = exact_gradient(&r, &data);
        // Many parallel chains from the data; a long chain forgets its start.
        let copies = 5000;
        let batch: Vec<f32> = (0..copies).flat_map(|_| data).collect();
        let n = batch.len() / 4;
        let mut ws = vec![0.0; cd_workspace_len(r.shape, n)];
        let mut rng = TestRng(77);
        let mut g = zeros_like(&r);
        let cfg = CdConfig {
            k: 40,
            sample_last_visible: true,
        };
        r.cd_k(&cfg, &batch, &mut ws, &mut || rng.uniform(), &mut g);
        let errs = [
            max_abs_diff(&g.weights, &ew),
            max_abs_diff(&g.visible_bias, &eb),
            max_abs_diff(&g.hidden_bias, &ec),
        ];
        for e in errs {
            assert!(
                e < tol,
                "{units:?}: CD-40 differs from exact gradient by {errs:?}"
            );
        }
        // CD-1 from the same state is measurably biased, so the check above can tell.
        let mut g1 = zeros_like(&r);
        r.cd_k(
            &CdConfig {
                k: 1,
                sample_last_visible: true,
            },
            &batch,
            &mut ws,
            &mut || rng.uniform(),
            &mut g1,
        );
        let e1 = max_abs_diff(&g1.weights, &ew).max(max_abs_diff(&g1.visible_bias, &eb));
        assert!(
            e1 > 2.0 * tol,
            "{units:?}: CD-1 unexpectedly matches the exact gradient ({e1})"
        );
    }

    #[test]
    fn cd_with_long_chains_matches_exact_gradient_bernoulli() {
        check_cd_against_exact(VisibleUnits::Bernoulli, 0.015);
    }

    #[test]
    fn cd_with_long_chains_matches_exact_gradient_gaussian() {
        check_cd_against_exact(VisibleUnits::Gaussian, 0.04);
    }

    #[test]
    fn standard_normal_has_unit_moments() {
        let mut rng = TestRng(1);
        let mut x = vec![0.0f32; 20001];
        add_standard_normal(&mut x, &mut || rng.uniform());
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn update_applies_momentum_and_decays_only_weights() {
        let shape = RbmShape {
            visible: 2,
            hidden: 1,
            units: VisibleUnits::Bernoulli,
        };
        let mut r = Rbm::new(shape, vec![1.0, -2.0], vec![0.5, 0.5], vec![3.0]).unwrap();
        let g = Rbm::new(shape, vec![0.1, 0.2], vec![1.0, 0.0], vec![0.0]).unwrap();
        let mut vel = Rbm::new(shape, vec![1.0, 1.0], vec![0.0, 0.0], vec![2.0]).unwrap();
        let up = RbmUpdate {
            learning_rate: 0.5,
            momentum: 0.9,
            weight_decay: 0.1,
        };
        r.apply_update(&g, &mut vel, &up);
        // vel_w = 0.9 * 1 + 0.5 * (0.1 - 0.1 * 1) = 0.9; 0.9 + 0.5 * (0.2 + 0.2) = 1.1
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&vel.weights, &[0.9, 1.1]), "{:?}", vel.weights);
        assert!(close(&r.weights, &[1.9, -0.9]), "{:?}", r.weights);
        assert!(close(&r.visible_bias, &[1.0, 0.5]), "{:?}", r.visible_bias);
        assert!(close(&vel.hidden_bias, &[1.8]) && close(&r.hidden_bias, &[4.8]));
    }

    /// 4x4 images of one horizontal or one vertical bar.
    fn bars() -> Vec<f32> {
        let mut out = Vec::new();
        for k in 0..4 {
            for vertical in [false, true] {
                for y in 0..4 {
                    for x in 0..4 {
                        out.push(if (if vertical { x } else { y }) == k {
                            1.0
                        } else {
                            0.0
                        });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn cd1_training_lowers_reconstruction_error_and_data_free_energy() {
        let data = bars();
        let n = data.len() / 16;
        let mut r = random_rbm(VisibleUnits::Bernoulli, 16, 8, 0.01, 4);
        let mut vel = zeros_like(&r);
        let mut g = zeros_like(&r);
        let mut ws = vec![0.0; cd_workspace_len(r.shape, n)];
        let mut rws = vec![0.0; reconstruction_workspace_len(r.shape, n)];
        let mut rng = TestRng(8);
        let before = r.reconstruction_error(&data, &mut rws);
        let noise: Vec<f32> = (0..16)
            .map(|_| if rng.uniform() < 0.25 { 1.0 } else { 0.0 })
            .collect();
        let gap = |r: &Rbm<Vec<f32>>| {
            let fd: f32 = data.chunks(16).map(|v| r.free_energy(v)).sum::<f32>() / n as f32;
            r.free_energy(&noise) - fd
        };
        let gap_before = gap(&r);
        let up = RbmUpdate {
            learning_rate: 0.1,
            momentum: 0.5,
            weight_decay: 1e-4,
        };
        for _ in 0..2000 {
            r.cd_k(
                &CdConfig::default(),
                &data,
                &mut ws,
                &mut || rng.uniform(),
                &mut g,
            );
            r.apply_update(&g, &mut vel, &up);
        }
        let after = r.reconstruction_error(&data, &mut rws);
        assert!(
            after < 0.25 * before,
            "reconstruction error {before} -> {after}"
        );
        // Training data became more probable than a random pattern.
        assert!(
            gap(&r) > gap_before + 5.0,
            "free-energy gap {gap_before} -> {}",
            gap(&r)
        );
    }

    #[test]
    fn cd_returns_first_reconstruction_error() {
        let r = random_rbm(VisibleUnits::Gaussian, 5, 4, 0.3, 2);
        let mut rng = TestRng(3);
        let v: Vec<f32> = (0..10).map(|_| rng.normal(1.0)).collect();
        let mut g = zeros_like(&r);
        let mut ws = vec![0.0; cd_workspace_len(r.shape, 2)];
        let e = r.cd_k(
            &CdConfig {
                k: 3,
                sample_last_visible: false,
            },
            &v,
            &mut ws,
            &mut || rng.uniform(),
            &mut g,
        );
        assert!(e.is_finite() && e > 0.0);
        assert!(g.weights.iter().all(|x| x.is_finite()));
    }
}
