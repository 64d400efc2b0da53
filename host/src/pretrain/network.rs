//! Pretraining a host [`Network`] in place before its backprop training:
//! what `myelin train --pretrain dbn|discriminative` runs.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use myelin_core::model::{Activation, LayerKind};
use myelin_core::train::Rng;

use super::discriminative::{self, DiscriminativeConfig};
use super::rbm::RbmConfig;
use super::stack::{self, Sgd};
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
    /// Pretraining epochs: per RBM (dbn) or per added layer (discriminative); default 1.
    #[arg(long, value_name = "N")]
    pub pretrain_epochs: Option<usize>,
}

/// The `[pretrain]` table of a TOML network description.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlPretrain {
    method: Pretrain,
    epochs: Option<usize>,
}

impl PretrainArgs {
    /// Epochs per RBM or stage.
    pub fn epochs(&self) -> usize {
        self.pretrain_epochs.unwrap_or(1)
    }

    /// These flags over the `[pretrain]` table (`method = "dbn"`, `epochs = N`)
    /// of the TOML description at `config`, if any: a flag given on the
    /// command line wins.
    pub fn resolve(&self, config: Option<&Path>) -> Result<PretrainArgs> {
        let Some(path) = config else {
            return Ok(self.clone());
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let table = from_toml(&text).with_context(|| format!("{}: [pretrain]", path.display()))?;
        Ok(match table {
            None => self.clone(),
            Some(t) => PretrainArgs {
                pretrain: self.pretrain.or(t.pretrain),
                pretrain_epochs: self.pretrain_epochs.or(t.pretrain_epochs),
            },
        })
    }
}

/// The `[pretrain]` table of a TOML description, if it has one.
pub fn from_toml(text: &str) -> Result<Option<PretrainArgs>> {
    #[derive(serde::Deserialize)]
    struct Doc {
        pretrain: Option<toml::Value>,
    }
    let doc: Doc = toml::from_str(text).map_err(|e| anyhow!("{}", e.message()))?;
    let Some(value) = doc.pretrain else {
        return Ok(None);
    };
    let t: TomlPretrain = value
        .try_into()
        .map_err(|e: toml::de::Error| anyhow!("{}", e.message()))?;
    Ok(Some(PretrainArgs {
        pretrain: Some(t.method),
        pretrain_epochs: t.epochs,
    }))
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

/// Runs the pretraining `args` asks for on `train` (discriminative stages
/// on `threads` engine threads) and writes the resulting weights into `net`
/// (every hidden layer; the logits layer too for discriminative
/// pretraining). Progress lines go to `log`.
pub fn pretrain_network(
    net: &mut Network,
    args: &PretrainArgs,
    batch: usize,
    threads: usize,
    train: &Dataset,
    seed: u64,
    mut log: impl FnMut(&str),
) -> Result<()> {
    let Some(kind) = args.pretrain else {
        return Ok(());
    };
    let epochs = args.epochs();
    if epochs == 0 {
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
    let (pretrained, layers) = match kind {
        Pretrain::Dbn => {
            let cfg = RbmConfig {
                epochs,
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
            let dbn = dbn::to_network(&stack, net.input, net.classes(), &mut rng)?;
            (dbn, hidden.len())
        }
        Pretrain::Discriminative => {
            let cfg = DiscriminativeConfig {
                samples_per_stage: epochs * train.len(),
                batch,
                sgd: STAGE_SGD,
                threads,
            };
            let grown =
                discriminative::pretrain(train, &hidden, net.classes(), &cfg, &mut rng, &mut log)?;
            (grown, hidden.len() + 1)
        }
    };
    let pairs = net.layers.iter_mut().zip(&pretrained.layers).take(layers);
    for (i, (to, from)) in pairs.enumerate() {
        stack::copy_weights(from, to).with_context(|| format!("pretrained layer {}", i + 1))?;
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
    fn toml_table_is_read_and_flags_win() {
        let text = "[train]\nepochs = 3\n[pretrain]\nmethod = \"discriminative\"\nepochs = 4\n";
        let t = from_toml(text).unwrap().unwrap();
        assert_eq!(
            t,
            PretrainArgs {
                pretrain: Some(Pretrain::Discriminative),
                pretrain_epochs: Some(4)
            }
        );
        assert_eq!(from_toml("[train]\nepochs = 3\n").unwrap(), None);
        let e = from_toml("[pretrain]\nmethod = \"greedy\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("greedy"), "{e}");
        assert!(from_toml("[pretrain]\nmethod = \"dbn\"\nlayers = 2\n").is_err());
        // The network parser accepts a description with the table.
        let with_layer = format!("{text}[[layer]]\nkind = \"dense\"\nunits = 3\n");
        assert!(crate::net::recipe_from_toml_str(&with_layer, input_shape(&[8]).unwrap()).is_ok());

        let dir = std::env::temp_dir().join(format!("myelin-pretrain-toml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("net.toml");
        std::fs::write(&path, text).unwrap();
        let flags = PretrainArgs {
            pretrain: Some(Pretrain::Dbn),
            pretrain_epochs: None,
        };
        let r = flags.resolve(Some(&path)).unwrap();
        assert_eq!(
            r,
            PretrainArgs {
                pretrain: Some(Pretrain::Dbn),
                pretrain_epochs: Some(4)
            }
        );
        assert_eq!(
            PretrainArgs::default().resolve(None).unwrap(),
            PretrainArgs::default()
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
                pretrain_epochs: Some(1),
            };
            let mut lines = 0;
            pretrain_network(&mut after, &args, 10, 2, &data(), 3, |_| lines += 1).unwrap();
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
