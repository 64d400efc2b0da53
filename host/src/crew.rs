//! The threads of a training run and what they share. A [`Crew`] keeps one
//! set of [`Workers`] for a whole run and uses it for each step's gradient
//! shards, the reduction and optimizer update, and the validation passes;
//! every buffer it needs is allocated when it starts (the validation
//! workspaces at the first validation pass).
//!
//! Between steps every buffer is at home: weights in the network, shard
//! gradients in the workspaces, moments in the [`OptState`]. For the update
//! a step moves (without copying) each trained tensor's weights, first
//! shard's gradient and moments into that tensor's `Slot`, which one
//! thread owns; the owner works through the tensor in `t` fixed ranges (the
//! same ranges whatever thread owns it), so a run's results depend only on
//! the seed and the thread count.

use std::ops::Range;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use anyhow::{Result, bail};
use myelin_core::kernels;
use myelin_core::model::LayerKind;
use myelin_core::train::{Adam, Sgd, argmax, cross_entropy};

use crate::augment::Shift;
use crate::data::Dataset;
use crate::engine::Workspace;
use crate::net::{Hyper, Network, OptimizerKind};
use crate::workers::Workers;

/// Samples per evaluation block.
pub const EVAL_BLOCK: usize = 256;

/// Optimizer state per layer per tensor.
#[derive(Debug)]
pub struct OptState {
    first: Vec<Vec<Vec<f32>>>,
    second: Vec<Vec<Vec<f32>>>,
}

impl OptState {
    /// Zero moments for `net` (no second moment for SGD).
    pub fn new(net: &Network, kind: OptimizerKind) -> OptState {
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

    /// All moments, first then second, layer after layer.
    pub fn flatten(&self) -> Vec<f32> {
        self.first
            .iter()
            .chain(&self.second)
            .flatten()
            .flatten()
            .copied()
            .collect()
    }

    /// Restores the moments from [`Self::flatten`]'s layout.
    pub fn load(&mut self, flat: &[f32]) -> Result<()> {
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

/// Gathers `rows` of `data` into `ws`, shifts them when asked, and runs
/// forward and backward.
pub fn train_shard(
    ws: &mut Workspace,
    net: &Network,
    data: &Dataset,
    rows: &[u32],
    shift: Option<(Shift, u64)>,
) {
    let n = ws.gather(data, rows);
    if let Some((shift, seed)) = shift {
        shift.apply(
            &mut ws.x[..n * data.sample_len()],
            &rows[..n],
            seed,
            &mut ws.augment,
        );
    }
    ws.train_shard(net, n);
}

/// Buffers of one evaluation thread.
#[derive(Debug)]
pub struct EvalSpace {
    ws: Workspace,
    grad: Vec<f32>,
    rows: Vec<u32>,
}

impl EvalSpace {
    /// Buffers for blocks of [`EVAL_BLOCK`] samples of `net`.
    pub fn new(net: &Network) -> EvalSpace {
        EvalSpace {
            ws: Workspace::new(net, EVAL_BLOCK),
            grad: vec![0.0; net.classes()],
            rows: Vec::with_capacity(EVAL_BLOCK),
        }
    }

    /// Summed cross-entropy and correct count of samples `lo..hi` of `data`
    /// (labels outside the network's classes count as wrong, without loss).
    pub fn tally(&mut self, net: &Network, data: &Dataset, lo: usize, hi: usize) -> Tally {
        let classes = net.classes();
        let (mut loss, mut correct) = (0.0f64, 0usize);
        let mut i = lo;
        while i < hi {
            let end = (i + EVAL_BLOCK).min(hi);
            self.rows.clear();
            self.rows.extend(i as u32..end as u32);
            let m = self.ws.gather(data, &self.rows);
            let logits = self.ws.forward(net, m);
            for (row, &label) in logits.chunks_exact(classes).zip(&data.labels[i..end]) {
                let label = usize::from(label);
                if label < classes {
                    loss += f64::from(cross_entropy(row, label, &mut self.grad));
                    correct += usize::from(argmax(row) == label);
                }
            }
            i = end;
        }
        Tally { loss, correct }
    }
}

/// Summed loss and correct count of some samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Summed cross-entropy.
    pub loss: f64,
    /// Correctly classified samples.
    pub correct: usize,
}

/// The samples each of `parts` evaluation threads takes out of `n`: `n`
/// split into even consecutive pieces, one per [`EVAL_BLOCK`] at most.
pub fn eval_parts(n: usize, threads: usize) -> impl Iterator<Item = Range<usize>> {
    let parts = threads.clamp(1, n.div_ceil(EVAL_BLOCK).max(1));
    let per = n.div_ceil(parts);
    (0..parts).map(move |k| (k * per).min(n)..((k + 1) * per).min(n))
}

/// The `t` ranges a tensor of `len` values is updated in: consecutive
/// pieces of `ceil(len / t)`, the last ones shorter or empty.
fn update_ranges(len: usize, t: usize) -> impl Iterator<Item = Range<usize>> {
    let chunk = len.div_ceil(t).max(1);
    (0..t).map(move |r| (r * chunk).min(len)..((r + 1) * chunk).min(len))
}

/// One trained tensor during an update: its buffers (moved in for the step)
/// and the squared norms of its ranges' gradients.
#[derive(Debug)]
struct Slot {
    layer: usize,
    tensor: usize,
    /// Whether weight decay applies (weights, not biases or batch norm).
    decay: bool,
    params: Vec<f32>,
    /// The first shard's gradient, which receives the batch mean.
    grads: Vec<f32>,
    first: Vec<f32>,
    second: Vec<f32>,
    /// Per update range, the squared L2 norm of its batch-mean gradient.
    squares: Vec<f64>,
}

/// One thread's part of a round.
#[derive(Debug, Clone, Copy)]
enum Task {
    /// Forward and backward of `order[lo..hi]` of the training data.
    Shard {
        lo: usize,
        hi: usize,
        dropout_seed: u64,
        shift: Option<(Shift, u64)>,
    },
    /// Adds the shard gradients of this thread's slots, scales them to the
    /// batch mean and records the squared norms.
    Reduce { used: usize, scale: f32 },
    /// Rescales this thread's slots by `factor` and applies the optimizer.
    Update { lr: f32, step: u32, factor: f32 },
    /// Evaluates samples `lo..hi` of the validation data.
    Evaluate { lo: usize, hi: usize },
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().expect("a training thread panicked")
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().expect("a training thread panicked")
}

fn lock<T>(l: &Mutex<T>) -> MutexGuard<'_, T> {
    l.lock().expect("a training thread panicked")
}

/// What the threads of a run share.
#[derive(Debug)]
struct Shared<'a> {
    hyper: Hyper,
    threads: usize,
    net: RwLock<&'a mut Network>,
    opt: Mutex<&'a mut OptState>,
    /// One shard workspace per thread.
    spaces: Vec<RwLock<&'a mut Workspace>>,
    /// One evaluation workspace per thread, made on first use.
    evals: Vec<Mutex<Option<EvalSpace>>>,
    slots: Vec<Mutex<Slot>>,
    /// Per thread, the slots it updates.
    owners: Vec<Vec<usize>>,
    /// Training rows in step order.
    order: RwLock<Vec<u32>>,
    train: &'a Dataset,
    val: &'a Dataset,
}

impl Shared<'_> {
    /// Thread `k`'s part of `task`.
    fn run(&self, k: usize, task: Task) -> Tally {
        match task {
            Task::Shard {
                lo,
                hi,
                dropout_seed,
                shift,
            } => {
                let net = read(&self.net);
                let order = read(&self.order);
                let mut ws = write(&self.spaces[k]);
                ws.dropout_seed = dropout_seed;
                train_shard(&mut ws, &net, self.train, &order[lo..hi], shift);
                Tally {
                    loss: ws.loss,
                    correct: ws.correct,
                }
            }
            Task::Reduce { used, scale } => {
                for &i in &self.owners[k] {
                    let mut slot = lock(&self.slots[i]);
                    let Slot {
                        layer,
                        tensor,
                        grads,
                        squares,
                        ..
                    } = &mut *slot;
                    for (r, range) in update_ranges(grads.len(), self.threads).enumerate() {
                        let g = &mut grads[range.clone()];
                        for other in &self.spaces[1..used] {
                            let other = read(other);
                            kernels::axpy(1.0, &other.grads[*layer][*tensor][range.clone()], g);
                        }
                        kernels::scalar::scale(scale, g);
                        squares[r] = if g.is_empty() {
                            0.0
                        } else {
                            f64::from(kernels::dot(g, g))
                        };
                    }
                }
                Tally::default()
            }
            Task::Update { lr, step, factor } => {
                for &i in &self.owners[k] {
                    self.update_slot(&mut lock(&self.slots[i]), lr, step, factor);
                }
                Tally::default()
            }
            Task::Evaluate { lo, hi } => {
                let net = read(&self.net);
                let mut space = lock(&self.evals[k]);
                space
                    .get_or_insert_with(|| EvalSpace::new(&net))
                    .tally(&net, self.val, lo, hi)
            }
        }
    }

    fn update_slot(&self, slot: &mut Slot, lr: f32, step: u32, factor: f32) {
        let hyper = self.hyper;
        let wd = if slot.decay { hyper.weight_decay } else { 0.0 };
        for range in update_ranges(slot.params.len(), self.threads) {
            if range.is_empty() {
                continue;
            }
            let grads = &mut slot.grads[range.clone()];
            if factor != 1.0 {
                kernels::scalar::scale(factor, grads);
            }
            let params = &mut slot.params[range.clone()];
            let first = &mut slot.first[range.clone()];
            match hyper.optimizer {
                OptimizerKind::Sgd { momentum } => Sgd {
                    lr,
                    momentum,
                    weight_decay: wd,
                }
                .update(params, grads, first),
                OptimizerKind::Adam { beta1, beta2, eps } => Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay: wd,
                }
                .update(step, params, grads, first, &mut slot.second[range]),
            }
        }
    }

    /// Swaps each trained tensor's weights, first-shard gradient and
    /// moments with its slot's buffers: moves them in for an update, and
    /// back home when called again.
    fn swap_slots(&self) {
        let mut net = write(&self.net);
        let mut ws0 = write(&self.spaces[0]);
        let mut opt = lock(&self.opt);
        let opt: &mut OptState = &mut opt;
        for slot in &self.slots {
            let s = &mut *lock(slot);
            let (l, t) = (s.layer, s.tensor);
            std::mem::swap(&mut net.layers[l].tensors[t].data, &mut s.params);
            std::mem::swap(&mut ws0.grads[l][t], &mut s.grads);
            std::mem::swap(&mut opt.first[l][t], &mut s.first);
            std::mem::swap(&mut opt.second[l][t], &mut s.second);
        }
    }
}

/// A run's threads and shared state, driven from the calling thread.
#[derive(Debug)]
pub struct Crew<'s, 'a> {
    shared: &'s Shared<'a>,
    workers: Workers<Task, Tally>,
}

/// What a crew borrows from its trainer.
#[derive(Debug)]
pub struct Parts<'a> {
    /// The network being trained.
    pub net: &'a mut Network,
    /// Its optimizer state.
    pub opt: &'a mut OptState,
    /// One shard workspace per thread.
    pub spaces: &'a mut [Workspace],
    /// The hyper-parameters.
    pub hyper: Hyper,
}

/// Runs `f` with a crew of `parts.spaces.len()` threads training on `train`
/// in the row order `order` and validating on `val`; the threads stop when
/// `f` returns.
pub fn with_crew<R>(
    parts: Parts<'_>,
    train: &Dataset,
    val: &Dataset,
    order: Vec<u32>,
    f: impl FnOnce(&Crew<'_, '_>) -> R,
) -> R {
    let threads = parts.spaces.len();
    // Trained tensors: all but empty ones and batch norms' running
    // statistics (set after the step, not by the optimizer).
    let mut slots = Vec::new();
    for (li, layer) in parts.net.layers.iter().enumerate() {
        let norm = layer.kind == LayerKind::BatchNorm;
        let nt = layer.tensors.len();
        for (ti, t) in layer.tensors.iter().enumerate() {
            if t.data.is_empty() || (norm && ti >= 2) {
                continue;
            }
            slots.push(Slot {
                layer: li,
                tensor: ti,
                decay: ti + 1 < nt && !norm,
                params: Vec::new(),
                grads: Vec::new(),
                first: Vec::new(),
                second: Vec::new(),
                squares: vec![0.0; threads],
            });
        }
    }
    // Largest tensors first, each to the least loaded thread.
    let mut owners = vec![Vec::new(); threads];
    let mut load = vec![0usize; threads];
    let mut by_size: Vec<usize> = (0..slots.len()).collect();
    let size = |i: usize| {
        parts.net.layers[slots[i].layer].tensors[slots[i].tensor]
            .data
            .len()
    };
    by_size.sort_by_key(|&i| std::cmp::Reverse(size(i)));
    for i in by_size {
        let k = (0..threads).min_by_key(|&k| load[k]).unwrap_or(0);
        load[k] += size(i);
        owners[k].push(i);
    }
    for o in &mut owners {
        o.sort_unstable();
    }
    let shared = Shared {
        hyper: parts.hyper,
        threads,
        net: RwLock::new(parts.net),
        opt: Mutex::new(parts.opt),
        spaces: parts.spaces.iter_mut().map(RwLock::new).collect(),
        evals: (0..threads).map(|_| Mutex::new(None)).collect(),
        slots: slots.into_iter().map(Mutex::new).collect(),
        owners,
        order: RwLock::new(order),
        train,
        val,
    };
    let work = |k: usize, task: Task| shared.run(k, task);
    std::thread::scope(|s| {
        let crew = Crew {
            shared: &shared,
            workers: Workers::spawn(s, threads - 1, &work),
        };
        f(&crew)
    })
}

impl<'a> Crew<'_, 'a> {
    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.workers.threads()
    }

    /// The network (between steps).
    pub fn net(&self) -> RwLockReadGuard<'_, &'a mut Network> {
        read(&self.shared.net)
    }

    /// The optimizer state (between steps).
    pub fn opt(&self) -> MutexGuard<'_, &'a mut OptState> {
        lock(&self.shared.opt)
    }

    /// Shard workspace `k` (between steps).
    pub fn space(&self, k: usize) -> RwLockReadGuard<'_, &'a mut Workspace> {
        read(&self.shared.spaces[k])
    }

    /// Resets the row order to `0..n` and lets `shuffle` permute it.
    pub fn reorder(&self, shuffle: impl FnOnce(&mut [u32])) {
        let mut order = write(&self.shared.order);
        for (i, o) in order.iter_mut().enumerate() {
            *o = i as u32;
        }
        shuffle(&mut order);
    }

    /// Forward and backward of rows `order[lo..hi]`, one contiguous shard
    /// per thread; returns the summed loss and correct count and how many
    /// shards were used. Gradients stay in the workspaces. With `shift`,
    /// each gathered sample is first moved by its own random offset (drawn
    /// from the seed and its row).
    pub fn compute(
        &self,
        rows: Range<usize>,
        dropout_seed: u64,
        shift: Option<(Shift, u64)>,
    ) -> (Tally, usize) {
        let (lo, hi) = (rows.start, rows.end);
        let per = (hi - lo).div_ceil(self.threads()).max(1);
        let used = (hi - lo).div_ceil(per);
        let shard = |k: usize| Task::Shard {
            lo: lo + k * per,
            hi: (lo + (k + 1) * per).min(hi),
            dropout_seed,
            shift,
        };
        let mut sum = Tally::default();
        self.workers.round(
            (1..used).map(shard),
            || self.shared.run(0, shard(0)),
            |_, t| {
                sum.loss += t.loss;
                sum.correct += t.correct;
            },
        );
        (sum, used)
    }

    /// Adds the `used` shard gradients (in thread order), divides by the
    /// `batch` size and applies the optimizer at rate `lr` for Adam step
    /// `step`, each thread on the tensors it owns; with `clip_grad_norm`
    /// set, first rescales the whole gradient to at most that L2 norm.
    /// Returns false, leaving the weights unchanged, if a gradient is NaN or
    /// infinite.
    pub fn apply(&self, used: usize, batch: usize, lr: f32, step: u32) -> bool {
        let shared = self.shared;
        let t = self.threads();
        shared.swap_slots();
        let reduce = Task::Reduce {
            used,
            scale: 1.0 / batch as f32,
        };
        self.workers
            .round((1..t).map(|_| reduce), || shared.run(0, reduce), |_, _| {});
        // Per range, the squares of every tensor in table order; then the
        // ranges in order.
        let squares: f64 = (0..t)
            .map(|r| {
                let mut s = 0.0f64;
                for slot in &shared.slots {
                    s += lock(slot).squares[r];
                }
                s
            })
            .sum();
        let finite = squares.is_finite();
        if finite {
            let clip = shared.hyper.clip_grad_norm;
            let norm = squares.sqrt() as f32;
            let factor = if clip != 0.0 && norm > clip {
                clip / norm
            } else {
                1.0
            };
            let update = Task::Update { lr, step, factor };
            self.workers
                .round((1..t).map(|_| update), || shared.run(0, update), |_, _| {});
        }
        shared.swap_slots();
        finite
    }

    /// Sets each batch norm's running statistics to the mean of the `used`
    /// shards' updated statistics (each shard moved them toward its own
    /// batch statistics by the momentum, so the mean moves them toward the
    /// shards' average).
    pub fn update_running_stats(&self, used: usize) {
        let mut net = write(&self.shared.net);
        for (i, layer) in net.layers.iter_mut().enumerate() {
            if layer.kind != LayerKind::BatchNorm {
                continue;
            }
            let scale = 1.0 / used as f32;
            let (mean, var) = layer.tensors.split_at_mut(3);
            let (mean, var) = (&mut mean[2].data, &mut var[0].data);
            mean.fill(0.0);
            var.fill(0.0);
            for ws in &self.shared.spaces[..used] {
                if let Some((m, v)) = read(ws).norm_running(i) {
                    kernels::axpy(scale, m, mean);
                    kernels::axpy(scale, v, var);
                }
            }
        }
    }

    /// Mean cross-entropy and accuracy on the validation data (NaN when it
    /// is empty), split as [`crate::train::evaluate`] splits it.
    pub fn evaluate(&self) -> (f64, f64) {
        let n = self.shared.val.len();
        if n == 0 {
            return (f64::NAN, f64::NAN);
        }
        let mut parts = eval_parts(n, self.threads()).map(|r| Task::Evaluate {
            lo: r.start,
            hi: r.end,
        });
        let first = parts.next().expect("at least one part");
        let mut sum = Tally::default();
        self.workers.round(
            parts,
            || self.shared.run(0, first),
            |_, t| {
                sum.loss += t.loss;
                sum.correct += t.correct;
            },
        );
        (sum.loss / n as f64, sum.correct as f64 / n as f64)
    }
}
