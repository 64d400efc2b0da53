//! The textbook case of explaining away: two independent, rare binary
//! causes `h1`, `h2` of one effect `v`, either of which alone makes the
//! effect likely. Exact posteriors by enumeration of the four states.

use super::belief_net::BeliefNet;
use super::binary_states::{StateDist, mean_field};

/// The lecture's numbers: each cause has prior logit -10 (`p ≈ 4.5e-5`),
/// adds 20 to the effect's logit, whose bias is -20: one cause alone gives
/// `p(v = 1) = σ(0) = 1/2`, both `σ(20) ≈ 1`, none `σ(-20) ≈ 2e-9`.
pub const LECTURE: TwoCauses = TwoCauses {
    prior_logit: -10.0,
    weight: 20.0,
    effect_bias: -20.0,
};

/// A two-cause, one-effect sigmoid belief net, symmetric in the causes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TwoCauses {
    /// Prior logit of each cause.
    pub prior_logit: f32,
    /// Weight from each cause to the effect.
    pub weight: f32,
    /// Bias of the effect.
    pub effect_bias: f32,
}

/// One distribution over `(h1, h2)` and what it shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    /// What is observed.
    pub given: String,
    /// `p(h1, h2 | ...)` at index `h1 + 2 h2`: (0,0), (1,0), (0,1), (1,1).
    pub states: [f64; 4],
    /// `p(h1 = 1 | ...)`.
    pub p_h1: f64,
    /// `p(h2 = 1 | ...)`.
    pub p_h2: f64,
    /// `Cov(h1, h2)`.
    pub covariance: f64,
    /// `Corr(h1, h2)`, absent when a cause is fixed.
    pub correlation: Option<f64>,
    /// `I(h1; h2)` in nats.
    pub mutual_information: f64,
}

/// The textbook results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Textbook {
    /// The net.
    pub net: TwoCauses,
    /// `p(v = 1)`.
    pub p_effect: f64,
    /// Prior, given `v = 1`, given `v = 1` and `h2 = 1`.
    pub conditions: Vec<Condition>,
    /// `p(h1 = 1 | v = 1, h2 = 0)`: ruling the other cause out.
    pub p_h1_given_effect_h2_off: f64,
    /// Mean-field `q(h1 = 1), q(h2 = 1)` for `p(h | v = 1)`, started from
    /// `0.5, 0.6` (the symmetric point `1/2, 1/2` is a saddle).
    pub mean_field: [f64; 2],
    /// `KL(p || q)` of that mean field, nats.
    pub mean_field_kl: f64,
    /// `KL(q || p)`, the divergence the mean field minimizes, nats.
    pub mean_field_reverse_kl: f64,
}

impl TwoCauses {
    /// The net as a [`BeliefNet`] with two hidden units and one visible.
    pub fn belief_net(&self) -> BeliefNet {
        BeliefNet {
            hidden: 2,
            visible: 1,
            prior_logits: vec![self.prior_logit; 2],
            weights: vec![self.weight; 2],
            visible_bias: vec![self.effect_bias],
        }
    }

    /// Exact prior and posteriors, and the mean field given the effect.
    pub fn measure(&self) -> Textbook {
        let net = self.belief_net();
        let prior = net.log_prior_table();
        let effect = net.log_joint_table(&[1.0]);
        let mut effect_h2: Vec<f64> = effect.clone();
        effect_h2[0] = f64::NEG_INFINITY;
        effect_h2[1] = f64::NEG_INFINITY;
        let condition = |given: &str, log_w: &[f64]| -> (StateDist, Condition) {
            let (d, _) = StateDist::from_log_weights(2, log_w);
            let m = d.marginals();
            let pair = d.pairs()[0];
            let var = m[0].0 * m[0].1 * m[1].0 * m[1].1;
            let c = Condition {
                given: given.to_string(),
                states: [d.p[0], d.p[1], d.p[2], d.p[3]],
                p_h1: m[0].1,
                p_h2: m[1].1,
                covariance: pair.covariance,
                correlation: (var > 0.0).then(|| pair.covariance / var.sqrt()),
                mutual_information: pair.mutual_information,
            };
            (d, c)
        };
        let (_, c_prior) = condition("nothing (prior)", &prior);
        let (post, c_effect) = condition("v = 1", &effect);
        let (_, c_both) = condition("v = 1, h2 = 1", &effect_h2);
        let start = [0.0, (0.6f64 / 0.4).ln()];
        let mf = mean_field(&effect, &start, 1e-12, 1000);
        Textbook {
            net: *self,
            p_effect: super::binary_states::log_sum_exp(&effect).exp(),
            conditions: vec![c_prior, c_effect, c_both],
            p_h1_given_effect_h2_off: post.prob_one_given(0, 1, false),
            mean_field: [
                super::binary_states::sigmoid(mf.logits[0]),
                super::binary_states::sigmoid(mf.logits[1]),
            ],
            mean_field_kl: post.kl_to_factorized(&mf.logits),
            mean_field_reverse_kl: post.kl_from_factorized(&mf.logits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Priors 1/4 (logit -ln 3); effect bias -ln 9 and weights ln 9, so
    /// p(v=1 | h) is σ(-ln 9) = 1/10 with no cause, σ(0) = 1/2 with one,
    /// σ(ln 9) = 9/10 with both.
    ///
    /// p(h, v=1): (0,0) 3/4·3/4·1/10 = 9/160; (1,0) = (0,1) 1/4·3/4·1/2 = 15/160;
    /// (1,1) 1/4·1/4·9/10 = 9/160; sum p(v=1) = 48/160 = 3/10.
    /// Posterior: 9/48 = 3/16, 5/16, 5/16, 3/16, so p(h1=1 | v=1) = 1/2 (up
    /// from 1/4), Cov = 3/16 - 1/2·1/2 = -1/16, Corr = (-1/16)/(1/4) = -1/4,
    /// I = 2·3/16·ln(3/4) + 2·5/16·ln(5/4) = 0.0315…;
    /// p(h1=1 | v=1, h2=1) = (3/16)/(5/16 + 3/16) = 3/8 (down from 1/2);
    /// p(h1=1 | v=1, h2=0) = (5/16)/(3/16 + 5/16) = 5/8.
    #[test]
    fn posteriors_match_hand_computed_values() {
        let net = TwoCauses {
            prior_logit: -(3.0f32.ln()),
            weight: 9.0f32.ln(),
            effect_bias: -(9.0f32.ln()),
        };
        let t = net.measure();
        let tol = 1e-6;
        assert!(close(t.p_effect, 0.3, tol), "{}", t.p_effect);
        let [prior, effect, both] = &t.conditions[..] else {
            panic!("three conditions")
        };
        for (got, want) in prior.states.iter().zip([9.0, 3.0, 3.0, 1.0]) {
            assert!(close(*got, want / 16.0, tol), "prior {:?}", prior.states);
        }
        assert!(close(prior.p_h1, 0.25, tol) && close(prior.covariance, 0.0, 1e-12));
        assert!(prior.mutual_information < 1e-12);
        for (got, want) in effect.states.iter().zip([3.0, 5.0, 5.0, 3.0]) {
            assert!(
                close(*got, want / 16.0, tol),
                "posterior {:?}",
                effect.states
            );
        }
        assert!(close(effect.p_h1, 0.5, tol) && close(effect.p_h2, 0.5, tol));
        assert!(close(effect.covariance, -1.0 / 16.0, tol));
        assert!(close(effect.correlation.unwrap(), -0.25, tol));
        let mi = 0.375 * 0.75f64.ln() + 0.625 * 1.25f64.ln();
        assert!(
            close(effect.mutual_information, mi, tol),
            "{}",
            effect.mutual_information
        );
        assert!(close(both.states[1] + both.states[0], 0.0, 1e-12));
        assert!(close(both.p_h1, 3.0 / 8.0, tol) && close(both.p_h2, 1.0, 1e-12));
        assert!(both.correlation.is_none() && both.mutual_information < 1e-12);
        assert!(close(t.p_h1_given_effect_h2_off, 5.0 / 8.0, tol));
    }

    /// The lecture's net. With e = σ(-10) = 4.5398e-5 and σ(-20) = 2.0612e-9:
    /// p(h, v=1) ∝ (0,0) (1-e)²·σ(-20) ≈ 2.0611e-9, (1,0) = (0,1)
    /// e(1-e)·1/2 ≈ 2.2698e-5, (1,1) e²·σ(20) ≈ 2.0610e-9. So the posterior
    /// is ≈ 4.54e-5, 0.49995, 0.49995, 4.54e-5: given the effect, exactly one
    /// cause is almost surely on, and p(h1=1 | v=1, h2=1) =
    /// 2.0610e-9 / (2.2698e-5 + 2.0610e-9) ≈ 9.08e-5: h1 falls back to about
    /// twice its prior.
    #[test]
    fn lecture_net_explains_away() {
        let t = LECTURE.measure();
        let effect = &t.conditions[1];
        assert!(
            close(effect.states[0], 4.54e-5, 1e-7),
            "{:?}",
            effect.states
        );
        assert!(close(effect.states[1], 0.49995, 1e-5));
        assert!(close(effect.states[3], 4.54e-5, 1e-7));
        assert!(effect.correlation.unwrap() < -0.999);
        assert!(
            close(t.conditions[2].p_h1, 9.08e-5, 1e-7),
            "{}",
            t.conditions[2].p_h1
        );
        assert!(t.p_h1_given_effect_h2_off > 0.9999);
        // Mean field picks one of the two explanations: q ≈ δ(0,1), so
        // KL(q || p) ≈ -ln p(0,1 | v) ≈ ln 2, while KL(p || q) is large
        // because q gives the other explanation, half of p, almost nothing.
        let [a, b] = t.mean_field;
        assert!(a < 1e-3 && b > 0.999, "{a} {b}");
        assert!(
            close(t.mean_field_reverse_kl, 2f64.ln(), 1e-3),
            "{}",
            t.mean_field_reverse_kl
        );
        assert!(t.mean_field_kl > 3.0, "{}", t.mean_field_kl);
    }
}
