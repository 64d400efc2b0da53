//! A dense classifier for the pretraining work: hidden dense layers with one
//! activation (sigmoid or ReLU), optional identity skips around same-width
//! hidden layers (`a' = a + f(W a + b)`), a softmax cross-entropy output,
//! mini-batch SGD with momentum, and the L2 norm of every layer's weight
//! gradient at every step. Forward and backward run on the core's kernels.
//!
//! It exists beside the host's general training engine because pretraining
//! grows nets layer by layer and the vanishing-gradient experiment needs skip
//! connections and per-step, per-layer gradient norms.

use anyhow::{Result, bail};
use myelin_core::kernels;
use myelin_core::train::{Rng, argmax};

use super::permutation;
use crate::data::Dataset;

/// Activation of the hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Logistic sigmoid.
    Sigmoid,
    /// Rectified linear unit.
    Relu,
}

/// A dense layer: `y = W x + b` with `W` stored `outputs x inputs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// `outputs x inputs` weights, row-major.
    pub weights: Vec<f32>,
    /// `outputs` biases.
    pub bias: Vec<f32>,
}

impl Dense {
    /// All-zero weights and biases.
    pub fn zeros(inputs: usize, outputs: usize) -> Self {
        Self {
            inputs,
            outputs,
            weights: vec![0.0; inputs * outputs],
            bias: vec![0.0; outputs],
        }
    }

    /// Weights and biases uniform in `±1/√inputs` (LeCun uniform, the default
    /// of common frameworks for a linear layer).
    pub fn lecun_uniform(inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        let a = 1.0 / (inputs as f32).sqrt();
        let weights = (0..inputs * outputs).map(|_| rng.range(-a, a)).collect();
        let bias = (0..outputs).map(|_| rng.range(-a, a)).collect();
        Self {
            inputs,
            outputs,
            weights,
            bias,
        }
    }

    /// Weights normal with variance `2/inputs` (He), zero biases: keeps the
    /// signal's scale through ReLU layers.
    pub fn he_normal(inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        let mut weights = vec![0.0; inputs * outputs];
        myelin_core::train::he_normal(&mut weights, inputs, rng);
        Self {
            inputs,
            outputs,
            weights,
            bias: vec![0.0; outputs],
        }
    }

    /// `y = x Wᵀ + b` for the `n` rows of `x`.
    fn forward(&self, x: &[f32], n: usize, y: &mut [f32]) {
        kernels::gemm(
            false,
            true,
            n,
            self.outputs,
            self.inputs,
            x,
            &self.weights,
            0.0,
            y,
        );
        for row in y.chunks_exact_mut(self.outputs) {
            kernels::axpy(1.0, &self.bias, row);
        }
    }
}

/// A classifier: hidden dense layers with one activation, then a dense
/// output layer whose logits feed a softmax.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Hidden layers, input side first.
    pub hidden: Vec<Dense>,
    /// The output layer (logits).
    pub output: Dense,
    /// Activation of every hidden layer.
    pub activation: Activation,
    /// Identity skip around every hidden layer after the first whose input
    /// and output widths match.
    pub residual: bool,
}

impl Mlp {
    /// A randomly initialized net with widths `sizes` = `[input, hidden..., classes]`:
    /// LeCun uniform for sigmoid, He normal for ReLU (output layer: LeCun uniform).
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries.
    pub fn random(sizes: &[usize], activation: Activation, residual: bool, rng: &mut Rng) -> Self {
        assert!(sizes.len() >= 2, "a net needs an input and an output width");
        let hidden = sizes.windows(2).take(sizes.len() - 2);
        let hidden = hidden
            .map(|w| match activation {
                Activation::Sigmoid => Dense::lecun_uniform(w[0], w[1], rng),
                Activation::Relu => Dense::he_normal(w[0], w[1], rng),
            })
            .collect();
        let n = sizes.len();
        let output = Dense::lecun_uniform(sizes[n - 2], sizes[n - 1], rng);
        Self {
            hidden,
            output,
            activation,
            residual,
        }
    }

    /// Checks that consecutive layers fit and tensors have their sizes.
    pub fn validate(&self) -> Result<()> {
        let mut width = self.hidden.first().map_or(self.output.inputs, |l| l.inputs);
        for (i, l) in self.layers().enumerate() {
            if l.inputs != width {
                bail!(
                    "layer {}: expects {} inputs, the layer below gives {width}",
                    i + 1,
                    l.inputs
                );
            }
            if l.weights.len() != l.inputs * l.outputs || l.bias.len() != l.outputs {
                bail!(
                    "layer {}: tensors do not match {}x{}",
                    i + 1,
                    l.outputs,
                    l.inputs
                );
            }
            width = l.outputs;
        }
        Ok(())
    }

    /// Every dense layer, input side first, the output layer last.
    pub fn layers(&self) -> impl Iterator<Item = &Dense> {
        self.hidden.iter().chain(core::iter::once(&self.output))
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.hidden.first().map_or(self.output.inputs, |l| l.inputs)
    }

    /// Whether hidden layer `l` (0-based) has an identity skip.
    pub fn skips(&self, l: usize) -> bool {
        self.residual && l > 0 && self.hidden[l].inputs == self.hidden[l].outputs
    }

    /// Widths `[input, hidden..., classes]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.inputs()];
        s.extend(self.layers().map(|l| l.outputs));
        s
    }

    fn activate(&self, y: &mut [f32]) {
        match self.activation {
            Activation::Sigmoid => kernels::sigmoid_inplace(y),
            Activation::Relu => kernels::relu_inplace(y),
        }
    }

    /// Logits for the `n` rows of `x` (`n x inputs`) into `logits` (`n x classes`).
    pub fn logits(&self, x: &[f32], n: usize, logits: &mut [f32]) {
        let mut a = x.to_vec();
        let mut f = Vec::new();
        for (l, layer) in self.hidden.iter().enumerate() {
            f.resize(n * layer.outputs, 0.0);
            layer.forward(&a, n, &mut f);
            self.activate(&mut f);
            if self.skips(l) {
                kernels::axpy(1.0, &f, &mut a);
            } else {
                std::mem::swap(&mut a, &mut f);
            }
        }
        self.output.forward(&a, n, logits);
    }

    /// Fraction of `data` classified correctly.
    pub fn accuracy(&self, data: &Dataset) -> f32 {
        const CHUNK: usize = 500;
        let (d, c) = (data.sample_len(), self.output.outputs);
        let mut logits = vec![0.0; CHUNK * c];
        let mut correct = 0usize;
        for start in (0..data.len()).step_by(CHUNK) {
            let n = CHUNK.min(data.len() - start);
            let x = &data.inputs[start * d..(start + n) * d];
            self.logits(x, n, &mut logits[..n * c]);
            let labels = &data.labels[start..start + n];
            correct += logits
                .chunks_exact(c)
                .zip(labels)
                .filter(|&(z, &y)| argmax(z) == y as usize)
                .count();
        }
        correct as f32 / data.len().max(1) as f32
    }
}

/// Mini-batch SGD with momentum: `v = momentum · v - lr · (g + decay · W)`, `θ += v`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sgd {
    /// Step size.
    pub learning_rate: f32,
    /// Fraction of the previous step kept.
    pub momentum: f32,
    /// L2 penalty on the weights (not the biases).
    pub weight_decay: f32,
}

/// What one training step measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Mean cross-entropy over the batch, before the update.
    pub loss: f32,
    /// Samples of the batch classified correctly, before the update.
    pub correct: usize,
    /// L2 norm of each layer's weight gradient (input side first, output last).
    pub grad_norms: Vec<f32>,
}

/// Mean loss and accuracy over one epoch of training steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// Mean training loss.
    pub loss: f32,
    /// Training accuracy, measured on each batch before its update.
    pub accuracy: f32,
    /// Steps taken.
    pub steps: usize,
}

/// Buffers for training one net with one batch size: gradients, velocities,
/// activations. Build a new one when the net's layers change.
#[derive(Debug)]
pub struct Trainer {
    batch: usize,
    grads: Vec<Dense>,
    velocity: Vec<Dense>,
    /// `acts[l]`: input of layer `l` (`acts[0]` is the batch itself).
    acts: Vec<Vec<f32>>,
    /// `outs[l]`: activation output of hidden layer `l`.
    outs: Vec<Vec<f32>>,
    logits: Vec<f32>,
    da: Vec<f32>,
    da_next: Vec<f32>,
    delta: Vec<f32>,
}

impl Trainer {
    /// Buffers for `net` and batches of up to `batch` samples.
    pub fn new(net: &Mlp, batch: usize) -> Self {
        let zeros: Vec<Dense> = net
            .layers()
            .map(|l| Dense::zeros(l.inputs, l.outputs))
            .collect();
        let widest = net.sizes().into_iter().max().unwrap_or(0);
        Self {
            batch,
            velocity: zeros.clone(),
            grads: zeros,
            acts: net.layers().map(|l| vec![0.0; batch * l.inputs]).collect(),
            outs: net
                .hidden
                .iter()
                .map(|l| vec![0.0; batch * l.outputs])
                .collect(),
            logits: vec![0.0; batch * net.output.outputs],
            da: vec![0.0; batch * widest],
            da_next: vec![0.0; batch * widest],
            delta: vec![0.0; batch * widest],
        }
    }

    /// The loss gradient of each layer from the last step (input side first).
    pub fn gradients(&self) -> &[Dense] {
        &self.grads
    }

    /// One SGD step on the batch `x` (`n x inputs`, `n <= batch`) with labels.
    ///
    /// # Panics
    /// If the net's shape changed since [`Trainer::new`], the batch is larger
    /// than the trainer's, or a label is not a class of the net.
    pub fn step(&mut self, net: &mut Mlp, x: &[f32], labels: &[u8], sgd: &Sgd) -> StepReport {
        let n = labels.len();
        assert!(
            n > 0 && n <= self.batch,
            "batch of {n} for a trainer of {}",
            self.batch
        );
        assert_eq!(
            self.grads.len(),
            net.hidden.len() + 1,
            "the net changed shape"
        );
        let depth = net.hidden.len();
        let classes = net.output.outputs;

        // Forward, keeping each layer's input and activation output.
        self.acts[0][..x.len()].copy_from_slice(x);
        for l in 0..depth {
            let layer = &net.hidden[l];
            let (below, above) = self.acts.split_at_mut(l + 1);
            let a = &below[l][..n * layer.inputs];
            let f = &mut self.outs[l][..n * layer.outputs];
            layer.forward(a, n, f);
            net.activate(f);
            let next = &mut above[0][..n * layer.outputs];
            next.copy_from_slice(f);
            if net.skips(l) {
                kernels::axpy(1.0, a, next);
            }
        }
        let top = &self.acts[depth][..n * net.output.inputs];
        let logits = &mut self.logits[..n * classes];
        net.output.forward(top, n, logits);

        // Loss and its gradient with respect to the logits, averaged over the batch.
        let delta = &mut self.delta[..n * classes];
        let mut loss = 0.0;
        let mut correct = 0;
        for ((z, g), &y) in logits
            .chunks_exact(classes)
            .zip(delta.chunks_exact_mut(classes))
            .zip(labels)
        {
            assert!((y as usize) < classes, "label {y} for {classes} classes");
            loss += kernels::softmax_cross_entropy(z, y as usize, g);
            correct += usize::from(argmax(z) == y as usize);
        }
        kernels::scalar::scale(1.0 / n as f32, delta);

        // Backward: `delta` is the gradient at the pre-activation of layer `j`,
        // `da` the gradient at its input.
        let mut grad_norms = vec![0.0; depth + 1];
        for j in (0..=depth).rev() {
            let layer = if j == depth {
                &net.output
            } else {
                &net.hidden[j]
            };
            let (inp, out) = (layer.inputs, layer.outputs);
            if j < depth {
                // `da` holds the gradient at this layer's output (`acts[j + 1]`).
                let f = &self.outs[j][..n * out];
                let da = &self.da[..n * out];
                let d = &mut self.delta[..n * out];
                match net.activation {
                    Activation::Sigmoid => kernels::sigmoid_backward(f, da, d),
                    Activation::Relu => kernels::relu_backward(f, da, d),
                }
            }
            let delta = &self.delta[..n * out];
            let a = &self.acts[j][..n * inp];
            let g = &mut self.grads[j];
            kernels::gemm(true, false, out, inp, n, delta, a, 0.0, &mut g.weights);
            g.bias.fill(0.0);
            for row in delta.chunks_exact(out) {
                kernels::axpy(1.0, row, &mut g.bias);
            }
            grad_norms[j] = kernels::dot(&g.weights, &g.weights).sqrt();
            if j > 0 {
                let da_next = &mut self.da_next[..n * inp];
                kernels::gemm(
                    false,
                    false,
                    n,
                    inp,
                    out,
                    delta,
                    &layer.weights,
                    0.0,
                    da_next,
                );
                if j < depth && net.skips(j) {
                    kernels::axpy(1.0, &self.da[..n * inp], da_next);
                }
                std::mem::swap(&mut self.da, &mut self.da_next);
            }
        }

        // Update.
        let layers = net
            .hidden
            .iter_mut()
            .chain(core::iter::once(&mut net.output));
        for ((layer, g), v) in layers.zip(&self.grads).zip(&mut self.velocity) {
            for (p, gp, vp, decay) in [
                (
                    &mut layer.weights,
                    &g.weights,
                    &mut v.weights,
                    sgd.weight_decay,
                ),
                (&mut layer.bias, &g.bias, &mut v.bias, 0.0),
            ] {
                kernels::scalar::scale(sgd.momentum, vp);
                kernels::axpy(-sgd.learning_rate, gp, vp);
                if decay != 0.0 {
                    kernels::axpy(-sgd.learning_rate * decay, p, vp);
                }
                kernels::axpy(1.0, vp, p);
            }
        }
        StepReport {
            loss: loss / n as f32,
            correct,
            grad_norms,
        }
    }

    /// One pass over a shuffled `data` (or its first `limit` samples after
    /// shuffling), calling `on_step(step, report)` after every step.
    pub fn epoch(
        &mut self,
        net: &mut Mlp,
        data: &Dataset,
        sgd: &Sgd,
        rng: &mut Rng,
        limit: Option<usize>,
        mut on_step: impl FnMut(usize, &StepReport),
    ) -> EpochReport {
        let order = permutation(data.len(), rng);
        let order = &order[..limit.unwrap_or(order.len()).min(order.len())];
        let d = data.sample_len();
        let mut x = Vec::with_capacity(self.batch * d);
        let mut y = Vec::with_capacity(self.batch);
        let (mut loss, mut correct, mut steps) = (0.0f64, 0usize, 0usize);
        for chunk in order.chunks(self.batch) {
            x.clear();
            y.clear();
            for &i in chunk {
                x.extend_from_slice(data.sample(i as usize));
                y.push(data.labels[i as usize]);
            }
            let r = self.step(net, &x, &y, sgd);
            loss += r.loss as f64 * chunk.len() as f64;
            correct += r.correct;
            on_step(steps, &r);
            steps += 1;
        }
        let seen = order.len().max(1) as f64;
        EpochReport {
            loss: (loss / seen) as f32,
            accuracy: (correct as f64 / seen) as f32,
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_data(n: usize, d: usize, classes: usize, rng: &mut Rng) -> Dataset {
        let inputs: Vec<f32> = (0..n * d).map(|_| rng.uniform()).collect();
        let labels = (0..n).map(|_| rng.below(classes) as u8).collect();
        Dataset {
            sample_dims: vec![d],
            inputs,
            labels,
        }
    }

    /// Mean cross-entropy of `net` on `data`, in f64.
    fn loss(net: &Mlp, data: &Dataset) -> f64 {
        let c = net.output.outputs;
        let mut z = vec![0.0; data.len() * c];
        net.logits(&data.inputs, data.len(), &mut z);
        let mut g = vec![0.0; c];
        let total: f64 = z
            .chunks(c)
            .zip(&data.labels)
            .map(|(z, &y)| kernels::softmax_cross_entropy(z, y as usize, &mut g) as f64)
            .sum();
        total / data.len() as f64
    }

    fn weights_mut(m: &mut Mlp, j: usize) -> &mut Vec<f32> {
        if j == m.hidden.len() {
            &mut m.output.weights
        } else {
            &mut m.hidden[j].weights
        }
    }

    /// The weight-gradient norms match central finite differences of the loss.
    fn check_gradients(activation: Activation, residual: bool) {
        let mut rng = Rng::new(5);
        let data = tiny_data(6, 5, 3, &mut rng);
        let net = Mlp::random(&[5, 4, 4, 4, 3], activation, residual, &mut rng);
        let mut probe = net.clone();
        let mut trainer = Trainer::new(&net, 6);
        let sgd = Sgd {
            learning_rate: 0.0,
            momentum: 0.0,
            weight_decay: 0.0,
        };
        let report = trainer.step(&mut probe, &data.inputs, &data.labels, &sgd);
        let eps = 3e-3f32;
        for (j, &norm) in report.grad_norms.iter().enumerate() {
            let analytic = &trainer.gradients()[j].weights;
            let norm_sq: f32 = analytic.iter().map(|g| g * g).sum();
            assert!((norm - norm_sq.sqrt()).abs() <= 1e-6 * norm.max(1.0));
            for (k, &ga) in analytic.iter().enumerate() {
                let mut plus = net.clone();
                let mut minus = net.clone();
                weights_mut(&mut plus, j)[k] += eps;
                weights_mut(&mut minus, j)[k] -= eps;
                let fd = (loss(&plus, &data) - loss(&minus, &data)) / (2.0 * eps as f64);
                assert!(
                    (ga as f64 - fd).abs() < 3e-4 + 0.02 * fd.abs(),
                    "{activation:?} residual={residual} layer {} weight {k}: {ga} vs {fd}",
                    j + 1
                );
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_gradients(Activation::Sigmoid, false);
        check_gradients(Activation::Sigmoid, true);
        check_gradients(Activation::Relu, false);
    }

    #[test]
    fn training_fits_a_small_set() {
        let mut rng = Rng::new(1);
        let data = tiny_data(64, 8, 4, &mut rng);
        let mut net = Mlp::random(&[8, 32, 4], Activation::Sigmoid, false, &mut rng);
        let mut trainer = Trainer::new(&net, 16);
        let sgd = Sgd {
            learning_rate: 0.5,
            momentum: 0.9,
            weight_decay: 0.0,
        };
        let before = net.accuracy(&data);
        for _ in 0..300 {
            trainer.epoch(&mut net, &data, &sgd, &mut rng, None, |_, _| {});
        }
        let after = net.accuracy(&data);
        assert!(
            after > 0.9 && after > before + 0.3,
            "accuracy {before} -> {after}"
        );
    }

    #[test]
    fn validate_names_the_bad_layer() {
        let mut rng = Rng::new(2);
        let mut net = Mlp::random(&[6, 5, 4, 3], Activation::Relu, false, &mut rng);
        assert!(net.validate().is_ok());
        net.hidden[1] = Dense::zeros(7, 4);
        let e = net.validate().unwrap_err().to_string();
        assert!(e.contains("layer 2") && e.contains("7 inputs"), "{e}");
    }
}
