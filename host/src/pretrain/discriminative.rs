//! Discriminative pretraining: train a net with one hidden layer, then insert
//! a new hidden layer under the output layer and train the grown net briefly,
//! until the target depth; the caller fine-tunes the result.
//!
//! The output layer is kept across insertions when its input width still
//! fits the new top hidden layer, and replaced by a fresh one otherwise. A new
//! hidden layer starts LeCun uniform.

use anyhow::{Result, bail};
use myelin_core::model::Activation;
use myelin_core::train::Rng;

use super::stack::{self, Sgd};
use crate::data::Dataset;
use crate::net::{Network, input_shape};

/// How long each stage trains, and how.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DiscriminativeConfig {
    /// Training samples per stage (one stage per hidden layer); the data set's
    /// size makes one epoch per stage.
    pub samples_per_stage: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Optimizer for every stage.
    pub sgd: Sgd,
    /// Worker threads of the engine.
    pub threads: usize,
}

/// The net of the next stage: `net` with a fresh LeCun-uniform sigmoid layer
/// of `width` units inserted under its logits layer, which it keeps when its
/// input width still fits (a fresh one otherwise).
pub fn insert_layer(net: &Network, width: usize, rng: &mut Rng) -> Result<Network> {
    let (logits, hidden) = net.layers.split_last().expect("a logits layer");
    let mut widths: Vec<usize> = hidden.iter().map(|l| l.out_len()).collect();
    widths.push(width);
    let mut grown = stack::dense_stack(
        net.input,
        &widths,
        logits.out_len(),
        Activation::Sigmoid,
        false,
    )?;
    for (old, new) in hidden.iter().zip(&mut grown.layers) {
        stack::copy_weights(old, new)?;
    }
    let n = grown.layers.len();
    stack::lecun_uniform(&mut grown.layers[n - 2], rng);
    if logits.in_len() == width {
        stack::copy_weights(logits, &mut grown.layers[n - 1])?;
    } else {
        stack::lecun_uniform(&mut grown.layers[n - 1], rng);
    }
    Ok(grown)
}

/// Grows a sigmoid net with hidden widths `hidden` on `train`, one stage per
/// hidden layer; `log` gets one line per stage.
pub fn pretrain(
    train: &Dataset,
    hidden: &[usize],
    classes: usize,
    cfg: &DiscriminativeConfig,
    rng: &mut Rng,
    mut log: impl FnMut(&str),
) -> Result<Network> {
    if hidden.is_empty() {
        bail!("discriminative pretraining needs a hidden layer");
    }
    if train.is_empty() {
        bail!("discriminative pretraining needs training samples");
    }
    let input = input_shape(&train.sample_dims)?;
    let mut net = stack::dense_stack(input, &hidden[..1], classes, Activation::Sigmoid, false)?;
    stack::init(&mut net, rng);
    for stage in 1..=hidden.len() {
        if stage > 1 {
            net = insert_layer(&net, hidden[stage - 1], rng)?;
        }
        let mut trainer = cfg.sgd.trainer(net, cfg.batch, cfg.threads);
        let mut left = cfg.samples_per_stage.max(1);
        let (mut loss, mut acc, mut seen) = (0.0f64, 0.0f64, 0usize);
        while left > 0 {
            let take = left.min(train.len());
            let lr = cfg.sgd.learning_rate;
            let r = stack::epoch(&mut trainer, train, lr, rng, Some(take), |_, _| {})?;
            loss += r.loss as f64 * take as f64;
            acc += r.accuracy as f64 * take as f64;
            seen += take;
            left -= take;
        }
        net = trainer.net;
        log(&format!(
            "discriminative: stage {stage}/{} ({stage} hidden): loss {:.4}, train accuracy {:.2}%",
            hidden.len(),
            loss / seen as f64,
            100.0 * acc / seen as f64
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserting_keeps_the_trained_layers_and_a_fitting_logits_layer() {
        let mut rng = Rng::new(2);
        let mut net = stack::dense_stack([1, 1, 6], &[5], 3, Activation::Sigmoid, false).unwrap();
        stack::init(&mut net, &mut rng);
        let same = insert_layer(&net, 5, &mut rng).unwrap();
        assert_eq!(same.layers.len(), 3);
        assert_eq!(same.layers[0], net.layers[0]);
        assert_eq!(same.layers[2].tensors, net.layers[1].tensors);
        assert_ne!(
            same.layers[1].tensors[0].data,
            vec![0.0; 25],
            "fresh layer drawn"
        );
        let wider = insert_layer(&same, 4, &mut rng).unwrap();
        assert_eq!(wider.layers[..2], same.layers[..2]);
        assert_ne!(wider.layers[3].tensors, same.layers[2].tensors);
        assert_eq!(wider.layers[3].in_len(), 4);
        assert_ne!(
            wider.layers[3].tensors[0].data,
            vec![0.0; 12],
            "fresh logits"
        );
    }

    #[test]
    fn grows_to_the_requested_depth() {
        let mut rng = Rng::new(6);
        let n = 120;
        let inputs: Vec<f32> = (0..n * 10).map(|_| rng.uniform()).collect();
        let labels = (0..n).map(|i| (i % 3) as u8).collect();
        let data = Dataset {
            sample_dims: vec![10],
            inputs,
            labels,
        };
        let cfg = DiscriminativeConfig {
            samples_per_stage: 200,
            batch: 16,
            sgd: Sgd {
                learning_rate: 0.1,
                momentum: 0.9,
                weight_decay: 0.0,
            },
            threads: 2,
        };
        let mut lines = Vec::new();
        let net = pretrain(&data, &[9, 7, 7, 7], 3, &cfg, &mut rng, |s| {
            lines.push(s.to_string())
        })
        .unwrap();
        let widths: Vec<usize> = net.layers.iter().map(|l| l.out_len()).collect();
        assert_eq!(widths, [9, 7, 7, 7, 3]);
        assert!(net.is_chain() && net.input_len() == 10);
        assert_eq!(lines.len(), 4);
        assert!(
            lines[3].starts_with("discriminative: stage 4/4 (4 hidden)"),
            "{}",
            lines[3]
        );
    }
}
