//! Batched forward and backward passes over a [`Network`] graph, built from
//! the core's kernels. Nodes run in table order (a topological order); a
//! value read by several nodes gets the sum of their gradients. A
//! [`Workspace`] owns every buffer one thread needs for a shard of up to
//! `cap` samples, so a training step allocates nothing.

use myelin_core::kernels;
use myelin_core::model::MAX_INPUTS;
use myelin_core::model::graph::p as gp;
use myelin_core::model::{Activation, LayerKind};
use myelin_core::train::{Rng, argmax};

use crate::data::Dataset;
use crate::net::{Layer, Network};

/// Buffers for the forward and backward pass of one thread.
#[derive(Debug)]
pub struct Workspace {
    cap: usize,
    /// Gathered input rows.
    pub x: Vec<f32>,
    /// Labels of the gathered rows.
    pub labels: Vec<u8>,
    /// Dataset rows of the gathered samples: with [`Self::dropout_seed`],
    /// they pick each sample's dropout masks, so masks do not depend on how
    /// a batch is split across threads.
    rows: Vec<u32>,
    /// Seed of this step's dropout masks (set by the trainer per step).
    pub dropout_seed: u64,
    /// Scratch of the input augmentation (one image), kept across steps.
    pub augment: Vec<f32>,
    /// Per layer with dropout: its masks and its dropped input (`cap x in_len`).
    masks: Vec<Vec<f32>>,
    dropped: Vec<Vec<f32>>,
    /// Output of each layer (after its activation), `cap x out_len`.
    acts: Vec<Vec<f32>>,
    /// Gradient of the loss with respect to each layer's output.
    dacts: Vec<Vec<f32>>,
    /// Gradient scratch, `cap x max_len` each: before the activation, and an
    /// input gradient on its way to a value with several readers.
    d_tmp: Vec<f32>,
    d_in: Vec<f32>,
    /// How many nodes read each value (0: the network input, `k`: layer `k - 1`).
    readers: Vec<usize>,
    /// Per-layer state kept from forward for backward.
    caches: Vec<Cache>,
    /// Parameter gradients (sums over the shard), per layer per tensor.
    pub grads: Vec<Vec<Vec<f32>>>,
    /// Sum of the shard's cross-entropy losses.
    pub loss: f64,
    /// Samples of the shard classified correctly.
    pub correct: usize,
}

/// Whether the training engine supports this network; `Err` names the first
/// layer it cannot handle.
pub fn check_trainable(net: &Network) -> Result<(), String> {
    for (i, l) in net.layers.iter().enumerate() {
        if let Err(what) = engine_supports(l) {
            return Err(format!("layer {} ({}): {what}", i + 1, l.kind.name()));
        }
        if l.activation == Activation::Softmax {
            return Err(format!(
                "layer {}: softmax is applied by the loss; use no activation on the logits",
                i + 1
            ));
        }
    }
    match net.layers.last() {
        Some(l) if l.activation == Activation::Identity => Ok(()),
        _ => Err("the last layer must have no activation (it gives the logits)".into()),
    }
}

/// Whether this engine trains `l`; `Err` says what it lacks.
fn engine_supports(l: &Layer) -> Result<(), &'static str> {
    use myelin_core::model::graph;
    match l.kind {
        LayerKind::Conv2d | LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            graph::window_of(l.in_shape, &l.params)
                .map(|_| ())
                .map_err(|_| "its window does not fit its input")
        }
        _ => Ok(()),
    }
}

fn activate(act: Activation, y: &mut [f32]) {
    match act {
        Activation::Relu => kernels::relu_inplace(y),
        Activation::Sigmoid => kernels::sigmoid_inplace(y),
        Activation::Tanh => kernels::tanh_inplace(y),
        Activation::Relu6 => kernels::relu6_inplace(y),
        _ => {}
    }
}

/// `dx = dy · act'(·)` given the forward output `y`.
fn activate_backward(act: Activation, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    match act {
        Activation::Relu => kernels::relu_backward(y, dy, dx),
        Activation::Sigmoid => kernels::sigmoid_backward(y, dy, dx),
        Activation::Tanh => kernels::tanh_backward(y, dy, dx),
        Activation::Relu6 => kernels::relu6_backward(y, dy, dx),
        _ => dx.copy_from_slice(dy),
    }
}

impl Workspace {
    /// Buffers for shards of up to `cap` samples of `net`.
    pub fn new(net: &Network, cap: usize) -> Workspace {
        let max_len = net
            .layers
            .iter()
            .map(|l| l.out_len().max(l.in_len()))
            .max()
            .unwrap_or(0);
        Workspace {
            cap,
            x: vec![0.0; cap * net.input_len()],
            labels: vec![0; cap],
            rows: Vec::with_capacity(cap),
            dropout_seed: 0,
            augment: Vec::new(),
            masks: net.layers.iter().map(|l| dropout_buffer(l, cap)).collect(),
            dropped: net.layers.iter().map(|l| dropout_buffer(l, cap)).collect(),
            acts: net
                .layers
                .iter()
                .map(|l| vec![0.0; cap * l.out_len()])
                .collect(),
            dacts: net
                .layers
                .iter()
                .map(|l| vec![0.0; cap * l.out_len()])
                .collect(),
            d_tmp: vec![0.0; cap * max_len],
            d_in: vec![0.0; cap * max_len],
            readers: net.readers(),
            caches: net.layers.iter().map(|l| Cache::new(l, cap)).collect(),
            grads: net
                .layers
                .iter()
                .map(|l| l.tensors.iter().map(|t| vec![0.0; t.data.len()]).collect())
                .collect(),
            loss: 0.0,
            correct: 0,
        }
    }

    /// Running mean and variance of batch-norm layer `i` after the last
    /// training step of this workspace (`None` for other layers).
    pub fn norm_running(&self, i: usize) -> Option<(&[f32], &[f32])> {
        match self.caches.get(i)? {
            Cache::Norm(c) => Some((&c.running_mean, &c.running_var)),
            _ => None,
        }
    }

    /// Largest shard this workspace holds.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Copies samples `rows` of `data` into [`Self::x`] and [`Self::labels`];
    /// returns how many (at most the capacity).
    pub fn gather(&mut self, data: &Dataset, rows: &[u32]) -> usize {
        let len = data.sample_len();
        let n = rows.len().min(self.cap);
        self.rows.clear();
        self.rows.extend_from_slice(&rows[..n]);
        for (k, &r) in rows[..n].iter().enumerate() {
            let r = r as usize;
            self.x[k * len..(k + 1) * len].copy_from_slice(data.sample(r));
            self.labels[k] = data.labels[r];
        }
        n
    }

    /// Runs the first `n` rows of [`Self::x`] through `net`; returns the logits (`n x classes`).
    pub fn forward(&mut self, net: &Network, n: usize) -> &[f32] {
        self.run_forward(net, n, false)
    }

    /// The forward pass; `train` uses batch statistics in batch norms and
    /// keeps what backward needs.
    fn run_forward(&mut self, net: &Network, n: usize, train: bool) -> &[f32] {
        assert!(n <= self.cap, "shard larger than the workspace");
        for i in 0..net.layers.len() {
            let (before, rest) = self.acts.split_at_mut(i);
            let layer = &net.layers[i];
            let mut xs: [&[f32]; MAX_INPUTS] = [&[]; MAX_INPUTS];
            for (x, &r) in xs.iter_mut().zip(&layer.inputs) {
                *x = if r == 0 {
                    &self.x[..n * net.input_len()]
                } else {
                    &before[r - 1][..n * net.layers[r - 1].out_len()]
                };
            }
            if train && layer.dropout > 0.0 {
                let len = layer.in_len();
                let mask = &mut self.masks[i][..n * len];
                for (k, m) in mask.chunks_exact_mut(len).enumerate() {
                    let row = self.rows.get(k).map_or(k as u64, |&r| u64::from(r));
                    let mut rng = Rng::new(mask_seed(self.dropout_seed, row, i));
                    kernels::dropout_mask(&mut rng, layer.dropout, m)
                        .expect("dropout probability checked when the layer was built");
                }
                let dropped = &mut self.dropped[i][..n * len];
                kernels::dropout_forward(xs[0], mask, dropped);
                xs[0] = dropped;
            }
            let y = &mut rest[0][..n * layer.out_len()];
            layer_forward(
                layer,
                &xs[..layer.inputs.len()],
                n,
                y,
                &mut self.caches[i],
                train,
            );
        }
        let last = net.layers.len() - 1;
        &self.acts[last][..n * net.layers[last].out_len()]
    }

    /// Forward and backward over the first `n` rows of [`Self::x`] and
    /// [`Self::labels`]: sets [`Self::grads`] to the gradient of the summed
    /// cross-entropy, [`Self::loss`] and [`Self::correct`].
    pub fn train_shard(&mut self, net: &Network, n: usize) {
        self.loss = 0.0;
        self.correct = 0;
        if n == 0 {
            for g in self.grads.iter_mut().flatten() {
                g.fill(0.0);
            }
            return;
        }
        self.run_forward(net, n, true);
        let last = net.layers.len() - 1;
        let classes = net.layers[last].out_len();
        let logits = &self.acts[last][..n * classes];
        let mut loss = 0.0f64;
        let mut correct = 0;
        // Values read by several nodes sum their readers' gradients.
        for (i, d) in self.dacts.iter_mut().enumerate() {
            if self.readers[i + 1] > 1 {
                d[..n * net.layers[i].out_len()].fill(0.0);
            }
        }
        for ((row, g), &label) in logits
            .chunks_exact(classes)
            .zip(self.dacts[last].chunks_exact_mut(classes))
            .zip(&self.labels[..n])
        {
            loss += f64::from(kernels::softmax_cross_entropy(row, usize::from(label), g));
            correct += usize::from(argmax(row) == usize::from(label));
        }
        self.loss = loss;
        self.correct = correct;
        for i in (0..net.layers.len()).rev() {
            let layer = &net.layers[i];
            let out = n * layer.out_len();
            let (d_before, d_rest) = self.dacts.split_at_mut(i);
            let y = &self.acts[i][..out];
            let dy = &d_rest[0][..out];
            let dz: &[f32] = if layer.activation == Activation::Identity {
                dy
            } else {
                activate_backward(layer.activation, y, dy, &mut self.d_tmp[..out]);
                &self.d_tmp[..out]
            };
            let value = |r: usize| -> &[f32] {
                if r == 0 {
                    &self.x[..n * net.input_len()]
                } else {
                    &self.acts[r - 1][..n * net.layers[r - 1].out_len()]
                }
            };
            if matches!(layer.kind, LayerKind::Add | LayerKind::Concat) {
                join_backward(layer, net, dz, n, d_before, &self.readers);
                continue;
            }
            let r = layer.inputs[0];
            let inp = n * layer.in_len();
            let drop = layer.dropout > 0.0;
            let x = if drop {
                &self.dropped[i][..inp]
            } else {
                value(r)
            };
            // The input gradient goes straight to a value with one reader,
            // through `d_in` to one with several or behind a dropout; the
            // network input needs none.
            let shared = r > 0 && self.readers[r] > 1;
            let dx = match r {
                // A batch norm's parameter gradients come with its input's.
                0 if layer.kind == LayerKind::BatchNorm => Some(&mut self.d_in[..inp]),
                0 => None,
                _ if shared || drop => Some(&mut self.d_in[..inp]),
                _ => Some(&mut d_before[r - 1][..inp]),
            };
            layer_backward(layer, x, dz, n, &mut self.grads[i], dx, &mut self.caches[i]);
            if r > 0 && drop {
                let mask = &self.masks[i][..inp];
                if shared {
                    kernels::dropout_backward(&self.d_in[..inp], mask, &mut self.d_tmp[..inp]);
                    kernels::axpy(1.0, &self.d_tmp[..inp], &mut d_before[r - 1][..inp]);
                } else {
                    kernels::dropout_backward(&self.d_in[..inp], mask, &mut d_before[r - 1][..inp]);
                }
            } else if shared {
                kernels::axpy(1.0, &self.d_in[..inp], &mut d_before[r - 1][..inp]);
            }
        }
    }
}

/// Mask (and dropped-input) storage of `l`: empty without dropout.
fn dropout_buffer(l: &Layer, cap: usize) -> Vec<f32> {
    if l.dropout > 0.0 {
        vec![0.0; cap * l.in_len()]
    } else {
        Vec::new()
    }
}

/// Seed of the dropout mask of dataset row `row` at layer `layer`.
fn mask_seed(step_seed: u64, row: u64, layer: usize) -> u64 {
    let mut z = step_seed ^ row.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z ^= (layer as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z
}

/// Sends the gradient `dz` of an add or concat node to its inputs' gradients
/// (`d_values[k]` is layer `k`'s output gradient).
fn join_backward(
    layer: &Layer,
    net: &Network,
    dz: &[f32],
    n: usize,
    d_values: &mut [Vec<f32>],
    readers: &[usize],
) {
    let out = layer.out_len();
    let mut offset = 0;
    for &r in &layer.inputs {
        let len = if r == 0 {
            net.input_len()
        } else {
            net.layers[r - 1].out_len()
        };
        if r > 0 {
            let d = &mut d_values[r - 1][..n * len];
            let add = readers[r] > 1;
            for s in 0..n {
                let src = match layer.kind {
                    LayerKind::Add => &dz[s * out..][..len],
                    _ => &dz[s * out + offset..][..len],
                };
                let dst = &mut d[s * len..][..len];
                if add {
                    kernels::axpy(1.0, src, dst);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
        offset += len;
    }
}

/// What a layer keeps between forward and backward, and its scratch.
#[derive(Debug)]
enum Cache {
    None,
    Pool(kernels::Pool2dShape),
    /// A max pooling and, per output of the shard, the input index of its
    /// maximum in the last training forward pass.
    MaxPool {
        shape: kernels::Pool2dShape,
        argmax: Vec<u32>,
    },
    /// A convolution: its geometry and the scratch of its chunked gemms.
    Conv {
        geom: kernels::ConvGeom,
        /// Floats of `scratch` the forward pass takes (as many samples per
        /// chunk as the backward pass).
        forward_len: usize,
        scratch: Vec<f32>,
    },
    /// A padded, non-square or unevenly strided pooling window.
    PoolGeom(kernels::Window2d),
    Norm(Box<NormCache>),
    Lstm(Box<LstmCache>),
}

/// Batch-norm state of a shard: its statistics and the running statistics
/// after this step's update (the trainer averages them over the shards).
#[derive(Debug)]
pub struct NormCache {
    bn: kernels::BatchNorm,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// Running mean after the last training forward.
    pub running_mean: Vec<f32>,
    /// Running variance after the last training forward.
    pub running_var: Vec<f32>,
}

/// Momentum of the batch-norm running statistics (PyTorch's default).
pub const BATCH_NORM_MOMENTUM: f32 = 0.1;

/// Time-major LSTM state of a shard: step `t`, sample `s` at `(t * n + s) * len`.
#[derive(Debug)]
struct LstmCache {
    steps: usize,
    input: usize,
    hidden: usize,
    /// Time steps per input-projection gemm (and per weight-gradient gemm).
    block: usize,
    xt: Vec<f32>,
    gates: Vec<f32>,
    c: Vec<f32>,
    h: Vec<f32>,
    zeros: Vec<f32>,
    /// Pre-activation gradients of one block of steps.
    dz: Vec<f32>,
    dc: Vec<f32>,
    dh: Vec<f32>,
    dxt: Vec<f32>,
}

/// Gate floats one block of LSTM steps aims to stay within (512 KiB).
const LSTM_BLOCK_FLOATS: usize = 1 << 17;

/// Time steps per block for shards of `cap` samples with `hidden` units:
/// the block's gates stay within [`LSTM_BLOCK_FLOATS`] (at least one step,
/// at most `steps`).
fn lstm_block(cap: usize, hidden: usize, steps: usize) -> usize {
    (LSTM_BLOCK_FLOATS / (cap * 4 * hidden).max(1)).clamp(1, steps.max(1))
}

impl Cache {
    fn new(l: &Layer, cap: usize) -> Cache {
        use myelin_core::model::graph;
        let uniform = graph::params_to_v2(l.kind, &l.params).is_some();
        match l.kind {
            LayerKind::Conv2d => {
                let geom = graph::conv_geom_of(l.in_shape, l.out_shape[0], &l.params)
                    .expect("checked by check_trainable");
                let samples = kernels::conv_cache_samples(&geom).min(cap.max(1));
                Cache::Conv {
                    geom,
                    forward_len: samples * kernels::conv_forward_scratch_len(&geom),
                    scratch: vec![0.0; samples * kernels::conv_backward_scratch_len(&geom)],
                }
            }
            LayerKind::MaxPool2d | LayerKind::AvgPool2d if !uniform => Cache::PoolGeom(
                graph::window_of(l.in_shape, &l.params).expect("checked by check_trainable"),
            ),
            LayerKind::BatchNorm => {
                let c = l.in_shape[0];
                let eps = f32::from_bits(l.params[gp::EPS]);
                let bn = kernels::BatchNorm::new(
                    c,
                    l.in_shape[1] * l.in_shape[2],
                    eps,
                    BATCH_NORM_MOMENTUM,
                )
                .expect("checked when the layer was built");
                Cache::Norm(Box::new(NormCache {
                    bn,
                    mean: vec![0.0; c],
                    inv_std: vec![0.0; c],
                    running_mean: vec![0.0; c],
                    running_var: vec![0.0; c],
                }))
            }
            LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
                let shape = kernels::Pool2dShape {
                    ch: l.in_shape[0],
                    in_h: l.in_shape[1],
                    in_w: l.in_shape[2],
                    k_h: l.params[gp::K_H] as usize,
                    k_w: l.params[gp::K_W] as usize,
                    stride: l.params[gp::STRIDE_H] as usize,
                };
                if l.kind == LayerKind::MaxPool2d {
                    Cache::MaxPool {
                        shape,
                        argmax: vec![0; cap * l.out_len()],
                    }
                } else {
                    Cache::Pool(shape)
                }
            }
            LayerKind::Lstm => {
                let (steps, input, hidden) = (l.in_shape[1], l.in_shape[2], l.params[0] as usize);
                let per = cap * steps;
                let block = lstm_block(cap, hidden, steps);
                Cache::Lstm(Box::new(LstmCache {
                    steps,
                    input,
                    hidden,
                    block,
                    xt: vec![0.0; per * input],
                    gates: vec![0.0; per * 4 * hidden],
                    c: vec![0.0; per * hidden],
                    h: vec![0.0; per * hidden],
                    zeros: vec![0.0; hidden],
                    dz: vec![0.0; block * cap * 4 * hidden],
                    dc: vec![0.0; cap * hidden],
                    dh: vec![0.0; cap * hidden],
                    dxt: vec![0.0; per * input],
                }))
            }
            _ => Cache::None,
        }
    }
}

/// `y = act(layer(xs))` for `n` samples; `train` selects batch statistics.
fn layer_forward(
    layer: &Layer,
    xs: &[&[f32]],
    n: usize,
    y: &mut [f32],
    cache: &mut Cache,
    train: bool,
) {
    let (inp, out) = (layer.in_len(), layer.out_len());
    let x = xs[0];
    match (layer.kind, cache) {
        (LayerKind::Dense, _) => {
            let (w, b) = (&layer.tensors[0].data, &layer.tensors[1].data);
            kernels::gemm(false, true, n, out, inp, x, w, 0.0, y);
            for row in y.chunks_exact_mut(out) {
                kernels::axpy(1.0, b, row);
            }
        }
        (LayerKind::MaxPool2d, Cache::MaxPool { shape, argmax }) if train => {
            for ((xs, ys), idx) in x
                .chunks_exact(inp)
                .zip(y.chunks_exact_mut(out))
                .zip(argmax.chunks_exact_mut(out))
            {
                kernels::max_pool2d_forward_indexed(shape, xs, ys, idx);
            }
        }
        (LayerKind::MaxPool2d, Cache::MaxPool { shape, .. }) => {
            for (xs, ys) in x.chunks_exact(inp).zip(y.chunks_exact_mut(out)) {
                kernels::max_pool2d_forward(shape, xs, ys);
            }
        }
        (LayerKind::AvgPool2d, Cache::Pool(shape)) => {
            for (xs, ys) in x.chunks_exact(inp).zip(y.chunks_exact_mut(out)) {
                kernels::avg_pool2d_forward(shape, xs, ys);
            }
        }
        (
            LayerKind::Conv2d,
            Cache::Conv {
                geom,
                forward_len,
                scratch,
            },
        ) => {
            let t = &layer.tensors;
            let scratch = &mut scratch[..*forward_len];
            kernels::conv_forward_fast(geom, n, x, &t[0].data, &t[1].data, y, scratch);
        }
        (LayerKind::MaxPool2d, Cache::PoolGeom(win)) => {
            kernels::max_pool_forward(win, n * layer.in_shape[0], x, y);
        }
        (LayerKind::AvgPool2d, Cache::PoolGeom(win)) => {
            kernels::avg_pool_forward(win, n * layer.in_shape[0], x, y);
        }
        (LayerKind::BatchNorm, Cache::Norm(c)) => {
            let t = &layer.tensors;
            if train {
                c.running_mean.copy_from_slice(&t[2].data);
                c.running_var.copy_from_slice(&t[3].data);
                kernels::batch_norm_forward_train(
                    &c.bn,
                    n,
                    x,
                    &t[0].data,
                    &t[1].data,
                    y,
                    &mut c.mean,
                    &mut c.inv_std,
                    &mut c.running_mean,
                    &mut c.running_var,
                );
            } else {
                kernels::batch_norm_forward_infer(
                    &c.bn, n, x, &t[0].data, &t[1].data, &t[2].data, &t[3].data, y,
                );
            }
        }
        (LayerKind::Lstm, Cache::Lstm(c)) => lstm_forward(layer, x, n, y, c),
        (LayerKind::Activation | LayerKind::Reshape, _) => y.copy_from_slice(x),
        (LayerKind::Add, _) => kernels::add_forward(xs, y),
        (LayerKind::Concat, _) => {
            kernels::concat_forward(n, layer.in_shape[1] * layer.in_shape[2], xs, y)
        }
        (LayerKind::GlobalAvgPool, _) => {
            kernels::global_avg_pool_forward(layer.in_shape[1] * layer.in_shape[2], x, y);
        }
        (other, _) => unreachable!("no engine for {}", other.name()),
    }
    activate(layer.activation, y);
}

/// LSTM forward over a shard: per block of [`LstmCache::block`] steps, the
/// bias and the input projection of the whole block as one gemm, then per
/// step the recurrent product over the shard and the cells.
fn lstm_forward(layer: &Layer, x: &[f32], n: usize, y: &mut [f32], c: &mut LstmCache) {
    let (t_n, f, h, g4) = (c.steps, c.input, c.hidden, 4 * c.hidden);
    let (wx, wh, b) = (
        &layer.tensors[0].data,
        &layer.tensors[1].data,
        &layer.tensors[2].data,
    );
    // Time-major copy of the inputs, so a block of steps is one contiguous
    // (steps * n) x F matrix.
    for s in 0..n {
        for t in 0..t_n {
            let src = &x[(s * t_n + t) * f..][..f];
            c.xt[(t * n + s) * f..][..f].copy_from_slice(src);
        }
    }
    for t0 in (0..t_n).step_by(c.block) {
        let bt = c.block.min(t_n - t0);
        let z = &mut c.gates[t0 * n * g4..][..bt * n * g4];
        for row in z.chunks_exact_mut(g4) {
            row.copy_from_slice(b);
        }
        let xb = &c.xt[t0 * n * f..][..bt * n * f];
        kernels::gemm(false, true, bt * n, g4, f, xb, wx, 1.0, z);
        for t in t0..t0 + bt {
            let z = &mut c.gates[t * n * g4..][..n * g4];
            if t > 0 {
                let hp = &c.h[(t - 1) * n * h..][..n * h];
                kernels::gemm(false, true, n, g4, h, hp, wh, 1.0, z);
            }
            let (c_before, c_rest) = c.c.split_at_mut(t * n * h);
            let c_now = &mut c_rest[..n * h];
            let h_now = &mut c.h[t * n * h..][..n * h];
            for s in 0..n {
                let c_prev = if t == 0 {
                    &c.zeros[..]
                } else {
                    &c_before[((t - 1) * n + s) * h..][..h]
                };
                kernels::lstm_cell_forward(
                    &mut z[s * g4..][..g4],
                    c_prev,
                    &mut c_now[s * h..][..h],
                    &mut h_now[s * h..][..h],
                );
            }
        }
    }
    y.copy_from_slice(&c.h[(t_n - 1) * n * h..][..n * h]);
}

/// Parameter gradients `grads` and (when asked) input gradient `dx` from the
/// pre-activation gradient `dz` of `n` samples with inputs `x`.
#[allow(clippy::too_many_arguments)]
fn layer_backward(
    layer: &Layer,
    x: &[f32],
    dz: &[f32],
    n: usize,
    grads: &mut [Vec<f32>],
    dx: Option<&mut [f32]>,
    cache: &mut Cache,
) {
    let (inp, out) = (layer.in_len(), layer.out_len());
    match (layer.kind, cache) {
        (LayerKind::Dense, _) => {
            let (gw, gb) = grads.split_at_mut(1);
            kernels::gemm(true, false, out, inp, n, dz, x, 0.0, &mut gw[0]);
            let gb = &mut gb[0];
            gb.fill(0.0);
            for row in dz.chunks_exact(out) {
                kernels::axpy(1.0, row, gb);
            }
            if let Some(dx) = dx {
                kernels::gemm(
                    false,
                    false,
                    n,
                    inp,
                    out,
                    dz,
                    &layer.tensors[0].data,
                    0.0,
                    dx,
                );
            }
        }
        (LayerKind::MaxPool2d, Cache::MaxPool { argmax, .. }) => {
            if let Some(dx) = dx {
                for ((idx, dys), dxs) in argmax
                    .chunks_exact(out)
                    .zip(dz.chunks_exact(out))
                    .zip(dx.chunks_exact_mut(inp))
                {
                    kernels::max_pool2d_backward_indexed(idx, dys, dxs);
                }
            }
        }
        (LayerKind::AvgPool2d, Cache::Pool(shape)) => {
            if let Some(dx) = dx {
                for (dys, dxs) in dz.chunks_exact(out).zip(dx.chunks_exact_mut(inp)) {
                    kernels::avg_pool2d_backward(shape, dys, dxs);
                }
            }
        }
        (LayerKind::Lstm, Cache::Lstm(c)) => lstm_backward(layer, dz, n, grads, dx, c),
        (LayerKind::Activation | LayerKind::Reshape, _) => {
            if let Some(dx) = dx {
                dx.copy_from_slice(dz);
            }
        }
        (LayerKind::GlobalAvgPool, _) => {
            if let Some(dx) = dx {
                kernels::global_avg_pool_backward(layer.in_shape[1] * layer.in_shape[2], dz, dx);
            }
        }
        (LayerKind::Conv2d, Cache::Conv { geom, scratch, .. }) => {
            let w = &layer.tensors[0].data;
            let (gw, gb) = grads.split_at_mut(1);
            let (gw, gb) = (&mut gw[0], &mut gb[0]);
            gw.fill(0.0);
            gb.fill(0.0);
            kernels::conv_backward_fast(geom, n, x, w, dz, dx, gw, gb, scratch);
        }
        (LayerKind::MaxPool2d, Cache::PoolGeom(win)) => {
            if let Some(dx) = dx {
                kernels::max_pool_backward(win, n * layer.in_shape[0], x, dz, dx);
            }
        }
        (LayerKind::AvgPool2d, Cache::PoolGeom(win)) => {
            if let Some(dx) = dx {
                kernels::avg_pool_backward(win, n * layer.in_shape[0], dz, dx);
            }
        }
        (LayerKind::BatchNorm, Cache::Norm(c)) => {
            let [gg, gbeta, gm, gv] = grads else {
                unreachable!("a batch norm has four tensors")
            };
            gg.fill(0.0);
            gbeta.fill(0.0);
            gm.fill(0.0);
            gv.fill(0.0);
            let gamma = &layer.tensors[0].data;
            let dx = dx.expect("the engine passes a batch norm an input gradient");
            kernels::batch_norm_backward(
                &c.bn, n, x, gamma, &c.mean, &c.inv_std, dz, dx, gg, gbeta,
            );
        }
        (other, _) => unreachable!("no engine for {}", other.name()),
    }
}

/// Backpropagation through time from the gradient `dy` of the last hidden
/// state: per step the cells and the recurrent input gradient over the
/// shard; per block of [`LstmCache::block`] steps the bias, weight and
/// input gradients as gemms of depth `steps * n`.
fn lstm_backward(
    layer: &Layer,
    dy: &[f32],
    n: usize,
    grads: &mut [Vec<f32>],
    dx: Option<&mut [f32]>,
    c: &mut LstmCache,
) {
    let (t_n, f, h, g4) = (c.steps, c.input, c.hidden, 4 * c.hidden);
    let (wx, wh) = (&layer.tensors[0].data, &layer.tensors[1].data);
    let [gwx, gwh, gb] = grads else {
        unreachable!("an LSTM has three tensors")
    };
    gwx.fill(0.0);
    gwh.fill(0.0);
    gb.fill(0.0);
    let dh = &mut c.dh[..n * h];
    dh.copy_from_slice(dy);
    let dc = &mut c.dc[..n * h];
    dc.fill(0.0);
    let want_dx = dx.is_some();
    let mut t_end = t_n;
    while t_end > 0 {
        let t0 = t_end.saturating_sub(c.block);
        let bt = t_end - t0;
        let dzb = &mut c.dz[..bt * n * g4];
        for t in (t0..t_end).rev() {
            let gates = &c.gates[t * n * g4..][..n * g4];
            let c_now = &c.c[t * n * h..][..n * h];
            let dz = &mut dzb[(t - t0) * n * g4..][..n * g4];
            for s in 0..n {
                let c_prev = if t == 0 {
                    &c.zeros[..]
                } else {
                    &c.c[((t - 1) * n + s) * h..][..h]
                };
                kernels::lstm_cell_backward(
                    &gates[s * g4..][..g4],
                    c_prev,
                    &c_now[s * h..][..h],
                    &dh[s * h..][..h],
                    &mut dc[s * h..][..h],
                    &mut dz[s * g4..][..g4],
                );
            }
            if t > 0 {
                kernels::gemm(false, false, n, h, g4, dz, wh, 0.0, dh);
            }
        }
        let dzb = &c.dz[..bt * n * g4];
        for row in dzb.chunks_exact(g4) {
            kernels::axpy(1.0, row, gb);
        }
        let xb = &c.xt[t0 * n * f..][..bt * n * f];
        kernels::gemm(true, false, g4, f, bt * n, dzb, xb, 1.0, gwx);
        if want_dx {
            let dxb = &mut c.dxt[t0 * n * f..][..bt * n * f];
            kernels::gemm(false, false, bt * n, f, g4, dzb, wx, 0.0, dxb);
        }
        // Steps with a previous state: h_{t-1} of steps s0..t_end is one
        // contiguous block of `c.h`.
        let s0 = t0.max(1);
        if t_end > s0 {
            let k = (t_end - s0) * n;
            let dzr = &dzb[(s0 - t0) * n * g4..][..k * g4];
            let hp = &c.h[(s0 - 1) * n * h..][..k * h];
            kernels::gemm(true, false, g4, h, k, dzr, hp, 1.0, gwh);
        }
        t_end = t0;
    }
    if let Some(dx) = dx {
        for s in 0..n {
            for t in 0..t_n {
                dx[(s * t_n + t) * f..][..f].copy_from_slice(&c.dxt[(t * n + s) * f..][..f]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::LayerSpec;

    fn lcg(seed: u64) -> impl FnMut() -> f32 {
        let mut r = myelin_core::train::Rng::new(seed);
        move || r.uniform()
    }

    fn small_net(act: Activation) -> Network {
        let specs = [
            LayerSpec::Dense {
                units: 5,
                activation: act,
            },
            LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            },
        ];
        let mut net = Network::from_specs([1, 1, 4], &specs).unwrap();
        net.init(&mut myelin_core::train::Rng::new(7));
        for l in &mut net.layers {
            let b = l.tensors.len() - 1;
            for (i, v) in l.tensors[b].data.iter_mut().enumerate() {
                *v = 0.1 * i as f32 - 0.2;
            }
        }
        net
    }

    fn loss_of(net: &Network, x: &[f32], labels: &[u8]) -> f64 {
        let mut ws = Workspace::new(net, labels.len());
        ws.x.copy_from_slice(x);
        ws.labels.copy_from_slice(labels);
        ws.train_shard(net, labels.len());
        ws.loss
    }

    /// Compares every parameter gradient with a central difference of the loss.
    fn check_fd(net: &Network, x: &[f32], labels: &[u8], h: f32) {
        let n = labels.len();
        let mut ws = Workspace::new(net, n);
        ws.x.copy_from_slice(x);
        ws.labels.copy_from_slice(labels);
        ws.train_shard(net, n);
        for li in 0..net.layers.len() {
            for ti in 0..net.layers[li].tensors.len() {
                for k in 0..net.layers[li].tensors[ti].data.len() {
                    let mut p = net.clone();
                    p.layers[li].tensors[ti].data[k] += h;
                    let mut m = net.clone();
                    m.layers[li].tensors[ti].data[k] -= h;
                    let fd =
                        (loss_of(&p, x, labels) - loss_of(&m, x, labels)) / (2.0 * f64::from(h));
                    let g = f64::from(ws.grads[li][ti][k]);
                    assert!(
                        (fd - g).abs() <= 2e-3 + 2e-2 * fd.abs(),
                        "layer {li} ({:?}) tensor {ti} [{k}]: analytic {g}, numeric {fd}",
                        net.layers[li].kind
                    );
                }
            }
        }
    }

    fn inputs(len: usize, seed: u64) -> Vec<f32> {
        let mut r = lcg(seed);
        (0..len).map(|_| 2.0 * r() - 1.0).collect()
    }

    #[test]
    fn gradients_match_finite_differences() {
        for act in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
            let net = small_net(act);
            // ReLU has a kink: a small step keeps every unit on its side.
            let h = if act == Activation::Relu { 1e-3 } else { 1e-2 };
            check_fd(&net, &inputs(12, 3), &[0, 2, 1], h);
        }
    }

    #[test]
    fn conv_pool_gradients_match_finite_differences() {
        let specs = [
            LayerSpec::Conv2d {
                filters: 2,
                kernel: 3,
                stride: 1,
                padding: 1,
                activation: Activation::Tanh,
            },
            LayerSpec::MaxPool2d { size: 2, stride: 2 },
            LayerSpec::Conv2d {
                filters: 3,
                kernel: 2,
                stride: 1,
                padding: 0,
                activation: Activation::Sigmoid,
            },
            LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            },
        ];
        let mut net = Network::from_specs([2, 6, 6], &specs).unwrap();
        net.init(&mut myelin_core::train::Rng::new(4));
        check_fd(&net, &inputs(2 * 72, 5), &[1, 2], 1e-2);
    }

    #[test]
    fn lstm_gradients_match_finite_differences() {
        let specs = [
            LayerSpec::Lstm { hidden: 3 },
            LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            },
        ];
        let mut net = Network::from_specs([1, 4, 2], &specs).unwrap();
        net.init(&mut myelin_core::train::Rng::new(6));
        check_fd(&net, &inputs(3 * 8, 7), &[0, 1, 2], 1e-2);
    }

    #[test]
    fn lstm_blocks_of_any_length_give_one_result() {
        // Five steps in blocks of 1 to 5 steps (the last block shorter when
        // the length does not divide five): the same logits and gradients.
        let specs = [
            LayerSpec::Lstm { hidden: 4 },
            LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            },
        ];
        let mut net = Network::from_specs([1, 5, 3], &specs).unwrap();
        net.init(&mut myelin_core::train::Rng::new(10));
        let x = inputs(3 * 15, 11);
        let run = |block: usize| {
            let mut ws = Workspace::new(&net, 3);
            let Cache::Lstm(c) = &mut ws.caches[0] else {
                unreachable!("layer 0 is an LSTM")
            };
            c.block = block;
            ws.x.copy_from_slice(&x);
            ws.labels.copy_from_slice(&[0, 2, 1]);
            let logits = ws.forward(&net, 3).to_vec();
            ws.train_shard(&net, 3);
            (logits, ws.grads)
        };
        let (want_y, want_g) = run(5);
        for block in 1..5 {
            let (y, g) = run(block);
            for (a, b) in y.iter().zip(&want_y) {
                assert!((a - b).abs() < 1e-6, "block {block}: logit {a} vs {b}");
            }
            for (a, b) in g
                .iter()
                .flatten()
                .flatten()
                .zip(want_g.iter().flatten().flatten())
            {
                assert!((a - b).abs() < 1e-5, "block {block}: gradient {a} vs {b}");
            }
        }
        assert_eq!(lstm_block(64, 128, 28), 4);
        assert_eq!(lstm_block(2, 3, 7), 7);
    }

    #[test]
    fn conv_into_lstm_gradients_match_finite_differences() {
        // An LSTM after a one-filter convolution needs its input gradient.
        let specs = [
            LayerSpec::Conv2d {
                filters: 1,
                kernel: 2,
                stride: 1,
                padding: 0,
                activation: Activation::Tanh,
            },
            LayerSpec::Lstm { hidden: 2 },
            LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            },
        ];
        let mut net = Network::from_specs([1, 4, 3], &specs).unwrap();
        net.init(&mut myelin_core::train::Rng::new(8));
        check_fd(&net, &inputs(2 * 12, 9), &[2, 0], 1e-2);
    }

    fn node(name: &str, inputs: &[&str], spec: LayerSpec) -> crate::net::NodeSpec {
        crate::net::NodeSpec {
            name: Some(name.into()),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            op: crate::net::NodeOp::Layer(spec),
            dropout: 0.0,
        }
    }

    #[test]
    fn graph_gradients_match_finite_differences() {
        // A residual join whose first input is read twice (fan-out), a
        // concat with the network input, global average pooling and relu6.
        let conv = |filters, act| LayerSpec::Conv2d {
            filters,
            kernel: 3,
            stride: 1,
            padding: 1,
            activation: act,
        };
        let nodes = [
            node("a", &[], conv(2, Activation::Tanh)),
            node("b", &[], conv(2, Activation::Sigmoid)),
            node(
                "sum",
                &["a", "b"],
                LayerSpec::Add {
                    activation: Activation::Tanh,
                },
            ),
            node("cat", &["sum", "input", "a"], LayerSpec::Concat),
            node("r6", &[], LayerSpec::Activate(Activation::Relu6)),
            node("gap", &[], LayerSpec::GlobalAvgPool),
            node(
                "out",
                &[],
                LayerSpec::Dense {
                    units: 3,
                    activation: Activation::Identity,
                },
            ),
        ];
        let mut net = Network::from_nodes([2, 4, 4], &nodes).unwrap();
        assert_eq!(net.layers[3].out_shape, [6, 4, 4]);
        assert_eq!(net.readers()[1], 3);
        net.init(&mut myelin_core::train::Rng::new(12));
        // Scaled inputs keep relu6 away from its kinks at 0 and 6.
        let x: Vec<f32> = inputs(2 * 32, 13).iter().map(|v| 2.0 + v).collect();
        check_fd(&net, &x, &[1, 2], 1e-2);
    }

    fn general_net(batch_norm: bool) -> Network {
        use crate::net::Padding;
        let mut nodes = vec![
            node(
                "c",
                &[],
                LayerSpec::Conv {
                    filters: 4,
                    kernel: [4, 3],
                    stride: [2, 1],
                    padding: Padding::Same,
                    depthwise: false,
                    activation: Activation::Tanh,
                },
            ),
            node(
                "dw",
                &[],
                LayerSpec::Conv {
                    filters: 8,
                    kernel: [3, 3],
                    stride: [1, 2],
                    padding: Padding::Explicit {
                        top: 1,
                        bottom: 0,
                        left: 1,
                        right: 2,
                    },
                    depthwise: true,
                    activation: Activation::Identity,
                },
            ),
        ];
        if batch_norm {
            nodes.push(node(
                "bn",
                &[],
                LayerSpec::BatchNorm {
                    eps: 1e-3,
                    activation: Activation::Sigmoid,
                },
            ));
        }
        nodes.extend([
            node(
                "avg",
                &[],
                LayerSpec::Pool {
                    max: false,
                    size: [2, 2],
                    stride: [1, 2],
                    padding: Padding::Same,
                },
            ),
            node(
                "max",
                &["avg"],
                LayerSpec::Pool {
                    max: true,
                    size: [3, 1],
                    stride: [2, 1],
                    padding: Padding::Valid,
                },
            ),
            node(
                "out",
                &[],
                LayerSpec::Dense {
                    units: 3,
                    activation: Activation::Identity,
                },
            ),
        ]);
        let mut net = Network::from_nodes([2, 7, 6], &nodes).unwrap();
        net.init(&mut myelin_core::train::Rng::new(21));
        if batch_norm {
            let bn = &mut net.layers[2];
            for (k, v) in bn.tensors[0].data.iter_mut().enumerate() {
                *v = 0.5 + 0.1 * k as f32;
            }
            for (k, v) in bn.tensors[1].data.iter_mut().enumerate() {
                *v = 0.05 * k as f32 - 0.2;
            }
        }
        net
    }

    #[test]
    fn strided_depthwise_pool_and_batch_norm_gradients_match_finite_differences() {
        for bn in [false, true] {
            let net = general_net(bn);
            check_fd(&net, &inputs(3 * 84, 22), &[0, 2, 1], 1e-3);
        }
    }

    #[test]
    fn core_inference_of_a_graph_equals_the_engine() {
        let mut net = general_net(true);
        // Non-trivial running statistics.
        for (k, v) in net.layers[2].tensors[2].data.iter_mut().enumerate() {
            *v = 0.1 * k as f32 - 0.3;
        }
        for (k, v) in net.layers[2].tensors[3].data.iter_mut().enumerate() {
            *v = 0.5 + 0.2 * k as f32;
        }
        let bytes = net.encode().unwrap();
        let model = myelin_core::model::Model::parse(&bytes).unwrap();
        assert_eq!(model.version(), 3);
        let x = inputs(84, 23);
        let mut ws = Workspace::new(&net, 1);
        ws.x.copy_from_slice(&x);
        let want = ws.forward(&net, 1).to_vec();
        let mut scratch = vec![0.0; myelin_core::model::scratch_len(&model)];
        let got = model.infer(&x, &mut scratch).unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(Network::decode(&bytes).unwrap(), net);
    }

    #[test]
    fn core_inference_applies_every_activation_as_the_engine() {
        let x: Vec<f32> = inputs(4, 31).iter().map(|v| 8.0 * v).collect();
        for act in [
            Activation::Relu,
            Activation::Relu6,
            Activation::Sigmoid,
            Activation::Tanh,
        ] {
            let mut net = small_net(act);
            // Large weights, so that ReLU6 clips and sigmoid saturates.
            for v in &mut net.layers[0].tensors[0].data {
                *v *= 4.0;
            }
            let bytes = crate::quantize::AlignedBytes::new(&net.encode().unwrap());
            let model = myelin_core::model::Model::parse(bytes.bytes()).unwrap();
            let mut scratch = vec![0.0; myelin_core::model::scratch_len(&model)];
            let got = model.infer(&x, &mut scratch).unwrap().to_vec();
            let mut ws = Workspace::new(&net, 1);
            ws.x.copy_from_slice(&x);
            let want = ws.forward(&net, 1);
            for (a, b) in got.iter().zip(want) {
                assert!((a - b).abs() < 1e-5, "{act:?}: core {a}, engine {b}");
            }
        }
    }

    #[test]
    fn graph_and_chain_engines_agree_on_a_chain() {
        // The same chain described with explicit names trains identically.
        let net = small_net(Activation::Tanh);
        let nodes = [
            node(
                "h",
                &["input"],
                LayerSpec::Dense {
                    units: 5,
                    activation: Activation::Tanh,
                },
            ),
            node(
                "o",
                &["h"],
                LayerSpec::Dense {
                    units: 3,
                    activation: Activation::Identity,
                },
            ),
        ];
        let mut named = Network::from_nodes([1, 1, 4], &nodes).unwrap();
        for (a, b) in named.layers.iter_mut().zip(&net.layers) {
            a.tensors.clone_from(&b.tensors);
        }
        assert_eq!(named, net);
    }

    #[test]
    fn shard_gradients_add_up_to_the_batch_gradient() {
        let net = small_net(Activation::Relu);
        let mut r = lcg(11);
        let x: Vec<f32> = (0..20).map(|_| r()).collect();
        let labels = [0u8, 1, 2, 1, 0];
        let mut whole = Workspace::new(&net, 5);
        whole.x.copy_from_slice(&x);
        whole.labels.copy_from_slice(&labels);
        whole.train_shard(&net, 5);
        let mut a = Workspace::new(&net, 3);
        a.x[..12].copy_from_slice(&x[..12]);
        a.labels.copy_from_slice(&labels[..3]);
        a.train_shard(&net, 3);
        let mut b = Workspace::new(&net, 3);
        b.x[..8].copy_from_slice(&x[12..]);
        b.labels[..2].copy_from_slice(&labels[3..]);
        b.train_shard(&net, 2);
        for ((w, ga), gb) in whole
            .grads
            .iter()
            .flatten()
            .zip(a.grads.iter().flatten())
            .zip(b.grads.iter().flatten())
        {
            for ((&w, &ga), &gb) in w.iter().zip(ga).zip(gb) {
                assert!((w - (ga + gb)).abs() < 1e-5);
            }
        }
        assert!((whole.loss - (a.loss + b.loss)).abs() < 1e-5);
    }

    /// A graph in which dropout sits on the network input, on a hidden value
    /// with one reader, and on one reader of a value read twice.
    fn dropout_net() -> Network {
        let dense = |units, activation| LayerSpec::Dense { units, activation };
        let mut nodes = vec![
            node("a", &[], dense(6, Activation::Tanh)),
            node("b", &["a"], dense(3, Activation::Identity)),
            node("c", &["a"], dense(3, Activation::Sigmoid)),
            node(
                "j",
                &["b", "c"],
                LayerSpec::Add {
                    activation: Activation::Identity,
                },
            ),
            node("d", &[], dense(3, Activation::Identity)),
        ];
        nodes[0].dropout = 0.25;
        nodes[1].dropout = 0.5;
        nodes[4].dropout = 0.4;
        let mut net = Network::from_nodes([1, 1, 5], &nodes).unwrap();
        net.init(&mut myelin_core::train::Rng::new(5));
        net
    }

    #[test]
    fn dropout_gradients_match_finite_differences() {
        let net = dropout_net();
        assert_eq!(
            net.layers.iter().map(|l| l.dropout).collect::<Vec<_>>(),
            [0.25, 0.5, 0.0, 0.0, 0.4]
        );
        let x = inputs(4 * 5, 21);
        check_fd(&net, &x, &[0, 2, 1, 2], 1e-2);
    }

    #[test]
    fn dropout_acts_in_training_only() {
        let net = dropout_net();
        let mut plain = net.clone();
        for l in &mut plain.layers {
            l.dropout = 0.0;
        }
        let x = inputs(4 * 5, 22);
        let labels = [0u8, 2, 1, 2];
        let run = |n: &Network, seed: u64| {
            let mut ws = Workspace::new(n, 4);
            ws.x.copy_from_slice(&x);
            ws.labels.copy_from_slice(&labels);
            ws.dropout_seed = seed;
            let logits = ws.forward(n, 4).to_vec();
            ws.train_shard(n, 4);
            (logits, ws.loss, ws.masks.clone())
        };
        let (with, loss, masks) = run(&net, 1);
        let (without, plain_loss, _) = run(&plain, 1);
        assert_eq!(with, without, "inference ignores dropout");
        assert!((loss - plain_loss).abs() > 1e-6, "training drops inputs");
        let (_, other_loss, other_masks) = run(&net, 2);
        assert_ne!(masks, other_masks, "the step seed picks the masks");
        assert!((loss - other_loss).abs() > 1e-9);
        // Kept entries are scaled by 1 / (1 - p); about p of them are zero.
        let big = {
            let mut n = net.clone();
            n.layers[1].dropout = 0.3;
            n
        };
        let mut ws = Workspace::new(&big, 4);
        let mut zeros = 0;
        let mut total = 0;
        for seed in 0..500 {
            ws.x.copy_from_slice(&x);
            ws.labels.copy_from_slice(&labels);
            ws.dropout_seed = seed;
            ws.train_shard(&big, 4);
            for &m in &ws.masks[1][..4 * 6] {
                assert!(m == 0.0 || (m - 1.0 / 0.7).abs() < 1e-6, "{m}");
                zeros += usize::from(m == 0.0);
                total += 1;
            }
        }
        let rate = zeros as f64 / total as f64;
        assert!((rate - 0.3).abs() < 0.02, "dropped {rate}");
    }

    #[test]
    fn dropout_masks_do_not_depend_on_the_thread_split() {
        let net = dropout_net();
        let x = inputs(5 * 5, 23);
        let data = Dataset {
            sample_dims: vec![5],
            inputs: x,
            labels: vec![0, 1, 2, 1, 0],
        };
        let rows: Vec<u32> = (0..5).collect();
        let shard = |rows: &[u32]| {
            let mut ws = Workspace::new(&net, 5);
            ws.dropout_seed = 9;
            let n = ws.gather(&data, rows);
            ws.train_shard(&net, n);
            ws
        };
        let whole = shard(&rows);
        let (a, b) = (shard(&rows[..2]), shard(&rows[2..]));
        for ((w, ga), gb) in whole
            .grads
            .iter()
            .flatten()
            .zip(a.grads.iter().flatten())
            .zip(b.grads.iter().flatten())
        {
            for ((&w, &ga), &gb) in w.iter().zip(ga).zip(gb) {
                assert!((w - (ga + gb)).abs() < 1e-5, "{w} vs {ga} + {gb}");
            }
        }
    }
}
