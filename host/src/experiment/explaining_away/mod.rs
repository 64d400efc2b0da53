//! `myelin experiment explaining-away`: hidden causes that are independent
//! a priori become dependent once their common effect is observed, in a
//! directed (sigmoid) belief net, but not in an RBM.
//!
//! Three parts: the textbook two-cause net ([`textbook`]); a belief net with
//! a dozen binary causes fitted to binarized MNIST by wake-sleep, whose exact
//! posterior over all `2^H` hidden states is compared with factorized
//! approximations on test images; and an RBM of the same size trained on the
//! same images, whose exact `p(h | v)` factorizes while its `p(h)` does not.

pub mod belief_net;
pub mod binary_states;
pub mod rbm_states;
pub mod report;
pub mod textbook;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use myelin_core::train::Rng;
use myelin_core::train::rbm::{Rbm, VisibleUnits};

use belief_net::{BeliefNet, Recognition, WakeSleepConfig};
use binary_states::{StateDist, mean_field};

use crate::data::{Dataset, MnistFiles};
use crate::pretrain::permutation;
use crate::pretrain::rbm::{self as rbm_train, RbmConfig};

/// A pair of units counts as dependent above this mutual information (nats).
pub const DEPENDENT_PAIR_NATS: f64 = 1e-3;

/// Settings of the explaining-away experiment.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ExplainingAwayArgs {
    /// Hidden units of the belief net and of the RBM (at most 20: the
    /// posterior is enumerated over 2^hidden states).
    #[arg(long, default_value_t = 12)]
    pub hidden: usize,
    /// Average-pool images by this factor before binarizing them at 1/2
    /// (2: MNIST's 28x28 becomes 14x14).
    #[arg(long, default_value_t = 2)]
    pub pool: usize,
    /// Wake-sleep epochs for the belief net.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// CD-1 epochs for the RBM.
    #[arg(long, default_value_t = 10)]
    pub rbm_epochs: usize,
    /// Wake-sleep learning rate (it decays linearly to a tenth).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    /// Mini-batch size of both trainings.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Use only this many training images (default: all; 10,000 with --quick).
    #[arg(long)]
    pub train_samples: Option<usize>,
    /// Test images whose exact posteriors are measured (200 with --quick).
    #[arg(long, default_value_t = 1000)]
    pub test_images: usize,
    /// Seed for initialization, sampling and the choice of images.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory with the MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Directory for the table and the JSON results.
    #[arg(long, default_value = "out/explaining-away")]
    pub out: PathBuf,
    /// Where to write the SVG plot (default: OUT/dependence.svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Print the results as one JSON object on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// A short version (10,000 training images, 10 wake-sleep and 5 RBM
    /// epochs, 200 test images) that runs in well under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Do not train: redraw the table and plot from a `results.json` this
    /// command wrote earlier.
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,
}

impl Default for ExplainingAwayArgs {
    /// The command-line defaults.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ExplainingAwayArgs,
        }
        <Wrapper as clap::Parser>::parse_from(["explaining-away"]).args
    }
}

/// Settings resolved from [`ExplainingAwayArgs`] (quick mode applied).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Hidden units.
    pub hidden: usize,
    /// Pooling factor.
    pub pool: usize,
    /// Wake-sleep fitting of the belief net.
    pub wake_sleep: WakeSleepConfig,
    /// CD-1 epochs of the RBM (otherwise [`RbmConfig::default`]).
    pub rbm_epochs: usize,
    /// Training images used (`None`: all).
    pub train_samples: Option<usize>,
    /// Test images measured.
    pub test_images: usize,
    /// Seed.
    pub seed: u64,
    /// Whether `--quick` was given.
    pub quick: bool,
}

impl ExplainingAwayArgs {
    /// The settings these arguments ask for.
    pub fn settings(&self) -> Result<Settings> {
        if !(1..=20).contains(&self.hidden) {
            bail!("--hidden must be 1 to 20 (the posterior is enumerated over 2^hidden states)");
        }
        if self.pool == 0 || self.epochs == 0 || self.rbm_epochs == 0 || self.batch == 0 {
            bail!("--pool, --epochs, --rbm-epochs and --batch must be at least 1");
        }
        if self.test_images == 0 {
            bail!("--test-images must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be positive");
        }
        let q = self.quick;
        Ok(Settings {
            hidden: self.hidden,
            pool: self.pool,
            wake_sleep: WakeSleepConfig {
                epochs: if q { self.epochs.min(10) } else { self.epochs },
                batch: self.batch,
                learning_rate: self.lr,
            },
            rbm_epochs: if q {
                self.rbm_epochs.min(5)
            } else {
                self.rbm_epochs
            },
            train_samples: self.train_samples.or(q.then_some(10_000)),
            test_images: if q {
                self.test_images.min(200)
            } else {
                self.test_images
            },
            seed: self.seed,
            quick: q,
        })
    }
}

/// Dependence between hidden units in one distribution, or its mean over
/// test images.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Dependence {
    /// Total correlation `KL(p || Π_i p(h_i))`, nats.
    pub total_correlation: f64,
    /// Mutual information of a pair of units, mean over pairs, nats.
    pub mean_pair_mi: f64,
    /// Largest pairwise mutual information, nats.
    pub max_pair_mi: f64,
    /// Pairs with mutual information above [`DEPENDENT_PAIR_NATS`].
    pub dependent_pairs: f64,
    /// Of those, the fraction with negative covariance (`None`: no such pair).
    pub negative_share: Option<f64>,
}

impl Dependence {
    /// Measures `d`.
    pub fn of(d: &StateDist) -> Dependence {
        let pairs = d.pairs();
        let dependent: Vec<_> = pairs
            .iter()
            .filter(|p| p.mutual_information > DEPENDENT_PAIR_NATS)
            .collect();
        let negative = dependent.iter().filter(|p| p.covariance < 0.0).count();
        let mi = pairs.iter().map(|p| p.mutual_information);
        Dependence {
            total_correlation: d.total_correlation(),
            mean_pair_mi: mi.clone().sum::<f64>() / pairs.len().max(1) as f64,
            max_pair_mi: mi.fold(0.0, f64::max),
            dependent_pairs: dependent.len() as f64,
            negative_share: (!dependent.is_empty())
                .then(|| negative as f64 / dependent.len() as f64),
        }
    }

    /// The mean of per-image measures; the negative share is pooled over all
    /// dependent pairs.
    pub fn mean(all: &[Dependence]) -> Dependence {
        let n = all.len().max(1) as f64;
        let pairs: f64 = all.iter().map(|d| d.dependent_pairs).sum();
        let negative: f64 = all
            .iter()
            .map(|d| d.negative_share.unwrap_or(0.0) * d.dependent_pairs)
            .sum();
        Dependence {
            total_correlation: all.iter().map(|d| d.total_correlation).sum::<f64>() / n,
            mean_pair_mi: all.iter().map(|d| d.mean_pair_mi).sum::<f64>() / n,
            max_pair_mi: all.iter().map(|d| d.max_pair_mi).sum::<f64>() / n,
            dependent_pairs: pairs / n,
            negative_share: (pairs > 0.0).then(|| negative / pairs),
        }
    }
}

/// What the belief net showed on the test images.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BeliefNetResult {
    /// Mean exact `ln p(v)` of a test image, nats.
    pub test_log_likelihood: f64,
    /// Dependence under the prior `p(h)` (independent by construction).
    pub prior: Dependence,
    /// Dependence under the exact posterior `p(h | v)`, mean over images.
    pub posterior: Dependence,
    /// Mean entropy of the exact posterior, nats.
    pub posterior_entropy: f64,
    /// Mean `KL(p || q)` for the mean-field fixed point `q`, nats.
    pub kl_exact_mean_field: f64,
    /// Mean `KL(q || p)` for the mean-field fixed point (what it minimizes).
    pub kl_mean_field_exact: f64,
    /// Mean `KL(p || q)` for wake-sleep's recognition net `q(h | v)`.
    pub kl_exact_recognition: f64,
    /// Mean sweeps the mean field took, and the share of images on which it
    /// converged.
    pub mean_field_sweeps: f64,
    /// Share of images where the mean field converged.
    pub mean_field_converged: f64,
    /// Per image: total correlation of the exact posterior.
    pub per_image_total_correlation: Vec<f64>,
    /// Per image: `KL(p || q)` for the mean field.
    pub per_image_kl_mean_field: Vec<f64>,
    /// Per image: `KL(p || q)` for the recognition net.
    pub per_image_kl_recognition: Vec<f64>,
    /// Seconds of fitting and of measuring.
    pub fit_seconds: f64,
    /// Seconds of measuring the test images.
    pub measure_seconds: f64,
}

/// What the RBM showed on the same test images.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RbmResult {
    /// Mean exact `ln p(v)` of a test image, nats.
    pub test_log_likelihood: f64,
    /// Dependence under the RBM's marginal `p(h)`.
    pub prior: Dependence,
    /// Dependence under the exact posterior `p(h | v)`, mean over images.
    pub posterior: Dependence,
    /// Largest total correlation of `p(h | v)` over the images.
    pub max_posterior_total_correlation: f64,
    /// Largest `|p(h_j = 1 | v)|` difference between the enumerated
    /// marginals and the core's `σ(c_j + W_j·v)` (f32), over units and images.
    pub max_marginal_error: f64,
    /// Per image: total correlation of the exact posterior.
    pub per_image_total_correlation: Vec<f64>,
    /// Seconds of training.
    pub fit_seconds: f64,
    /// Seconds of measuring.
    pub measure_seconds: f64,
}

/// Everything the experiment measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Results {
    /// The settings of the run.
    pub settings: Settings,
    /// Visible units after pooling.
    pub visible: usize,
    /// Training images used.
    pub train_images: usize,
    /// The textbook two-cause net.
    pub textbook: textbook::Textbook,
    /// The belief net at scale.
    pub belief_net: BeliefNetResult,
    /// The RBM contrast.
    pub rbm: RbmResult,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Average-pools every image of `ds` by `pool` in both directions and
/// binarizes at 1/2: rows of `(rows / pool) * (cols / pool)` values in {0, 1}.
pub fn binarize(ds: &Dataset, pool: usize) -> Result<(Vec<f32>, usize)> {
    let [rows, cols] = ds.sample_dims[..] else {
        bail!(
            "expected 2-D images, found samples of shape {:?}",
            ds.sample_dims
        );
    };
    if rows % pool != 0 || cols % pool != 0 {
        bail!("{rows}x{cols} images do not split into {pool}x{pool} blocks (--pool)");
    }
    let (pr, pc) = (rows / pool, cols / pool);
    let scale = 1.0 / (pool * pool) as f32;
    let mut out = Vec::with_capacity(ds.len() * pr * pc);
    for i in 0..ds.len() {
        let img = ds.sample(i);
        for r in 0..pr {
            for c in 0..pc {
                let mut sum = 0.0;
                for dr in 0..pool {
                    let row = (r * pool + dr) * cols + c * pool;
                    sum += img[row..row + pool].iter().sum::<f32>();
                }
                out.push(if sum * scale > 0.5 { 1.0 } else { 0.0 });
            }
        }
    }
    Ok((out, pr * pc))
}

/// Measures the belief net on each row of `test`.
pub fn measure_belief_net(
    net: &BeliefNet,
    rec: &Recognition,
    test: &[f32],
    fit_seconds: f64,
) -> BeliefNetResult {
    let start = Instant::now();
    let (prior, _) = StateDist::from_log_weights(net.hidden, &net.log_prior_table());
    let mut deps = Vec::new();
    let (mut ll, mut entropy, mut kl_rev, mut sweeps, mut converged) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut tc, mut kl_mf, mut kl_rec) = (Vec::new(), Vec::new(), Vec::new());
    for v in test.chunks_exact(net.visible) {
        let table = net.log_joint_table(v);
        let (post, log_pv) = StateDist::from_log_weights(net.hidden, &table);
        let rec_logits = rec.logits(v);
        let mf = mean_field(&table, &rec_logits, 1e-9, 500);
        let d = Dependence::of(&post);
        tc.push(d.total_correlation);
        deps.push(d);
        kl_mf.push(post.kl_to_factorized(&mf.logits));
        kl_rec.push(post.kl_to_factorized(&rec_logits));
        kl_rev += post.kl_from_factorized(&mf.logits);
        ll += log_pv;
        entropy += post.entropy();
        sweeps += mf.sweeps as f64;
        converged += f64::from(u8::from(mf.converged));
    }
    let n = deps.len().max(1) as f64;
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n;
    BeliefNetResult {
        test_log_likelihood: ll / n,
        prior: Dependence::of(&prior),
        posterior: Dependence::mean(&deps),
        posterior_entropy: entropy / n,
        kl_exact_mean_field: mean(&kl_mf),
        kl_mean_field_exact: kl_rev / n,
        kl_exact_recognition: mean(&kl_rec),
        mean_field_sweeps: sweeps / n,
        mean_field_converged: converged / n,
        per_image_total_correlation: tc,
        per_image_kl_mean_field: kl_mf,
        per_image_kl_recognition: kl_rec,
        fit_seconds,
        measure_seconds: start.elapsed().as_secs_f64(),
    }
}

/// Measures the RBM on each row of `test`.
pub fn measure_rbm(rbm: &Rbm<Vec<f32>>, test: &[f32], fit_seconds: f64) -> RbmResult {
    let start = Instant::now();
    let h = rbm.shape.hidden;
    let (prior, log_z) =
        StateDist::from_log_weights(h, &rbm_states::hidden_marginal_log_table(rbm));
    let core_probs = rbm_train::hidden_probs(rbm, test);
    let (mut deps, mut tc) = (Vec::new(), Vec::new());
    let (mut ll, mut max_err) = (0.0, 0.0f64);
    for (v, core) in test
        .chunks_exact(rbm.shape.visible)
        .zip(core_probs.chunks_exact(h))
    {
        let (post, _) = StateDist::from_log_weights(h, &rbm_states::posterior_log_table(rbm, v));
        for ((_, m1), &c) in post.marginals().iter().zip(core) {
            max_err = max_err.max((m1 - c as f64).abs());
        }
        let d = Dependence::of(&post);
        tc.push(d.total_correlation);
        deps.push(d);
        ll += rbm_states::log_prob_visible(rbm, v, log_z);
    }
    let n = deps.len().max(1) as f64;
    RbmResult {
        test_log_likelihood: ll / n,
        prior: Dependence::of(&prior),
        posterior: Dependence::mean(&deps),
        max_posterior_total_correlation: tc.iter().copied().fold(0.0, f64::max),
        max_marginal_error: max_err,
        per_image_total_correlation: tc,
        fit_seconds,
        measure_seconds: start.elapsed().as_secs_f64(),
    }
}

/// Fits both models to `train` and measures them on `test` (binary rows of
/// `visible` pixels), logging progress through `log`.
pub fn run(
    train: &[f32],
    test: &[f32],
    visible: usize,
    s: &Settings,
    mut log: impl FnMut(&str),
) -> Results {
    let start = Instant::now();
    let mut rng = Rng::new(s.seed);
    let t = Instant::now();
    let (net, rec) =
        belief_net::wake_sleep(train, visible, s.hidden, &s.wake_sleep, &mut rng, |e| {
            log(&format!(
                "belief net: wake-sleep epoch {e}/{} ({:.1} s)",
                s.wake_sleep.epochs,
                t.elapsed().as_secs_f64()
            ))
        });
    let fit = t.elapsed().as_secs_f64();
    let belief_net = measure_belief_net(&net, &rec, test, fit);
    log(&format!(
        "belief net: {} test posteriors over {} states measured in {:.1} s",
        test.len() / visible,
        1usize << s.hidden,
        belief_net.measure_seconds
    ));
    let t = Instant::now();
    let cfg = RbmConfig {
        epochs: s.rbm_epochs,
        batch: s.wake_sleep.batch,
        ..RbmConfig::default()
    };
    let trained = rbm_train::train(
        train,
        visible,
        s.hidden,
        VisibleUnits::Bernoulli,
        &cfg,
        &mut rng,
        |e, err| {
            log(&format!(
                "rbm: epoch {e}/{}: reconstruction error {err:.3}",
                cfg.epochs
            ))
        },
    );
    let rbm = measure_rbm(&trained.rbm, test, t.elapsed().as_secs_f64());
    Results {
        settings: s.clone(),
        visible,
        train_images: train.len() / visible,
        textbook: textbook::LECTURE.measure(),
        belief_net,
        rbm,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Runs the experiment as the CLI does: loads and binarizes the data, fits
/// and measures the models, writes the table, plot and JSON, and prints the
/// table (with `--json`: the JSON object on stdout, the table on stderr).
pub fn main(args: &ExplainingAwayArgs) -> Result<()> {
    if let Some(path) = &args.from_json {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let results: Results = serde_json::from_str(text.trim()).with_context(|| {
            format!("{}: not an explaining-away results object", path.display())
        })?;
        return report::write_outputs(args, &results);
    }
    let s = args.settings()?;
    let files = MnistFiles::locate(&args.data)?;
    let mut train = files.train()?;
    let mut test = files.test()?;
    let mut rng = Rng::new(s.seed ^ 0x5eed);
    if let Some(n) = s.train_samples {
        train.permute(&permutation(train.len(), &mut rng));
        train.truncate(n);
    }
    test.permute(&permutation(test.len(), &mut rng));
    test.truncate(s.test_images);
    if train.is_empty() || test.is_empty() {
        bail!(
            "{}: the experiment needs training and test images",
            args.data.display()
        );
    }
    let (train_bits, visible) =
        binarize(&train, s.pool).with_context(|| format!("{}", files.train_images.display()))?;
    let (test_bits, _) =
        binarize(&test, s.pool).with_context(|| format!("{}", files.test_images.display()))?;
    eprintln!(
        "explaining-away: {} hidden units, {visible} binary pixels, {} training / {} test images, seed {}",
        s.hidden,
        train.len(),
        test.len(),
        s.seed
    );
    let results = run(&train_bits, &test_bits, visible, &s, |line| {
        eprintln!("{line}")
    });
    report::write_outputs(args, &results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binarize_pools_then_thresholds() {
        let mut ds = Dataset::empty(&[2, 4]);
        ds.inputs = vec![1.0, 1.0, 0.0, 0.2, 1.0, 0.0, 0.9, 0.2];
        ds.labels = vec![0];
        // Left block mean 0.75, right block mean 0.325.
        assert_eq!(binarize(&ds, 2).unwrap(), (vec![1.0, 0.0], 2));
        assert!(binarize(&ds, 3).is_err());
    }

    #[test]
    fn quick_mode_caps_the_work() {
        let args = ExplainingAwayArgs {
            quick: true,
            ..ExplainingAwayArgs::default()
        };
        let s = args.settings().unwrap();
        assert_eq!(
            (s.wake_sleep.epochs, s.rbm_epochs, s.test_images),
            (10, 5, 200)
        );
        assert_eq!(s.train_samples, Some(10_000));
        let bad = ExplainingAwayArgs {
            hidden: 21,
            ..ExplainingAwayArgs::default()
        };
        assert!(bad.settings().unwrap_err().to_string().contains("--hidden"));
    }

    /// Noisy 16-pixel images made of four overlapping strokes: enough
    /// structure for both models to use several hidden units.
    fn strokes(n: usize, rng: &mut Rng) -> Vec<f32> {
        let strokes = [0x000fu32, 0x00f0, 0x3333, 0x8888];
        let mut out = Vec::with_capacity(n * 16);
        for _ in 0..n {
            let mut img = 0u32;
            for s in strokes {
                if rng.uniform() < 0.4 {
                    img |= s;
                }
            }
            for k in 0..16 {
                let on = (img >> k) & 1 == 1;
                out.push(if on != (rng.uniform() < 0.03) {
                    1.0
                } else {
                    0.0
                });
            }
        }
        out
    }

    #[test]
    fn belief_net_posterior_is_dependent_and_rbm_posterior_factorizes() {
        let mut rng = Rng::new(2);
        let (train, test) = (strokes(2000, &mut rng), strokes(50, &mut rng));
        let s = Settings {
            hidden: 4,
            pool: 1,
            wake_sleep: WakeSleepConfig {
                epochs: 20,
                batch: 20,
                learning_rate: 0.2,
            },
            rbm_epochs: 10,
            train_samples: None,
            test_images: 50,
            seed: 3,
            quick: false,
        };
        let r = run(&train, &test, 16, &s, |_| {});
        let b = &r.belief_net;
        assert!(b.prior.total_correlation < 1e-12, "{:?}", b.prior);
        assert!(b.posterior.total_correlation > 1e-3, "{:?}", b.posterior);
        // The best factorized q is the product of the marginals.
        assert!(b.kl_exact_mean_field >= b.posterior.total_correlation - 1e-12);
        assert!(b.kl_exact_recognition >= b.posterior.total_correlation - 1e-12);
        assert_eq!(b.per_image_total_correlation.len(), 50);
        assert!(b.test_log_likelihood < 0.0 && b.test_log_likelihood > -16.0 * 2f64.ln());
        let m = &r.rbm;
        assert!(m.posterior.total_correlation < 1e-12, "{:?}", m.posterior);
        assert!(m.max_posterior_total_correlation < 1e-12);
        assert!(m.prior.total_correlation > 1e-3, "{:?}", m.prior);
        assert!(m.max_marginal_error < 1e-5, "{}", m.max_marginal_error);
        assert!(m.test_log_likelihood > -16.0 * 2f64.ln());
    }
}
