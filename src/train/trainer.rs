//! The training loop. Each step: assemble a batch (on the prefetch thread), record the
//! forward pass, read back the two task losses, the unit's task weights and the logits in
//! one readback, let the weighting method set this step's weights, then record the backward
//! passes (network, and weight unit) and the optimiser updates. An epoch ends with an
//! evaluation and a checkpoint.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpoint, Sidecar};
use super::config::{Tasks, TrainConfig};
use super::error::TrainError;
use super::evaluate::{evaluate, Metrics, Scope};
use super::logs::{cell, CsvLog, EPOCHS_HEADER, METRICS_HEADER};
use super::plots;
use super::step::{Learner, StepResult};
use crate::data::augment::Augmentation;
use crate::data::batches::Prefetcher;
use crate::data::protocol::{self, Split};
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::weighting::WeightingSpec;

/// How to run, beyond the config.
pub struct RunOptions {
    pub out: PathBuf,
    /// Continue the run saved in `out`.
    pub resume: bool,
    /// With `resume`: train to this many epochs instead of the saved config's.
    pub epochs_override: Option<usize>,
    /// Draw progress bars (when stderr is a terminal).
    pub progress: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current step with a checkpoint.
    pub stop: Arc<AtomicBool>,
}

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub config: TrainConfig,
    pub seed: u64,
    pub data: String,
    pub adapter: String,
    pub adapter_backend: String,
    pub adapter_type: String,
    pub folds: usize,
    pub fold: usize,
    pub train_subjects: usize,
    pub test_subjects: usize,
    pub train_images: usize,
    pub epochs: usize,
    pub steps: u64,
    pub wall_seconds: f64,
    pub train_seconds: f64,
    pub images_per_second: f64,
    pub weighting: String,
    pub final_task_weights: [f32; 2],
    /// Test-fold results after the last epoch (no epoch is picked on the test fold).
    pub fer_accuracy: Option<f32>,
    pub fr_identification_accuracy: Option<f32>,
    pub fr_verification_accuracy: Option<f32>,
    pub fr_verification_auc: Option<f32>,
    pub metrics: Metrics,
    /// Entries `--skip-bad` skipped while loading, and what was wrong with each.
    pub skipped: Vec<String>,
}

/// Per-epoch running sums of the training steps.
#[derive(Default)]
struct EpochTotals {
    steps: usize,
    loss: [f64; 2],
    weight: [f64; 2],
    correct: [usize; 2],
    labelled: [usize; 2],
    images: usize,
    seconds: f64,
}

/// Seeds derived from the run's seed, so a resumed run draws exactly what an uninterrupted
/// one would (shuffles per epoch, augmentation per batch, dropout per step).
fn derived_seed(seed: u64, kind: u64, index: u64) -> u64 {
    let mut x =
        seed ^ kind.wrapping_mul(0xA076_1D64_78BD_642F) ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB);
    x ^= x >> 31;
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The weighting to use given the tasks asked and the labels the data has.
fn effective_weighting(
    config: &TrainConfig,
    dataset: &Dataset,
) -> (WeightingSpec, Tasks, Option<String>) {
    let has_fr = dataset.samples.iter().any(|s| s.subject.is_some());
    let has_fer = dataset.samples.iter().any(|s| s.expression.is_some());
    let (tasks, note) = match (config.tasks, has_fr, has_fer) {
        (Tasks::Both, true, false) => (
            Tasks::Fr,
            Some("the data has no expression labels: training face recognition only".to_string()),
        ),
        (Tasks::Both, false, true) => (
            Tasks::Fer,
            Some(
                "the data has no subject labels: training expression recognition only".to_string(),
            ),
        ),
        (t, _, _) => (t, None),
    };
    let spec = match tasks {
        Tasks::Both => config.weighting.clone(),
        Tasks::Fr => WeightingSpec::Static([1.0, 0.0]),
        Tasks::Fer => WeightingSpec::Static([0.0, 1.0]),
    };
    (spec, tasks, note)
}

struct Run<'a> {
    gpu: &'a Gpu,
    dataset: Arc<Dataset>,
    split: Arc<Split>,
    learner: Learner,
    sidecar: Sidecar,
    out: PathBuf,
}

impl Run<'_> {
    fn save(&self) -> Result<(), TrainError> {
        checkpoint::save(
            self.gpu,
            &self.out,
            &self.learner.store,
            &self.learner.main_opt,
            &self.learner.unit_opt,
            &self.sidecar,
        )
        .map_err(TrainError::Checkpoint)
    }
}

fn progress_bar(show: bool, epoch: usize, epochs: usize, batches: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(batches as u64);
    let style =
        indicatif::ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{}/{epochs}", epoch + 1));
    bar
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), TrainError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| TrainError::Output(e.to_string()))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))
}

/// Trains `config` (or resumes the run in `options.out`), writing every result there.
pub fn train(gpu: &Gpu, config: TrainConfig, options: &RunOptions) -> Result<Summary, TrainError> {
    let started = Instant::now();
    let resumed = if options.resume {
        let ck = Checkpoint::load(&options.out).map_err(TrainError::Checkpoint)?;
        Some(ck)
    } else {
        None
    };
    let mut config = match &resumed {
        Some(ck) => ck.sidecar.config.clone(),
        None => config,
    };
    if let Some(epochs) = options.epochs_override {
        config.epochs = epochs;
    }
    config.validate().map_err(TrainError::Config)?;
    let out = options.out.clone();
    std::fs::create_dir_all(out.join("plots"))
        .map_err(|e| TrainError::Output(format!("{}: {e}", out.display())))?;

    let architecture = config.preset.architecture();
    let dataset = Arc::new(config.data.load(architecture.input)?);
    if !dataset.skipped.is_empty() {
        eprintln!(
            "facemtl: warning: skipped {} bad entries (--skip-bad); first: {}",
            dataset.skipped.len(),
            dataset.skipped[0]
        );
    }
    let split = Arc::new(protocol::split(
        &dataset,
        config.folds,
        config.fold,
        config.seed,
        config.identification_fraction,
    )?);
    let (weighting_spec, tasks, note) = effective_weighting(&config, &dataset);
    if let Some(note) = note {
        eprintln!("facemtl: {note}");
    }
    let steps_per_epoch = split.train.len().div_ceil(config.batch);
    let learner = Learner::new(
        gpu,
        &config,
        [split.train_subjects.len(), split.expressions.len()],
        tasks,
        weighting_spec,
        steps_per_epoch,
    )?;
    let fr_classes: Vec<String> = split
        .train_subjects
        .iter()
        .map(|&s| dataset.subjects[s].clone())
        .collect();
    let fer_classes: Vec<String> = split
        .expressions
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    let sidecar = Sidecar {
        format_version: 1,
        config: config.clone(),
        fr_classes,
        fer_classes,
        epoch: 0,
        batch: 0,
        step: 0,
        main_optimizer_steps: 0,
        unit_optimizer_steps: 0,
        train_seconds: 0.0,
        images_seen: 0,
    };
    let mut run = Run {
        gpu,
        learner,
        dataset,
        split,
        sidecar,
        out: out.clone(),
    };
    if let Some(ck) = &resumed {
        if ck.sidecar.fr_classes != run.sidecar.fr_classes
            || ck.sidecar.fer_classes != run.sidecar.fer_classes
        {
            return Err(TrainError::Checkpoint(
                "the data no longer matches the checkpoint's classes; resume with the same data"
                    .into(),
            ));
        }
        let l = &mut run.learner;
        ck.restore_model(gpu, &l.store)
            .map_err(TrainError::Checkpoint)?;
        ck.restore_optimizers(gpu, &l.store, &mut l.main_opt, &mut l.unit_opt)
            .map_err(TrainError::Checkpoint)?;
        run.sidecar = Sidecar {
            config: config.clone(),
            ..ck.sidecar.clone()
        };
    }
    let (start_epoch, start_batch, start_step) =
        (run.sidecar.epoch, run.sidecar.batch, run.sidecar.step);
    let metrics_log = CsvLog::open(
        out.join("metrics.csv"),
        METRICS_HEADER,
        options.resume.then_some((1, start_step as f64)),
    )?;
    let epochs_log = CsvLog::open(
        out.join("epochs.csv"),
        EPOCHS_HEADER,
        options.resume.then_some((0, start_epoch as f64)),
    )?;

    println!(
        "training {} on {} | fold {}/{} ({} train subjects, {} test subjects, {} train images) | {} weighting, tasks {:?} | {}",
        config.preset.name(),
        config.data.describe(),
        run.split.fold,
        run.split.folds,
        run.split.train_subjects.len(),
        run.split.test_subjects.len(),
        run.split.train.len(),
        run.learner.weighting.name(),
        tasks,
        gpu.adapter_info().name,
    );
    let mut last_weights = [0.5f32, 0.5];
    let mut startup_reported = false;
    let mut last_metrics = Metrics::default();
    for epoch in start_epoch..config.epochs {
        let mut order = run.split.train.clone();
        order.shuffle(&mut StdRng::seed_from_u64(derived_seed(
            config.seed,
            1,
            epoch as u64,
        )));
        let first_batch = if epoch == start_epoch { start_batch } else { 0 };
        let augmentation = config.augment.then_some(Augmentation::DEFAULT);
        let batches = Prefetcher::start(
            run.dataset.clone(),
            run.split.clone(),
            order,
            config.batch,
            first_batch,
            augmentation,
            derived_seed(config.seed, 2, epoch as u64),
            2,
        );
        let bar = progress_bar(options.progress, epoch, config.epochs, steps_per_epoch);
        bar.set_position(first_batch as u64);
        let mut totals = EpochTotals::default();
        let mut rows = Vec::new();
        for (b, batch) in batches.enumerate() {
            let batch = batch?;
            let step_started = Instant::now();
            let lr = run.learner.main_opt.lr();
            let StepResult {
                losses,
                weights,
                correct,
                labelled,
            } = match run.learner.step(
                gpu,
                &batch,
                run.sidecar.step,
                derived_seed(config.seed, 3, run.sidecar.step) as u32,
                None,
            ) {
                Ok(r) => r,
                Err(e) => {
                    bar.abandon();
                    metrics_log.append(&rows)?;
                    return Err(e);
                }
            };
            let seconds = step_started.elapsed().as_secs_f64();
            // The first step of a process also compiles every kernel (software drivers
            // compile on first use): reported, and kept out of the epoch's images/s.
            let first_step = !startup_reported;
            if first_step {
                startup_reported = true;
                bar.suspend(|| {
                    eprintln!(
                        "facemtl: first step {seconds:.1} s, most of it compiling kernels (the driver's shader cache makes later runs start faster)"
                    )
                });
            }
            run.sidecar.step += 1;
            run.sidecar.batch = first_batch + b + 1;
            run.sidecar.images_seen += batch.len() as u64;
            run.sidecar.train_seconds += seconds;
            run.sidecar.main_optimizer_steps = run.learner.main_opt.steps();
            run.sidecar.unit_optimizer_steps = run.learner.unit_opt.steps();
            last_weights = weights;
            totals.steps += 1;
            if !first_step {
                totals.images += batch.len();
                totals.seconds += seconds;
            }
            for t in 0..2 {
                totals.loss[t] += losses[t] as f64;
                totals.weight[t] += weights[t] as f64;
                totals.correct[t] += correct[t];
                totals.labelled[t] += labelled[t];
            }
            rows.push(format!(
                "{},{},{:.6},{:.6},{:.6},{:.6},{:.3e}",
                epoch + 1,
                run.sidecar.step,
                losses[0],
                losses[1],
                weights[0],
                weights[1],
                lr
            ));
            bar.set_message(format!(
                "L_FR {:.3} L_FER {:.3} w {:.2}/{:.2} {:.0} img/s",
                losses[0],
                losses[1],
                weights[0],
                weights[1],
                totals.images as f64 / totals.seconds.max(1e-9)
            ));
            bar.inc(1);
            if options.stop.load(Ordering::Relaxed) {
                bar.abandon();
                metrics_log.append(&rows)?;
                gpu.synchronize()?;
                run.sidecar.epoch = epoch;
                run.save()?;
                return Err(TrainError::Interrupted {
                    epoch,
                    batch: run.sidecar.batch,
                    dir: out.display().to_string(),
                });
            }
        }
        bar.finish_and_clear();
        metrics_log.append(&rows)?;
        // The verification threshold (which runs the training subjects' pair images too)
        // is only needed for the final figures.
        let scope = if epoch + 1 == config.epochs {
            Scope::Full
        } else {
            Scope::WithoutThreshold
        };
        let metrics = evaluate(
            gpu,
            &run.learner.net,
            &run.learner.store,
            &run.dataset,
            &run.split,
            config.seed,
            scope,
        )
        .map_err(TrainError::Output)?;
        let steps = totals.steps.max(1) as f64;
        let mean = |v: f64| v / steps;
        let accuracy = |t: usize| {
            (totals.labelled[t] > 0).then(|| totals.correct[t] as f32 / totals.labelled[t] as f32)
        };
        let images_per_second = totals.images as f64 / totals.seconds.max(1e-9);
        epochs_log.append(&[format!(
            "{},{:.6},{:.6},{:.6},{:.6},{},{},{},{},{},{:.2},{:.1}",
            epoch + 1,
            mean(totals.loss[0]),
            mean(totals.loss[1]),
            mean(totals.weight[0]),
            mean(totals.weight[1]),
            cell(accuracy(0)),
            cell(accuracy(1)),
            cell(metrics.fr_identification_accuracy),
            cell(metrics.fer_accuracy),
            cell(metrics.fr_verification_auc),
            totals.seconds,
            images_per_second,
        )])?;
        let show = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "epoch {}/{}  L_FR {:.3}  L_FER {:.3}  w_FR {:.2}  w_FER {:.2}  train acc FR {} FER {}  |  identification {}  FER test {}  verification AUC {}  |  {:.0} img/s",
            epoch + 1,
            config.epochs,
            mean(totals.loss[0]),
            mean(totals.loss[1]),
            mean(totals.weight[0]),
            mean(totals.weight[1]),
            show(accuracy(0)),
            show(accuracy(1)),
            show(metrics.fr_identification_accuracy),
            show(metrics.fer_accuracy),
            show(metrics.fr_verification_auc),
            images_per_second,
        );
        run.sidecar.epoch = epoch + 1;
        run.sidecar.batch = 0;
        run.save()?;
        last_metrics = metrics;
    }
    if start_epoch >= config.epochs {
        last_metrics = evaluate(
            gpu,
            &run.learner.net,
            &run.learner.store,
            &run.dataset,
            &run.split,
            config.seed,
            Scope::Full,
        )
        .map_err(TrainError::Output)?;
    }
    write_plots(
        &out,
        &metrics_log,
        &epochs_log,
        &run.sidecar.fer_classes,
        &last_metrics,
    )?;
    let info = gpu.adapter_info();
    let summary = Summary {
        config: config.clone(),
        seed: config.seed,
        data: config.data.describe(),
        adapter: info.name.clone(),
        adapter_backend: format!("{:?}", info.backend),
        adapter_type: format!("{:?}", info.device_type),
        folds: run.split.folds,
        fold: run.split.fold,
        train_subjects: run.split.train_subjects.len(),
        test_subjects: run.split.test_subjects.len(),
        train_images: run.split.train.len(),
        epochs: config.epochs,
        steps: run.sidecar.step,
        wall_seconds: started.elapsed().as_secs_f64(),
        train_seconds: run.sidecar.train_seconds,
        images_per_second: run.sidecar.images_seen as f64 / run.sidecar.train_seconds.max(1e-9),
        weighting: run.learner.weighting.name(),
        final_task_weights: last_weights,
        fer_accuracy: last_metrics.fer_accuracy,
        fr_identification_accuracy: last_metrics.fr_identification_accuracy,
        fr_verification_accuracy: last_metrics.fr_verification_accuracy,
        fr_verification_auc: last_metrics.fr_verification_auc,
        metrics: last_metrics,
        skipped: run.dataset.skipped.clone(),
    };
    write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

fn write_plots(
    out: &Path,
    metrics: &CsvLog,
    epochs: &CsvLog,
    fer_classes: &[String],
    last: &Metrics,
) -> Result<(), TrainError> {
    let plots = out.join("plots");
    let steps = metrics.read_rows()?;
    let column = |rows: &[Vec<f64>], x: usize, y: usize| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r.len() > x.max(y) && r[y].is_finite())
            .map(|r| (r[x], r[y]))
            .collect()
    };
    let draw = |result: Result<(), String>| result.map_err(TrainError::Output);
    draw(plots::line_chart(
        &plots.join("losses.png"),
        "Task losses",
        "step",
        "loss",
        &[
            ("L_FR", column(&steps, 1, 2)),
            ("L_FER", column(&steps, 1, 3)),
        ],
    ))?;
    draw(plots::line_chart(
        &plots.join("weights.png"),
        "Task weights",
        "step",
        "weight",
        &[
            ("w_FR", column(&steps, 1, 4)),
            ("w_FER", column(&steps, 1, 5)),
        ],
    ))?;
    let per_epoch = epochs.read_rows()?;
    draw(plots::line_chart(
        &plots.join("accuracy.png"),
        "Accuracy per epoch",
        "epoch",
        "accuracy",
        &[
            ("train FR", column(&per_epoch, 0, 5)),
            ("train FER", column(&per_epoch, 0, 6)),
            ("FR identification", column(&per_epoch, 0, 7)),
            ("FER test", column(&per_epoch, 0, 8)),
        ],
    ))?;
    if !fer_classes.is_empty() && last.fer_confusion.iter().flatten().any(|&c| c > 0) {
        draw(plots::confusion_matrix(
            &plots.join("confusion.png"),
            fer_classes,
            &last.fer_confusion,
        ))?;
    }
    Ok(())
}
