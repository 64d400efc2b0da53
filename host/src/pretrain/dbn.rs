//! Greedy layer-wise Deep Belief Network pretraining: a stack of RBMs, each
//! trained on the hidden probabilities of the one below, whose weights then
//! initialize the hidden layers of a deep sigmoid net for fine-tuning.
//!
//! The first RBM has Bernoulli visible units over pixel intensities in
//! `[0, 1]`, read as the probabilities of binary pixels (as Hinton et al.
//! 2006 did for MNIST): the net then sees the same inputs in pretraining and
//! fine-tuning, with no standardization to carry along. The upper RBMs see
//! probabilities too, so every RBM in the stack is Bernoulli-Bernoulli.

use anyhow::{Result, bail};
use myelin_core::model::{Activation, Shape};
use myelin_core::train::Rng;
use myelin_core::train::rbm::VisibleUnits;

use super::rbm::{self as rbm_train, RbmConfig, TrainedRbm};
use super::stack;
use crate::net::Network;

/// Hidden width up to which an RBM trains at `RbmConfig::learning_rate`;
/// a wider one trains at that rate times `WIDE_RBM / hidden`.
///
/// Every hidden unit's update moves the reconstruction, so the step the
/// visible units see grows with the hidden width: at 0.1, a 2000-unit RBM
/// on MNIST oscillates instead of learning (reconstruction error flat at the
/// data's variance), where 256 and 500 units learn well.
pub const WIDE_RBM: usize = 500;

/// The learning rate for an RBM with `hidden` units under `cfg`.
pub fn rbm_learning_rate(cfg: &RbmConfig, hidden: usize) -> f32 {
    cfg.learning_rate * (WIDE_RBM as f32 / hidden.max(1) as f32).min(1.0)
}

/// Trains one RBM per hidden width in `hidden`, bottom-up, on `data`
/// (`n x inputs`), each at [`rbm_learning_rate`]. Progress (one line per
/// epoch) goes to `log`.
pub fn pretrain(
    data: &[f32],
    inputs: usize,
    hidden: &[usize],
    cfg: &RbmConfig,
    rng: &mut Rng,
    mut log: impl FnMut(&str),
) -> Vec<TrainedRbm> {
    let mut below = inputs;
    let mut layer_input: Option<Vec<f32>> = None;
    let mut stack = Vec::with_capacity(hidden.len());
    for (l, &width) in hidden.iter().enumerate() {
        let x = layer_input.as_deref().unwrap_or(data);
        let layer_cfg = RbmConfig {
            learning_rate: rbm_learning_rate(cfg, width),
            ..*cfg
        };
        let trained = rbm_train::train(
            x,
            below,
            width,
            VisibleUnits::Bernoulli,
            &layer_cfg,
            rng,
            |epoch, err| {
                log(&format!(
                    "dbn: rbm {}/{} ({below} -> {width}) epoch {epoch}/{}: reconstruction error {err:.4}",
                    l + 1,
                    hidden.len(),
                    cfg.epochs
                ))
            },
        );
        if l + 1 < hidden.len() {
            layer_input = Some(rbm_train::hidden_probs(&trained.rbm, x));
        }
        below = width;
        stack.push(trained);
    }
    stack
}

/// A sigmoid net over samples of shape `input` whose hidden layers are the
/// RBMs' weights and hidden biases (visible to hidden), topped by a fresh
/// LeCun-uniform logits layer of `classes` units.
pub fn to_network(
    stack: &[TrainedRbm],
    input: Shape,
    classes: usize,
    rng: &mut Rng,
) -> Result<Network> {
    if stack.is_empty() {
        bail!("a DBN needs at least one RBM");
    }
    let widths: Vec<usize> = stack.iter().map(|t| t.rbm.shape.hidden).collect();
    let mut net = stack::dense_stack(input, &widths, classes, Activation::Sigmoid, false)?;
    let (logits, hidden) = net.layers.split_last_mut().expect("a logits layer");
    for (l, (layer, t)) in hidden.iter_mut().zip(stack).enumerate() {
        let [w, b] = &mut layer.tensors[..] else {
            bail!(
                "hidden layer {}: a dense layer without weights and bias",
                l + 1
            )
        };
        if w.data.len() != t.rbm.weights.len() || b.data.len() != t.rbm.hidden_bias.len() {
            bail!(
                "RBM {} ({} -> {}) does not fit hidden layer {} of the net",
                l + 1,
                t.rbm.shape.visible,
                t.rbm.shape.hidden,
                l + 1
            );
        }
        w.data.copy_from_slice(&t.rbm.weights);
        b.data.copy_from_slice(&t.rbm.hidden_bias);
    }
    stack::lecun_uniform(logits, rng);
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_feeds_each_rbm_the_layer_below_and_builds_the_net() {
        let mut rng = Rng::new(4);
        let data: Vec<f32> = (0..200 * 12).map(|_| rng.uniform()).collect();
        let cfg = RbmConfig {
            epochs: 2,
            batch: 50,
            ..RbmConfig::default()
        };
        let mut lines = Vec::new();
        let stack = pretrain(&data, 12, &[8, 6, 6], &cfg, &mut rng, |s| {
            lines.push(s.to_string())
        });
        let shapes: Vec<(usize, usize)> = stack
            .iter()
            .map(|t| (t.rbm.shape.visible, t.rbm.shape.hidden))
            .collect();
        assert_eq!(shapes, [(12, 8), (8, 6), (6, 6)]);
        assert_eq!(lines.len(), 6);
        assert!(
            lines[0].starts_with("dbn: rbm 1/3 (12 -> 8) epoch 1/2"),
            "{}",
            lines[0]
        );
        let net = to_network(&stack, [1, 1, 12], 3, &mut rng).unwrap();
        let widths: Vec<usize> = net.layers.iter().map(|l| l.out_len()).collect();
        assert_eq!(widths, [8, 6, 6, 3]);
        assert!(
            net.layers[..3]
                .iter()
                .all(|l| l.activation == Activation::Sigmoid)
        );
        assert_eq!(net.layers[1].tensors[0].data, stack[1].rbm.weights);
        assert_eq!(net.layers[2].tensors[1].data, stack[2].rbm.hidden_bias);
        assert!(to_network(&stack, [1, 1, 11], 3, &mut rng).is_err());
        assert!(to_network(&[], [1, 1, 12], 3, &mut rng).is_err());
    }

    #[test]
    fn wide_rbms_train_at_a_smaller_rate() {
        let cfg = RbmConfig::default();
        assert_eq!(rbm_learning_rate(&cfg, 256), cfg.learning_rate);
        assert_eq!(rbm_learning_rate(&cfg, WIDE_RBM), cfg.learning_rate);
        assert_eq!(
            rbm_learning_rate(&cfg, 4 * WIDE_RBM),
            cfg.learning_rate / 4.0
        );
    }
}
