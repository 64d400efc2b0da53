//! Exact distributions over the hidden states of a binary RBM (the core's
//! [`Rbm`], Bernoulli visible units), by enumeration of the `2^H` states:
//! the posterior `p(h | v)`, the marginal `p(h) = Σ_v p(v, h)`, and with its
//! normalizer the exact `ln p(v)`.
//!
//! With `E(v, h) = -bᵀv - cᵀh - hᵀWv`:
//! `ln p(h | v) = Σ_j h_j (c_j + W_j·v) + const`, a sum of one term per
//! unit (so the posterior factorizes), while
//! `ln p(h) = cᵀh + Σ_k softplus(b_k + Σ_j h_j W_jk) + const`, whose
//! softplus couples the units.

use myelin_core::train::rbm::{Rbm, VisibleUnits};

use super::binary_states::{MAX_UNITS, for_each_state_input, softplus};

/// The hidden logits `c_j + W_j·v` of one image, in `f64`.
pub fn hidden_logits(rbm: &Rbm<Vec<f32>>, v: &[f32]) -> Vec<f64> {
    let nv = rbm.shape.visible;
    assert_eq!(v.len(), nv, "rbm: visible length");
    rbm.hidden_bias
        .iter()
        .zip(rbm.weights.chunks_exact(nv))
        .map(|(&c, w)| {
            c as f64
                + w.iter()
                    .zip(v)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
        })
        .collect()
}

/// `ln p*(h | v) = Σ_j h_j (c_j + W_j·v)` for every hidden state
/// (unnormalized): the exact posterior written as a joint table, without
/// using that it factorizes.
pub fn posterior_log_table(rbm: &Rbm<Vec<f32>>, v: &[f32]) -> Vec<f64> {
    let x = hidden_logits(rbm, v);
    let units = x.len();
    assert!(
        units <= MAX_UNITS,
        "{units} hidden units: too many to enumerate"
    );
    (0..1usize << units)
        .map(|s| {
            x.iter()
                .enumerate()
                .filter(|(j, _)| (s >> j) & 1 == 1)
                .map(|(_, &xj)| xj)
                .sum()
        })
        .collect()
}

/// `ln p*(h) = cᵀh + Σ_k softplus(b_k + Σ_j h_j W_jk)` for every hidden
/// state (unnormalized); its log normalizer is the RBM's `ln Z`.
///
/// # Panics
/// If the visible units are not Bernoulli.
pub fn hidden_marginal_log_table(rbm: &Rbm<Vec<f32>>) -> Vec<f64> {
    assert_eq!(
        rbm.shape.units,
        VisibleUnits::Bernoulli,
        "p(h) is enumerated for binary visible units"
    );
    let mut out = vec![0.0; 1 << rbm.shape.hidden];
    for_each_state_input(rbm.shape.hidden, &rbm.visible_bias, &rbm.weights, |s, a| {
        let bias: f64 = rbm
            .hidden_bias
            .iter()
            .enumerate()
            .filter(|(j, _)| (s >> j) & 1 == 1)
            .map(|(_, &c)| c as f64)
            .sum();
        out[s] = bias + a.iter().map(|&x| softplus(x)).sum::<f64>();
    });
    out
}

/// Exact `ln p(v) = bᵀv + Σ_j softplus(c_j + W_j·v) - ln Z`, given `ln Z`
/// (the log normalizer of [`hidden_marginal_log_table`]).
pub fn log_prob_visible(rbm: &Rbm<Vec<f32>>, v: &[f32], log_z: f64) -> f64 {
    let bv: f64 = rbm
        .visible_bias
        .iter()
        .zip(v)
        .map(|(&b, &x)| b as f64 * x as f64)
        .sum();
    bv + hidden_logits(rbm, v)
        .iter()
        .map(|&x| softplus(x))
        .sum::<f64>()
        - log_z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::explaining_away::binary_states::{StateDist, log_sum_exp};
    use myelin_core::train::Rng;
    use myelin_core::train::rbm::RbmShape;

    fn random_rbm(visible: usize, hidden: usize, scale: f32, seed: u64) -> Rbm<Vec<f32>> {
        let mut rng = Rng::new(seed);
        let mut draw = |n: usize| (0..n).map(|_| scale * rng.normal()).collect::<Vec<_>>();
        Rbm {
            shape: RbmShape {
                visible,
                hidden,
                units: VisibleUnits::Bernoulli,
            },
            weights: draw(visible * hidden),
            visible_bias: draw(visible),
            hidden_bias: draw(hidden),
        }
    }

    #[test]
    fn posterior_factorizes_and_matches_the_core() {
        let rbm = random_rbm(10, 6, 1.0, 5);
        let v: Vec<f32> = (0..10).map(|k| (k % 3 == 0) as u8 as f32).collect();
        let (p, _) = StateDist::from_log_weights(6, &posterior_log_table(&rbm, &v));
        assert!(p.total_correlation() < 1e-13, "{}", p.total_correlation());
        assert!(p.pairs().iter().all(|q| q.mutual_information < 1e-13));
        let mut core = vec![0.0; 6];
        rbm.hidden_probs(&v, &mut core);
        for ((_, m1), c) in p.marginals().iter().zip(&core) {
            assert!((m1 - *c as f64).abs() < 1e-6, "{m1} vs {c}");
        }
    }

    #[test]
    // Index loops spell out the energy and the likelihood term by term.
    #[allow(clippy::needless_range_loop)]
    fn hidden_marginal_is_the_sum_over_visible_states_and_does_not_factorize() {
        let rbm = random_rbm(5, 3, 3.0, 8);
        // Brute force: Σ_v e^(-E(v, h)) over all 32 visible states.
        let brute: Vec<f64> = (0..8usize)
            .map(|s| {
                let h: Vec<f64> = (0..3).map(|j| ((s >> j) & 1) as f64).collect();
                let terms: Vec<f64> = (0..32usize)
                    .map(|k| {
                        let v: Vec<f64> = (0..5).map(|i| ((k >> i) & 1) as f64).collect();
                        let mut e = 0.0;
                        for i in 0..5 {
                            e += rbm.visible_bias[i] as f64 * v[i];
                        }
                        for j in 0..3 {
                            e += rbm.hidden_bias[j] as f64 * h[j];
                            for i in 0..5 {
                                e += h[j] * rbm.weights[j * 5 + i] as f64 * v[i];
                            }
                        }
                        e
                    })
                    .collect();
                log_sum_exp(&terms)
            })
            .collect();
        let table = hidden_marginal_log_table(&rbm);
        for (a, b) in table.iter().zip(&brute) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
        let (p, log_z) = StateDist::from_log_weights(3, &table);
        assert!(p.total_correlation() > 1e-4, "{}", p.total_correlation());
        // ln p(v) sums to one over the visible states.
        let total: f64 = (0..32usize)
            .map(|k| {
                let v: Vec<f32> = (0..5).map(|i| ((k >> i) & 1) as f32).collect();
                log_prob_visible(&rbm, &v, log_z).exp()
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-10, "{total}");
    }
}
