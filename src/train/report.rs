//! What a run reports: the line per epoch, `summary.json`, and the plots drawn from the
//! logs.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{Tasks, TrainConfig};
use super::error::TrainError;
use super::evaluate::Metrics;
use super::evaluate::{SCORED_PAIRS, THRESHOLD_PAIRS};
use super::logs::{CsvLog, EpochRow, StepRow};
use super::plots;
use super::run::Run;
use crate::choice::Choice;
use crate::data::protocol::verification_pairs;

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
    pub validation_subjects: usize,
    pub test_subjects: usize,
    pub train_images: usize,
    pub epochs: usize,
    pub steps: u64,
    pub wall_seconds: f64,
    pub train_seconds: f64,
    pub images_per_second: f64,
    pub weighting: String,
    /// The tasks trained: the config's, less a task the data could not train. The figures
    /// of a task not trained are null: its head was never trained.
    pub trained_tasks: Tasks,
    pub final_task_weights: [f32; 2],
    /// Test-fold results after the last epoch: the test fold is evaluated once, at the end,
    /// with the verification threshold chosen on the validation split.
    pub fer_accuracy: Option<f32>,
    pub fr_identification_accuracy: Option<f32>,
    pub fr_verification_accuracy: Option<f32>,
    pub fr_verification_auc: Option<f32>,
    pub metrics: Metrics,
    /// The validation split's figures after the last epoch (None without one).
    pub validation: Option<Metrics>,
    /// Entries `--skip-bad` skipped while loading, and what was wrong with each.
    pub skipped: Vec<String>,
}

impl Summary {
    /// The summary of `run` after training, with its final `metrics`.
    pub fn of(
        run: &Run,
        metrics: Metrics,
        validation: Option<Metrics>,
        final_task_weights: [f32; 2],
        wall: Duration,
    ) -> Summary {
        let info = run.gpu.adapter_info();
        let (config, split, sidecar) = (&run.config, &run.split, &run.sidecar);
        Summary {
            config: config.clone(),
            seed: config.seed,
            data: config.data.describe(),
            adapter: info.name.clone(),
            adapter_backend: format!("{:?}", info.backend),
            adapter_type: format!("{:?}", info.device_type),
            folds: split.folds,
            fold: split.fold,
            train_subjects: split.train_subjects.len(),
            validation_subjects: split.validation_subjects.len(),
            test_subjects: split.test_subjects.len(),
            train_images: split.train.len(),
            epochs: config.epochs,
            steps: sidecar.step,
            wall_seconds: wall.as_secs_f64(),
            train_seconds: sidecar.train_seconds,
            images_per_second: sidecar.images_seen as f64 / sidecar.train_seconds.max(1e-9),
            weighting: run.learner.weighting.name(),
            trained_tasks: run.tasks,
            final_task_weights,
            fer_accuracy: metrics.fer_accuracy,
            fr_identification_accuracy: metrics.fr_identification_accuracy,
            fr_verification_accuracy: metrics.fr_verification_accuracy,
            fr_verification_auc: metrics.fr_verification_auc,
            metrics,
            validation,
            skipped: run.dataset.skipped.clone(),
        }
    }
}

/// One sample as `split.json` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleEntry {
    /// The image file (None for images made in memory, e.g. the built-in synthetic faces).
    pub path: Option<String>,
    pub subject: Option<String>,
    pub expression: Option<String>,
}

/// `split.json`: which samples the run trains on, validates and tests on, with the
/// verification pairs it scores, so that another trainer (the PyTorch reference in
/// `benches/peers/`) can run the very same protocol. Indices are into `samples`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitFile {
    pub seed: u64,
    pub folds: usize,
    pub fold: usize,
    /// FR and FER class names in logit order.
    pub fr_classes: Vec<String>,
    pub fer_classes: Vec<String>,
    pub samples: Vec<SampleEntry>,
    pub train: Vec<usize>,
    pub identification: Vec<usize>,
    pub validation: Vec<usize>,
    pub validation_identification: Vec<usize>,
    pub test: Vec<usize>,
    /// [reference, probe, same (1) or not (0)]: the pairs the verification threshold is
    /// chosen on (validation) and the pairs scored (test).
    pub validation_pairs: Vec<[usize; 3]>,
    pub test_pairs: Vec<[usize; 3]>,
}

/// Writes `split.json` for `run`.
pub fn write_split(run: &Run) -> Result<(), TrainError> {
    let (dataset, split) = (&run.dataset, &run.split);
    let pairs = |images: &[usize], max_same: usize| -> Vec<[usize; 3]> {
        verification_pairs(dataset, images, run.config.seed, max_same)
            .iter()
            .map(|p| [p.reference, p.probe, p.same as usize])
            .collect()
    };
    let file = SplitFile {
        seed: run.config.seed,
        folds: split.folds,
        fold: split.fold,
        fr_classes: run.sidecar.fr_classes.clone(),
        fer_classes: run.sidecar.fer_classes.clone(),
        samples: dataset
            .samples
            .iter()
            .map(|s| SampleEntry {
                path: s.pixels.file().map(|p| p.display().to_string()),
                subject: s.subject.map(|i| dataset.subjects[i].clone()),
                expression: s.expression.map(|e| e.name().to_string()),
            })
            .collect(),
        train: split.train.clone(),
        identification: split.identification.clone(),
        validation: split.validation.clone(),
        validation_identification: split.validation_identification.clone(),
        test: split.test.clone(),
        validation_pairs: pairs(&split.validation, THRESHOLD_PAIRS),
        test_pairs: pairs(&split.test, SCORED_PAIRS),
    };
    write_json(&run.out.join("split.json"), &file)
}

/// The run's opening line.
pub fn print_start(run: &Run) {
    crate::say!(
        "training {} ({}) on {} | fold {}/{} ({} train, {} validation, {} test subjects; {} train images) | {} weighting, tasks {} | {}",
        run.config.preset.name(),
        run.config.color.name(),
        run.config.data.describe(),
        run.split.fold,
        run.split.folds,
        run.split.train_subjects.len(),
        run.split.validation_subjects.len(),
        run.split.test_subjects.len(),
        run.split.train.len(),
        run.learner.weighting.name(),
        run.tasks.name(),
        run.gpu.adapter_info().name,
    );
}

/// Images per second for people: "-" while no step has been timed (an epoch of one step
/// is only the first step, which compiles the kernels and is not timed).
pub fn rate(images_per_second: f64) -> String {
    if images_per_second > 0.0 {
        format!("{images_per_second:.0} img/s")
    } else {
        "- img/s".to_string()
    }
}

/// The line after an epoch: the trained tasks' figures only.
pub fn print_epoch(row: &EpochRow, epochs: usize, tasks: Tasks) {
    let show = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let mut line = format!("epoch {}/{}", row.epoch, epochs);
    if tasks != Tasks::Fer {
        line += &format!("  L_FR {:.3}", row.loss_fr);
    }
    if tasks != Tasks::Fr {
        line += &format!("  L_FER {:.3}", row.loss_fer);
    }
    if tasks == Tasks::Both {
        line += &format!("  w_FR {:.2}  w_FER {:.2}", row.w_fr, row.w_fer);
    }
    line += "  train acc";
    if tasks != Tasks::Fer {
        line += &format!(" FR {}", show(row.train_fr_accuracy));
    }
    if tasks != Tasks::Fr {
        line += &format!(" FER {}", show(row.train_fer_accuracy));
    }
    line += "  |  validation:";
    if tasks != Tasks::Fer {
        line += &format!(
            " identification {}",
            show(row.val_fr_identification_accuracy)
        );
    }
    if tasks != Tasks::Fr {
        line += &format!("  FER {}", show(row.val_fer_accuracy));
    }
    if tasks != Tasks::Fer {
        line += &format!("  verification AUC {}", show(row.val_fr_verification_auc));
    }
    crate::say!("{line}  |  {}", rate(row.images_per_second));
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), TrainError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| TrainError::Output(e.to_string()))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))
}

/// Losses, task weights and accuracies over the run, and the last confusion matrix, as
/// PNGs in `out/plots`.
pub fn write_plots(
    out: &Path,
    steps_log: &CsvLog<StepRow>,
    epochs_log: &CsvLog<EpochRow>,
    fer_classes: &[String],
    last: &Metrics,
    tasks: Tasks,
) -> Result<(), TrainError> {
    let (fr, fer) = (tasks != Tasks::Fer, tasks != Tasks::Fr);
    let plots = out.join("plots");
    let steps = steps_log.read_rows()?;
    let epochs = epochs_log.read_rows()?;
    let by_step = |y: fn(&StepRow) -> f32| -> Vec<(f64, f64)> {
        steps
            .iter()
            .map(|r| (r.step as f64, y(r) as f64))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let by_epoch = |y: fn(&EpochRow) -> Option<f32>| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|r| y(r).map(|v| (r.epoch as f64, v as f64)))
            .collect()
    };
    let draw = |result: Result<(), String>| result.map_err(TrainError::Output);
    draw(plots::line_chart(
        &plots.join("losses.png"),
        "Task losses",
        "step",
        "loss",
        &[
            (fr, "L_FR", by_step(|r| r.loss_fr)),
            (fer, "L_FER", by_step(|r| r.loss_fer)),
        ]
        .into_iter()
        .filter(|s| s.0)
        .map(|(_, name, points)| (name, points))
        .collect::<Vec<_>>(),
    ))?;
    // A single task's weight is fixed at 1: no chart of it.
    if tasks == Tasks::Both {
        draw(plots::line_chart(
            &plots.join("weights.png"),
            "Task weights",
            "step",
            "weight",
            &[
                ("w_FR", by_step(|r| r.w_fr)),
                ("w_FER", by_step(|r| r.w_fer)),
            ],
        ))?;
    }
    draw(plots::line_chart(
        &plots.join("accuracy.png"),
        "Accuracy and verification AUC per epoch (validation: held-out training subjects)",
        "epoch",
        "accuracy, AUC",
        &[
            (fr, "train FR", by_epoch(|r| r.train_fr_accuracy)),
            (fer, "train FER", by_epoch(|r| r.train_fer_accuracy)),
            (
                fr,
                "validation FR identification",
                by_epoch(|r| r.val_fr_identification_accuracy),
            ),
            (fer, "validation FER", by_epoch(|r| r.val_fer_accuracy)),
            (
                fr,
                "validation verification AUC",
                by_epoch(|r| r.val_fr_verification_auc),
            ),
        ]
        .into_iter()
        .filter(|s| s.0)
        .map(|(_, name, points)| (name, points))
        .collect::<Vec<_>>(),
    ))?;
    if fer && !fer_classes.is_empty() && last.fer_confusion.iter().flatten().any(|&c| c > 0) {
        draw(plots::confusion_matrix(
            &plots.join("confusion.png"),
            fer_classes,
            &last.fer_confusion,
        ))?;
    }
    Ok(())
}
