//! Folding batch norms into the convolution or dense node before them, for
//! inference, quantization and export: `bn(conv(x))` becomes one conv with
//! rescaled weights and bias (`myelin_core::kernels::fold_batch_norm`).

use anyhow::{Result, bail};
use myelin_core::kernels;
use myelin_core::model::{Activation, LayerKind};

use crate::net::Network;

/// A copy of `net` in which every batch norm that directly follows a conv2d
/// or dense node (read by nothing else, with no activation of its own) is
/// folded into it. A batch norm that cannot be folded is an error naming it.
pub fn fold_batch_norms(net: &Network) -> Result<Network> {
    let readers = net.readers();
    // new_ref[r]: the value reference in the folded network of old value r.
    let mut new_ref: Vec<usize> = vec![0; net.layers.len() + 1];
    let mut layers: Vec<crate::net::Layer> = Vec::with_capacity(net.layers.len());
    for (i, l) in net.layers.iter().enumerate() {
        if l.kind != LayerKind::BatchNorm {
            let mut l = l.clone();
            for r in &mut l.inputs {
                *r = new_ref[*r];
            }
            layers.push(l);
            new_ref[i + 1] = layers.len();
            continue;
        }
        let src = l.inputs[0];
        let foldable = src > 0
            && readers[src] == 1
            && matches!(
                net.layers[src - 1].kind,
                LayerKind::Conv2d | LayerKind::Dense
            )
            && net.layers[src - 1].activation == Activation::Identity;
        if !foldable {
            bail!(
                "layer {} (batchnorm): only a batch norm directly after a conv2d or dense layer \
                 without activation, read by nothing else, can be folded",
                i + 1
            );
        }
        let eps = f32::from_bits(l.params[myelin_core::model::graph::p::EPS]);
        let target = &mut layers[new_ref[src] - 1];
        let (w, b) = target.tensors.split_at_mut(1);
        let t = &l.tensors;
        kernels::fold_batch_norm(
            &mut w[0].data,
            &mut b[0].data,
            &t[0].data,
            &t[1].data,
            &t[2].data,
            &t[3].data,
            eps,
        );
        target.activation = l.activation;
        new_ref[i + 1] = new_ref[src];
    }
    let folded = Network {
        input: net.input,
        layers,
    };
    folded
        .encode()
        .map_err(|e| anyhow::anyhow!("folding batch norms gave an inconsistent network: {e}"))?;
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Workspace;
    use crate::net::{LayerSpec, NodeOp, NodeSpec};
    use myelin_core::train::Rng;

    #[test]
    fn folded_network_computes_the_same() {
        let nodes = [
            NodeOp::Residual {
                filters: 4,
                kernel: 3,
                stride: 2,
                batch_norm: true,
            },
            NodeOp::Layer(LayerSpec::GlobalAvgPool),
            NodeOp::Layer(LayerSpec::Dense {
                units: 3,
                activation: Activation::Identity,
            }),
        ]
        .map(|op| NodeSpec {
            name: None,
            inputs: vec![],
            op,
            dropout: 0.0,
        });
        let mut net = Network::from_nodes([2, 6, 6], &nodes).unwrap();
        net.init(&mut Rng::new(3));
        let mut rng = Rng::new(4);
        for l in net
            .layers
            .iter_mut()
            .filter(|l| l.kind == LayerKind::BatchNorm)
        {
            for (j, t) in l.tensors.iter_mut().enumerate() {
                for v in &mut t.data {
                    let u = rng.uniform();
                    *v = if j == 3 { 0.5 + u } else { u - 0.5 };
                }
            }
        }
        let folded = fold_batch_norms(&net).unwrap();
        assert_eq!(folded.layers.len(), net.layers.len() - 3);
        assert!(folded.layers.iter().all(|l| l.kind != LayerKind::BatchNorm));
        let x: Vec<f32> = (0..2 * 72)
            .map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0)
            .collect();
        let run = |n: &Network| {
            let mut ws = Workspace::new(n, 2);
            ws.x.copy_from_slice(&x);
            ws.forward(n, 2).to_vec()
        };
        for (a, b) in run(&net).iter().zip(run(&folded)) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn unfoldable_batch_norm_is_named() {
        let nodes = [
            LayerSpec::BatchNorm {
                eps: 1e-5,
                activation: Activation::Identity,
            },
            LayerSpec::Dense {
                units: 2,
                activation: Activation::Identity,
            },
        ];
        let net = Network::from_specs([3, 2, 2], &nodes).unwrap();
        let e = format!("{:#}", fold_batch_norms(&net).unwrap_err());
        assert!(e.contains("layer 1 (batchnorm)"), "{e}");
    }
}
