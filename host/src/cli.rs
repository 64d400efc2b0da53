//! The `myelin` command line: `train`, `quantize`, `eval`, `inspect`, `info`.
//!
//! Errors are returned with the offending file named first; the binary
//! prints them as `error: <file>: <problem>` and exits non-zero. With
//! `--json` a command prints exactly one JSON object, as its last stdout line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use myelin_core::model::{DType, Model, shape_len};
use myelin_core::quant::ActQuant;
use myelin_core::train::Rng;
use serde_json::json;

use crate::checkpoint::{self, Checkpoint, check_writable, write_atomic};
use crate::data::{Dataset, MnistFiles};
use crate::engine::check_trainable;
use crate::net::{self, Network, OptimizerKind, Recipe, input_shape};
use crate::train::{Options, Trainer, evaluate};

/// Deep neural networks that train on a laptop and run bit for bit the same on a Cortex-M.
#[derive(Debug, Parser)]
#[command(name = "myelin", version, about)]
pub struct Cli {
    /// What to do (default: `train`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network on an MNIST-layout IDX directory and save it.
    Train(TrainArgs),
    /// Quantize a float model: int8 (calibrated on data) or f16 weights.
    Quantize(crate::quantize::QuantizeArgs),
    /// Measure a saved model's accuracy on the test set.
    Eval(EvalArgs),
    /// Show a model's layers, shapes, parameter count and bytes per dtype.
    Inspect(InspectArgs),
    /// Show the kernels this build selected for this CPU.
    Info,
    /// Import a TFLite model (int8) as a myelin model file.
    Import(crate::import::ImportArgs),
    /// Run a model over the samples of a .npy file and write the outputs as .npy.
    Run(crate::run::RunArgs),
    /// Write a model as Rust source for firmware (static weights, typed network).
    Export(crate::export::ExportArgs),
    /// Run an experiment: `vanishing-gradient`, `explaining-away`.
    #[command(subcommand)]
    Experiment(crate::experiment::ExperimentCommand),
}

/// The optimizers `--optimizer` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// SGD with momentum 0.9.
    Sgd,
    /// Adam.
    Adam,
}

/// Arguments of `myelin train`.
#[derive(Debug, Args, Default)]
pub struct TrainArgs {
    /// Built-in network: mnist-mlp (default), mnist-cnn, mnist-lstm, deep-sigmoid.
    #[arg(long, conflicts_with_all = ["config", "resume"])]
    pub preset: Option<String>,
    /// A TOML network description (see docs/training.md).
    #[arg(long, value_name = "FILE.toml", conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Continue from a checkpoint (or fine-tune a model file).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
    #[arg(long, value_name = "DIR", default_value = "data/mnist")]
    pub data: PathBuf,
    /// Epochs (default: the preset's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// L2 weight decay on weights (decoupled for Adam).
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Stop after N epochs without better validation accuracy (0: never).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Rescale each step's whole gradient to at most this L2 norm (0: off).
    #[arg(long, value_name = "NORM")]
    pub clip_grad: Option<f32>,
    /// Shift each training image by up to N pixels, at random, zero-filled (0: off).
    #[arg(long, value_name = "N")]
    pub augment_shift: Option<usize>,
    /// Training samples held out for validation (a request for half the
    /// training set or more holds out a tenth instead).
    #[arg(long)]
    pub validation: Option<usize>,
    /// Use only the first N training samples (after the seeded shuffle).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Use only the first N test samples.
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Seed for initialization, the validation split and shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where to save the trained model (default: NAME.myl); the checkpoint is FILE.ckpt.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write loss and accuracy per epoch as an SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print one JSON object as the last stdout line.
    #[arg(long)]
    pub json: bool,
    /// `--pretrain dbn|discriminative`, `--pretrain-epochs N`.
    #[command(flatten)]
    pub pretrain: crate::pretrain::PretrainArgs,
}

/// Arguments of `myelin eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A model file or a checkpoint.
    pub model: PathBuf,
    /// Directory with the t10k IDX files.
    #[arg(long, value_name = "DIR", default_value = "data/mnist")]
    pub data: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Use only the first N test samples.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print one JSON object as the last stdout line.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `myelin inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A model file or a checkpoint.
    pub model: PathBuf,
    /// Print one JSON object as the last stdout line.
    #[arg(long)]
    pub json: bool,
}

/// Parses the arguments and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => train(TrainArgs {
            data: PathBuf::from("data/mnist"),
            seed: 1,
            ..TrainArgs::default()
        }),
        Some(Command::Train(a)) => train(a),
        Some(Command::Quantize(a)) => crate::quantize::run(&a),
        Some(Command::Eval(a)) => eval(a),
        Some(Command::Inspect(a)) => inspect(a),
        Some(Command::Export(a)) => crate::export::run(&a),
        Some(Command::Import(a)) => crate::import::run(&a),
        Some(Command::Run(a)) => crate::run::run(&a),
        Some(Command::Experiment(e)) => crate::experiment::run_command(&e),
        Some(Command::Info) => {
            println!("myelin {}", env!("CARGO_PKG_VERSION"));
            println!("kernels: {:?}", myelin_core::kernels::isa());
            Ok(())
        }
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Reads a model file or checkpoint into a network; errors name the file.
/// A checkpoint gives its best weights (or the current ones).
pub fn load_network(path: &Path) -> Result<Network> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let model_bytes = if checkpoint::is_checkpoint(&bytes) {
        let c = Checkpoint::decode(&bytes).with_context(|| format!("{}", path.display()))?;
        if c.best_model.is_empty() {
            c.model
        } else {
            c.best_model
        }
    } else {
        bytes
    };
    let m = Model::parse(&model_bytes).with_context(|| format!("{}", path.display()))?;
    // f16 weights are widened to f32; int8 models are refused here.
    crate::quantize::float_network(&m).with_context(|| format!("{}", path.display()))
}

/// Checks `data` fits `net`: same sample size, labels below the class count.
fn check_data(net: &Network, data: &Dataset, images: &Path, labels: &Path) -> Result<()> {
    let shape = input_shape(&data.sample_dims).with_context(|| format!("{}", images.display()))?;
    if shape_len(shape) != net.input_len() {
        bail!(
            "{}: samples are {:?} ({} values), but the model expects {}x{}x{} ({} values)",
            images.display(),
            data.sample_dims,
            shape_len(shape),
            net.input[0],
            net.input[1],
            net.input[2],
            net.input_len()
        );
    }
    data.check_labels(net.classes(), labels)
}

fn train(a: TrainArgs) -> Result<()> {
    let files = MnistFiles::locate(&a.data)?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let mut train_set = files.train()?;
    let mut test_set = files.test()?;
    if let Some(n) = a.test_limit {
        test_set.truncate(n);
    }
    let sample_shape = input_shape(&train_set.sample_dims)
        .with_context(|| format!("{}", files.train_images.display()))?;

    // The network and hyper-parameters: resumed, from a file, or a preset.
    let (mut trainer, name) = if let Some(path) = &a.resume {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        if checkpoint::is_checkpoint(&bytes) {
            let ck = Checkpoint::decode(&bytes).with_context(|| format!("{}", path.display()))?;
            let name = ck.meta.recipe.clone();
            let t = Trainer::resume(ck, threads, a.epochs)
                .with_context(|| format!("{}", path.display()))?;
            (t, name)
        } else {
            let mut net = load_network(path)?;
            // A softmax on the outputs (as imported models end) is the
            // loss's during training; the fine-tuned model keeps the argmax.
            if let Some(last) = net.layers.last_mut()
                && last.activation == myelin_core::model::Activation::Softmax
            {
                last.activation = myelin_core::model::Activation::Identity;
            }
            let mut hyper = net::preset("mnist-mlp")?.hyper;
            apply_overrides(&mut hyper, &a);
            (
                Trainer::new(net, "fine-tune", hyper, a.seed, threads),
                "fine-tune".to_string(),
            )
        }
    } else {
        let recipe: Recipe = match &a.config {
            Some(p) => net::recipe_from_toml(p, sample_shape)?,
            None => net::preset(a.preset.as_deref().unwrap_or("mnist-mlp"))?,
        };
        let source = a
            .config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("preset {}", recipe.name));
        let mut net =
            Network::from_nodes(sample_shape, &recipe.layers).with_context(|| source.clone())?;
        net.init(&mut Rng::new(a.seed));
        let mut hyper = recipe.hyper;
        apply_overrides(&mut hyper, &a);
        let name = a
            .config
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(recipe.name);
        (Trainer::new(net, &name, hyper, a.seed, threads), name)
    };
    let hyper = trainer.meta.hyper;
    net::check_hyper(&hyper).context("training options")?;
    let source = match (&a.config, &a.resume) {
        (Some(p), _) | (None, Some(p)) => p.display().to_string(),
        (None, None) => format!("preset {name}"),
    };
    check_trainable(&trainer.net).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    check_data(
        &trainer.net,
        &train_set,
        &files.train_images,
        &files.train_labels,
    )?;
    check_data(
        &trainer.net,
        &test_set,
        &files.test_images,
        &files.test_labels,
    )?;

    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.myl")));
    let ckpt = PathBuf::from(format!("{}.ckpt", out.display()));
    check_writable(&out)?;
    check_writable(&ckpt)?;
    if let Some(p) = &a.plot {
        check_writable(p)?;
    }

    // The validation split and subset depend only on the seed.
    let seed = trainer.meta.seed;
    let mut order: Vec<u32> = (0..train_set.len() as u32).collect();
    Rng::new(seed.wrapping_add(0x5eed)).shuffle(&mut order);
    train_set.permute(&order);
    // A split that would take half the set or more (the 5,000 of the presets
    // on a small table) becomes a tenth of it.
    let held = if hyper.validation >= train_set.len() / 2 {
        train_set.len() / 10
    } else {
        hyper.validation
    };
    let val_set = train_set.split_off(held);
    if let Some(n) = a.limit {
        train_set.truncate(n);
    }

    crate::pretrain::pretrain_network(
        &mut trainer.net,
        &a.pretrain.resolve(a.config.as_deref())?,
        hyper.batch,
        threads,
        &train_set,
        seed,
        |l| eprintln!("{l}"),
    )?;
    if !a.json {
        let shift = match hyper.augment_shift {
            0 => String::new(),
            n => format!(", images shifted by up to {n} px"),
        };
        eprintln!(
            "training {name}: {} parameters, {} train / {} validation samples, {} epoch{}, batch {}, {} {:.1e}, {} thread{}{shift}",
            trainer.net.param_count(),
            train_set.len(),
            val_set.len(),
            hyper.epochs,
            if hyper.epochs == 1 { "" } else { "s" },
            hyper.batch,
            hyper.optimizer.name(),
            hyper.lr,
            trainer.threads(),
            if trainer.threads() == 1 { "" } else { "s" },
        );
    }
    let opts = Options {
        checkpoint: Some(ckpt.clone()),
        progress: true,
    };
    let summary = trainer.run(&train_set, &val_set, &opts)?;
    let best = trainer.best();
    let bytes = best
        .encode()
        .map_err(|e| anyhow::anyhow!("{}: encoding the model: {e}", out.display()))?;
    write_atomic(&out, &bytes)?;
    let t0 = Instant::now();
    let (test_loss, test_acc) = evaluate(best, &test_set, threads);
    let eval_secs = t0.elapsed().as_secs_f64();
    if let Some(p) = &a.plot {
        crate::plot::write_svg(p, &name, &summary.history)
            .with_context(|| format!("{}", p.display()))?;
    }
    let epochs_run = summary.history.len();
    let line = format!(
        "test accuracy: {:.2}% on {} samples (epoch {} weights, {:.2} s per epoch, {:.0} samples/s); saved {}",
        100.0 * test_acc,
        test_set.len(),
        summary.kept_epoch,
        summary.train_seconds / summary.history.len().max(1) as f64,
        summary.samples_per_second,
        out.display()
    );
    human(a.json, &line);
    if a.json {
        let obj = json!({
            "command": "train",
            "model": name,
            "out": out.display().to_string(),
            "checkpoint": ckpt.display().to_string(),
            "test_accuracy": test_acc,
            "test_loss": test_loss,
            "test_samples": test_set.len(),
            "epochs": epochs_run,
            "kept_epoch": summary.kept_epoch,
            "stopped_early": summary.stopped_early,
            "train_seconds": summary.train_seconds,
            "samples_per_second": summary.samples_per_second,
            "eval_seconds": eval_secs,
            "threads": trainer.threads(),
            "batch": hyper.batch,
            "optimizer": hyper.optimizer.name(),
            "parameters": best.param_count(),
            "history": summary.history,
        });
        println!("{obj}");
    }
    Ok(())
}

/// Prints a human-readable result: on stdout, or on stderr when stdout
/// carries the JSON object.
fn human(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

fn apply_overrides(h: &mut crate::net::Hyper, a: &TrainArgs) {
    if let Some(e) = a.epochs {
        h.epochs = e;
    }
    if let Some(b) = a.batch {
        h.batch = b;
    }
    if let Some(lr) = a.lr {
        h.lr = lr;
    }
    match a.optimizer {
        Some(OptimizerArg::Sgd) if !matches!(h.optimizer, OptimizerKind::Sgd { .. }) => {
            h.optimizer = OptimizerKind::SGD
        }
        Some(OptimizerArg::Adam) if !matches!(h.optimizer, OptimizerKind::Adam { .. }) => {
            h.optimizer = OptimizerKind::ADAM
        }
        _ => {}
    }
    if let Some(w) = a.weight_decay {
        h.weight_decay = w;
    }
    if let Some(p) = a.patience {
        h.patience = p;
    }
    if let Some(c) = a.clip_grad {
        h.clip_grad_norm = c;
    }
    if let Some(s) = a.augment_shift {
        h.augment_shift = s;
    }
    if let Some(v) = a.validation {
        h.validation = v;
    }
}

fn eval(a: EvalArgs) -> Result<()> {
    if crate::quantize::is_int8_file(&a.model)? {
        return crate::quantize::eval_int8(&a.model, &a.data, a.limit, a.threads, a.json);
    }
    let net = load_network(&a.model)?;
    if !a.data.is_dir() {
        bail!("{}: not a directory", a.data.display());
    }
    let files = MnistFiles::locate(&a.data)?;
    let mut test = files.test()?;
    if let Some(n) = a.limit {
        test.truncate(n);
    }
    check_data(&net, &test, &files.test_images, &files.test_labels)?;
    check_trainable(&net).map_err(|e| anyhow::anyhow!("{}: {e}", a.model.display()))?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let t0 = Instant::now();
    let (loss, acc) = evaluate(&net, &test, threads);
    let secs = t0.elapsed().as_secs_f64();
    human(
        a.json,
        &format!(
            "accuracy: {:.2}% on {} samples (loss {:.4}, {:.0} samples/s)",
            100.0 * acc,
            test.len(),
            loss,
            test.len() as f64 / secs.max(1e-9)
        ),
    );
    if a.json {
        println!(
            "{}",
            json!({
                "command": "eval",
                "model": a.model.display().to_string(),
                "accuracy": acc,
                "loss": loss,
                "samples": test.len(),
                "seconds": secs,
            })
        );
    }
    Ok(())
}

/// Kernel, stride, padding and groups of a windowed node (`k3x3 s2x2
/// p0,1,0,1 g16`: padding top, bottom, left, right), empty for others.
fn window_text(l: &myelin_core::model::LayerView<'_>) -> String {
    use myelin_core::model::LayerKind;
    if !matches!(
        l.kind,
        LayerKind::Conv2d | LayerKind::MaxPool2d | LayerKind::AvgPool2d
    ) {
        return String::new();
    }
    let Ok(w) = l.window() else {
        return String::new();
    };
    let mut t = format!(
        "k{}x{} s{}x{} p{},{},{},{}",
        w.k_h, w.k_w, w.stride_h, w.stride_w, w.pad_top, w.pad_bottom, w.pad_left, w.pad_right
    );
    let groups = l.params[myelin_core::model::graph::p::GROUPS];
    if groups > 1 {
        t.push_str(&format!(" g{groups}"));
    }
    t
}

/// How an int8 model's callers give its input and get its output: int8
/// codes, or float32 quantized and dequantized at the edges.
fn io_text(m: &Model<'_>, i: ActQuant, o: ActQuant) -> String {
    let side = |float: bool, what: &str, q: ActQuant| {
        let (dtype, how) = if float {
            (
                "float32",
                if what == "input" {
                    ", quantized to"
                } else {
                    ", dequantized from"
                },
            )
        } else {
            ("int8", "")
        };
        format!(
            "{dtype} {what}{how} codes of scale {:e}, zero point {}",
            q.scale, q.zero_point
        )
    };
    format!(
        "{}; {}",
        side(m.float_input(), "input", i),
        side(m.float_output(), "output", o)
    )
}

fn inspect(a: InspectArgs) -> Result<()> {
    let path = &a.model;
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let model_bytes = if checkpoint::is_checkpoint(&bytes) {
        Checkpoint::decode(&bytes)
            .with_context(|| format!("{}", path.display()))?
            .model
    } else {
        bytes
    };
    let m = Model::parse(&model_bytes).with_context(|| format!("{}", path.display()))?;
    let [c, h, w] = m.input_shape();
    human(
        a.json,
        &format!(
            "{}: model format v{}, {}, {} bytes, input {c}x{h}x{w}{}",
            path.display(),
            m.version(),
            m.arithmetic().name(),
            model_bytes.len(),
            match m.io_layout() {
                myelin_core::model::IoLayout::ChannelLast =>
                    format!(" (samples channel-last {h}x{w}x{c})"),
                myelin_core::model::IoLayout::ChannelMajor => String::new(),
            }
        ),
    );
    if let (Some(i), Some(o)) = (m.input_quant(), m.output_quant()) {
        human(a.json, &format!("I/O: {}", io_text(&m, i, o)));
    }
    human(
        a.json,
        &format!(
            "{:>3}  {:<14} {:<7} {:<9} {:>10} {:>10} {:>9} {:>10}  {:<22} tensors",
            "#", "kind", "act", "inputs", "in", "out", "params", "MACs", "window"
        ),
    );
    let fmt = |s: [usize; 3]| format!("{}x{}x{}", s[0], s[1], s[2]);
    let mut layers = Vec::new();
    let mut total_macs = 0usize;
    let mut per_dtype: Vec<(DType, usize, usize)> = Vec::new();
    for l in m.layers() {
        let tensors: Vec<String> = (0..l.tensor_count())
            .filter_map(|j| l.tensor(j))
            .map(|t| {
                match per_dtype.iter_mut().find(|e| e.0 == t.dtype) {
                    Some(e) => {
                        e.1 += t.len();
                        e.2 += t.data.len();
                    }
                    None => per_dtype.push((t.dtype, t.len(), t.data.len())),
                }
                format!("{}{:?}", t.dtype.name(), t.shape())
            })
            .collect();
        let inputs: Vec<String> = l
            .inputs()
            .iter()
            .map(|&r| {
                if r == 0 {
                    "in".to_string()
                } else {
                    r.to_string()
                }
            })
            .collect();
        let window = window_text(&l);
        total_macs += l.macs();
        human(
            a.json,
            &format!(
                "{:>3}  {:<14} {:<7} {:<9} {:>10} {:>10} {:>9} {:>10}  {:<22} {}",
                l.index + 1,
                l.kind.name(),
                l.activation.name(),
                inputs.join(","),
                fmt(l.in_shape),
                fmt(l.out_shape),
                l.param_count(),
                l.macs(),
                window,
                tensors.join(" ")
            ),
        );
        if let Some(q) = &l.quant {
            human(
                a.json,
                &format!("     {}", crate::quantize::describe_quant(q)),
            );
        }
        layers.push(json!({
            "node": l.index + 1,
            "inputs": l.inputs(),
            "macs": l.macs(),
            "window": window,
            "kind": l.kind.name(),
            "activation": l.activation.name(),
            "in": l.in_shape,
            "out": l.out_shape,
            "params": l.param_count(),
            "tensors": tensors,
            "quant": l.quant.map(crate::quantize::quant_json),
        }));
    }
    human(
        a.json,
        &format!(
            "parameters: {}, MACs per inference: {total_macs}",
            m.param_count()
        ),
    );
    for (d, n, b) in &per_dtype {
        human(
            a.json,
            &format!("  {}: {} values, {} bytes", d.name(), n, b),
        );
    }
    if a.json {
        let dtypes: serde_json::Map<String, serde_json::Value> = per_dtype
            .iter()
            .map(|(d, n, b)| (d.name().to_string(), json!({"values": n, "bytes": b})))
            .collect();
        println!(
            "{}",
            json!({
                "command": "inspect",
                "model": path.display().to_string(),
                "format_version": m.version(),
                "arithmetic": m.arithmetic().name(),
                "file_bytes": model_bytes.len(),
                "input": m.input_shape(),
                "io_layout": match m.io_layout() {
                    myelin_core::model::IoLayout::ChannelLast => "channel-last",
                    myelin_core::model::IoLayout::ChannelMajor => "channel-major",
                },
                "float_input": m.float_input(),
                "float_output": m.float_output(),
                "parameters": m.param_count(),
                "macs": total_macs,
                "dtypes": dtypes,
                "layers": layers,
            })
        );
    }
    Ok(())
}
