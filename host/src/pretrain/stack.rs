//! Deep dense classifiers on the host's general engine, as pretraining and
//! the vanishing-gradient experiment use them: a stack of same-activation
//! dense layers under a dense logits layer, optionally with identity skips
//! (graph `add` nodes), built as a [`Network`]; the initializations they
//! start from; and shuffled epochs of [`Trainer::step`], whose reports carry
//! every layer's weight-gradient norm.

use anyhow::{Result, bail};
use myelin_core::model::{Activation, LayerKind, Shape};
use myelin_core::train::Rng;

use super::permutation;
use crate::data::Dataset;
use crate::net::{Hyper, Layer, LayerSpec, Network, NodeSpec, OptimizerKind, Schedule};
use crate::train::{StepReport, Trainer};

/// Mini-batch SGD with momentum, as the pretraining stages and the
/// experiment run it on the engine.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sgd {
    /// Step size.
    pub learning_rate: f32,
    /// Momentum coefficient in `[0, 1)`.
    pub momentum: f32,
    /// L2 penalty on the weights (not the biases).
    pub weight_decay: f32,
}

impl Sgd {
    /// The engine's hyper-parameters for this optimizer and `batch`; the
    /// caller drives the steps, so epochs, schedule and validation are unused.
    pub fn hyper(&self, batch: usize) -> Hyper {
        Hyper {
            epochs: 1,
            batch,
            lr: self.learning_rate,
            optimizer: OptimizerKind::Sgd {
                momentum: self.momentum,
            },
            schedule: Schedule::Constant,
            weight_decay: self.weight_decay,
            patience: 0,
            validation: 0,
            clip_grad_norm: 0.0,
            augment_shift: 0,
        }
    }

    /// A trainer for `net` with this optimizer, batches of `batch` and
    /// `threads` worker threads.
    pub fn trainer(&self, net: Network, batch: usize, threads: usize) -> Trainer {
        Trainer::new(net, "dense stack", self.hyper(batch), 0, threads)
    }
}

/// The node name of hidden layer `l`'s output (after its skip, if any).
fn hidden_name(l: usize) -> String {
    format!("hidden{}", l + 1)
}

/// A net over samples of shape `input`: dense layers of widths `hidden`
/// with `activation`, then a dense logits layer of `classes` units. With
/// `residual`, every hidden layer after the first whose input and output
/// widths match gets an identity skip, `a' = a + f(W a + b)` (a dense node
/// and an `add` node). Weights are zero until [`init`].
pub fn dense_stack(
    input: Shape,
    hidden: &[usize],
    classes: usize,
    activation: Activation,
    residual: bool,
) -> Result<Network> {
    let mut nodes = Vec::with_capacity(2 * hidden.len() + 1);
    let mut below = myelin_core::model::shape_len(input);
    for (l, &units) in hidden.iter().enumerate() {
        let dense = NodeSpec::chain(LayerSpec::Dense { units, activation });
        if residual && l > 0 && units == below {
            let f = format!("f{}", l + 1);
            nodes.push(NodeSpec {
                name: Some(f.clone()),
                ..dense
            });
            nodes.push(NodeSpec {
                name: Some(hidden_name(l)),
                inputs: vec![hidden_name(l - 1), f],
                ..NodeSpec::chain(LayerSpec::Add {
                    activation: Activation::Identity,
                })
            });
        } else {
            nodes.push(NodeSpec {
                name: Some(hidden_name(l)),
                ..dense
            });
        }
        below = units;
    }
    nodes.push(NodeSpec::chain(LayerSpec::Dense {
        units: classes,
        activation: Activation::Identity,
    }));
    Network::from_nodes(input, &nodes)
}

/// Weights and biases of a dense `layer` uniform in `±1/√inputs` (LeCun
/// uniform, the default of common frameworks for a linear layer).
pub fn lecun_uniform(layer: &mut Layer, rng: &mut Rng) {
    let a = 1.0 / (layer.in_len() as f32).sqrt();
    for t in &mut layer.tensors {
        t.data.iter_mut().for_each(|w| *w = rng.range(-a, a));
    }
}

/// Weights of a dense `layer` normal with variance `2/inputs` (He), zero
/// biases: keeps the signal's scale through ReLU layers.
pub fn he_normal(layer: &mut Layer, rng: &mut Rng) {
    let fan_in = layer.in_len();
    if let Some((w, rest)) = layer.tensors.split_first_mut() {
        myelin_core::train::he_normal(&mut w.data, fan_in, rng);
        rest.iter_mut().for_each(|b| b.data.fill(0.0));
    }
}

/// Initializes every dense layer of `net`, input side first: He normal for
/// ReLU layers, LeCun uniform for the others (sigmoid and the logits).
pub fn init(net: &mut Network, rng: &mut Rng) {
    for layer in net.layers.iter_mut().filter(|l| l.kind == LayerKind::Dense) {
        match layer.activation {
            Activation::Relu => he_normal(layer, rng),
            _ => lecun_uniform(layer, rng),
        }
    }
}

/// Copies the tensors of `from` into `to`; an error if their shapes differ.
pub fn copy_weights(from: &Layer, to: &mut Layer) -> Result<()> {
    let dims = |l: &Layer| l.tensors.iter().map(|t| t.dims.clone()).collect::<Vec<_>>();
    if dims(from) != dims(to) {
        bail!(
            "a {} layer with tensors {:?} does not fit one with {:?}",
            from.kind.name(),
            dims(from),
            dims(to)
        );
    }
    for (d, s) in to.tensors.iter_mut().zip(&from.tensors) {
        d.data.copy_from_slice(&s.data);
    }
    Ok(())
}

/// The dense layers of `net`, input side first (the logits layer last).
pub fn dense_layers(net: &Network) -> impl Iterator<Item = &Layer> {
    net.layers.iter().filter(|l| l.kind == LayerKind::Dense)
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

/// One pass of [`Trainer::step`]s at rate `lr` over `data` shuffled by
/// `rng` (or its first `limit` samples after shuffling), calling
/// `on_step(step, report)` after every step.
pub fn epoch(
    trainer: &mut Trainer,
    data: &Dataset,
    lr: f32,
    rng: &mut Rng,
    limit: Option<usize>,
    mut on_step: impl FnMut(usize, &StepReport),
) -> Result<EpochReport> {
    let order = permutation(data.len(), rng);
    let order = &order[..limit.unwrap_or(order.len()).min(order.len())];
    let (mut loss, mut correct, mut steps) = (0.0f64, 0usize, 0usize);
    for rows in order.chunks(trainer.meta.hyper.batch) {
        let r = trainer.step(data, rows, lr)?;
        loss += r.loss;
        correct += r.correct;
        on_step(steps, &r);
        steps += 1;
    }
    let seen = order.len().max(1) as f64;
    Ok(EpochReport {
        loss: (loss / seen) as f32,
        accuracy: (correct as f64 / seen) as f32,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::input_shape;
    use crate::train::evaluate;

    fn tiny_data(n: usize, d: usize, classes: usize, rng: &mut Rng) -> Dataset {
        let inputs: Vec<f32> = (0..n * d).map(|_| rng.uniform()).collect();
        let labels = (0..n).map(|_| rng.below(classes) as u8).collect();
        Dataset {
            sample_dims: vec![d],
            inputs,
            labels,
        }
    }

    fn stack(sizes: &[usize], activation: Activation, residual: bool, rng: &mut Rng) -> Network {
        let n = sizes.len();
        let input = input_shape(&sizes[..1]).unwrap();
        let mut net =
            dense_stack(input, &sizes[1..n - 1], sizes[n - 1], activation, residual).unwrap();
        init(&mut net, rng);
        net
    }

    #[test]
    fn skips_wrap_same_width_hidden_layers_after_the_first() {
        let net = stack(
            &[5, 5, 4, 4, 6, 3],
            Activation::Sigmoid,
            true,
            &mut Rng::new(1),
        );
        let kinds: Vec<(LayerKind, Vec<usize>)> = net
            .layers
            .iter()
            .map(|l| (l.kind, l.inputs.clone()))
            .collect();
        use LayerKind::{Add, Dense};
        assert_eq!(
            kinds,
            [
                (Dense, vec![0]),
                (Dense, vec![1]),
                (Dense, vec![2]),
                (Add, vec![2, 3]),
                (Dense, vec![4]),
                (Dense, vec![5]),
            ]
        );
        let plain = stack(
            &[5, 5, 4, 4, 6, 3],
            Activation::Sigmoid,
            false,
            &mut Rng::new(1),
        );
        assert!(plain.is_chain() && plain.layers.len() == 5);
    }

    #[test]
    fn init_draws_lecun_uniform_for_sigmoid_and_he_normal_for_relu() {
        let sig = stack(&[64, 32, 10], Activation::Sigmoid, false, &mut Rng::new(3));
        let a = 1.0 / 8.0;
        let first = &sig.layers[0].tensors;
        assert!(first.iter().flat_map(|t| &t.data).all(|w| w.abs() <= a));
        assert!(first[1].data.iter().any(|&b| b != 0.0), "biases drawn too");
        let relu = stack(&[64, 32, 10], Activation::Relu, false, &mut Rng::new(3));
        let w = &relu.layers[0].tensors[0].data;
        let var = w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32;
        assert!(
            (var - 2.0 / 64.0).abs() < 0.2 * 2.0 / 64.0,
            "variance {var}"
        );
        assert!(relu.layers[0].tensors[1].data.iter().all(|&b| b == 0.0));
        let logits = &relu.layers[1].tensors[0].data;
        assert!(logits.iter().all(|w| w.abs() <= 1.0 / 32f32.sqrt()));
    }

    /// Mean cross-entropy of `net` on `data`.
    fn loss(net: &Network, data: &Dataset) -> f64 {
        evaluate(net, data, 1).0
    }

    /// The engine's per-layer weight-gradient norms of a stack match the
    /// norms of central finite-difference gradients of the loss.
    fn check_gradient_norms(activation: Activation, residual: bool) {
        let mut rng = Rng::new(5);
        let data = tiny_data(6, 5, 3, &mut rng);
        let net = stack(&[5, 4, 4, 4, 3], activation, residual, &mut rng);
        let sgd = Sgd {
            learning_rate: 0.0,
            momentum: 0.0,
            weight_decay: 0.0,
        };
        let mut trainer = sgd.trainer(net.clone(), 6, 2);
        let rows: Vec<u32> = (0..6).collect();
        let report = trainer.step(&data, &rows, 0.0).unwrap();
        let dense: Vec<usize> = (0..net.layers.len())
            .filter(|&i| net.layers[i].kind == LayerKind::Dense)
            .collect();
        let norms: Vec<f32> = report.grad_norms.iter().flatten().copied().collect();
        assert_eq!(norms.len(), dense.len(), "{:?}", report.grad_norms);
        let eps = 3e-3f32;
        for (&i, &norm) in dense.iter().zip(&norms) {
            let mut squares = 0.0f64;
            for k in 0..net.layers[i].tensors[0].data.len() {
                let mut plus = net.clone();
                let mut minus = net.clone();
                plus.layers[i].tensors[0].data[k] += eps;
                minus.layers[i].tensors[0].data[k] -= eps;
                let fd = (loss(&plus, &data) - loss(&minus, &data)) / (2.0 * eps as f64);
                squares += fd * fd;
            }
            let fd = squares.sqrt();
            assert!(
                (f64::from(norm) - fd).abs() < 1e-5 + 0.02 * fd,
                "{activation:?} residual={residual} layer {}: {norm} vs {fd}",
                i + 1
            );
        }
    }

    #[test]
    fn gradient_norms_match_finite_differences() {
        check_gradient_norms(Activation::Sigmoid, false);
        check_gradient_norms(Activation::Sigmoid, true);
        check_gradient_norms(Activation::Relu, false);
    }

    #[test]
    fn epochs_fit_a_small_set() {
        let mut rng = Rng::new(1);
        let data = tiny_data(64, 8, 4, &mut rng);
        let net = stack(&[8, 32, 4], Activation::Sigmoid, false, &mut rng);
        let before = evaluate(&net, &data, 1).1;
        let sgd = Sgd {
            learning_rate: 0.5,
            momentum: 0.9,
            weight_decay: 0.0,
        };
        let mut trainer = sgd.trainer(net, 16, 2);
        let mut steps = 0;
        for _ in 0..300 {
            let r = epoch(&mut trainer, &data, 0.5, &mut rng, None, |_, _| steps += 1).unwrap();
            assert_eq!(r.steps, 4);
        }
        assert_eq!(steps, 1200);
        let after = evaluate(&trainer.net, &data, 1).1;
        assert!(
            after > 0.9 && after > before + 0.3,
            "accuracy {before} -> {after}"
        );
    }

    #[test]
    fn copy_weights_checks_shapes() {
        let a = stack(&[6, 5, 3], Activation::Sigmoid, false, &mut Rng::new(1));
        let mut b = stack(&[6, 5, 3], Activation::Sigmoid, false, &mut Rng::new(2));
        copy_weights(&a.layers[0], &mut b.layers[0]).unwrap();
        assert_eq!(a.layers[0], b.layers[0]);
        let e = copy_weights(&a.layers[0], &mut b.layers[1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not fit"), "{e}");
    }
}
