//! Discriminative pretraining: train a net with one hidden layer, then insert
//! a new hidden layer under the output layer and train the grown net briefly,
//! until the target depth; the caller fine-tunes the result.
//!
//! The output layer is kept across insertions when its input width still
//! fits the new top hidden layer, and replaced by a fresh one otherwise. A new
//! hidden layer starts LeCun uniform.

use super::mlp::{Activation, Dense, Mlp, Sgd, Trainer};
use crate::data::Dataset;
use myelin_core::train::Rng;

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
}

/// Grows a sigmoid net with hidden widths `hidden` on `train`, one stage per
/// hidden layer; `log` gets one line per stage.
///
/// # Panics
/// If `hidden` is empty or `train` holds no samples.
pub fn pretrain(
    train: &Dataset,
    hidden: &[usize],
    classes: usize,
    cfg: &DiscriminativeConfig,
    rng: &mut Rng,
    mut log: impl FnMut(&str),
) -> Mlp {
    assert!(
        !hidden.is_empty(),
        "discriminative pretraining needs a hidden layer"
    );
    assert!(!train.is_empty(), "discriminative pretraining needs data");
    let mut net = Mlp::random(
        &[train.sample_len(), hidden[0], classes],
        Activation::Sigmoid,
        false,
        rng,
    );
    for stage in 1..=hidden.len() {
        if stage > 1 {
            let (below, width) = (hidden[stage - 2], hidden[stage - 1]);
            net.hidden.push(Dense::lecun_uniform(below, width, rng));
            if net.output.inputs != width {
                net.output = Dense::lecun_uniform(width, classes, rng);
            }
        }
        let mut trainer = Trainer::new(&net, cfg.batch);
        let mut left = cfg.samples_per_stage.max(1);
        let (mut loss, mut acc, mut seen) = (0.0f64, 0.0f64, 0usize);
        while left > 0 {
            let take = left.min(train.len());
            let r = trainer.epoch(&mut net, train, &cfg.sgd, rng, Some(take), |_, _| {});
            loss += r.loss as f64 * take as f64;
            acc += r.accuracy as f64 * take as f64;
            seen += take;
            left -= take;
        }
        log(&format!(
            "discriminative: stage {stage}/{} ({} hidden): loss {:.4}, train accuracy {:.2}%",
            hidden.len(),
            net.hidden.len(),
            loss / seen as f64,
            100.0 * acc / seen as f64
        ));
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        let mut lines = Vec::new();
        let net = pretrain(&data, &[9, 7, 7, 7], 3, &cfg, &mut rng, |s| {
            lines.push(s.to_string())
        });
        assert_eq!(net.sizes(), [10, 9, 7, 7, 7, 3]);
        assert!(net.validate().is_ok());
        assert_eq!(lines.len(), 4);
        assert!(
            lines[3].starts_with("discriminative: stage 4/4 (4 hidden)"),
            "{}",
            lines[3]
        );
    }
}
