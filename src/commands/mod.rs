//! The subcommands. Each returns `Err(message)` for the user; nothing here panics on bad
//! input.

pub mod gen_data;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use facemtl::data::formats::Format;
use facemtl::data::synthetic::SyntheticConfig;
use facemtl::gpu::{Gpu, GpuOptions};
use facemtl::model::{MultiTaskNet, Preset};
use facemtl::train::checkpoint::{checkpoint_dir, Checkpoint};
use facemtl::train::config::{DataSource, OptimizerName, ScheduleSpec, Tasks, TrainConfig};
use facemtl::train::evaluate::{evaluate, predict as run_predict, Scope};
use facemtl::train::{train as run_train, RunOptions};
use facemtl::weighting::WeightingSpec;

fn open_gpu(adapter: Option<String>) -> Result<Gpu, String> {
    Gpu::new(&GpuOptions {
        adapter,
        quiet: false,
    })
    .map_err(|e| e.to_string())
}

pub fn info(adapter: Option<String>) -> Result<(), String> {
    let gpu = open_gpu(adapter)?;
    let info = gpu.adapter_info();
    let limits = gpu.limits();
    println!("adapter:      {}", info.name);
    println!("backend:      {:?}", info.backend);
    println!(
        "device type:  {:?}{}",
        info.device_type,
        if gpu.is_software() { " (software)" } else { "" }
    );
    println!("driver:       {} {}", info.driver, info.driver_info);
    println!(
        "timestamps:   {}",
        if gpu.has_timestamps() { "yes" } else { "no" }
    );
    println!("limits:");
    for (name, value) in [
        (
            "max_storage_buffer_binding_size",
            limits.max_storage_buffer_binding_size,
        ),
        ("max_buffer_size", limits.max_buffer_size),
        (
            "max_storage_buffers_per_shader_stage",
            limits.max_storage_buffers_per_shader_stage as u64,
        ),
        (
            "max_compute_workgroup_storage_size",
            limits.max_compute_workgroup_storage_size as u64,
        ),
        (
            "max_compute_invocations_per_workgroup",
            limits.max_compute_invocations_per_workgroup as u64,
        ),
        (
            "max_compute_workgroups_per_dimension",
            limits.max_compute_workgroups_per_dimension as u64,
        ),
    ] {
        println!("  {name:<40} {value}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct GenDataArgs {
    /// Output folder (created if missing): images/, manifest.csv, montage.png.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Number of subjects.
    #[arg(long, default_value_t = SyntheticConfig::default().subjects)]
    pub subjects: usize,
    /// Images per subject and expression.
    #[arg(long, default_value_t = SyntheticConfig::default().images_per_expression)]
    pub per_expression: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = SyntheticConfig::default().size)]
    pub size: usize,
    #[arg(long, default_value_t = SyntheticConfig::default().seed)]
    pub seed: u64,
    /// Variety between subjects (1 default; smaller makes face recognition harder).
    #[arg(long, default_value_t = 1.0)]
    pub identity_spread: f32,
    /// Expression strength (smaller makes expression recognition harder).
    #[arg(long, default_value_t = SyntheticConfig::default().expression_strength)]
    pub expression_strength: f32,
    /// Pose, lighting and noise (0: none).
    #[arg(long, default_value_t = SyntheticConfig::default().nuisance)]
    pub nuisance: f32,
}

/// Where the images come from (shared by train and eval).
#[derive(Args, Clone)]
pub struct DataArgs {
    /// A dataset folder or file; without it, the built-in synthetic faces.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Layout of --data: manifest, orl, jaffe, ck+, oulu, fer2013.
    #[arg(long, default_value = "manifest")]
    pub format: String,
    /// Turn unreadable images and malformed rows into warnings (counted in the summary).
    #[arg(long)]
    pub skip_bad: bool,
}

impl DataArgs {
    fn source(&self, synthetic: Option<&SyntheticArgs>) -> Result<DataSource, String> {
        match &self.data {
            Some(path) => {
                Format::parse(&self.format).ok_or_else(|| {
                    format!(
                        "unknown --format {:?}; use one of {}",
                        self.format,
                        Format::NAMES
                    )
                })?;
                // An absolute path, so that eval and --resume find the data from any folder.
                let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                Ok(DataSource::Files {
                    path: path.display().to_string(),
                    format: self.format.clone(),
                    skip_bad: self.skip_bad,
                })
            }
            None => {
                let s = synthetic.cloned().unwrap_or_default();
                Ok(DataSource::Synthetic {
                    subjects: s.subjects,
                    images_per_expression: s.per_expression,
                    seed: s.data_seed,
                    identity_spread: s.identity_spread,
                    expression_strength: s.expression_strength,
                    nuisance: s.nuisance,
                })
            }
        }
    }
}

/// The synthetic faces' settings (used when --data is absent).
#[derive(Args, Clone)]
pub struct SyntheticArgs {
    /// Synthetic subjects.
    #[arg(long, default_value_t = SyntheticConfig::default().subjects)]
    pub subjects: usize,
    /// Synthetic images per subject and expression.
    #[arg(long, default_value_t = SyntheticConfig::default().images_per_expression)]
    pub per_expression: usize,
    /// Seed of the synthetic faces.
    #[arg(long, default_value_t = SyntheticConfig::default().seed)]
    pub data_seed: u64,
    /// Variety between synthetic subjects (smaller: harder face recognition).
    #[arg(long, default_value_t = 1.0)]
    pub identity_spread: f32,
    /// Strength of synthetic expressions (smaller: harder expression recognition).
    #[arg(long, default_value_t = SyntheticConfig::default().expression_strength)]
    pub expression_strength: f32,
    /// Pose, lighting and noise of synthetic images (0: none).
    #[arg(long, default_value_t = SyntheticConfig::default().nuisance)]
    pub nuisance: f32,
}

impl Default for SyntheticArgs {
    fn default() -> Self {
        let c = SyntheticConfig::default();
        SyntheticArgs {
            subjects: c.subjects,
            per_expression: c.images_per_expression,
            data_seed: c.seed,
            identity_spread: c.identity_spread,
            expression_strength: c.expression_strength,
            nuisance: c.nuisance,
        }
    }
}

fn defaults() -> TrainConfig {
    TrainConfig::default()
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub synthetic: SyntheticArgs,
    /// Network size: small (CPU-friendly), medium, large.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Passes over the training images [default: 24]; with --resume, the new total.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per training step.
    #[arg(long, default_value_t = defaults().batch)]
    pub batch: usize,
    /// Learning rate of the network.
    #[arg(long, default_value_t = defaults().lr)]
    pub lr: f32,
    /// Learning-rate schedule: constant, cosine, or piecewise:E1,E2 (lr / 10 at each epoch).
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// rmsprop (the paper's: decay 0.9, momentum 0.9, eps 1), adam, or sgd (momentum 0.9).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// L2 weight decay of the network's optimiser.
    #[arg(long, default_value_t = defaults().weight_decay)]
    pub weight_decay: f32,
    /// Global-norm gradient clipping; 0 turns it off.
    #[arg(long, default_value_t = 5.0)]
    pub clip_norm: f32,
    /// Seed of initialisation, folds, shuffling, augmentation and dropout.
    #[arg(long, default_value_t = defaults().seed)]
    pub seed: u64,
    /// Folds of the subject-independent cross-validation.
    #[arg(long, default_value_t = defaults().folds)]
    pub folds: usize,
    /// The fold to test (0-based).
    #[arg(long, default_value_t = defaults().fold)]
    pub fold: usize,
    /// dynamic (the paper's), naive-dynamic (unit trained on L_total), or static:W_FR,W_FER.
    #[arg(long, default_value = "dynamic")]
    pub weighting: String,
    /// Tasks to train: both, fr, fer.
    #[arg(long, default_value = "both")]
    pub tasks: String,
    /// Let L_total's gradient flow through the task weights into the trunk, as the authors'
    /// code does (off: the trunk learns from the task losses only).
    #[arg(long)]
    pub weight_grad_to_trunk: bool,
    /// Learning rate of the weight unit (plain SGD).
    #[arg(long, default_value_t = defaults().unit_lr)]
    pub unit_lr: f32,
    /// Softmax over the unit's raw logits instead of L2-normalised ones (unbounded weights).
    #[arg(long)]
    pub raw_unit_logits: bool,
    /// Keep probability of the dropout before the branch FCs.
    #[arg(long, default_value_t = defaults().keep)]
    pub keep: f32,
    /// Train without augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Add the centre loss on the FR embedding (weight 0.1, centre update rate 0.5).
    #[arg(long)]
    pub center_loss: bool,
    /// Output folder (default: the first free runs/run-N).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run saved in DIR (its settings are used; --epochs may extend it).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Replace a run already in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_enum<T>(flag: &str, value: &str, options: &[(&str, T)]) -> Result<T, String>
where
    T: Copy,
{
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!(
                "unknown {flag} {value:?}; use one of {}",
                options
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig, String> {
        let config = TrainConfig {
            data: self.data.source(Some(&self.synthetic))?,
            preset: Preset::parse(&self.preset).ok_or_else(|| {
                format!(
                    "unknown --preset {:?}; use one of {}",
                    self.preset,
                    Preset::NAMES
                )
            })?,
            epochs: self.epochs.unwrap_or(defaults().epochs),
            batch: self.batch,
            lr: self.lr,
            schedule: ScheduleSpec::parse(&self.schedule)?,
            optimizer: parse_enum(
                "--optimizer",
                &self.optimizer,
                &[
                    ("rmsprop", OptimizerName::Rmsprop),
                    ("adam", OptimizerName::Adam),
                    ("sgd", OptimizerName::Sgd),
                ],
            )?,
            weight_decay: self.weight_decay,
            clip_norm: (self.clip_norm > 0.0).then_some(self.clip_norm),
            seed: self.seed,
            folds: self.folds,
            fold: self.fold,
            weighting: WeightingSpec::parse(&self.weighting)?,
            tasks: parse_enum(
                "--tasks",
                &self.tasks,
                &[
                    ("both", Tasks::Both),
                    ("fr", Tasks::Fr),
                    ("fer", Tasks::Fer),
                ],
            )?,
            weight_grad_to_trunk: self.weight_grad_to_trunk,
            unit_lr: self.unit_lr,
            normalize_unit_logits: !self.raw_unit_logits,
            keep: self.keep,
            augment: !self.no_augment,
            identification_fraction: defaults().identification_fraction,
            center_loss: self.center_loss,
        };
        config.validate()?;
        Ok(config)
    }
}

/// The first runs/run-N that does not exist yet.
fn fresh_run_dir() -> PathBuf {
    (1..)
        .map(|n| PathBuf::from(format!("runs/run-{n}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| PathBuf::from("runs/run"))
}

pub fn train(args: TrainArgs, adapter: Option<String>) -> Result<(), String> {
    let (out, resume) = match (&args.resume, &args.out) {
        (Some(dir), _) => (dir.clone(), true),
        (None, Some(dir)) => (dir.clone(), false),
        (None, None) => (fresh_run_dir(), false),
    };
    let config = args.config()?;
    if !resume && out.join(facemtl::train::checkpoint::WEIGHTS).exists() && !args.overwrite {
        return Err(format!(
            "{} already holds a run; continue it with --resume {0}, pick another --out, or pass --overwrite",
            out.display()
        ));
    }
    let gpu = open_gpu(adapter)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // A second Ctrl-C (or a failure to install the handler) falls back to the default.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nfacemtl: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)");
    });
    let options = RunOptions {
        out: out.clone(),
        resume,
        epochs_override: if resume { args.epochs } else { None },
        progress: !args.quiet,
        stop,
    };
    let result = run_train(&gpu, config, &options);
    for (kernel, t) in gpu.profile() {
        eprintln!(
            "profile: {kernel:<44} {:>7} dispatches {:>9.3} s",
            t.dispatches, t.seconds
        );
    }
    let summary = result.map_err(|e| e.to_string())?;
    let show = |v: Option<f32>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    println!(
        "done in {:.0} s ({:.0} images/s). Test fold: FER accuracy {}, FR identification {}, FR verification accuracy {} (AUC {}).",
        summary.wall_seconds,
        summary.images_per_second,
        show(summary.fer_accuracy),
        show(summary.fr_identification_accuracy),
        show(summary.fr_verification_accuracy),
        show(summary.fr_verification_auc)
    );
    println!(
        "results in {}: metrics.csv, epochs.csv, summary.json, checkpoint.safetensors, plots/",
        out.display()
    );
    Ok(())
}

/// The network and weights of a checkpoint.
struct Loaded {
    gpu: Gpu,
    checkpoint: Checkpoint,
    net: MultiTaskNet,
    store: facemtl::autodiff::ParamStore,
}

fn load(path: &Path, adapter: Option<String>) -> Result<Loaded, String> {
    let checkpoint = Checkpoint::load(path)?;
    let gpu = open_gpu(adapter)?;
    let mut store = facemtl::autodiff::ParamStore::new();
    let s = &checkpoint.sidecar;
    let net = MultiTaskNet::new(
        &gpu,
        &mut store,
        s.config.preset,
        s.fr_classes.len(),
        s.fer_classes.len(),
        0,
    )
    .map_err(|e| e.to_string())?;
    checkpoint.restore_model(&gpu, &store)?;
    Ok(Loaded {
        gpu,
        checkpoint,
        net,
        store,
    })
}

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Evaluate on other data (all of it is test data); default: the run's own test fold.
    #[command(flatten)]
    pub data: DataArgs,
    /// With the run's own data: evaluate this fold instead of the trained one (only
    /// meaningful for a model trained on that fold's training subjects).
    #[arg(long)]
    pub fold: Option<usize>,
}

pub fn eval(args: EvalArgs, adapter: Option<String>) -> Result<(), String> {
    let loaded = load(&args.checkpoint, adapter)?;
    let s = &loaded.checkpoint.sidecar;
    let size = s.config.preset.architecture().input;
    let (dataset, split) = match &args.data.data {
        None => {
            let dataset = s.config.data.load(size).map_err(|e| e.to_string())?;
            let fold = args.fold.unwrap_or(s.config.fold);
            let split = facemtl::data::protocol::split(
                &dataset,
                s.config.folds,
                fold,
                s.config.seed,
                s.config.identification_fraction,
            )
            .map_err(|e| e.to_string())?;
            (dataset, split)
        }
        Some(_) => {
            let dataset = args
                .data
                .source(None)?
                .load(size)
                .map_err(|e| e.to_string())?;
            let split =
                facemtl::data::protocol::Split::all_test(&dataset, &s.fr_classes, &s.fer_classes);
            (dataset, split)
        }
    };
    let m = evaluate(
        &loaded.gpu,
        &loaded.net,
        &loaded.store,
        &dataset,
        &split,
        s.config.seed,
        Scope::Full,
    )?;
    let show =
        |v: Option<f32>| v.map_or("n/a (no labels for it)".to_string(), |v| format!("{v:.4}"));
    println!(
        "checkpoint: {} (epoch {}, step {})",
        checkpoint_dir(&args.checkpoint).display(),
        s.epoch,
        s.step
    );
    println!(
        "test images: {}   identification images: {}   verification pairs: {}",
        split.test.len(),
        split.identification.len(),
        m.verification_pairs
    );
    println!("FER accuracy:                {}", show(m.fer_accuracy));
    println!(
        "FR identification accuracy:  {}",
        show(m.fr_identification_accuracy)
    );
    println!(
        "FR verification accuracy:    {}",
        show(m.fr_verification_accuracy)
    );
    println!(
        "FR verification ROC AUC:     {}",
        show(m.fr_verification_auc)
    );
    if m.fer_confusion.iter().flatten().any(|&c| c > 0) {
        println!("FER confusion matrix (rows: true, columns: predicted):");
        let names = &s.fer_classes;
        println!(
            "{:>10} {}",
            "",
            names
                .iter()
                .map(|n| format!("{:>9.9}", n))
                .collect::<Vec<_>>()
                .join(" ")
        );
        for (name, row) in names.iter().zip(&m.fer_confusion) {
            println!(
                "{:>10.10} {}",
                name,
                row.iter()
                    .map(|c| format!("{c:>9}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct PredictArgs {
    /// A checkpoint: DIR/checkpoint.safetensors or DIR.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Face images (PNG, JPEG, PGM, TIFF, GIF, BMP).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Identities to list per image.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
}

fn top(probs: &[f32], names: &[String], k: usize) -> String {
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
        .iter()
        .take(k.max(1))
        .map(|(i, p)| format!("{} {:.3}", names.get(*i).map_or("?", String::as_str), p))
        .collect::<Vec<_>>()
        .join("  ")
}

pub fn predict(args: PredictArgs, adapter: Option<String>) -> Result<(), String> {
    let loaded = load(&args.checkpoint, adapter)?;
    let s = &loaded.checkpoint.sidecar;
    let size = loaded.net.architecture.input;
    let mut images = Vec::new();
    let mut failed = Vec::new();
    let mut names = Vec::new();
    for path in &args.images {
        match facemtl::data::image::load_input(path, size) {
            Ok(pixels) => {
                images.push(pixels);
                names.push(path);
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    let p = run_predict(&loaded.gpu, &loaded.net, &loaded.store, &images, 64)?;
    for (i, path) in names.iter().enumerate() {
        println!("{}", path.display());
        if !s.fr_classes.is_empty() {
            println!(
                "  identity:   {}",
                top(&p.fr_probs[i], &s.fr_classes, args.top_k)
            );
        }
        if !s.fer_classes.is_empty() {
            println!(
                "  expression: {}",
                top(&p.fer_probs[i], &s.fer_classes, s.fer_classes.len())
            );
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} image(s) could not be read: {}",
            failed.len(),
            failed.join("; ")
        ))
    }
}
