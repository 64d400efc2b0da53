//! Batched forward and backward passes over a [`Network`], built from the
//! core's kernels. A [`Workspace`] owns every buffer one thread needs for a
//! shard of up to `cap` samples, so a training step allocates nothing.

use myelin_core::kernels;
use myelin_core::model::{Activation, LayerKind};
use myelin_core::train::argmax;

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
    /// Output of each layer (after its activation), `cap x out_len`.
    acts: Vec<Vec<f32>>,
    /// Gradient scratch, `cap x max_len` each.
    d_cur: Vec<f32>,
    d_tmp: Vec<f32>,
    d_next: Vec<f32>,
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
        let kind_ok = matches!(l.kind, LayerKind::Dense | LayerKind::Activation);
        if !kind_ok {
            return Err(format!(
                "layer {} ({}): not supported by the training engine yet",
                i + 1,
                l.kind.name()
            ));
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

fn activate(act: Activation, y: &mut [f32]) {
    match act {
        Activation::Relu => kernels::relu_inplace(y),
        Activation::Sigmoid => kernels::sigmoid_inplace(y),
        Activation::Tanh => kernels::tanh_inplace(y),
        _ => {}
    }
}

/// `dx = dy · act'(·)` given the forward output `y`.
fn activate_backward(act: Activation, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    match act {
        Activation::Relu => kernels::relu_backward(y, dy, dx),
        Activation::Sigmoid => kernels::sigmoid_backward(y, dy, dx),
        Activation::Tanh => kernels::tanh_backward(y, dy, dx),
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
            acts: net
                .layers
                .iter()
                .map(|l| vec![0.0; cap * l.out_len()])
                .collect(),
            d_cur: vec![0.0; cap * max_len],
            d_tmp: vec![0.0; cap * max_len],
            d_next: vec![0.0; cap * max_len],
            grads: net
                .layers
                .iter()
                .map(|l| l.tensors.iter().map(|t| vec![0.0; t.data.len()]).collect())
                .collect(),
            loss: 0.0,
            correct: 0,
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
        for (k, &r) in rows[..n].iter().enumerate() {
            let r = r as usize;
            self.x[k * len..(k + 1) * len].copy_from_slice(data.sample(r));
            self.labels[k] = data.labels[r];
        }
        n
    }

    /// Runs the first `n` rows of [`Self::x`] through `net`; returns the logits (`n x classes`).
    pub fn forward(&mut self, net: &Network, n: usize) -> &[f32] {
        assert!(n <= self.cap, "shard larger than the workspace");
        for i in 0..net.layers.len() {
            let (before, rest) = self.acts.split_at_mut(i);
            let input: &[f32] = if i == 0 {
                &self.x[..n * net.input_len()]
            } else {
                let l = &net.layers[i - 1];
                &before[i - 1][..n * l.out_len()]
            };
            let layer = &net.layers[i];
            let y = &mut rest[0][..n * layer.out_len()];
            layer_forward(layer, input, n, y);
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
        self.forward(net, n);
        let last = net.layers.len() - 1;
        let classes = net.layers[last].out_len();
        let logits = &self.acts[last][..n * classes];
        let mut loss = 0.0f64;
        let mut correct = 0;
        for ((row, g), &label) in logits
            .chunks_exact(classes)
            .zip(self.d_cur.chunks_exact_mut(classes))
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
            let inp = n * layer.in_len();
            let y = &self.acts[i][..out];
            let dy = &self.d_cur[..out];
            let dz: &[f32] = if layer.activation == Activation::Identity {
                dy
            } else {
                activate_backward(layer.activation, y, dy, &mut self.d_tmp[..out]);
                &self.d_tmp[..out]
            };
            let x: &[f32] = if i == 0 {
                &self.x[..inp]
            } else {
                &self.acts[i - 1][..inp]
            };
            let dx = if i == 0 {
                None
            } else {
                Some(&mut self.d_next[..inp])
            };
            layer_backward(layer, x, dz, n, &mut self.grads[i], dx);
            std::mem::swap(&mut self.d_cur, &mut self.d_next);
        }
    }
}

/// `y = act(layer(x))` for `n` samples.
fn layer_forward(layer: &Layer, x: &[f32], n: usize, y: &mut [f32]) {
    match layer.kind {
        LayerKind::Dense => {
            let (w, b) = (&layer.tensors[0].data, &layer.tensors[1].data);
            let (inp, out) = (layer.in_len(), layer.out_len());
            kernels::gemm(false, true, n, out, inp, x, w, 0.0, y);
            for row in y.chunks_exact_mut(out) {
                kernels::axpy(1.0, b, row);
            }
        }
        LayerKind::Activation => y.copy_from_slice(x),
        other => unreachable!("{} rejected by check_trainable", other.name()),
    }
    activate(layer.activation, y);
}

/// Parameter gradients `grads` and (when asked) input gradient `dx` from the
/// pre-activation gradient `dz` of `n` samples with inputs `x`.
fn layer_backward(
    layer: &Layer,
    x: &[f32],
    dz: &[f32],
    n: usize,
    grads: &mut [Vec<f32>],
    dx: Option<&mut [f32]>,
) {
    match layer.kind {
        LayerKind::Dense => {
            let (inp, out) = (layer.in_len(), layer.out_len());
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
        LayerKind::Activation => {
            if let Some(dx) = dx {
                dx.copy_from_slice(dz);
            }
        }
        other => unreachable!("{} rejected by check_trainable", other.name()),
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

    #[test]
    fn gradients_match_finite_differences() {
        for act in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
            let net = small_net(act);
            let mut r = lcg(3);
            let x: Vec<f32> = (0..12).map(|_| 2.0 * r() - 1.0).collect();
            let labels = [0u8, 2, 1];
            let mut ws = Workspace::new(&net, 3);
            ws.x.copy_from_slice(&x);
            ws.labels.copy_from_slice(&labels);
            ws.train_shard(&net, 3);
            for li in 0..net.layers.len() {
                for ti in 0..net.layers[li].tensors.len() {
                    for k in 0..net.layers[li].tensors[ti].data.len() {
                        let h = if act == Activation::Relu {
                            1e-3f32
                        } else {
                            1e-2
                        };
                        let mut p = net.clone();
                        p.layers[li].tensors[ti].data[k] += h;
                        let mut m = net.clone();
                        m.layers[li].tensors[ti].data[k] -= h;
                        let fd = (loss_of(&p, &x, &labels) - loss_of(&m, &x, &labels))
                            / (2.0 * f64::from(h));
                        let g = f64::from(ws.grads[li][ti][k]);
                        assert!(
                            (fd - g).abs() <= 2e-3 + 2e-2 * fd.abs(),
                            "{act:?} layer {li} tensor {ti} [{k}]: analytic {g}, numeric {fd}"
                        );
                    }
                }
            }
        }
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
}
