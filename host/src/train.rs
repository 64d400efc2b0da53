//! The training loop: shuffled mini-batches split into fixed shards across
//! threads, gradients reduced in a fixed order, the core's optimizers,
//! per-epoch validation, early stopping, checkpoints and divergence checks.
//!
//! For a given seed and thread count a run is deterministic: the shuffle of
//! epoch `e` depends only on the seed and `e`, each thread always takes the
//! same slice of a batch, and partial gradients are added in thread order.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use myelin_core::kernels;
use myelin_core::train::{Adam, Rng, Sgd, argmax, cross_entropy};

use crate::augment::Shift;
use crate::checkpoint::{Checkpoint, EpochStats, Meta, write_atomic};
use crate::data::Dataset;
use crate::engine::Workspace;
use crate::net::{Hyper, Network, OptimizerKind};

/// Samples per evaluation block.
const EVAL_BLOCK: usize = 256;

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

/// Optimizer state per layer per tensor.
#[derive(Debug)]
struct OptState {
    first: Vec<Vec<Vec<f32>>>,
    second: Vec<Vec<Vec<f32>>>,
}

impl OptState {
    fn new(net: &Network, kind: OptimizerKind) -> OptState {
        let zeros = || -> Vec<Vec<Vec<f32>>> {
            net.layers
                .iter()
                .map(|l| l.tensors.iter().map(|t| vec![0.0; t.data.len()]).collect())
                .collect()
        };
        let second = match kind {
            OptimizerKind::Adam { .. } => zeros(),
            OptimizerKind::Sgd { .. } => net
                .layers
                .iter()
                .map(|l| l.tensors.iter().map(|_| Vec::new()).collect())
                .collect(),
        };
        OptState {
            first: zeros(),
            second,
        }
    }

    fn flatten(&self) -> Vec<f32> {
        self.first
            .iter()
            .chain(&self.second)
            .flatten()
            .flatten()
            .copied()
            .collect()
    }

    fn load(&mut self, flat: &[f32]) -> Result<()> {
        let need: usize = self
            .first
            .iter()
            .chain(&self.second)
            .flatten()
            .map(Vec::len)
            .sum();
        if flat.len() != need {
            bail!(
                "optimizer state has {} values, the network needs {need}",
                flat.len()
            );
        }
        let mut pos = 0;
        for t in self
            .first
            .iter_mut()
            .chain(self.second.iter_mut())
            .flatten()
        {
            let n = t.len();
            t.copy_from_slice(&flat[pos..pos + n]);
            pos += n;
        }
        Ok(())
    }
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

/// Gathers `rows` of `data` into `ws`, shifts them when asked, and runs
/// forward and backward.
fn train_shard(
    ws: &mut Workspace,
    net: &Network,
    data: &Dataset,
    rows: &[u32],
    shift: Option<(Shift, u64)>,
) {
    let n = ws.gather(data, rows);
    if let Some((shift, seed)) = shift {
        shift.apply(&mut ws.x[..n * data.sample_len()], &rows[..n], seed);
    }
    ws.train_shard(net, n);
}

/// The shuffle seed of `epoch`.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Splits `s` into `t` consecutive pieces of `ceil(len / t)` (the last ones
/// shorter or empty).
fn split_even(s: &mut [f32], t: usize) -> Vec<&mut [f32]> {
    let chunk = s.len().div_ceil(t).max(1);
    let mut v: Vec<&mut [f32]> = s.chunks_mut(chunk).collect();
    while v.len() < t {
        v.push(Default::default());
    }
    v
}

struct Job<'a> {
    layer: usize,
    tensor: usize,
    offset: usize,
    decay: bool,
    params: &'a mut [f32],
    grads: &'a mut [f32],
    first: &'a mut [f32],
    second: &'a mut [f32],
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
        let encode = |n: &Network| {
            n.encode()
                .map_err(|e| anyhow::anyhow!("encoding the model: {e}"))
        };
        Ok(Checkpoint {
            meta: self.meta.clone(),
            model: encode(&self.net)?,
            best_model: match &self.best_net {
                Some(n) => encode(n)?,
                None => Vec::new(),
            },
            optimizer: self.opt.flatten(),
        })
    }

    /// Forward and backward of one batch across the threads; returns the
    /// summed loss and correct count. Gradients stay in the workspaces.
    /// With `shift`, each gathered sample is first moved by its own random
    /// offset (drawn from `seed` and its row).
    fn compute(
        &mut self,
        data: &Dataset,
        rows: &[u32],
        shift: Option<(Shift, u64)>,
    ) -> (f64, usize, usize) {
        let t = self.workers.len();
        let per = rows.len().div_ceil(t).max(1);
        let step_seed = epoch_seed(!self.meta.seed, self.meta.steps as usize);
        for w in &mut self.workers {
            w.dropout_seed = step_seed;
        }
        let net = &self.net;
        let used = rows.len().div_ceil(per);
        std::thread::scope(|s| {
            let mut pairs = self.workers.iter_mut().zip(rows.chunks(per));
            let first = pairs.next();
            for (ws, shard) in pairs {
                s.spawn(move || train_shard(ws, net, data, shard, shift));
            }
            if let Some((ws, shard)) = first {
                train_shard(ws, net, data, shard, shift);
            }
        });
        let loss = self.workers[..used].iter().map(|w| w.loss).sum();
        let correct = self.workers[..used].iter().map(|w| w.correct).sum();
        (loss, correct, used)
    }

    /// Adds the shard gradients (in thread order), divides by the batch size
    /// and applies the optimizer, each thread on its own slice of every
    /// tensor; with `clip_grad_norm` set, first rescales the whole gradient
    /// to at most that L2 norm. Returns false (leaving the affected weights
    /// unchanged) if a gradient is NaN or infinite.
    fn apply(&mut self, used: usize, batch: usize, lr: f32) -> bool {
        let t = self.workers.len();
        let hyper = self.meta.hyper;
        let step = self.meta.steps;
        let (w0, rest) = self.workers.split_first_mut().expect("at least one worker");
        let others: Vec<&Workspace> = rest[..used - 1].iter().collect();
        let mut jobs: Vec<Vec<Job<'_>>> = (0..t).map(|_| Vec::new()).collect();
        for (li, ((layer, g), (s1, s2))) in self
            .net
            .layers
            .iter_mut()
            .zip(w0.grads.iter_mut())
            .zip(self.opt.first.iter_mut().zip(self.opt.second.iter_mut()))
            .enumerate()
        {
            let nt = layer.tensors.len();
            // Batch norm: gamma and beta train without decay; the running
            // statistics are set after the step, not by the optimizer.
            let norm = layer.kind == myelin_core::model::LayerKind::BatchNorm;
            for (ti, ((tensor, g), (s1, s2))) in layer
                .tensors
                .iter_mut()
                .zip(g.iter_mut())
                .zip(s1.iter_mut().zip(s2.iter_mut()))
                .enumerate()
            {
                let chunk = tensor.data.len().div_ceil(t).max(1);
                let parts = split_even(&mut tensor.data, t)
                    .into_iter()
                    .zip(split_even(g, t))
                    .zip(split_even(s1, t).into_iter().zip(split_even(s2, t)));
                for (j, ((params, grads), (first, second))) in parts.enumerate() {
                    if params.is_empty() || (norm && ti >= 2) {
                        continue;
                    }
                    jobs[j].push(Job {
                        layer: li,
                        tensor: ti,
                        offset: j * chunk,
                        decay: ti + 1 < nt && !norm,
                        params,
                        grads,
                        first,
                        second,
                    });
                }
            }
        }
        let scale = 1.0 / batch as f32;
        // Sums the shards into the first worker's gradients, scales to the
        // batch mean and returns the squared L2 norm of this thread's part.
        let reduce = |jobs: &mut Vec<Job<'_>>| -> f64 {
            let mut squares = 0.0f64;
            for job in jobs.iter_mut() {
                let n = job.params.len();
                for o in &others {
                    let src = &o.grads[job.layer][job.tensor][job.offset..job.offset + n];
                    kernels::axpy(1.0, src, job.grads);
                }
                kernels::scalar::scale(scale, job.grads);
                squares += f64::from(kernels::dot(job.grads, job.grads));
            }
            squares
        };
        let update = |jobs: Vec<Job<'_>>, factor: f32| {
            for job in jobs {
                if factor != 1.0 {
                    kernels::scalar::scale(factor, job.grads);
                }
                let wd = if job.decay { hyper.weight_decay } else { 0.0 };
                match hyper.optimizer {
                    OptimizerKind::Sgd { momentum } => Sgd {
                        lr,
                        momentum,
                        weight_decay: wd,
                    }
                    .update(job.params, job.grads, job.first),
                    OptimizerKind::Adam { beta1, beta2, eps } => Adam {
                        lr,
                        beta1,
                        beta2,
                        eps,
                        weight_decay: wd,
                    }
                    .update(step, job.params, job.grads, job.first, job.second),
                }
            }
        };
        let clip = hyper.clip_grad_norm;
        if clip == 0.0 {
            // One pass: each thread updates its slices unless its part of the
            // gradient is not finite.
            let parts = on_threads(jobs, |mut part| {
                let squares = reduce(&mut part);
                if squares.is_finite() {
                    update(part, 1.0);
                }
                squares.is_finite()
            });
            return parts.into_iter().all(|finite| finite);
        }
        // Two passes: the global norm needs every thread's part first.
        let squares: f64 = on_threads(jobs.iter_mut().collect(), reduce)
            .into_iter()
            .sum();
        if !squares.is_finite() {
            return false;
        }
        let norm = squares.sqrt() as f32;
        let factor = if norm > clip { clip / norm } else { 1.0 };
        on_threads(jobs, |part| update(part, factor));
        true
    }

    /// Sets each batch norm's running statistics to the mean of the used
    /// shards' updated statistics (each shard moved them toward its own
    /// batch statistics by the momentum, so the mean moves them toward the
    /// shards' average).
    fn update_running_stats(&mut self, used: usize) {
        for (i, layer) in self.net.layers.iter_mut().enumerate() {
            if layer.kind != myelin_core::model::LayerKind::BatchNorm {
                continue;
            }
            let scale = 1.0 / used as f32;
            let (mean, var) = layer.tensors.split_at_mut(3);
            let (mean, var) = (&mut mean[2].data, &mut var[0].data);
            mean.fill(0.0);
            var.fill(0.0);
            for ws in &self.workers[..used] {
                if let Some((m, v)) = ws.norm_running(i) {
                    kernels::axpy(scale, m, mean);
                    kernels::axpy(scale, v, var);
                }
            }
        }
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
        let (loss, correct, used) = self.compute(data, rows, None);
        let scale = 1.0 / rows.len() as f64;
        let grad_norms = (0..self.net.layers.len())
            .map(|li| {
                let len = self.workers[0].grads[li].first()?.len();
                let mut squares = 0.0f64;
                for k in 0..len {
                    let sum: f64 = self.workers[..used]
                        .iter()
                        .map(|w| f64::from(w.grads[li][0][k]))
                        .sum();
                    squares += (sum * scale).powi(2);
                }
                Some(squares.sqrt() as f32)
            })
            .collect();
        self.meta.steps += 1;
        if !loss.is_finite() {
            bail!(
                "training diverged: loss is NaN or infinite at step {}",
                self.meta.steps
            );
        }
        if !self.apply(used, rows.len(), lr) {
            bail!(
                "training diverged: gradient is NaN or infinite at step {}",
                self.meta.steps
            );
        }
        self.update_running_stats(used);
        Ok(StepReport {
            loss,
            correct,
            grad_norms,
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
        let mut order: Vec<u32> = (0..train.len() as u32).collect();
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
        for epoch in self.meta.epochs_done..hyper.epochs {
            let lr = hyper.schedule.rate(hyper.lr, epoch, hyper.epochs);
            for (i, o) in order.iter_mut().enumerate() {
                *o = i as u32;
            }
            Rng::new(epoch_seed(self.meta.seed, epoch)).shuffle(&mut order);
            bar.reset();
            bar.set_prefix(format!("epoch {}/{}", epoch + 1, hyper.epochs));
            let start = Instant::now();
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            for (step, rows) in order.chunks(hyper.batch).enumerate() {
                // The augmentation seed differs from the shuffle's.
                let augment = shift.map(|s| (s, !epoch_seed(self.meta.seed, epoch)));
                let (loss, c, used) = self.compute(train, rows, augment);
                self.meta.steps += 1;
                let what = if !loss.is_finite() {
                    Some("loss")
                } else if !self.apply(used, rows.len(), lr) {
                    Some("gradient")
                } else {
                    self.update_running_stats(used);
                    None
                };
                if let Some(what) = what {
                    bar.finish_and_clear();
                    let kept = match (&opts.checkpoint, self.meta.epochs_done) {
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
                loss_sum += loss;
                correct += c;
                seen += rows.len();
                bar.inc(1);
                if step % 16 == 0 {
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
                evaluate(&self.net, val, self.threads())
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
            self.meta.history.push(stats);
            self.meta.epochs_done = epoch + 1;
            if !val.is_empty() {
                let better = self.meta.best.is_none_or(|(acc, _)| val_accuracy > acc);
                if better {
                    self.meta.best = Some((val_accuracy, epoch + 1));
                    self.best_net = Some(self.net.clone());
                    self.bad_epochs = 0;
                } else {
                    self.bad_epochs += 1;
                }
            }
            if let Some(path) = &opts.checkpoint {
                let bytes = self.checkpoint()?.encode()?;
                write_atomic(path, &bytes)?;
            }
            if hyper.patience > 0 && self.bad_epochs >= hyper.patience {
                stopped_early = epoch + 1 < hyper.epochs;
                break;
            }
        }
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
    let threads = threads.clamp(1, n.div_ceil(EVAL_BLOCK));
    let per = n.div_ceil(threads);
    let classes = net.classes();
    let part = |lo: usize, hi: usize| -> (f64, usize) {
        let mut ws = Workspace::new(net, EVAL_BLOCK);
        let mut grad = vec![0.0; classes];
        let mut rows: Vec<u32> = Vec::with_capacity(EVAL_BLOCK);
        let (mut loss, mut correct) = (0.0f64, 0usize);
        let mut i = lo;
        while i < hi {
            let end = (i + EVAL_BLOCK).min(hi);
            rows.clear();
            rows.extend(i as u32..end as u32);
            let m = ws.gather(data, &rows);
            let logits = ws.forward(net, m);
            for (row, &label) in logits.chunks_exact(classes).zip(&data.labels[i..end]) {
                let label = usize::from(label);
                if label < classes {
                    loss += f64::from(cross_entropy(row, label, &mut grad));
                    correct += usize::from(argmax(row) == label);
                }
            }
            i = end;
        }
        (loss, correct)
    };
    let results: Vec<(f64, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads)
            .map(|k| {
                let lo = k * per;
                let hi = ((k + 1) * per).min(n);
                s.spawn(move || part(lo, hi))
            })
            .collect();
        let mut out = vec![part(0, per.min(n))];
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("evaluation thread")),
        );
        out
    });
    let loss: f64 = results.iter().map(|r| r.0).sum();
    let correct: usize = results.iter().map(|r| r.1).sum();
    (loss / n as f64, correct as f64 / n as f64)
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

/// Runs `f` on every item, the first on this thread and the others on
/// scoped threads, and returns the results in item order.
fn on_threads<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let mut it = items.into_iter();
    let Some(first) = it.next() else {
        return Vec::new();
    };
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = it.map(|item| s.spawn(move || f(item))).collect();
        let mut out = vec![f(first)];
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("update thread")),
        );
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{LayerSpec, Schedule, preset};
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
