//! Distributions over a few binary units, stored as a table of all `2^n`
//! joint states (bit `i` of the state index is unit `i`), and what can be
//! measured on them exactly: marginals, total correlation, pairwise mutual
//! information and covariance, KL divergences to factorized distributions,
//! and the mean-field (factorized) fixed point.
//!
//! All arithmetic is `f64`. Factorized distributions are given by their
//! logits `l_i` (`q(h_i = 1) = σ(l_i)`), so that states of tiny probability
//! keep a finite log-probability.

/// The largest number of units a table is built for (`2^24` states).
pub const MAX_UNITS: usize = 24;

/// A normalized distribution over `units` binary units.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDist {
    /// Number of units.
    pub units: usize,
    /// `ln p(s)` for every state `s` (`-∞` for impossible states).
    pub log_p: Vec<f64>,
    /// `p(s)`.
    pub p: Vec<f64>,
}

/// Dependence of one pair of units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// First unit.
    pub i: usize,
    /// Second unit (`j > i`).
    pub j: usize,
    /// Mutual information `I(h_i; h_j)` in nats.
    pub mutual_information: f64,
    /// `E[h_i h_j] - E[h_i] E[h_j]`.
    pub covariance: f64,
}

/// `ln(1 + e^x)` without overflow.
pub fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `ln σ(x) = -softplus(-x)`.
pub fn log_sigmoid(x: f64) -> f64 {
    -softplus(-x)
}

/// `σ(x) = 1 / (1 + e^-x)`.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `ln Σ e^x` over `x`, `-∞` for an empty or all `-∞` slice.
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + x.iter().map(|&v| (v - max).exp()).sum::<f64>().ln()
}

/// Unit `i` of state `s`.
fn bit(s: usize, i: usize) -> bool {
    (s >> i) & 1 == 1
}

/// Visits every state of `units` binary units in Gray-code order, passing
/// the state and the affine input `a(s) = bias + Σ_i s_i · rows[i]` that
/// the units drive (`rows` holds `units` rows of `bias.len()` weights). Each
/// step adds or subtracts one row, so a visit costs one row, not `units`.
///
/// # Panics
/// If `rows` is not `units` rows of `bias.len()`, or `units > MAX_UNITS`.
pub fn for_each_state_input(
    units: usize,
    bias: &[f32],
    rows: &[f32],
    mut visit: impl FnMut(usize, &[f64]),
) {
    assert!(units <= MAX_UNITS, "{units} units: too many to enumerate");
    assert_eq!(rows.len(), units * bias.len(), "weight rows");
    let width = bias.len();
    let mut a: Vec<f64> = bias.iter().map(|&b| b as f64).collect();
    let mut state = 0usize;
    visit(state, &a);
    for k in 1..1usize << units {
        let i = k.trailing_zeros() as usize;
        let sign = if bit(state, i) { -1.0 } else { 1.0 };
        state ^= 1 << i;
        for (x, &w) in a.iter_mut().zip(&rows[i * width..(i + 1) * width]) {
            *x += sign * w as f64;
        }
        visit(state, &a);
    }
}

/// `ln q(s)` of the factorized distribution with the given logits.
pub fn factorized_log_prob(logits: &[f64], s: usize) -> f64 {
    logits
        .iter()
        .enumerate()
        .map(|(i, &l)| log_sigmoid(if bit(s, i) { l } else { -l }))
        .sum()
}

impl StateDist {
    /// Normalizes unnormalized log-weights `ln p*(s)` (`2^units` of them);
    /// also returns the log normalizer `ln Σ p*(s)`.
    ///
    /// # Panics
    /// If the table is not `2^units` long or every weight is `-∞`.
    pub fn from_log_weights(units: usize, log_w: &[f64]) -> (StateDist, f64) {
        assert!(units <= MAX_UNITS, "{units} units: too many to enumerate");
        assert_eq!(log_w.len(), 1 << units, "state table length");
        let log_z = log_sum_exp(log_w);
        assert!(log_z.is_finite(), "no state has positive weight");
        let log_p: Vec<f64> = log_w.iter().map(|&w| w - log_z).collect();
        let p = log_p.iter().map(|&l| l.exp()).collect();
        (StateDist { units, log_p, p }, log_z)
    }

    /// The factorized distribution with logits `logits`.
    pub fn factorized(logits: &[f64]) -> StateDist {
        let units = logits.len();
        let log_w: Vec<f64> = (0..1usize << units)
            .map(|s| factorized_log_prob(logits, s))
            .collect();
        StateDist::from_log_weights(units, &log_w).0
    }

    /// `(p(h_i = 0), p(h_i = 1))` per unit, each summed over its own states
    /// (so neither is computed as one minus the other).
    pub fn marginals(&self) -> Vec<(f64, f64)> {
        let mut m = vec![(0.0, 0.0); self.units];
        for (s, &p) in self.p.iter().enumerate() {
            for (i, mi) in m.iter_mut().enumerate() {
                if bit(s, i) {
                    mi.1 += p;
                } else {
                    mi.0 += p;
                }
            }
        }
        m
    }

    /// Logits `ln p(h_i = 1) - ln p(h_i = 0)` of the marginals.
    pub fn marginal_logits(&self) -> Vec<f64> {
        self.marginals()
            .iter()
            .map(|&(p0, p1)| p1.ln() - p0.ln())
            .collect()
    }

    /// Entropy `H(p)` in nats.
    pub fn entropy(&self) -> f64 {
        -self
            .p
            .iter()
            .zip(&self.log_p)
            .filter(|(p, _)| **p > 0.0)
            .map(|(p, l)| p * l)
            .sum::<f64>()
    }

    /// `KL(p || q)` in nats for the factorized `q` with logits `logits`.
    pub fn kl_to_factorized(&self, logits: &[f64]) -> f64 {
        assert_eq!(logits.len(), self.units, "logit count");
        self.p
            .iter()
            .zip(&self.log_p)
            .enumerate()
            .filter(|(_, (p, _))| **p > 0.0)
            .map(|(s, (p, l))| p * (l - factorized_log_prob(logits, s)))
            .sum::<f64>()
            .max(0.0)
    }

    /// `KL(q || p)` in nats for the factorized `q` with logits `logits`.
    pub fn kl_from_factorized(&self, logits: &[f64]) -> f64 {
        assert_eq!(logits.len(), self.units, "logit count");
        (0..self.p.len())
            .map(|s| {
                let lq = factorized_log_prob(logits, s);
                let q = lq.exp();
                if q > 0.0 {
                    q * (lq - self.log_p[s])
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            .max(0.0)
    }

    /// Total correlation `KL(p || Π_i p(h_i))` in nats: zero exactly when
    /// the units are independent, and the smallest `KL(p || q)` over all
    /// factorized `q` (attained by the product of `p`'s marginals).
    pub fn total_correlation(&self) -> f64 {
        let log_m: Vec<(f64, f64)> = self
            .marginals()
            .iter()
            .map(|&(p0, p1)| (p0.ln(), p1.ln()))
            .collect();
        self.p
            .iter()
            .zip(&self.log_p)
            .enumerate()
            .filter(|(_, (p, _))| **p > 0.0)
            .map(|(s, (p, l))| {
                let lq: f64 = log_m
                    .iter()
                    .enumerate()
                    .map(|(i, m)| if bit(s, i) { m.1 } else { m.0 })
                    .sum();
                p * (l - lq)
            })
            .sum::<f64>()
            .max(0.0)
    }

    /// The 2x2 table `p(h_i = a, h_j = b)` at index `2a + b`.
    pub fn pair_table(&self, i: usize, j: usize) -> [f64; 4] {
        let mut t = [0.0; 4];
        for (s, &p) in self.p.iter().enumerate() {
            t[2 * usize::from(bit(s, i)) + usize::from(bit(s, j))] += p;
        }
        t
    }

    /// Mutual information and covariance of every pair of units.
    pub fn pairs(&self) -> Vec<Pair> {
        let mut out = Vec::with_capacity(self.units * self.units.saturating_sub(1) / 2);
        for i in 0..self.units {
            for j in i + 1..self.units {
                let t = self.pair_table(i, j);
                let (pi, pj) = ([t[0] + t[1], t[2] + t[3]], [t[0] + t[2], t[1] + t[3]]);
                let mut mi = 0.0;
                for (cell, &pab) in t.iter().enumerate() {
                    if pab > 0.0 {
                        mi += pab * (pab.ln() - pi[cell / 2].ln() - pj[cell % 2].ln());
                    }
                }
                out.push(Pair {
                    i,
                    j,
                    mutual_information: mi.max(0.0),
                    covariance: t[3] - pi[1] * pj[1],
                });
            }
        }
        out
    }

    /// `p(h_i = 1 | h_j = value)`.
    pub fn prob_one_given(&self, i: usize, j: usize, value: bool) -> f64 {
        let t = self.pair_table(i, j);
        let b = usize::from(value);
        t[2 + b] / (t[b] + t[2 + b])
    }
}

/// The mean-field fixed point of a distribution given by log-weights.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanField {
    /// Logits of the factorized approximation `q`.
    pub logits: Vec<f64>,
    /// Sweeps over all units run.
    pub sweeps: usize,
    /// Whether the largest change of a `q(h_i = 1)` in the last sweep was
    /// below the tolerance.
    pub converged: bool,
}

/// `(E_q[ln p*(h) | h_i = 0], E_q[ln p*(h) | h_i = 1])` with the other
/// units drawn from the factorized `q` with means `m`: the table contracted
/// over every unit but `i`, one unit at a time. `buf` is scratch.
fn expectation_except(log_w: &[f64], m: &[f64], i: usize, buf: &mut Vec<f64>) -> (f64, f64) {
    buf.clear();
    buf.extend_from_slice(log_w);
    let mut len = buf.len();
    // Units above i are the top bit of the current table.
    for &mj in m[i + 1..].iter().rev() {
        let half = len / 2;
        let (lo, hi) = buf.split_at_mut(half);
        for (x, &y) in lo.iter_mut().zip(&hi[..half]) {
            *x = (1.0 - mj) * *x + mj * y;
        }
        len = half;
    }
    // Units below i are then the lowest bit.
    for &mj in &m[..i] {
        let half = len / 2;
        for k in 0..half {
            buf[k] = (1.0 - mj) * buf[2 * k] + mj * buf[2 * k + 1];
        }
        len = half;
    }
    (buf[0], buf[1])
}

/// Minimizes `KL(q || p)` over factorized `q` for the distribution with
/// log-weights `log_w` (`2^n` entries, unnormalized), starting from the
/// logits `init`: sweeps of exact coordinate updates
/// `q(h_i = 1) = σ(E_q[ln p*(h) | h_i = 1] - E_q[ln p*(h) | h_i = 0])`, each
/// of which lowers the KL, until no mean moves by more than `tol` or after
/// `max_sweeps` sweeps.
///
/// # Panics
/// If `log_w` is not `2^init.len()` finite entries.
pub fn mean_field(log_w: &[f64], init: &[f64], tol: f64, max_sweeps: usize) -> MeanField {
    let n = init.len();
    assert_eq!(log_w.len(), 1 << n, "state table length");
    assert!(
        log_w.iter().all(|w| w.is_finite()),
        "mean field needs finite log-weights"
    );
    let mut logits = init.to_vec();
    let mut m: Vec<f64> = logits.iter().map(|&l| sigmoid(l)).collect();
    let mut buf = Vec::with_capacity(log_w.len());
    let (mut sweeps, mut converged) = (0, false);
    while sweeps < max_sweeps && !converged {
        let mut largest = 0.0f64;
        for i in 0..n {
            let (e0, e1) = expectation_except(log_w, &m, i, &mut buf);
            logits[i] = e1 - e0;
            let new = sigmoid(logits[i]);
            largest = largest.max((new - m[i]).abs());
            m[i] = new;
        }
        sweeps += 1;
        converged = largest < tol;
    }
    MeanField {
        logits,
        sweeps,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-weights of a random distribution over `n` units.
    fn random_table(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = myelin_core::train::Rng::new(seed);
        (0..1 << n).map(|_| 3.0 * rng.normal() as f64).collect()
    }

    #[test]
    fn gray_code_inputs_match_direct_sums() {
        let (bias, rows) = ([0.5f32, -1.0], [1.0f32, 2.0, -3.0, 0.25, 4.0, 8.0]);
        let mut seen = [false; 8];
        for_each_state_input(3, &bias, &rows, |s, a| {
            seen[s] = true;
            for (k, &ak) in a.iter().enumerate() {
                let direct: f64 = bias[k] as f64
                    + (0..3)
                        .filter(|&i| bit(s, i))
                        .map(|i| rows[i * 2 + k] as f64)
                        .sum::<f64>();
                assert!((ak - direct).abs() < 1e-12, "state {s}: {ak} vs {direct}");
            }
        });
        assert!(seen.iter().all(|&x| x), "every state visited");
    }

    #[test]
    fn factorized_distribution_has_zero_dependence() {
        let logits = [0.3, -2.0, 5.0, 0.0, -0.7];
        let q = StateDist::factorized(&logits);
        assert!((q.p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(q.total_correlation() < 1e-14, "{}", q.total_correlation());
        for p in q.pairs() {
            assert!(p.mutual_information < 1e-14 && p.covariance.abs() < 1e-14);
        }
        for (l, back) in logits.iter().zip(q.marginal_logits()) {
            assert!((l - back).abs() < 1e-10, "{l} vs {back}");
        }
        assert!(q.kl_to_factorized(&logits) < 1e-14);
        assert!(q.kl_from_factorized(&logits) < 1e-14);
        // Entropy of independent units is the sum of theirs.
        let h: f64 = logits
            .iter()
            .map(|&l| {
                let p = sigmoid(l);
                -(p * p.ln() + (1.0 - p) * (1.0 - p).ln())
            })
            .sum();
        assert!((q.entropy() - h).abs() < 1e-12);
    }

    #[test]
    fn total_correlation_is_the_smallest_kl_to_a_factorized_distribution() {
        let (p, _) = StateDist::from_log_weights(4, &random_table(4, 7));
        let tc = p.total_correlation();
        let best = p.kl_to_factorized(&p.marginal_logits());
        assert!(tc > 0.01 && (tc - best).abs() < 1e-12, "{tc} vs {best}");
        let moved: Vec<f64> = p.marginal_logits().iter().map(|l| l + 0.1).collect();
        assert!(p.kl_to_factorized(&moved) > tc);
        // Two units: total correlation is their mutual information.
        let (p2, _) = StateDist::from_log_weights(2, &random_table(2, 3));
        let mi = p2.pairs()[0].mutual_information;
        assert!((p2.total_correlation() - mi).abs() < 1e-14);
    }

    #[test]
    fn mean_field_is_a_fixed_point_that_lowers_the_kl() {
        let log_w = random_table(6, 11);
        let (p, _) = StateDist::from_log_weights(6, &log_w);
        let init = vec![0.0; 6];
        let mf = mean_field(&log_w, &init, 1e-12, 1000);
        assert!(mf.converged, "{} sweeps", mf.sweeps);
        // Fixed point: one more update changes nothing.
        let m: Vec<f64> = mf.logits.iter().map(|&l| sigmoid(l)).collect();
        let mut buf = Vec::new();
        for i in 0..6 {
            let (e0, e1) = expectation_except(&log_w, &m, i, &mut buf);
            assert!((sigmoid(e1 - e0) - m[i]).abs() < 1e-10);
        }
        // The contraction is the direct expectation.
        let i = 2;
        let (mut e0, mut e1) = (0.0, 0.0);
        for (s, &w) in log_w.iter().enumerate() {
            let q_rest: f64 = (0..6)
                .filter(|&j| j != i)
                .map(|j| if bit(s, j) { m[j] } else { 1.0 - m[j] })
                .product();
            if bit(s, i) {
                e1 += q_rest * w;
            } else {
                e0 += q_rest * w;
            }
        }
        let (c0, c1) = expectation_except(&log_w, &m, i, &mut buf);
        assert!((c0 - e0).abs() < 1e-10 && (c1 - e1).abs() < 1e-10);
        // KL(q || p) went down from the start, and no single-unit nudge lowers it.
        let kl = p.kl_from_factorized(&mf.logits);
        assert!(kl < p.kl_from_factorized(&init));
        for i in 0..6 {
            for d in [-1e-3, 1e-3] {
                let mut l = mf.logits.clone();
                l[i] += d;
                assert!(p.kl_from_factorized(&l) >= kl - 1e-12);
            }
        }
    }

    #[test]
    fn mean_field_is_exact_on_a_factorized_distribution() {
        let logits = [1.5, -0.5, 3.0];
        let q = StateDist::factorized(&logits);
        // Unnormalized: the updates ignore the constant.
        let log_w: Vec<f64> = q.log_p.iter().map(|l| l + 4.0).collect();
        let mf = mean_field(&log_w, &[0.0; 3], 1e-13, 100);
        assert!(mf.converged && mf.sweeps <= 3, "{mf:?}");
        for (a, b) in mf.logits.iter().zip(&logits) {
            assert!((a - b).abs() < 1e-10);
        }
    }
}
