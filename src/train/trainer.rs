//! The training loop: set the run up (or resume it), train epoch after epoch with an
//! evaluation and a checkpoint after each, then write the summary and the plots.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use super::config::TrainConfig;
use super::epoch::{train_epoch, EpochEnd};
use super::error::TrainError;
use super::evaluate::{evaluate, Metrics, Scope};
use super::logs::CsvLog;
use super::report::{self, Summary};
use super::run::Run;
use crate::gpu::Gpu;

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

/// Trains `config` (or resumes the run in `options.out`), writing every result there.
pub fn train(gpu: &Gpu, config: TrainConfig, options: &RunOptions) -> Result<Summary, TrainError> {
    let started = Instant::now();
    let mut run = Run::start(gpu, config, options)?;
    let (start_epoch, epochs) = (run.sidecar.epoch, run.config.epochs);
    let resume_at = |position: u64| options.resume.then_some(position);
    let steps_log = CsvLog::open(run.out.join("metrics.csv"), resume_at(run.sidecar.step))?;
    let epochs_log = CsvLog::open(run.out.join("epochs.csv"), resume_at(start_epoch as u64))?;
    report::print_start(&run);

    let mut last_weights = [0.5f32, 0.5];
    let mut first_step_seen = false;
    let mut last_metrics = None;
    for epoch in start_epoch..epochs {
        let totals = match train_epoch(&mut run, epoch, options, &steps_log, &mut first_step_seen)?
        {
            EpochEnd::Finished(totals) => totals,
            EpochEnd::Interrupted => {
                return Err(TrainError::Interrupted {
                    epoch,
                    batch: run.sidecar.batch,
                    dir: run.out.display().to_string(),
                })
            }
        };
        // The verification threshold (which runs the training subjects' pair images too)
        // is only needed for the final figures.
        let last = epoch + 1 == epochs;
        let metrics = evaluate_run(
            &run,
            if last {
                Scope::Full
            } else {
                Scope::WithoutThreshold
            },
        )?;
        let row = totals.row(epoch, &metrics);
        epochs_log.append(&[row])?;
        report::print_epoch(&row, epochs);
        if totals.steps > 0 {
            last_weights = totals.last_weights;
        }
        run.sidecar.epoch = epoch + 1;
        run.sidecar.batch = 0;
        run.save()?;
        last_metrics = Some(metrics);
    }
    let metrics = match last_metrics {
        Some(m) => m,
        None => evaluate_run(&run, Scope::Full)?,
    };
    report::write_plots(
        &run.out,
        &steps_log,
        &epochs_log,
        &run.sidecar.fer_classes,
        &metrics,
    )?;
    let summary = Summary::of(&run, metrics, last_weights, started.elapsed());
    report::write_json(&run.out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// The run's network on its held-out sets.
fn evaluate_run(run: &Run, scope: Scope) -> Result<Metrics, TrainError> {
    let l = &run.learner;
    evaluate(
        run.gpu,
        &l.net,
        &l.store,
        &run.dataset,
        &run.split,
        run.config.seed,
        scope,
    )
    .map_err(TrainError::Output)
}
