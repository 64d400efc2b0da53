//! The training loop: shuffled mini-batches split into fixed shards across
//! threads, gradients reduced in a fixed order, the core's optimizers,
//! per-epoch validation, early stopping, checkpoints and divergence checks.
//!
//! For a given seed and thread count a run is deterministic: the shuffle of
//! epoch `e` depends only on the seed and `e`, each thread always takes the
//! same slice of a batch, and partial gradients are added in thread order.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use myelin_core::train::Rng;

use crate::augment::Shift;
use crate::checkpoint::{Checkpoint, EpochStats, Meta, write_atomic};
use crate::crew::{EVAL_BLOCK, EvalSpace, OptState, Parts, eval_parts, with_crew};
use crate::data::Dataset;
use crate::engine::Workspace;
use crate::net::{Hyper, Network};

/// Settings of a run that are not hyper-parameters.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to write a checkpoint after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Per-epoch figures, including epochs before a resume.
    pub history: Vec<EpochStats>,
    /// Seconds spent in training steps (all epochs, this process only).
    pub train_seconds: f64,
    /// Training samples per second over this process's epochs.
    pub samples_per_second: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Epoch (1-based) of [`Trainer::best`].
    pub kept_epoch: usize,
}

/// What one [`Trainer::step`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// Summed cross-entropy over the batch.
    pub loss: f64,
    /// Correctly classified rows.
    pub correct: usize,
    /// Per layer, the L2 norm of the batch-mean weight gradient before the
    /// update; `None` for layers without parameters.
    pub grad_norms: Vec<Option<f32>>,
}

/// A network being trained, with its optimizer state and per-thread buffers.
#[derive(Debug)]
pub struct Trainer {
    /// The network (current weights).
    pub net: Network,
    /// Run metadata (history, step count, best epoch).
    pub meta: Meta,
    best_net: Option<Network>,
    bad_epochs: usize,
    opt: OptState,
    workers: Vec<Workspace>,
}

/// The shuffle seed of `epoch`.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The checkpoint of a trainer's state.
fn checkpoint_of(
    meta: &Meta,
    net: &Network,
    best_net: Option<&Network>,
    opt: &OptState,
) -> Result<Checkpoint> {
    let encode = |n: &Network| {
        n.encode()
            .map_err(|e| anyhow::anyhow!("encoding the model: {e}"))
    };
    Ok(Checkpoint {
        meta: meta.clone(),
        model: encode(net)?,
        best_model: match best_net {
            Some(n) => encode(n)?,
            None => Vec::new(),
        },
        optimizer: opt.flatten(),
    })
}

impl Trainer {
    /// A trainer for a freshly initialized `net`.
    pub fn new(net: Network, recipe: &str, hyper: Hyper, seed: u64, threads: usize) -> Trainer {
        let opt = OptState::new(&net, hyper.optimizer);
        let workers = make_workers(&net, hyper.batch, threads);
        let dropout = net.layers.iter().map(|l| l.dropout).collect();
        Trainer {
            net,
            meta: Meta {
                recipe: recipe.to_string(),
                hyper,
                seed,
                epochs_done: 0,
                steps: 0,
                history: Vec::new(),
                best: None,
                dropout,
            },
            best_net: None,
            bad_epochs: 0,
            opt,
            workers,
        }
    }

    /// A trainer continuing from a checkpoint; `epochs`, when given, replaces
    /// the planned number of epochs.
    pub fn resume(ckpt: Checkpoint, threads: usize, epochs: Option<usize>) -> Result<Trainer> {
        let mut net =
            Network::decode(&ckpt.model).map_err(|e| anyhow::anyhow!("model block: {e}"))?;
        ckpt.meta.restore_dropout(&mut net)?;
        let best_net = if ckpt.best_model.is_empty() {
            None
        } else {
            Some(
                Network::decode(&ckpt.best_model)
                    .map_err(|e| anyhow::anyhow!("best-model block: {e}"))?,
            )
        };
        let mut meta = ckpt.meta;
        if let Some(e) = epochs {
            meta.hyper.epochs = e;
        }
        let mut opt = OptState::new(&net, meta.hyper.optimizer);
        opt.load(&ckpt.optimizer)?;
        let bad_epochs = match meta.best {
            Some((_, e)) => meta.epochs_done.saturating_sub(e),
            None => 0,
        };
        let workers = make_workers(&net, meta.hyper.batch, threads);
        Ok(Trainer {
            net,
            meta,
            best_net,
            bad_epochs,
            opt,
            workers,
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// The checkpoint of the current state.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        checkpoint_of(&self.meta, &self.net, self.best_net.as_ref(), &self.opt)
    }

    /// The weights with the best validation accuracy so far (the current
    /// ones when there is no validation set).
    pub fn best(&self) -> &Network {
        self.best_net.as_ref().unwrap_or(&self.net)
    }

    /// Trains one step on `rows` of `data` at rate `lr` (no augmentation)
    /// and reports the batch's summed loss, correct count and, per layer,
    /// the L2 norm of its weight gradient (first tensor, batch mean, before
    /// the update; `None` for layers without parameters). The extra
    /// reduction runs only here, not on the [`Self::run`] path.
    pub fn step(&mut self, data: &Dataset, rows: &[u32], lr: f32) -> Result<StepReport> {
        if rows.is_empty() || rows.len() > self.meta.hyper.batch {
            bail!(
                "a training step needs 1 to {} rows (the batch size), not {}",
                self.meta.hyper.batch,
                rows.len()
            );
        }
        let Trainer {
            net,
            meta,
            opt,
            workers,
            ..
        } = self;
        let parts = Parts {
            net,
            opt,
            spaces: workers,
            hyper: meta.hyper,
        };
        with_crew(parts, data, data, rows.to_vec(), |crew| {
            let dropout_seed = epoch_seed(!meta.seed, meta.steps as usize);
            let (tally, used) = crew.compute(0..rows.len(), dropout_seed, None);
            let scale = 1.0 / rows.len() as f64;
            let layers = crew.net().layers.len();
            let grad_norms = (0..layers)
                .map(|li| {
                    let spaces: Vec<_> = (0..used).map(|k| crew.space(k)).collect();
                    let grads: Vec<&[f32]> = spaces
                        .iter()
                        .map(|w| w.grads[li].first().map(Vec::as_slice))
                        .collect::<Option<_>>()?;
                    let mut squares = 0.0f64;
                    for k in 0..grads[0].len() {
                        let sum: f64 = grads.iter().map(|g| f64::from(g[k])).sum();
                        squares += (sum * scale).powi(2);
                    }
                    Some(squares.sqrt() as f32)
                })
                .collect();
            meta.steps += 1;
            if !tally.loss.is_finite() {
                bail!(
                    "training diverged: loss is NaN or infinite at step {}",
                    meta.steps
                );
            }
            if !crew.apply(used, rows.len(), lr, meta.steps) {
                bail!(
                    "training diverged: gradient is NaN or infinite at step {}",
                    meta.steps
                );
            }
            crew.update_running_stats(used);
            Ok(StepReport {
                loss: tally.loss,
                correct: tally.correct,
                grad_norms,
            })
        })
    }

    /// Trains until the planned epochs are done or early stopping triggers,
    /// validating on `val` after each epoch and checkpointing when asked.
    pub fn run(&mut self, train: &Dataset, val: &Dataset, opts: &Options) -> Result<Summary> {
        let hyper = self.meta.hyper;
        if train.is_empty() {
            bail!("no training samples");
        }
        let shift = Shift::new(hyper.augment_shift, &train.sample_dims)?;
        let steps_per_epoch = train.len().div_ceil(hyper.batch);
        let mut train_seconds = 0.0;
        let mut samples = 0usize;
        let mut stopped_early = false;
        let bar = if opts.progress {
            let b = ProgressBar::with_draw_target(
                Some(steps_per_epoch as u64),
                ProgressDrawTarget::stderr_with_hz(8),
            );
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:28}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b
        } else {
            ProgressBar::hidden()
        };
        let Trainer {
            net,
            meta,
            best_net,
            bad_epochs,
            opt,
            workers,
        } = self;
        let parts = Parts {
            net,
            opt,
            spaces: workers,
            hyper,
        };
        let order = (0..train.len() as u32).collect();
        with_crew(parts, train, val, order, |crew| -> Result<()> {
            for epoch in meta.epochs_done..hyper.epochs {
                let lr = hyper.schedule.rate(hyper.lr, epoch, hyper.epochs);
                crew.reorder(|order| Rng::new(epoch_seed(meta.seed, epoch)).shuffle(order));
                bar.reset();
                bar.set_prefix(format!("epoch {}/{}", epoch + 1, hyper.epochs));
                let start = Instant::now();
                let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
                for step in 0..steps_per_epoch {
                    let rows = step * hyper.batch..((step + 1) * hyper.batch).min(train.len());
                    let batch = rows.len();
                    // The augmentation seed differs from the shuffle's.
                    let augment = shift.map(|s| (s, !epoch_seed(meta.seed, epoch)));
                    let dropout_seed = epoch_seed(!meta.seed, meta.steps as usize);
                    let (tally, used) = crew.compute(rows, dropout_seed, augment);
                    meta.steps += 1;
                    let what = if !tally.loss.is_finite() {
                        Some("loss")
                    } else if !crew.apply(used, batch, lr, meta.steps) {
                        Some("gradient")
                    } else {
                        crew.update_running_stats(used);
                        None
                    };
                    if let Some(what) = what {
                        bar.finish_and_clear();
                        let kept = match (&opts.checkpoint, meta.epochs_done) {
                            (Some(p), e) if e > 0 => format!(
                                "the last good checkpoint {} (epoch {e}) is kept",
                                p.display()
                            ),
                            _ => "no checkpoint had been written yet".to_string(),
                        };
                        bail!(
                            "training diverged: {what} is NaN or infinite at epoch {}, step {}; {kept}",
                            epoch + 1,
                            step + 1
                        );
                    }
                    loss_sum += tally.loss;
                    correct += tally.correct;
                    seen += batch;
                    bar.inc(1);
                    if opts.progress && step % 16 == 0 {
                        let secs = start.elapsed().as_secs_f64().max(1e-9);
                        bar.set_message(format!(
                            "loss {:.4} acc {:.2}% {:.0} samples/s",
                            loss_sum / seen as f64,
                            100.0 * correct as f64 / seen as f64,
                            seen as f64 / secs
                        ));
                    }
                }
                let secs = start.elapsed().as_secs_f64();
                train_seconds += secs;
                samples += seen;
                let (val_loss, val_accuracy) = if val.is_empty() {
                    (f64::NAN, f64::NAN)
                } else {
                    crew.evaluate()
                };
                let stats = EpochStats {
                    epoch: epoch + 1,
                    lr,
                    train_loss: loss_sum / seen as f64,
                    train_accuracy: correct as f64 / seen as f64,
                    val_loss,
                    val_accuracy,
                    seconds: secs,
                    samples_per_second: seen as f64 / secs.max(1e-9),
                };
                bar.finish_and_clear();
                if opts.progress {
                    eprintln!(
                        "epoch {:>3}/{}  loss {:.4}  acc {:6.2}%  val_loss {:.4}  val_acc {:6.2}%  lr {:.2e}  {:.2} s  {:.0} samples/s",
                        stats.epoch,
                        hyper.epochs,
                        stats.train_loss,
                        100.0 * stats.train_accuracy,
                        stats.val_loss,
                        100.0 * stats.val_accuracy,
                        lr,
                        secs,
                        stats.samples_per_second
                    );
                }
                meta.history.push(stats);
                meta.epochs_done = epoch + 1;
                if !val.is_empty() {
                    let better = meta.best.is_none_or(|(acc, _)| val_accuracy > acc);
                    if better {
                        meta.best = Some((val_accuracy, epoch + 1));
                        *best_net = Some((**crew.net()).clone());
                        *bad_epochs = 0;
                    } else {
                        *bad_epochs += 1;
                    }
                }
                if let Some(path) = &opts.checkpoint {
                    let ckpt = checkpoint_of(meta, &crew.net(), best_net.as_ref(), &crew.opt())?;
                    let bytes = ckpt.encode()?;
                    write_atomic(path, &bytes)?;
                }
                if hyper.patience > 0 && *bad_epochs >= hyper.patience {
                    stopped_early = epoch + 1 < hyper.epochs;
                    break;
                }
            }
            Ok(())
        })?;
        let kept_epoch = match self.meta.best {
            Some((_, e)) if self.best_net.is_some() => e,
            _ => self.meta.epochs_done,
        };
        Ok(Summary {
            history: self.meta.history.clone(),
            train_seconds,
            samples_per_second: samples as f64 / train_seconds.max(1e-9),
            stopped_early,
            kept_epoch,
        })
    }
}

fn make_workers(net: &Network, batch: usize, threads: usize) -> Vec<Workspace> {
    let threads = threads.clamp(1, batch.max(1));
    let cap = batch.div_ceil(threads);
    (0..threads).map(|_| Workspace::new(net, cap)).collect()
}

/// Mean cross-entropy and accuracy of `net` on `data`, using `threads` threads.
pub fn evaluate(net: &Network, data: &Dataset, threads: usize) -> (f64, f64) {
    let n = data.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let part = |r: Range<usize>| EvalSpace::new(net).tally(net, data, r.start, r.end);
    let mut parts = eval_parts(n, threads);
    let first = parts.next().expect("at least one part");
    let sum = std::thread::scope(|s| {
        let handles: Vec<_> = parts.map(|r| s.spawn(move || part(r))).collect();
        let mut sum = part(first);
        for h in handles {
            let t = h.join().expect("evaluation thread");
            sum.loss += t.loss;
            sum.correct += t.correct;
        }
        sum
    });
    (sum.loss / n as f64, sum.correct as f64 / n as f64)
}

/// The logits of `net` for every sample of `data`, sample after sample.
pub fn predict(net: &Network, data: &Dataset) -> Vec<f32> {
    let mut ws = Workspace::new(net, EVAL_BLOCK);
    let mut out = Vec::with_capacity(data.len() * net.classes());
    let all: Vec<u32> = (0..data.len() as u32).collect();
    for rows in all.chunks(EVAL_BLOCK) {
        let m = ws.gather(data, rows);
        out.extend_from_slice(ws.forward(net, m));
    }
    out
}

/// Reads a checkpoint file, naming it in errors.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    Checkpoint::decode(&bytes).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{LayerSpec, OptimizerKind, Schedule, preset};
    use myelin_core::model::Activation;

    /// Two Gaussian-ish blobs per class in 8 dimensions, separable.
    fn blobs(n: usize, seed: u64) -> Dataset {
        let mut r = Rng::new(seed);
        let mut inputs = Vec::with_capacity(n * 8);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let c = (i % 3) as u8;
            for d in 0..8 {
                let centre = if d % 3 == usize::from(c) { 1.0 } else { 0.0 };
                inputs.push(centre + 0.3 * (r.uniform() - 0.5));
            }
            labels.push(c);
        }
        Dataset {
            sample_dims: vec![8],
            inputs,
            labels,
        }
    }

    fn hyper(opt: OptimizerKind, lr: f32) -> Hyper {
        Hyper {
            epochs: 6,
            batch: 16,
            lr,
            optimizer: opt,
            schedule: Schedule::Constant,
            weight_decay: 1e-4,
            patience: 0,
            validation: 0,
            clip_grad_norm: 0.0,
            augment_shift: 0,
        }
    }

    fn net() -> Network {
        let specs = [
            LayerSpec::Dense {
                units: 16,
                activation: Activation::Relu,
            },
            LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            },
        ];
        let mut n = Network::from_specs([1, 1, 8], &specs).unwrap();
        n.init(&mut Rng::new(1));
        n
    }

    fn quiet() -> Options {
        Options {
            checkpoint: None,
            progress: false,
        }
    }

    #[test]
    fn learns_separable_data_with_both_optimizers() {
        let train = blobs(300, 1);
        let test = blobs(90, 2);
        for (opt, lr) in [(OptimizerKind::SGD, 0.1), (OptimizerKind::ADAM, 0.01)] {
            let mut t = Trainer::new(net(), "t", hyper(opt, lr), 9, 2);
            let before = evaluate(&t.net, &test, 1).1;
            let s = t.run(&train, &test, &quiet()).unwrap();
            let after = evaluate(&t.net, &test, 2).1;
            assert!(
                after > 0.95 && after > before,
                "{opt:?}: {before} -> {after}"
            );
            assert!(s.history[5].train_loss < s.history[0].train_loss);
        }
    }

    #[test]
    fn step_reports_the_batch_mean_weight_gradient_norms() {
        let data = blobs(40, 3);
        let rows: Vec<u32> = (0..37).collect();
        // Reference: one workspace over the whole batch.
        let n = net();
        let mut ws = Workspace::new(&n, rows.len());
        let got = ws.gather(&data, &rows);
        ws.train_shard(&n, got);
        let want: Vec<f32> = ws
            .grads
            .iter()
            .map(|g| {
                let s: f64 = g[0].iter().map(|&v| f64::from(v / 37.0).powi(2)).sum();
                s.sqrt() as f32
            })
            .collect();
        let before = flat_params(&n);
        for threads in [1, 3] {
            let mut h = hyper(OptimizerKind::SGD, 0.1);
            h.batch = rows.len();
            let mut t = Trainer::new(net(), "t", h, 9, threads);
            assert!(t.step(&data, &(0..38).collect::<Vec<u32>>(), 0.1).is_err());
            let r = t.step(&data, &rows, 0.1).unwrap();
            assert!(
                (r.loss - ws.loss).abs() < 1e-3 * r.loss.abs(),
                "{} vs {}",
                r.loss,
                ws.loss
            );
            assert_eq!(r.correct, ws.correct);
            for (g, w) in r.grad_norms.iter().zip(&want) {
                let g = g.expect("dense layers have weights");
                assert!(*w > 0.0 && (g - w).abs() <= 1e-4 * w, "{g} vs {w}");
            }
            assert_ne!(flat_params(&t.net), before, "the step updates the weights");
        }
    }

    /// Steps as one thread defines them: the batch cut into shards of
    /// `ceil(len / t)` rows, the shard gradients of each tensor added in
    /// shard order, divided by the batch size and updated in `t` ranges of
    /// `ceil(len / t)` values; with clipping, the norm sums the ranges'
    /// squares tensor by tensor, then range by range.
    fn serial_steps(net: &mut Network, h: Hyper, data: &Dataset, batches: &[Vec<u32>], t: usize) {
        use myelin_core::kernels;
        use myelin_core::train::{Adam, Sgd};
        let mut moments: Vec<Vec<(Vec<f32>, Vec<f32>)>> = net
            .layers
            .iter()
            .map(|l| {
                let z = |t: &crate::net::Tensor| vec![0.0; t.data.len()];
                l.tensors.iter().map(|t| (z(t), z(t))).collect()
            })
            .collect();
        let ranges = |len: usize| {
            let c = len.div_ceil(t).max(1);
            (0..t).map(move |r| (r * c).min(len)..((r + 1) * c).min(len))
        };
        for (step, rows) in batches.iter().enumerate() {
            let per = rows.len().div_ceil(t);
            let shards: Vec<Workspace> = rows
                .chunks(per)
                .map(|shard| {
                    let mut ws = Workspace::new(net, per);
                    let n = ws.gather(data, shard);
                    ws.train_shard(net, n);
                    ws
                })
                .collect();
            let mut grads = shards[0].grads.clone();
            let mut squares = vec![0.0f64; t];
            for (li, layer) in grads.iter_mut().enumerate() {
                for (ti, g) in layer.iter_mut().enumerate() {
                    for (r, range) in ranges(g.len()).enumerate() {
                        let g = &mut g[range.clone()];
                        for other in &shards[1..] {
                            kernels::axpy(1.0, &other.grads[li][ti][range.clone()], g);
                        }
                        kernels::scalar::scale(1.0 / rows.len() as f32, g);
                        if !g.is_empty() {
                            squares[r] += f64::from(kernels::dot(g, g));
                        }
                    }
                }
            }
            let norm = squares.iter().sum::<f64>().sqrt() as f32;
            let clip = h.clip_grad_norm;
            let factor = if clip != 0.0 && norm > clip {
                clip / norm
            } else {
                1.0
            };
            for (li, layer) in net.layers.iter_mut().enumerate() {
                let nt = layer.tensors.len();
                for (ti, p) in layer.tensors.iter_mut().enumerate() {
                    let wd = if ti + 1 < nt { h.weight_decay } else { 0.0 };
                    let (m, v) = &mut moments[li][ti];
                    for range in ranges(p.data.len()) {
                        let g = &mut grads[li][ti][range.clone()];
                        if factor != 1.0 {
                            kernels::scalar::scale(factor, g);
                        }
                        let p = &mut p.data[range.clone()];
                        match h.optimizer {
                            OptimizerKind::Sgd { momentum } => Sgd {
                                lr: h.lr,
                                momentum,
                                weight_decay: wd,
                            }
                            .update(p, g, &mut m[range]),
                            OptimizerKind::Adam { beta1, beta2, eps } => Adam {
                                lr: h.lr,
                                beta1,
                                beta2,
                                eps,
                                weight_decay: wd,
                            }
                            .update(step as u32 + 1, p, g, &mut m[range.clone()], &mut v[range]),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn threaded_steps_equal_the_serial_definition_bit_for_bit() {
        let data = blobs(200, 4);
        let mut r = Rng::new(3);
        let batches: Vec<Vec<u32>> = [37, 16, 5, 29, 37, 1]
            .iter()
            .map(|&n| (0..n).map(|_| (r.uniform() * 199.0) as u32).collect())
            .collect();
        for opt in [OptimizerKind::SGD, OptimizerKind::ADAM] {
            for clip in [0.0, 0.05] {
                for threads in 1..=4 {
                    let h = Hyper {
                        batch: 37,
                        clip_grad_norm: clip,
                        weight_decay: 1e-2,
                        ..hyper(opt, 0.05)
                    };
                    let mut want = net();
                    serial_steps(&mut want, h, &data, &batches, threads);
                    let mut t = Trainer::new(net(), "t", h, 9, threads);
                    for rows in &batches {
                        t.step(&data, rows, h.lr).unwrap();
                    }
                    assert_eq!(t.net, want, "{opt:?}, clip {clip}, {threads} threads");
                    assert_ne!(t.net, net(), "the steps train");
                }
            }
        }
    }

    fn flat_params(n: &Network) -> Vec<f32> {
        n.layers
            .iter()
            .flat_map(|l| l.tensors.iter().flat_map(|t| t.data.iter().copied()))
            .collect()
    }

    #[test]
    fn gradient_clipping_bounds_the_step() {
        let train = blobs(96, 11);
        let step_norm = |clip: f32| {
            let h = Hyper {
                epochs: 1,
                batch: 96,
                lr: 1.0,
                optimizer: OptimizerKind::Sgd { momentum: 0.0 },
                weight_decay: 0.0,
                clip_grad_norm: clip,
                ..hyper(OptimizerKind::SGD, 1.0)
            };
            let mut t = Trainer::new(net(), "t", h, 3, 2);
            let before = flat_params(&t.net);
            t.run(&train, &Dataset::empty(&train.sample_dims), &quiet())
                .unwrap();
            let after = flat_params(&t.net);
            let sq: f64 = before
                .iter()
                .zip(&after)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            sq.sqrt()
        };
        let unclipped = step_norm(0.0);
        let clipped = step_norm(1e-3);
        assert!(unclipped > 1e-2, "unclipped step {unclipped}");
        assert!((clipped - 1e-3).abs() < 2e-5, "clipped step {clipped}");
    }

    #[test]
    fn deterministic_for_seed_and_threads() {
        let train = blobs(200, 3);
        let run = |threads| {
            let mut t = Trainer::new(net(), "t", hyper(OptimizerKind::ADAM, 0.01), 4, threads);
            t.run(&train, &Dataset::empty(&train.sample_dims), &quiet())
                .unwrap();
            t.net
        };
        assert_eq!(run(2), run(2));
        assert_eq!(run(1), run(1));
    }

    #[test]
    fn shift_augmentation_is_repeatable_and_changes_training() {
        let mut train = blobs(200, 3);
        train.sample_dims = vec![2, 4];
        let run = |shift| {
            let h = Hyper {
                augment_shift: shift,
                ..hyper(OptimizerKind::ADAM, 0.01)
            };
            let mut t = Trainer::new(net(), "t", h, 4, 2);
            t.run(&train, &Dataset::empty(&train.sample_dims), &quiet())
                .map(|_| t.net)
        };
        let shifted = run(1).unwrap();
        assert_eq!(shifted, run(1).unwrap());
        assert_ne!(shifted, run(0).unwrap());
        let e = run(2).unwrap_err().to_string();
        assert!(e.contains("does not fit 2x4 images"), "{e}");
    }

    #[test]
    fn resume_matches_an_uninterrupted_run() {
        let train = blobs(120, 5);
        let val = blobs(30, 6);
        let mut h = hyper(OptimizerKind::ADAM, 0.01);
        h.epochs = 4;
        let mut full = Trainer::new(net(), "t", h, 7, 2);
        full.run(&train, &val, &quiet()).unwrap();

        let mut first = Trainer::new(net(), "t", Hyper { epochs: 2, ..h }, 7, 2);
        first.run(&train, &val, &quiet()).unwrap();
        let bytes = first.checkpoint().unwrap().encode().unwrap();
        let ck = Checkpoint::decode(&bytes).unwrap();
        let mut second = Trainer::resume(ck, 2, Some(4)).unwrap();
        second.run(&train, &val, &quiet()).unwrap();
        assert_eq!(second.meta.history.len(), 4);
        assert_eq!(second.meta.steps, full.meta.steps);
        assert_eq!(second.net, full.net);
        assert_eq!(second.best(), full.best());
    }

    #[test]
    fn divergence_names_epoch_and_step() {
        let mut train = blobs(64, 8);
        train.inputs[5 * 8] = f32::NAN;
        let mut t = Trainer::new(net(), "t", hyper(OptimizerKind::SGD, 0.1), 1, 1);
        let e = t
            .run(&train, &Dataset::empty(&train.sample_dims), &quiet())
            .unwrap_err()
            .to_string();
        assert!(e.contains("epoch 1") && e.contains("step"), "{e}");
    }

    #[test]
    fn early_stopping_keeps_the_best_epoch() {
        let train = blobs(90, 10);
        // A validation set the network cannot get right: accuracy stays 0,
        // so only the first epoch counts as an improvement.
        let mut val = blobs(3, 11);
        val.labels = vec![9, 9, 9];
        let mut h = hyper(OptimizerKind::ADAM, 0.01);
        h.patience = 2;
        let mut t = Trainer::new(net(), "t", h, 2, 1);
        let s = t.run(&train, &val, &quiet()).unwrap();
        assert!(s.stopped_early);
        assert_eq!(s.history.len(), 3);
        assert_eq!(s.kept_epoch, 1);
        assert_ne!(t.best(), &t.net);
    }

    #[test]
    fn presets_have_usable_hyper_parameters() {
        for p in crate::net::PRESETS {
            crate::net::check_hyper(&preset(p).unwrap().hyper).unwrap();
        }
    }
}
