//! Training one RBM over a data set: shuffled mini-batches of CD-k steps with
//! momentum and weight decay, and the reconstruction error after every epoch.

use myelin_core::train::rbm::{self, CdConfig, Rbm, RbmShape, RbmUpdate, VisibleUnits};

use myelin_core::train::Rng;

use super::permutation;

/// Hyper-parameters of RBM training.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RbmConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per CD step.
    pub batch: usize,
    /// Gibbs steps per CD estimate.
    pub k: usize,
    /// Step size.
    pub learning_rate: f32,
    /// Momentum for the first [`RbmConfig::warmup_epochs`] epochs.
    pub initial_momentum: f32,
    /// Momentum afterwards.
    pub momentum: f32,
    /// Epochs run with the initial momentum.
    pub warmup_epochs: usize,
    /// L2 penalty on the weights.
    pub weight_decay: f32,
}

impl Default for RbmConfig {
    /// The settings Hinton's practical guide gives for binary MNIST-like data:
    /// CD-1, batches of 100, learning rate 0.1, momentum 0.5 then 0.9,
    /// weight decay 2e-4.
    fn default() -> Self {
        Self {
            epochs: 5,
            batch: 100,
            k: 1,
            learning_rate: 0.1,
            initial_momentum: 0.5,
            momentum: 0.9,
            warmup_epochs: 5,
            weight_decay: 2e-4,
        }
    }
}

/// A trained RBM and its reconstruction error after each epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedRbm {
    /// The machine.
    pub rbm: Rbm<Vec<f32>>,
    /// Mean squared reconstruction error per sample, measured after each epoch.
    pub reconstruction_error: Vec<f32>,
}

/// A new RBM for `data` (`n x visible`): weights normal with standard
/// deviation 0.01, zero hidden biases, visible biases at the data's mean
/// (Gaussian units) or its log-odds (Bernoulli units).
pub fn init(
    data: &[f32],
    visible: usize,
    hidden: usize,
    units: VisibleUnits,
    rng: &mut Rng,
) -> Rbm<Vec<f32>> {
    let shape = RbmShape {
        visible,
        hidden,
        units,
    };
    let mut weights = vec![0.0; shape.weight_len()];
    rbm::add_standard_normal(&mut weights, &mut || rng.uniform());
    myelin_core::kernels::scalar::scale(0.01, &mut weights);
    let n = (data.len() / visible).max(1);
    let mut mean = vec![0.0f32; visible];
    for row in data.chunks_exact(visible) {
        myelin_core::kernels::axpy(1.0 / n as f32, row, &mut mean);
    }
    if units == VisibleUnits::Bernoulli {
        for m in &mut mean {
            let p = m.clamp(1e-3, 1.0 - 1e-3);
            *m = (p / (1.0 - p)).ln();
        }
    }
    Rbm {
        shape,
        weights,
        visible_bias: mean,
        hidden_bias: vec![0.0; hidden],
    }
}

/// Trains an RBM with `hidden` units on the rows of `data` (`n x visible`),
/// calling `on_epoch(epoch, reconstruction_error)` after each epoch (1-based).
///
/// # Panics
/// If `data` is empty or not whole rows, or `cfg.batch` or `cfg.k` is 0.
pub fn train(
    data: &[f32],
    visible: usize,
    hidden: usize,
    units: VisibleUnits,
    cfg: &RbmConfig,
    rng: &mut Rng,
    mut on_epoch: impl FnMut(usize, f32),
) -> TrainedRbm {
    assert!(
        visible > 0 && !data.is_empty() && data.len().is_multiple_of(visible),
        "RBM data is not whole rows"
    );
    assert!(cfg.batch > 0, "RBM batch of 0");
    let n = data.len() / visible;
    let mut machine = init(data, visible, hidden, units, rng);
    let shape = machine.shape;
    let zeros = || Rbm {
        shape,
        weights: vec![0.0; shape.weight_len()],
        visible_bias: vec![0.0; visible],
        hidden_bias: vec![0.0; hidden],
    };
    let (mut grads, mut velocity) = (zeros(), zeros());
    let batch = cfg.batch.min(n);
    let mut workspace = vec![0.0; rbm::cd_workspace_len(shape, batch)];
    let mut x = Vec::with_capacity(batch * visible);
    let cd = CdConfig {
        k: cfg.k,
        sample_last_visible: false,
    };
    let mut history = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        let momentum = if epoch <= cfg.warmup_epochs {
            cfg.initial_momentum
        } else {
            cfg.momentum
        };
        let update = RbmUpdate {
            learning_rate: cfg.learning_rate,
            momentum,
            weight_decay: cfg.weight_decay,
        };
        for chunk in permutation(n, rng).chunks(batch) {
            x.clear();
            for &i in chunk {
                let i = i as usize;
                x.extend_from_slice(&data[i * visible..(i + 1) * visible]);
            }
            machine
                .view()
                .cd_k(&cd, &x, &mut workspace, &mut || rng.uniform(), &mut grads);
            machine.apply_update(&grads, &mut velocity, &update);
        }
        let err = reconstruction_error(&machine, data);
        on_epoch(epoch, err);
        history.push(err);
    }
    TrainedRbm {
        rbm: machine,
        reconstruction_error: history,
    }
}

/// Mean squared reconstruction error per sample over all rows of `data`.
pub fn reconstruction_error(machine: &Rbm<Vec<f32>>, data: &[f32]) -> f32 {
    const CHUNK: usize = 1000;
    let v = machine.shape.visible;
    let mut ws = vec![0.0; rbm::reconstruction_workspace_len(machine.shape, CHUNK)];
    let mut total = 0.0f64;
    for rows in data.chunks(CHUNK * v) {
        let n = rows.len() / v;
        total += machine.reconstruction_error(rows, &mut ws) as f64 * n as f64;
    }
    (total / (data.len() / v).max(1) as f64) as f32
}

/// `p(h | v)` for every row of `data`: the input of the next RBM in a stack.
pub fn hidden_probs(machine: &Rbm<Vec<f32>>, data: &[f32]) -> Vec<f32> {
    const CHUNK: usize = 1000;
    let (v, h) = (machine.shape.visible, machine.shape.hidden);
    let mut out = vec![0.0; data.len() / v * h];
    for (rows, dst) in data.chunks(CHUNK * v).zip(out.chunks_mut(CHUNK * h)) {
        machine.hidden_probs(rows, dst);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_lowers_reconstruction_error_on_noisy_prototypes() {
        let mut rng = Rng::new(3);
        let protos: Vec<Vec<f32>> = (0..4)
            .map(|_| {
                (0..20)
                    .map(|_| if rng.uniform() < 0.5 { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let mut data = Vec::new();
        for i in 0..400 {
            for &p in &protos[i % 4] {
                data.push(if rng.uniform() < 0.05 { 1.0 - p } else { p });
            }
        }
        let cfg = RbmConfig {
            epochs: 15,
            batch: 20,
            ..RbmConfig::default()
        };
        let untrained = init(&data, 20, 8, VisibleUnits::Bernoulli, &mut Rng::new(9));
        let before = reconstruction_error(&untrained, &data);
        let mut seen = Vec::new();
        let t = train(
            &data,
            20,
            8,
            VisibleUnits::Bernoulli,
            &cfg,
            &mut rng,
            |e, r| seen.push((e, r)),
        );
        assert_eq!(seen.len(), 15);
        assert_eq!(
            t.reconstruction_error,
            seen.iter().map(|s| s.1).collect::<Vec<_>>()
        );
        let after = *t.reconstruction_error.last().unwrap();
        assert!(
            after < 0.5 * before,
            "reconstruction error {before} -> {after}"
        );
        let h = hidden_probs(&t.rbm, &data);
        assert_eq!(h.len(), 400 * 8);
        assert!(h.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}
