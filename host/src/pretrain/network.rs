//! Pretraining a host [`Network`] in place before its backprop training:
//! what `myelin train --pretrain dbn|discriminative` runs.

use anyhow::{Result, bail};
use myelin_core::model::{Activation, LayerKind};
use myelin_core::train::Rng;

use super::discriminative::{self, DiscriminativeConfig};
use super::mlp::{Dense, Mlp, Sgd};
use super::rbm::RbmConfig;
use super::{Pretrain, dbn};
use crate::data::Dataset;
use crate::net::Network;

/// The `--pretrain` options of `myelin train`.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct PretrainArgs {
    /// Pretrain the hidden layers before training: `dbn` (stacked RBMs) or
    /// `discriminative` (grow one hidden layer at a time). Needs a stack of
    /// sigmoid dense layers under a dense logits layer, like `deep-sigmoid`.
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub pretrain: Option<Pretrain>,
    /// Pretraining epochs: per RBM (dbn) or per added layer (discriminative).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub pretrain_epochs: usize,
}

/// Optimizer of the discriminative stages.
pub const STAGE_SGD: Sgd = Sgd {
    learning_rate: 0.1,
    momentum: 0.5,
    weight_decay: 0.0,
};

/// Hidden widths of `net` if it is sigmoid dense layers under a dense
/// identity (logits) layer; otherwise an error naming the first layer that is not.
pub fn sigmoid_stack_widths(net: &Network) -> Result<Vec<usize>> {
    let n = net.layers.len();
    if n < 2 {
        bail!("pretraining needs at least one hidden layer under the logits layer");
    }
    for (i, l) in net.layers.iter().enumerate() {
        let want = if i + 1 == n {
            Activation::Identity
        } else {
            Activation::Sigmoid
        };
        if l.kind != LayerKind::Dense || l.activation != want {
            bail!(
                "layer {}: pretraining needs dense sigmoid hidden layers and a dense logits layer (found {} with {:?})",
                i + 1,
                l.kind.name(),
                l.activation
            );
        }
    }
    Ok(net.layers[..n - 1].iter().map(|l| l.out_len()).collect())
}

/// Runs the pretraining `args` asks for on `train` and writes the resulting
/// weights into `net` (every hidden layer; the logits layer too for
/// discriminative pretraining). Progress lines go to `log`.
pub fn pretrain_network(
    net: &mut Network,
    args: &PretrainArgs,
    batch: usize,
    train: &Dataset,
    seed: u64,
    mut log: impl FnMut(&str),
) -> Result<()> {
    let Some(kind) = args.pretrain else {
        return Ok(());
    };
    if args.pretrain_epochs == 0 {
        bail!("--pretrain-epochs must be at least 1");
    }
    if train.is_empty() {
        bail!("pretraining needs training samples");
    }
    let hidden = sigmoid_stack_widths(net)?;
    if train.sample_len() != net.input_len() {
        bail!(
            "pretraining: samples have {} values, the net expects {}",
            train.sample_len(),
            net.input_len()
        );
    }
    let mut rng = Rng::new(seed ^ 0x0070_7265_7472_6169);
    let layers: Vec<Dense> = match kind {
        Pretrain::Dbn => {
            let cfg = RbmConfig {
                epochs: args.pretrain_epochs,
                ..RbmConfig::default()
            };
            let stack = dbn::pretrain(
                &train.inputs,
                train.sample_len(),
                &hidden,
                &cfg,
                &mut rng,
                &mut log,
            );
            dbn::to_mlp(&stack, net.classes(), &mut rng).hidden
        }
        Pretrain::Discriminative => {
            let cfg = DiscriminativeConfig {
                samples_per_stage: args.pretrain_epochs * train.len(),
                batch,
                sgd: STAGE_SGD,
            };
            let grown: Mlp =
                discriminative::pretrain(train, &hidden, net.classes(), &cfg, &mut rng, &mut log);
            grown
                .hidden
                .into_iter()
                .chain(std::iter::once(grown.output))
                .collect()
        }
    };
    for (layer, d) in net.layers.iter_mut().zip(layers) {
        let [w, b] = &mut layer.tensors[..] else {
            bail!("a dense layer without weights and bias")
        };
        if w.data.len() != d.weights.len() || b.data.len() != d.bias.len() {
            bail!(
                "pretrained layer {}x{} does not fit the net",
                d.outputs,
                d.inputs
            );
        }
        w.data.copy_from_slice(&d.weights);
        b.data.copy_from_slice(&d.bias);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{LayerSpec, input_shape};

    fn net(acts: &[Activation]) -> Network {
        let specs: Vec<LayerSpec> = acts
            .iter()
            .enumerate()
            .map(|(i, &activation)| LayerSpec::Dense {
                units: if i + 1 == acts.len() { 3 } else { 6 },
                activation,
            })
            .collect();
        let mut n = Network::from_specs(input_shape(&[8]).unwrap(), &specs).unwrap();
        n.init(&mut Rng::new(1));
        n
    }

    fn data() -> Dataset {
        let mut rng = Rng::new(2);
        let inputs = (0..90 * 8).map(|_| rng.uniform()).collect();
        Dataset {
            sample_dims: vec![8],
            inputs,
            labels: (0..90).map(|i| (i % 3) as u8).collect(),
        }
    }

    #[test]
    fn rejects_nets_that_are_not_sigmoid_stacks() {
        let bad = net(&[Activation::Sigmoid, Activation::Relu, Activation::Identity]);
        let e = sigmoid_stack_widths(&bad).unwrap_err().to_string();
        assert!(e.starts_with("layer 2:"), "{e}");
        let good = net(&[
            Activation::Sigmoid,
            Activation::Sigmoid,
            Activation::Identity,
        ]);
        assert_eq!(sigmoid_stack_widths(&good).unwrap(), [6, 6]);
    }

    #[test]
    fn both_kinds_replace_the_weights() {
        let acts = [
            Activation::Sigmoid,
            Activation::Sigmoid,
            Activation::Identity,
        ];
        for kind in [Pretrain::Dbn, Pretrain::Discriminative] {
            let before = net(&acts);
            let mut after = before.clone();
            let args = PretrainArgs {
                pretrain: Some(kind),
                pretrain_epochs: 1,
            };
            let mut lines = 0;
            pretrain_network(&mut after, &args, 10, &data(), 3, |_| lines += 1).unwrap();
            assert!(lines >= 2, "{kind:?}: {lines} progress lines");
            for l in 0..2 {
                assert_ne!(
                    before.layers[l].tensors[0].data, after.layers[l].tensors[0].data,
                    "{kind:?} layer {l}"
                );
            }
            let logits_changed =
                before.layers[2].tensors[0].data != after.layers[2].tensors[0].data;
            assert_eq!(logits_changed, kind == Pretrain::Discriminative);
        }
    }
}
