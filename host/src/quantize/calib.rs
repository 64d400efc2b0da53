//! Activation ranges of a float network on calibration samples.

use anyhow::{Context, Result};
use myelin_core::model::{Activation, LayerKind};
use myelin_core::quant::{ActQuant, Calibration, Calibrator};

use super::MNIST_INPUT;
use crate::data::Dataset;
use crate::engine::Workspace;
use crate::net::Network;

/// Samples run through the network at a time.
const BLOCK: usize = 256;

/// Calibrated quantization of a network's activations.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranges {
    /// The input's quantization.
    pub input: ActQuant,
    /// Per layer: the output quantization of each dense or conv2d layer
    /// (before a sigmoid or tanh, which have fixed output quantizations);
    /// `None` for layers that do not requantize.
    pub outputs: Vec<Option<ActQuant>>,
}

/// Runs `net` on every sample of `data`, observing the inputs and the
/// outputs of each dense and conv2d layer (before a sigmoid or tanh).
pub fn calibrate(net: &Network, data: &Dataset, method: Calibration) -> Result<Ranges> {
    let mut inputs = Calibrator::<2048>::new();
    inputs.observe(&data.inputs);
    let in_unit = data.inputs.iter().all(|v| (0.0..=1.0).contains(v));
    let input = if in_unit {
        MNIST_INPUT
    } else {
        inputs
            .act_quant(method)
            .context("calibrating the input range")?
    };
    let mut outputs = Vec::with_capacity(net.layers.len());
    for (i, l) in net.layers.iter().enumerate() {
        if !matches!(
            l.kind,
            LayerKind::Dense | LayerKind::Conv2d | LayerKind::Add
        ) {
            outputs.push(None);
            continue;
        }
        // The network up to this layer, its activation dropped when the
        // int8 model applies it in a separate layer.
        let mut prefix = Network {
            input: net.input,
            layers: net.layers[..=i].to_vec(),
        };
        if matches!(l.activation, Activation::Sigmoid | Activation::Tanh) {
            prefix.layers[i].activation = Activation::Identity;
        }
        let mut cal = Calibrator::<2048>::new();
        let mut ws = Workspace::new(&prefix, BLOCK);
        let rows: Vec<u32> = (0..data.len() as u32).collect();
        for chunk in rows.chunks(BLOCK) {
            let n = ws.gather(data, chunk);
            cal.observe(ws.forward(&prefix, n));
        }
        if cal.non_finite() > 0 {
            anyhow::bail!(
                "layer {} ({}): {} NaN or infinite outputs on the calibration samples",
                i + 1,
                l.kind.name(),
                cal.non_finite()
            );
        }
        let q = cal
            .act_quant(method)
            .with_context(|| format!("calibrating layer {} ({})", i + 1, l.kind.name()))?;
        outputs.push(Some(q));
    }
    Ok(Ranges { input, outputs })
}
