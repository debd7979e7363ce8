//! `facemtl train`: flags to a [`TrainConfig`], a run directory, Ctrl-C to a checkpoint,
//! and the final figures.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::flags;
use clap::Args;
use facemtl::data::augment::AugmentLevel;
use facemtl::data::image::Color;
use facemtl::model::Preset;
use facemtl::train::checkpoint::WEIGHTS;
use facemtl::train::config::{default_optimizer, OptimizerName, ScheduleSpec, Tasks, TrainConfig};
use facemtl::train::cv;
use facemtl::train::{train as run_train, RunOptions};
use facemtl::weighting::WeightingSpec;

use super::{open_gpu, refuse_changes, DataArgs};

fn defaults() -> TrainConfig {
    TrainConfig::default()
}

/// What a run trains on and how: everything but which fold, which weighting, and where
/// the results go (shared by `train` and `compare`).
#[derive(Args)]
pub struct RecipeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub synthetic: super::synthetic::SyntheticArgs,
    /// Network size.
    #[arg(long, value_parser = super::choice::parser::<Preset>(), ignore_case = true, default_value_t = defaults().preset)]
    pub preset: Preset,
    #[arg(long, value_parser = flags::at_least::<1>, allow_negative_numbers = true, help = format!("Passes over the training images [default: {}]; with --resume, the new total", defaults().epochs))]
    pub epochs: Option<usize>,
    /// Images per training step (at least 2).
    #[arg(long, value_parser = flags::at_least::<2>, allow_negative_numbers = true, default_value_t = defaults().batch)]
    pub batch: usize,
    /// Learning rate of the network (above 0) [default: 0.003; 0.03 for the paper presets
    /// with their default optimiser].
    #[arg(long, value_parser = flags::positive, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Learning-rate schedule: constant, cosine, or piecewise:E1,E2 (lr / 10 at each epoch).
    #[arg(long, value_parser = ScheduleSpec::parse, default_value_t = defaults().schedule)]
    pub schedule: ScheduleSpec,
    /// Update rule of the network's optimiser [default: adam; rmsprop for paper and
    /// paper-small].
    #[arg(long, value_parser = super::choice::parser::<OptimizerName>(), ignore_case = true)]
    pub optimizer: Option<OptimizerName>,
    /// L2 weight decay of the network's optimiser (0 or more).
    #[arg(long, value_parser = flags::non_negative, allow_negative_numbers = true, default_value_t = defaults().weight_decay)]
    pub weight_decay: f32,
    /// Global-norm gradient clipping (0 or more); 0 turns it off.
    #[arg(long, value_parser = flags::non_negative, allow_negative_numbers = true, default_value_t = defaults().clip_norm.unwrap_or(0.0))]
    pub clip_norm: f32,
    /// Seed of initialisation, folds, shuffling, augmentation and dropout.
    #[arg(long, value_parser = flags::seed, allow_negative_numbers = true, default_value_t = defaults().seed)]
    pub seed: u64,
    /// Folds of the subject-independent cross-validation (at least 2).
    #[arg(long, value_parser = flags::at_least::<2>, allow_negative_numbers = true, default_value_t = defaults().folds)]
    pub folds: usize,
    /// Let L_total's gradient flow through the task weights into the trunk, as the authors'
    /// code does (off: the trunk learns from the task losses only).
    #[arg(long)]
    pub weight_grad_to_trunk: bool,
    /// Learning rate of the weight unit (plain SGD; above 0).
    #[arg(long, value_parser = flags::positive, allow_negative_numbers = true, default_value_t = defaults().unit_lr)]
    pub unit_lr: f32,
    /// Softmax over the unit's raw logits instead of L2-normalised ones (unbounded weights).
    #[arg(long)]
    pub raw_unit_logits: bool,
    /// Keep probability of the dropout before the branch FCs, in (0, 1].
    #[arg(long, value_parser = flags::probability, allow_negative_numbers = true, default_value_t = defaults().keep)]
    pub keep: f32,
    /// Share of the training subjects held out for validation (and of the other training
    /// subjects' images, for validation identification); 0 turns validation off.
    #[arg(long, value_parser = flags::share, allow_negative_numbers = true, default_value_t = defaults().val_fraction)]
    pub val_fraction: f32,
    /// Keep the batch-norm running statistics of training instead of recomputing them over
    /// the clean training images before each evaluation and checkpoint.
    #[arg(long)]
    pub no_bn_recalibration: bool,
    /// Training-time augmentation.
    #[arg(long, value_parser = super::choice::parser::<AugmentLevel>(), ignore_case = true, default_value_t = defaults().augment)]
    pub augment: AugmentLevel,
    /// Train without augmentation (--augment none).
    #[arg(long, conflicts_with = "augment")]
    pub no_augment: bool,
    /// Add the centre loss on the FR embedding (weight 0.1, centre update rate 0.5).
    #[arg(long)]
    pub center_loss: bool,
    /// The network's input: grayscale, or RGB (grayscale images become three equal
    /// channels; the built-in faces are grayscale).
    #[arg(long, value_parser = super::choice::parser::<Color>(), ignore_case = true, default_value_t = defaults().color)]
    pub color: Color,
    /// How a manifest's face boxes are cut out: square (the box's larger side plus
    /// --crop-margin, around its centre) or facenet[:M] (facenet-pytorch's extract_face:
    /// the box plus M pixels of the input, resized without keeping its aspect; FaceNet's
    /// weights expect it).
    #[arg(long, value_parser = facemtl::data::align::BoxCrop::parse, default_value = "square")]
    pub crop: facemtl::data::align::BoxCrop,
    /// Start from trained weights: a run directory, a checkpoint, or a safetensors file
    /// of tensors under facemtl's names. Tensors whose name and shape match are loaded; the
    /// rest (e.g. heads with other classes) start fresh.
    #[arg(long, value_name = "PATH")]
    pub init_from: Option<PathBuf>,
    /// Keep the shared layers as loaded (no update, no gradient; their batch norms use their
    /// running statistics).
    #[arg(long, value_name = "PART", value_parser = ["trunk"])]
    pub freeze: Option<String>,
    /// The shared layers' learning rate as a share of --lr, in (0, 1] (a gentler
    /// fine-tuning of loaded weights).
    #[arg(long, value_parser = flags::positive, allow_negative_numbers = true, default_value_t = 1.0)]
    pub trunk_lr_scale: f32,
    /// With a manifest's face boxes: added on each side, as a share of the box's larger
    /// side, in [0, 2].
    #[arg(long, value_parser = flags::margin, allow_negative_numbers = true, default_value_t = defaults().crop_margin)]
    pub crop_margin: f32,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// The fold to test (0-based).
    #[arg(long, value_parser = flags::index, allow_negative_numbers = true, default_value_t = defaults().fold)]
    pub fold: usize,
    /// Train every fold of --folds, one run directory each, and report mean ± sd of every
    /// test metric (summary.json, folds.csv, plots/folds.png in --out).
    #[arg(long, conflicts_with = "fold")]
    pub all_folds: bool,
    /// With --all-folds: repeat every fold with this many seeds (--seed, --seed + 1, ...).
    #[arg(long, value_parser = flags::at_least::<1>, allow_negative_numbers = true, default_value_t = 1, requires = "all_folds")]
    pub seeds: usize,
    /// dynamic (the paper's), balanced (facemtl's), naive-dynamic (unit trained on L_total),
    /// uncertainty, gradnorm, dwa, rlw, dtp, famo, mgda, pcgrad, or static:W_FR,W_FER.
    #[arg(long, value_parser = WeightingSpec::parse, default_value_t = defaults().weighting)]
    pub weighting: WeightingSpec,
    /// Tasks to train.
    #[arg(long, value_parser = super::choice::parser::<Tasks>(), ignore_case = true, default_value_t = defaults().tasks)]
    pub tasks: Tasks,
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
    /// Record the first N steps for a replay in PyTorch (DIR/trace/: the initial weights,
    /// the weights after steps 1-10 and every 10th, every batch's samples); needs
    /// --augment none. benches/peers/pytorch_trajectory.py DIR replays them.
    #[arg(long, value_name = "N", value_parser = flags::seed, allow_negative_numbers = true, conflicts_with_all = ["resume", "all_folds"])]
    pub trace: Option<u64>,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

impl RecipeArgs {
    /// The config of a run of this recipe on `fold` with `weighting` for `tasks`.
    pub fn config(
        &self,
        fold: usize,
        weighting: WeightingSpec,
        tasks: Tasks,
    ) -> Result<TrainConfig, String> {
        // The preset's optimiser and rate unless told otherwise; another optimiser than
        // the preset's starts from the common default rate.
        let (preset_optimizer, preset_lr) = default_optimizer(self.preset);
        let optimizer = self.optimizer.unwrap_or(preset_optimizer);
        let lr = self.lr.unwrap_or(match optimizer == preset_optimizer {
            true => preset_lr,
            false => defaults().lr,
        });
        let config = TrainConfig {
            data: self.data.source(&self.synthetic.config()),
            preset: self.preset,
            epochs: self.epochs.unwrap_or(defaults().epochs),
            batch: self.batch,
            lr,
            schedule: self.schedule.clone(),
            optimizer,
            weight_decay: self.weight_decay,
            clip_norm: (self.clip_norm > 0.0).then_some(self.clip_norm),
            seed: self.seed,
            folds: self.folds,
            fold,
            weighting,
            tasks,
            weight_grad_to_trunk: self.weight_grad_to_trunk,
            unit_lr: self.unit_lr,
            normalize_unit_logits: !self.raw_unit_logits,
            keep: self.keep,
            augment: if self.no_augment {
                AugmentLevel::None
            } else {
                self.augment
            },
            identification_fraction: defaults().identification_fraction,
            val_fraction: self.val_fraction,
            bn_recalibration: !self.no_bn_recalibration,
            center_loss: self.center_loss,
            color: self.color,
            crop_margin: self.crop_margin,
            init_from: match &self.init_from {
                Some(path) => Some(facemtl::train::init::Source::read(path)?.record),
                None => None,
            },
            freeze_trunk: self.freeze.is_some(),
            box_crop: self.crop,
            trunk_lr_scale: self.trunk_lr_scale,
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

/// Flags that act only on what a run of `tasks` does not have: the weight unit and the
/// weighting methods weigh two tasks, the centre loss acts on the FR embedding. Given for
/// a run without it, each would be dropped without a word; refused instead.
fn refuse_other_task_flags(tasks: Tasks, given: &[String]) -> Result<(), String> {
    let without = |flags: &[&str]| -> Vec<String> {
        given
            .iter()
            .filter(|f| flags.contains(&f.as_str()))
            .cloned()
            .collect()
    };
    const WEIGHING: [&str; 4] = [
        "--weighting",
        "--weight-grad-to-trunk",
        "--unit-lr",
        "--raw-unit-logits",
    ];
    let (unused, why) = match tasks {
        Tasks::Both => return Ok(()),
        Tasks::Fr => (
            without(&WEIGHING),
            "they weigh two tasks, and --tasks fr trains one",
        ),
        Tasks::Fer => (
            without(&[&WEIGHING[..], &["--center-loss"]].concat()),
            "they weigh two tasks or (--center-loss) act on the face-recognition embedding, and --tasks fer trains expression recognition alone",
        ),
    };
    if unused.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} would have no effect: {why}; drop {} or train both tasks",
        unused.join(", "),
        if unused.len() == 1 { "it" } else { "them" }
    ))
}

/// `--overwrite`: the run or cross-validation in `out` removed whole before the new one
/// writes a file, under the directory's lock (so never one another process is writing),
/// so that no folder ever holds files of two runs.
fn remove_old_run(out: &std::path::Path) -> Result<(), String> {
    if !out.join(WEIGHTS).exists() && !out.join(cv::PLAN).exists() {
        return Ok(());
    }
    let _lock = facemtl::train::lock::RunLock::acquire(out).map_err(|e| e.to_string())?;
    if out.join(cv::PLAN).exists() {
        cv::remove(out).map_err(|e| e.to_string())?;
    }
    facemtl::train::files::remove_run(out).map_err(|e| {
        format!(
            "--overwrite: cannot remove the run in {}: {e}",
            out.display()
        )
    })
}

/// Ctrl-C, SIGTERM or SIGHUP sets the returned flag (the run stops after its step with a
/// checkpoint); a second signal quits at once.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // A failure to install the handler leaves the default action.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        facemtl::note!("\nfacemtl: stopping after this step and saving a checkpoint (Ctrl-C or SIGTERM again to quit at once)");
    });
    stop
}

pub fn run(args: TrainArgs, given: &[String]) -> Result<(), String> {
    let adapter = args.gpu.adapter.clone();
    let (out, resume) = match (&args.resume, &args.out) {
        (Some(dir), _) => (dir.clone(), true),
        (None, Some(dir)) => (dir.clone(), false),
        (None, None) => (fresh_run_dir(), false),
    };
    if resume {
        refuse_changes(given, &["--epochs", "--quiet", "--adapter"], &out)?;
    }
    super::check_run_dir(&out, resume)?;
    if !resume {
        refuse_other_task_flags(args.tasks, given)?;
    }
    let config = args
        .recipe
        .config(args.fold, args.weighting.clone(), args.tasks)?;
    if args.trace.is_some() {
        facemtl::train::trace::check_replayable(&config)?;
    }
    let saved_plan = if resume {
        cv::load_plan(&out).map_err(|e| e.to_string())?
    } else {
        None
    };
    if !resume && (out.join(WEIGHTS).exists() || out.join(cv::PLAN).exists()) && !args.overwrite {
        return Err(format!(
            "{} already holds a run; continue it with --resume {0}, pick another --out, or pass --overwrite",
            out.display()
        ));
    }
    if !resume && args.overwrite {
        remove_old_run(&out)?;
    }
    let gpu = open_gpu(adapter, true)?;
    let stop = stop_on_ctrl_c();
    if args.all_folds || saved_plan.is_some() {
        return cross_validation(&args, config, saved_plan, &out, &gpu, stop);
    }
    let options = RunOptions {
        out: out.clone(),
        resume,
        epochs_override: if resume { args.recipe.epochs } else { None },
        progress: !args.quiet,
        stop,
        trace: args.trace,
    };
    let result = run_train(&gpu, config, &options);
    for (kernel, t) in gpu.profile() {
        facemtl::note!(
            "profile: {kernel:<44} {:>7} dispatches {:>9.3} s",
            t.dispatches,
            t.seconds
        );
    }
    let summary = result.map_err(|e| e.to_string())?;
    let tasks = summary.trained_tasks;
    if let Some(v) = &summary.validation {
        facemtl::say!(
            "validation (held-out training subjects): {}",
            figures(v, tasks)
        );
    }
    facemtl::say!(
        "done in {:.0} s ({:.0} images/s). Test fold: {}.",
        summary.wall_seconds,
        summary.images_per_second,
        figures(&summary.metrics, tasks)
    );
    facemtl::say!(
        "results in {}: summary.json, metrics.csv, epochs.csv, split.json, plots/, and the checkpoint (checkpoint.safetensors, checkpoint.state.safetensors, checkpoint.json)",
        out.display()
    );
    Ok(())
}

/// The figures of a held-out set; those of a task the run did not train say so, as
/// `eval` does, and are not shown as numbers.
fn figures(m: &facemtl::train::evaluate::Metrics, tasks: Tasks) -> String {
    let show = |v: Option<f32>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    let fer = match tasks {
        Tasks::Fr => "FER not trained (the run was --tasks fr)".to_string(),
        _ => format!("FER accuracy {}", show(m.fer_accuracy)),
    };
    let fr = match tasks {
        Tasks::Fer => "FR not trained (the run was --tasks fer)".to_string(),
        _ => format!(
            "FR identification {}, FR verification accuracy {} (AUC {})",
            show(m.fr_identification_accuracy),
            show(m.fr_verification_accuracy),
            show(m.fr_verification_auc)
        ),
    };
    format!("{fer}, {fr}")
}

/// `--all-folds`, or `--resume` of a cross-validation: every fold, then mean ± sd.
fn cross_validation(
    args: &TrainArgs,
    config: TrainConfig,
    saved_plan: Option<cv::Plan>,
    out: &std::path::Path,
    gpu: &facemtl::gpu::Gpu,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let plan = match saved_plan {
        Some(plan) if args.recipe.epochs.is_none() => plan,
        Some(_) => return Err("--epochs cannot change a cross-validation being resumed; it continues with its own settings".into()),
        None => cv::Plan {
            folds: config.folds,
            seeds: (0..args.seeds as u64).map(|k| config.seed + k).collect(),
            config,
        },
    };
    let options = cv::CvOptions {
        out: out.to_path_buf(),
        progress: !args.quiet,
        stop,
    };
    let summary = cv::cross_validate(gpu, &plan, &options).map_err(|e| e.to_string())?;
    let show = |name: &str, s: &Option<cv::Spread>| {
        if let Some(s) = s {
            facemtl::say!("  {name:<32} {:.3} ± {:.3}  (n = {})", s.mean, s.sd, s.n);
        }
    };
    facemtl::say!(
        "cross-validation done in {:.0} s: test figures, mean ± sd over {} runs",
        summary.wall_seconds,
        summary.runs.len()
    );
    show("FER accuracy", &summary.fer_accuracy);
    show(
        "FR identification accuracy",
        &summary.fr_identification_accuracy,
    );
    show(
        "FR verification accuracy",
        &summary.fr_verification_accuracy,
    );
    show("FR verification AUC", &summary.fr_verification_auc);
    facemtl::say!(
        "results in {}: summary.json, folds.csv, plots/folds.png, and one run directory per fold",
        out.display()
    );
    Ok(())
}
