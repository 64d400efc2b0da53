//! `myelin experiment vanishing-gradient`: one deep net trained five ways on
//! the same data and seed, to show why plain backprop fails on deep sigmoid
//! nets and what fixes it.
//!
//! Runs: sigmoid from random init; sigmoid after DBN pretraining; sigmoid
//! after discriminative pretraining; ReLU from random init; sigmoid with
//! identity skips around every same-width hidden layer. Each run reports the
//! L2 norm of every layer's weight gradient over the first steps of
//! (fine-)tuning, the test accuracy after each epoch, and its time. Every
//! run trains on the host's general engine ([`crate::train::Trainer`]),
//! which reports the gradient norms step by step.

pub mod explaining_away;
pub mod report;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use myelin_core::train::Rng;

use myelin_core::model::Activation;

use crate::data::{Dataset, MnistFiles};
use crate::net::input_shape;
use crate::pretrain::discriminative::{self, DiscriminativeConfig};
use crate::pretrain::network::STAGE_SGD;
use crate::pretrain::rbm::RbmConfig;
use crate::pretrain::stack::{self, Sgd};
use crate::pretrain::{dbn, permutation};
use crate::train::evaluate;

/// The experiments `myelin experiment` runs.
#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum ExperimentCommand {
    /// Deep sigmoid net trained five ways: plain, DBN- and discriminatively
    /// pretrained, ReLU, residual; gradient norms per layer and test accuracy.
    VanishingGradient(VanishingArgs),
    /// Explaining away: exact posteriors of a two-cause belief net, and the
    /// dependence between hidden units of a belief net and of an RBM on MNIST.
    ExplainingAway(explaining_away::ExplainingAwayArgs),
}

/// Runs an experiment command.
pub fn run_command(cmd: &ExperimentCommand) -> Result<()> {
    match cmd {
        ExperimentCommand::VanishingGradient(a) => main(a),
        ExperimentCommand::ExplainingAway(a) => explaining_away::main(a),
    }
}

/// Settings of the vanishing-gradient experiment.
#[derive(Debug, Clone, PartialEq, clap::Args, serde::Serialize)]
pub struct VanishingArgs {
    /// Hidden layers.
    #[arg(long, default_value_t = 8)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    /// Epochs of (fine-)tuning per run.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Epochs of pretraining: per RBM (DBN) and per stage (discriminative).
    #[arg(long, default_value_t = 1)]
    pub pretrain_epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// SGD learning rate at the first epoch; it decays along a cosine to the last.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Steps at the start of training whose gradient norms are averaged.
    #[arg(long, default_value_t = 10)]
    pub grad_steps: usize,
    /// Use only this many training samples (default: all).
    #[arg(long)]
    pub train_samples: Option<usize>,
    /// Seed for initialization, sampling and shuffling (the same for every run).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads of the training engine (default: all cores); a run
    /// is repeatable for a given seed and thread count.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Directory with the MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Directory for the table, the plots and the JSON results.
    #[arg(long, default_value = "out/vanishing-gradient")]
    pub out: PathBuf,
    /// Print the results as one JSON object on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// A short version (10,000 training samples, 2 epochs) that runs in about a minute.
    #[arg(long)]
    pub quick: bool,
    /// Do not train: redraw the table and plots from a `results.json` this
    /// command wrote earlier.
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,
}

impl Default for VanishingArgs {
    /// The command-line defaults.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: VanishingArgs,
        }
        <Wrapper as clap::Parser>::parse_from(["vanishing-gradient"]).args
    }
}

/// The five ways of training the net.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Sigmoid, random init, plain backprop.
    Sigmoid,
    /// Sigmoid initialized by greedy RBM pretraining.
    SigmoidDbn,
    /// Sigmoid grown one hidden layer at a time.
    SigmoidDiscriminative,
    /// ReLU, random (He) init.
    Relu,
    /// Sigmoid with identity skips.
    SigmoidResidual,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 5] = [
        Variant::Sigmoid,
        Variant::SigmoidDbn,
        Variant::SigmoidDiscriminative,
        Variant::Relu,
        Variant::SigmoidResidual,
    ];

    /// Short name used in tables, plots and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Sigmoid => "sigmoid",
            Variant::SigmoidDbn => "sigmoid+dbn",
            Variant::SigmoidDiscriminative => "sigmoid+discriminative",
            Variant::Relu => "relu",
            Variant::SigmoidResidual => "sigmoid+residual",
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    /// Variant name.
    pub name: String,
    /// Mean L2 norm of each layer's weight gradient over the first steps of
    /// (fine-)tuning; layer 1 is nearest the input, the last is the output layer.
    pub grad_norms: Vec<f32>,
    /// Test accuracy (fraction) after each epoch.
    pub test_accuracy: Vec<f32>,
    /// Wall-clock seconds of the whole run, pretraining included.
    pub seconds: f64,
    /// Seconds spent pretraining.
    pub pretrain_seconds: f64,
}

/// Settings resolved from [`VanishingArgs`] (quick mode applied).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Settings {
    /// Hidden widths, input side first.
    pub hidden: Vec<usize>,
    /// Epochs of (fine-)tuning.
    pub epochs: usize,
    /// Epochs of pretraining per RBM or stage.
    pub pretrain_epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Optimizer of every run (its learning rate is the first epoch's; later
    /// epochs scale it by [`cosine`]).
    pub sgd: Sgd,
    /// Steps whose gradient norms are averaged.
    pub grad_steps: usize,
    /// Seed shared by the runs.
    pub seed: u64,
    /// Worker threads of the training engine.
    pub threads: usize,
}

impl VanishingArgs {
    /// The settings these arguments ask for.
    pub fn settings(&self) -> Result<Settings> {
        if self.depth == 0 || self.width == 0 || self.epochs == 0 || self.batch == 0 {
            bail!("--depth, --width, --epochs and --batch must be at least 1");
        }
        if self.grad_steps == 0 {
            bail!("--grad-steps must be at least 1");
        }
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        let lr_ok = self.lr > 0.0 && self.lr.is_finite();
        if !lr_ok || !(0.0..1.0).contains(&self.momentum) {
            bail!("--lr must be positive and --momentum in [0, 1)");
        }
        Ok(Settings {
            hidden: vec![self.width; self.depth],
            epochs: if self.quick {
                self.epochs.min(2)
            } else {
                self.epochs
            },
            pretrain_epochs: self.pretrain_epochs,
            batch: self.batch,
            sgd: Sgd {
                learning_rate: self.lr,
                momentum: self.momentum,
                weight_decay: 0.0,
            },
            grad_steps: self.grad_steps,
            seed: self.seed,
            threads: self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        })
    }

    /// Training samples to use: `--train-samples`, else 10,000 in quick mode.
    pub fn train_limit(&self) -> Option<usize> {
        self.train_samples
            .or(if self.quick { Some(10_000) } else { None })
    }
}

/// Runs the experiment as the CLI does: loads the data, trains the five
/// variants, writes the table, plots and JSON under `--out`, and prints the
/// table (with `--json`: the JSON object on stdout, the table on stderr).
pub fn main(args: &VanishingArgs) -> Result<()> {
    if let Some(path) = &args.from_json {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let results = report::from_json(&text).with_context(|| format!("{}", path.display()))?;
        return write_outputs(args, &results);
    }
    let settings = args.settings()?;
    let files = MnistFiles::locate(&args.data)?;
    let mut train = files.train()?;
    let test = files.test()?;
    if let Some(n) = args.train_limit() {
        // A seeded random subset, so a small run still sees every class.
        let order = permutation(train.len(), &mut Rng::new(args.seed ^ 0x5eed));
        train.permute(&order);
        train.truncate(n);
    }
    eprintln!(
        "vanishing-gradient: {} hidden layers of {}, {} training / {} test samples, {} epochs, seed {}, {} thread{}",
        args.depth,
        args.width,
        train.len(),
        test.len(),
        settings.epochs,
        settings.seed,
        settings.threads,
        if settings.threads == 1 { "" } else { "s" }
    );
    let results = run_all(&train, &test, &settings, |line| eprintln!("{line}"))?;
    write_outputs(args, &results)
}

/// Writes the table, plots and JSON under `--out`; prints the table, and the
/// JSON line with `--json`.
fn write_outputs(args: &VanishingArgs, results: &[RunResult]) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    report::plot_grad_norms(&args.out.join("grad-norms.svg"), results)?;
    report::plot_accuracy(&args.out.join("test-accuracy.svg"), results)?;
    report::publish(
        &args.out,
        &report::markdown(results),
        &report::json(results),
        args.json,
    )?;
    eprintln!(
        "vanishing-gradient: wrote table.md, grad-norms.svg, test-accuracy.svg, results.json in {}",
        args.out.display()
    );
    Ok(())
}

/// Learning-rate factor of `epoch` (1-based) of `epochs`: cosine decay from 1
/// towards 0, `½(1 + cos(π (epoch - 1) / epochs))`.
pub fn cosine(epoch: usize, epochs: usize) -> f32 {
    let t = (epoch.saturating_sub(1)) as f32 / epochs.max(1) as f32;
    0.5 * (1.0 + (std::f32::consts::PI * t).cos())
}

/// Trains every variant on `train`, evaluating on `test`.
pub fn run_all(
    train: &Dataset,
    test: &Dataset,
    s: &Settings,
    mut log: impl FnMut(&str),
) -> Result<Vec<RunResult>> {
    Variant::ALL
        .iter()
        .map(|&v| run(v, train, test, s, &mut log))
        .collect()
}

/// Trains one variant: pretraining if it has one, then `s.epochs` epochs of
/// SGD on the whole net.
pub fn run(
    v: Variant,
    train: &Dataset,
    test: &Dataset,
    s: &Settings,
    log: &mut impl FnMut(&str),
) -> Result<RunResult> {
    if train.is_empty() || test.is_empty() {
        bail!("the experiment needs training and test samples");
    }
    let classes = train
        .labels
        .iter()
        .chain(&test.labels)
        .map(|&y| y as usize + 1)
        .max()
        .unwrap_or(0);
    let input = input_shape(&train.sample_dims)?;
    let start = Instant::now();
    let mut rng = Rng::new(s.seed);
    let mut prefix = |line: &str| log(&format!("{}: {line}", v.name()));
    let random = |activation, residual: bool, rng: &mut Rng| -> Result<_> {
        let mut net = stack::dense_stack(input, &s.hidden, classes, activation, residual)?;
        stack::init(&mut net, rng);
        Ok(net)
    };
    let net = match v {
        Variant::Sigmoid => random(Activation::Sigmoid, false, &mut rng)?,
        Variant::Relu => random(Activation::Relu, false, &mut rng)?,
        Variant::SigmoidResidual => random(Activation::Sigmoid, true, &mut rng)?,
        Variant::SigmoidDbn => {
            let cfg = RbmConfig {
                epochs: s.pretrain_epochs,
                ..RbmConfig::default()
            };
            let stack = dbn::pretrain(
                &train.inputs,
                train.sample_len(),
                &s.hidden,
                &cfg,
                &mut rng,
                &mut prefix,
            );
            dbn::to_network(&stack, input, classes, &mut rng)?
        }
        Variant::SigmoidDiscriminative => {
            let cfg = DiscriminativeConfig {
                samples_per_stage: s.pretrain_epochs * train.len(),
                batch: s.batch,
                sgd: STAGE_SGD,
                threads: s.threads,
            };
            discriminative::pretrain(train, &s.hidden, classes, &cfg, &mut rng, &mut prefix)?
        }
    };
    let pretrain_seconds = start.elapsed().as_secs_f64();

    let mut trainer = s.sgd.trainer(net, s.batch, s.threads);
    let mut sums = vec![0.0f64; stack::dense_layers(&trainer.net).count()];
    let mut counted = 0usize;
    let mut test_accuracy = Vec::with_capacity(s.epochs);
    for epoch in 1..=s.epochs {
        let lr = s.sgd.learning_rate * cosine(epoch, s.epochs);
        let r = stack::epoch(&mut trainer, train, lr, &mut rng, None, |_, step| {
            if counted < s.grad_steps {
                // Dense layers only: the skips' add nodes have no weights.
                let norms = step.grad_norms.iter().flatten();
                for (acc, &g) in sums.iter_mut().zip(norms) {
                    *acc += g as f64;
                }
                counted += 1;
            }
        })
        .with_context(|| format!("{}: epoch {epoch}", v.name()))?;
        if !r.loss.is_finite() {
            bail!("{}: the loss became {} in epoch {epoch}", v.name(), r.loss);
        }
        let acc = evaluate(&trainer.net, test, s.threads).1 as f32;
        test_accuracy.push(acc);
        prefix(&format!(
            "epoch {epoch}/{}: loss {:.4}, train accuracy {:.2}%, test accuracy {:.2}%",
            s.epochs,
            r.loss,
            100.0 * r.accuracy,
            100.0 * acc
        ));
    }
    let grad_norms = sums
        .iter()
        .map(|&x| (x / counted.max(1) as f64) as f32)
        .collect();
    Ok(RunResult {
        name: v.name().to_string(),
        grad_norms,
        test_accuracy,
        seconds: start.elapsed().as_secs_f64(),
        pretrain_seconds,
    })
}
