//! Cross-validation: every fold of `--folds K` (for each of `--seeds N` seeds) trained with
//! the same settings, one run directory each (`seed-S/fold-F`), and the aggregate: mean ± sd
//! of every test metric in `summary.json`, one row per run in `folds.csv`, and
//! `plots/folds.png`. `cv.json` records the plan, so an interrupted cross-validation
//! resumes at the run and step where it stopped: finished runs are read back, a run with
//! a checkpoint continues from it, the rest start.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::checkpoint::FORMAT_VERSION;
use super::config::TrainConfig;
use super::error::TrainError;
use super::lock::RunLock;
use super::plots;
use super::report::{write_json, Summary};
use super::run::RunOptions;
use super::trainer::train;
use crate::gpu::Gpu;

/// The plan's file name.
pub use super::files::CV_PLAN as PLAN;

/// What a cross-validation runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The settings of every run (its `fold` and `seed` are set per run).
    pub config: TrainConfig,
    /// The folds asked, 0 to folds - 1 (the runs stop early when the data gives fewer).
    pub folds: usize,
    /// The seeds, each repeating every fold.
    pub seeds: Vec<u64>,
}

/// One finished run's test figures, as `folds.csv` holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldRow {
    pub seed: u64,
    pub fold: usize,
    pub fer_accuracy: Option<f32>,
    pub fr_identification_accuracy: Option<f32>,
    pub fr_verification_accuracy: Option<f32>,
    pub fr_verification_auc: Option<f32>,
    pub train_seconds: f64,
}

/// Mean and sample standard deviation of one metric over the runs that have it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one run.
    pub sd: f64,
    pub n: usize,
    pub values: Vec<f64>,
}

impl Spread {
    /// None when no run has the metric.
    pub fn of(values: impl Iterator<Item = Option<f32>>) -> Option<Spread> {
        let values: Vec<f64> = values.flatten().map(f64::from).collect();
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Spread {
            mean,
            sd,
            n,
            values,
        })
    }
}

/// The aggregate `summary.json` of a cross-validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvSummary {
    pub plan: Plan,
    pub runs: Vec<FoldRow>,
    pub fer_accuracy: Option<Spread>,
    pub fr_identification_accuracy: Option<Spread>,
    pub fr_verification_accuracy: Option<Spread>,
    pub fr_verification_auc: Option<Spread>,
    pub wall_seconds: f64,
}

/// How to run a cross-validation, beyond the plan.
pub struct CvOptions {
    pub out: PathBuf,
    pub progress: bool,
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn run_dir(out: &Path, seed: u64, fold: usize) -> PathBuf {
    out.join(format!("seed-{seed}"))
        .join(format!("fold-{fold}"))
}

fn output_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Output(format!("{}: {e}", path.display()))
}

/// Reads the plan saved as `file` in `out` (a `what`, e.g. "cross-validation"), if any.
pub fn read_plan<P: DeserializeOwned>(
    out: &Path,
    file: &str,
    what: &str,
) -> Result<Option<P>, TrainError> {
    let path = out.join(file);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| output_error(&path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| output_error(&path, format!("not a {what} plan: {e}")))?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(FORMAT_VERSION)) {
        let found = version.map_or("no format version".to_string(), |v| {
            format!("format version {v}")
        });
        return Err(output_error(
            &path,
            format!("is a {what} plan of {found}, and this facemtl reads version {FORMAT_VERSION}; use the facemtl that wrote it, or start again in another --out"),
        ));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| output_error(&path, format!("not a {what} plan: {e}")))
}

/// One directory runs one plan: saves `plan` as `file` in `out`, or checks that the plan
/// saved there is the same (a resumed run) and refuses another.
pub fn keep_plan<P: Serialize + DeserializeOwned + PartialEq>(
    out: &Path,
    file: &str,
    plan: &P,
    what: &str,
) -> Result<(), TrainError> {
    match read_plan::<P>(out, file, what)? {
        Some(saved) if saved != *plan => Err(TrainError::Config(format!(
            "{} holds another {what} (its {file} differs); resume it with --resume {0}, or pick another --out",
            out.display()
        ))),
        Some(_) => Ok(()),
        None => {
            let mut value = serde_json::to_value(plan)
                .map_err(|e| TrainError::Output(format!("{file}: {e}")))?;
            if let Some(fields) = value.as_object_mut() {
                fields.insert("format_version".into(), FORMAT_VERSION.into());
            }
            write_json(&out.join(file), &value)
        }
    }
}

/// Reads the plan of the cross-validation in `out`, if it is one.
pub fn load_plan(out: &Path) -> Result<Option<Plan>, TrainError> {
    read_plan(out, PLAN, "cross-validation")
}

/// Removes the cross-validation in `out` (its plan, aggregate and run directories), for
/// `--overwrite`; other files there stay.
pub fn remove(out: &Path) -> Result<(), TrainError> {
    for entry in std::fs::read_dir(out).map_err(|e| output_error(out, e))? {
        let path = entry.map_err(|e| output_error(out, e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().is_some_and(|n| n.starts_with("seed-")) && path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| output_error(&path, e))?;
        }
    }
    for file in [PLAN, "summary.json", "folds.csv"] {
        let path = out.join(file);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| output_error(&path, e))?;
        }
    }
    Ok(())
}

/// Runs (or continues) the cross-validation `plan` in `options.out`.
pub fn cross_validate(
    gpu: &Gpu,
    plan: &Plan,
    options: &CvOptions,
) -> Result<CvSummary, TrainError> {
    let started = Instant::now();
    let _lock = RunLock::acquire(&options.out)?;
    std::fs::create_dir_all(options.out.join("plots"))
        .map_err(|e| output_error(&options.out, e))?;
    keep_plan(&options.out, PLAN, plan, "cross-validation")?;
    let mut folds = plan.folds;
    let mut rows = Vec::new();
    let mut timed = (0usize, 0.0f64);
    for (s, &seed) in plan.seeds.iter().enumerate() {
        let mut fold = 0;
        while fold < folds {
            let total = folds * plan.seeds.len();
            let index = s * folds + fold + 1;
            let dir = run_dir(&options.out, seed, fold);
            let summary_path = dir.join("summary.json");
            let summary: Summary = if summary_path.exists() {
                let text = std::fs::read_to_string(&summary_path)
                    .map_err(|e| output_error(&summary_path, e))?;
                serde_json::from_str(&text).map_err(|e| output_error(&summary_path, e))?
            } else {
                let eta = (timed.0 > 0).then(|| {
                    let left = (total - index + 1) as f64 * timed.1 / timed.0 as f64;
                    format!(", about {:.0} min left", left / 60.0)
                });
                crate::say!(
                    "cross-validation: run {index}/{total} (seed {seed}, fold {fold} of 0-{}){}",
                    folds - 1,
                    eta.unwrap_or_default()
                );
                let run_started = Instant::now();
                let config = TrainConfig {
                    fold,
                    seed,
                    ..plan.config.clone()
                };
                let resume = dir.join(super::checkpoint::SIDECAR_JSON).exists();
                let run_options = RunOptions {
                    out: dir.clone(),
                    resume,
                    epochs_override: None,
                    progress: options.progress,
                    stop: options.stop.clone(),
                    trace: None,
                };
                let summary = train(gpu, config, &run_options).map_err(|e| match e {
                    TrainError::Interrupted { epoch, batch, .. } => TrainError::Interrupted {
                        epoch,
                        batch,
                        dir: options.out.display().to_string(),
                        command: "train",
                    },
                    other => other,
                })?;
                timed.0 += 1;
                timed.1 += run_started.elapsed().as_secs_f64();
                summary
            };
            rows.push(FoldRow {
                seed,
                fold,
                fer_accuracy: summary.fer_accuracy,
                fr_identification_accuracy: summary.fr_identification_accuracy,
                fr_verification_accuracy: summary.fr_verification_accuracy,
                fr_verification_auc: summary.fr_verification_auc,
                train_seconds: summary.train_seconds,
            });
            // The data may give fewer folds than asked (fewer subjects than folds).
            folds = folds.min(summary.folds);
            fold += 1;
        }
    }
    let summary = CvSummary {
        plan: plan.clone(),
        fer_accuracy: Spread::of(rows.iter().map(|r| r.fer_accuracy)),
        fr_identification_accuracy: Spread::of(rows.iter().map(|r| r.fr_identification_accuracy)),
        fr_verification_accuracy: Spread::of(rows.iter().map(|r| r.fr_verification_accuracy)),
        fr_verification_auc: Spread::of(rows.iter().map(|r| r.fr_verification_auc)),
        runs: rows,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_report(&options.out, &summary)?;
    Ok(summary)
}

/// `summary.json`, `folds.csv` and `plots/folds.png`.
fn write_report(out: &Path, summary: &CvSummary) -> Result<(), TrainError> {
    write_json(&out.join("summary.json"), summary)?;
    let csv_path = out.join("folds.csv");
    let mut writer = csv::Writer::from_path(&csv_path).map_err(|e| output_error(&csv_path, e))?;
    for row in &summary.runs {
        writer
            .serialize(row)
            .map_err(|e| output_error(&csv_path, e))?;
    }
    writer.flush().map_err(|e| output_error(&csv_path, e))?;
    // Folds are categories: each fold's figure (the mean over its seeds, with their sd when
    // there are several), then the mean ± sd over all runs.
    let folds = summary.runs.iter().map(|r| r.fold + 1).max().unwrap_or(0);
    let mut categories: Vec<String> = (0..folds).map(|f| format!("fold {f}")).collect();
    categories.push("mean ± sd".to_string());
    let series = |y: fn(&FoldRow) -> Option<f32>, all: &Option<Spread>| -> Vec<plots::MeanSd> {
        let mut points: Vec<plots::MeanSd> = (0..folds)
            .map(|f| {
                let values = summary.runs.iter().filter(|r| r.fold == f).map(y);
                Spread::of(values).map(|s| (s.mean, s.sd))
            })
            .collect();
        points.push(all.as_ref().map(|s| (s.mean, s.sd)));
        points
    };
    plots::error_bars(
        &out.join("plots").join("folds.png"),
        "Test figures per fold, and their mean ± sd",
        &categories,
        &[
            ("FER", series(|r| r.fer_accuracy, &summary.fer_accuracy)),
            (
                "FR identification",
                series(
                    |r| r.fr_identification_accuracy,
                    &summary.fr_identification_accuracy,
                ),
            ),
            (
                "verification accuracy",
                series(
                    |r| r.fr_verification_accuracy,
                    &summary.fr_verification_accuracy,
                ),
            ),
            (
                "verification AUC",
                series(|r| r.fr_verification_auc, &summary.fr_verification_auc),
            ),
        ],
    )
    .map_err(TrainError::Output)
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn spread_is_the_mean_and_sample_sd_of_the_runs_that_have_the_metric() {
        let s = Spread::of([Some(0.5), None, Some(0.7), Some(0.9)].into_iter()).unwrap();
        assert_eq!(s.n, 3);
        approx::assert_abs_diff_eq!(s.mean, 0.7, epsilon = 1e-6);
        approx::assert_abs_diff_eq!(s.sd, 0.2, epsilon = 1e-6);
        assert_eq!(Spread::of([Some(0.25f32)].into_iter()).unwrap().sd, 0.0);
        assert!(Spread::of([None, None].into_iter()).is_none());
    }
}
