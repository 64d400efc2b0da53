//! A sigmoid belief net with one layer of binary hidden causes `h` above
//! binary visible units `v`: `p(h_i = 1) = σ(b_i)` independently, and
//! `p(v_k = 1 | h) = σ(c_k + Σ_i h_i W_ik)`. Its exact posterior `p(h | v)`
//! by enumeration of the `2^H` hidden states, and its fitting to data by the
//! wake-sleep algorithm (Hinton, Dayan, Frey, Neal 1995) with a factorized
//! recognition net `q(h_i = 1 | v) = σ(r_i + Σ_k R_ik v_k)`.

use myelin_core::kernels;
use myelin_core::train::Rng;
use myelin_core::train::rbm::{add_standard_normal, sample_bernoulli};

use super::binary_states::{for_each_state_input, softplus};
use crate::pretrain::permutation;

/// A one-hidden-layer sigmoid belief net. Weights are `H x V` row-major:
/// row `i` is what cause `i` adds to the visible logits.
#[derive(Debug, Clone, PartialEq)]
pub struct BeliefNet {
    /// Hidden units `H`.
    pub hidden: usize,
    /// Visible units `V`.
    pub visible: usize,
    /// Prior logits `b` (`H`).
    pub prior_logits: Vec<f32>,
    /// Generative weights `W` (`H x V`).
    pub weights: Vec<f32>,
    /// Visible biases `c` (`V`).
    pub visible_bias: Vec<f32>,
}

/// The factorized recognition net wake-sleep trains alongside the
/// generative one. Weights are `H x V` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// Recognition weights `R` (`H x V`).
    pub weights: Vec<f32>,
    /// Recognition biases `r` (`H`).
    pub bias: Vec<f32>,
}

/// `ln p(v_k | a_k)` for a binary `v_k` and its logit `a_k`.
fn log_bernoulli(v: f32, a: f64) -> f64 {
    -softplus(if v > 0.5 { -a } else { a })
}

impl BeliefNet {
    /// `ln p(h)` for every hidden state: the prior, which factorizes.
    pub fn log_prior_table(&self) -> Vec<f64> {
        let mut out = vec![0.0; 1 << self.hidden];
        let logits: Vec<f64> = self.prior_logits.iter().map(|&b| b as f64).collect();
        for (s, o) in out.iter_mut().enumerate() {
            *o = super::binary_states::factorized_log_prob(&logits, s);
        }
        out
    }

    /// `ln p(v, h)` for every hidden state `h` of the binary image `v`; its
    /// normalization is `p(h | v)` and its log normalizer `ln p(v)`.
    ///
    /// # Panics
    /// If `v.len() != V`.
    pub fn log_joint_table(&self, v: &[f32]) -> Vec<f64> {
        assert_eq!(v.len(), self.visible, "belief net: visible length");
        let mut out = self.log_prior_table();
        for_each_state_input(self.hidden, &self.visible_bias, &self.weights, |s, a| {
            out[s] += v
                .iter()
                .zip(a)
                .map(|(&vk, &ak)| log_bernoulli(vk, ak))
                .sum::<f64>();
        });
        out
    }

    /// `p(h_i = 1)` of the prior, per unit.
    pub fn prior_probs(&self) -> Vec<f32> {
        let mut p = self.prior_logits.clone();
        kernels::sigmoid_inplace(&mut p);
        p
    }

    /// `p(v = 1 | h)` for each row of `h` (`n x H`) into `out` (`n x V`).
    fn visible_probs(&self, h: &[f32], out: &mut [f32]) {
        let n = h.len() / self.hidden;
        kernels::gemm(
            false,
            false,
            n,
            self.visible,
            self.hidden,
            h,
            &self.weights,
            0.0,
            out,
        );
        for row in out.chunks_exact_mut(self.visible) {
            kernels::axpy(1.0, &self.visible_bias, row);
        }
        kernels::sigmoid_inplace(out);
    }
}

impl Recognition {
    /// `q(h = 1 | v)` for each row of `v` (`n x V`) into `out` (`n x H`).
    pub fn probs(&self, v: &[f32], out: &mut [f32]) {
        let (nh, nv) = (self.bias.len(), self.weights.len() / self.bias.len());
        let n = v.len() / nv;
        kernels::gemm(false, true, n, nh, nv, v, &self.weights, 0.0, out);
        for row in out.chunks_exact_mut(nh) {
            kernels::axpy(1.0, &self.bias, row);
        }
        kernels::sigmoid_inplace(out);
    }

    /// Logits `r + R v` of `q(h = 1 | v)` for one image, in `f64`.
    pub fn logits(&self, v: &[f32]) -> Vec<f64> {
        let nv = v.len();
        self.bias
            .iter()
            .zip(self.weights.chunks_exact(nv))
            .map(|(&r, w)| r as f64 + w.iter().zip(v).map(|(&a, &b)| (a * b) as f64).sum::<f64>())
            .collect()
    }
}

/// Hyper-parameters of wake-sleep fitting.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WakeSleepConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Images per update.
    pub batch: usize,
    /// Step size of every update (gradients are batch means); it decays
    /// linearly to a tenth of itself over the epochs.
    pub learning_rate: f32,
}

/// `(a - b)` elementwise into `a`.
fn subtract(a: &mut [f32], b: &[f32]) {
    kernels::axpy(-1.0, b, a);
}

/// Adds the column sums of `rows` (`n x len`), scaled, to `acc`.
fn add_column_sums(scale: f32, rows: &[f32], acc: &mut [f32]) {
    for row in rows.chunks_exact(acc.len()) {
        kernels::axpy(scale, row, acc);
    }
}

/// Fits a belief net with `hidden` causes to the binary rows of `data`
/// (`n x visible`) by wake-sleep, calling `on_epoch(epoch)` after each
/// epoch. Starts from weights `N(0, 0.01²)`, zero prior logits and visible
/// biases at the data's log-odds.
///
/// Wake phase: `h ~ q(h | v)` for data `v`, then a gradient step on
/// `ln p(v, h)` for the generative parameters. Sleep phase: `(h, v)` drawn
/// from the generative net, then a gradient step on `ln q(h | v)` for the
/// recognition parameters.
///
/// # Panics
/// If `data` is empty or not whole rows, or `cfg.batch` is 0.
pub fn wake_sleep(
    data: &[f32],
    visible: usize,
    hidden: usize,
    cfg: &WakeSleepConfig,
    rng: &mut Rng,
    mut on_epoch: impl FnMut(usize),
) -> (BeliefNet, Recognition) {
    assert!(
        visible > 0 && !data.is_empty() && data.len().is_multiple_of(visible),
        "wake-sleep data is not whole rows"
    );
    assert!(cfg.batch > 0, "wake-sleep batch of 0");
    let n = data.len() / visible;
    let mut small = |len: usize| {
        let mut w = vec![0.0; len];
        add_standard_normal(&mut w, &mut || rng.uniform());
        kernels::scalar::scale(0.01, &mut w);
        w
    };
    let (gw, rw) = (small(hidden * visible), small(hidden * visible));
    let mut visible_bias = vec![0.0f32; visible];
    add_column_sums(1.0 / n as f32, data, &mut visible_bias);
    for c in &mut visible_bias {
        let p = c.clamp(1e-3, 1.0 - 1e-3);
        *c = (p / (1.0 - p)).ln();
    }
    let mut net = BeliefNet {
        hidden,
        visible,
        prior_logits: vec![0.0; hidden],
        weights: gw,
        visible_bias,
    };
    let mut rec = Recognition {
        weights: rw,
        bias: vec![0.0; hidden],
    };
    let batch = cfg.batch.min(n);
    let mut x = Vec::with_capacity(batch * visible);
    let (mut q, mut h) = (vec![0.0; batch * hidden], vec![0.0; batch * hidden]);
    let (mut pv, mut vs) = (vec![0.0; batch * visible], vec![0.0; batch * visible]);
    let mut grad_w = vec![0.0; hidden * visible];
    for epoch in 1..=cfg.epochs {
        let decay = 1.0 - 0.9 * (epoch - 1) as f32 / cfg.epochs.max(1) as f32;
        for chunk in permutation(n, rng).chunks(batch) {
            let m = chunk.len();
            let lr = cfg.learning_rate * decay / m as f32;
            x.clear();
            for &i in chunk {
                let i = i as usize;
                x.extend_from_slice(&data[i * visible..(i + 1) * visible]);
            }
            let (q, h) = (&mut q[..m * hidden], &mut h[..m * hidden]);
            let (pv, vs) = (&mut pv[..m * visible], &mut vs[..m * visible]);

            // Wake: causes sampled from the recognition net, generative step.
            rec.probs(&x, q);
            sample_bernoulli(q, h, &mut || rng.uniform());
            net.visible_probs(h, pv);
            for (p, &v) in pv.iter_mut().zip(&x) {
                *p = v - *p;
            }
            kernels::gemm(true, false, hidden, visible, m, h, pv, 0.0, &mut grad_w);
            kernels::axpy(lr, &grad_w, &mut net.weights);
            add_column_sums(lr, pv, &mut net.visible_bias);
            let prior = net.prior_probs();
            for row in h.chunks_exact_mut(hidden) {
                subtract(row, &prior);
            }
            add_column_sums(lr, h, &mut net.prior_logits);

            // Sleep: a fantasy from the generative net, recognition step.
            let prior = net.prior_probs();
            for row in q.chunks_exact_mut(hidden) {
                row.copy_from_slice(&prior);
            }
            sample_bernoulli(q, h, &mut || rng.uniform());
            net.visible_probs(h, pv);
            sample_bernoulli(pv, vs, &mut || rng.uniform());
            rec.probs(vs, q);
            for (t, &p) in h.iter_mut().zip(q.iter()) {
                *t -= p;
            }
            kernels::gemm(true, false, hidden, visible, m, h, vs, 0.0, &mut grad_w);
            kernels::axpy(lr, &grad_w, &mut rec.weights);
            add_column_sums(lr, h, &mut rec.bias);
        }
        on_epoch(epoch);
    }
    (net, rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::explaining_away::binary_states::{StateDist, log_sum_exp, sigmoid};

    #[test]
    // Index loops spell out the energy and the likelihood term by term.
    #[allow(clippy::needless_range_loop)]
    fn log_joint_matches_the_model_written_out() {
        let net = BeliefNet {
            hidden: 2,
            visible: 3,
            prior_logits: vec![0.5, -1.0],
            weights: vec![1.0, -2.0, 0.5, 3.0, 0.25, -1.5],
            visible_bias: vec![-0.5, 0.0, 1.0],
        };
        let v = [1.0, 0.0, 1.0];
        let table = net.log_joint_table(&v);
        for (s, &got) in table.iter().enumerate() {
            let h = [(s & 1) as f64, (s >> 1) as f64];
            let mut p = 1.0;
            for i in 0..2 {
                let q = sigmoid(net.prior_logits[i] as f64);
                p *= if h[i] > 0.5 { q } else { 1.0 - q };
            }
            for k in 0..3 {
                let a = net.visible_bias[k] as f64
                    + h[0] * net.weights[k] as f64
                    + h[1] * net.weights[3 + k] as f64;
                let q = sigmoid(a);
                p *= if v[k] > 0.5 { q } else { 1.0 - q };
            }
            assert!(
                (got - p.ln()).abs() < 1e-12,
                "state {s}: {got} vs {}",
                p.ln()
            );
        }
        // Summed over all images, p(v) is one.
        let total: f64 = (0..8)
            .map(|k| {
                let v: Vec<f32> = (0..3).map(|i| ((k >> i) & 1) as f32).collect();
                log_sum_exp(&net.log_joint_table(&v)).exp()
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    #[test]
    fn the_prior_factorizes() {
        let net = BeliefNet {
            hidden: 3,
            visible: 1,
            prior_logits: vec![2.0, -1.0, 0.3],
            weights: vec![1.0, 2.0, 3.0],
            visible_bias: vec![0.0],
        };
        let (p, _) = StateDist::from_log_weights(3, &net.log_prior_table());
        assert!(p.total_correlation() < 1e-15);
    }

    #[test]
    fn wake_sleep_learns_two_prototypes() {
        // Two complementary 12-pixel patterns with 5% flipped pixels.
        let mut rng = Rng::new(4);
        let proto: Vec<f32> = (0..12).map(|k| (k % 2) as f32).collect();
        let mut data = Vec::new();
        for i in 0..600 {
            for &p in &proto {
                let p = if i % 2 == 0 { p } else { 1.0 - p };
                data.push(if rng.uniform() < 0.05 { 1.0 - p } else { p });
            }
        }
        let cfg = WakeSleepConfig {
            epochs: 30,
            batch: 20,
            learning_rate: 0.2,
        };
        let mut epochs = 0;
        let (net, rec) = wake_sleep(&data, 12, 2, &cfg, &mut rng, |_| epochs += 1);
        assert_eq!(epochs, 30);
        let mean_ll = |net: &BeliefNet| {
            data.chunks_exact(12)
                .map(|v| log_sum_exp(&net.log_joint_table(v)))
                .sum::<f64>()
                / 600.0
        };
        let untrained = BeliefNet {
            weights: vec![0.0; 24],
            prior_logits: vec![0.0; 2],
            ..net.clone()
        };
        let (before, after) = (mean_ll(&untrained), mean_ll(&net));
        // Two prototypes at 5% noise: 12 · H(0.05) + ln 2 ≈ 3.08 nats is the best.
        assert!(after > -4.5 && after > before + 3.0, "{before} -> {after}");
        let mut q = vec![0.0; 2];
        rec.probs(&data[..12], &mut q);
        assert!(q.iter().all(|p| (0.0..=1.0).contains(p)));
        let l = rec.logits(&data[..12]);
        assert!((sigmoid(l[0]) as f32 - q[0]).abs() < 1e-5);
    }
}
