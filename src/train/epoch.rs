//! One epoch of training: shuffle the training images (seeded by the epoch), stream batches
//! from the prefetch thread, take a step on each, log a row per step and keep the epoch's
//! running sums. Stops early, with a checkpoint, when asked to.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::error::TrainError;
use super::logs::{CsvLog, EpochRow, StepRow};
use super::run::{Run, RunOptions};
use super::step::StepResult;
use super::trace::Trace;
use crate::data::augment::{AugmentLevel, Augmentation};
use crate::data::batches::Prefetcher;
use crate::train::evaluate::Metrics;

/// Seeds derived from the run's seed, so a resumed run draws exactly what an uninterrupted
/// one would (shuffles per epoch, augmentation per batch, dropout per step).
pub fn derived_seed(seed: u64, kind: u64, index: u64) -> u64 {
    let mut x =
        seed ^ kind.wrapping_mul(0xA076_1D64_78BD_642F) ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB);
    x ^= x >> 31;
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Running sums over an epoch's steps.
#[derive(Debug, Default)]
pub struct EpochTotals {
    pub steps: usize,
    loss: [f64; 2],
    weight: [f64; 2],
    correct: [usize; 2],
    labelled: [usize; 2],
    /// Images and seconds of the timed steps (all but a process's first, which compiles).
    images: usize,
    seconds: f64,
    /// The task weights of the last step.
    pub last_weights: [f32; 2],
}

impl EpochTotals {
    fn add(&mut self, result: &StepResult, images: usize, seconds: Option<f64>) {
        self.steps += 1;
        if let Some(seconds) = seconds {
            self.images += images;
            self.seconds += seconds;
        }
        for t in 0..2 {
            self.loss[t] += result.losses[t] as f64;
            self.weight[t] += result.weights[t] as f64;
            self.correct[t] += result.correct[t];
            self.labelled[t] += result.labelled[t];
        }
        self.last_weights = result.weights;
    }

    fn mean(&self, sums: [f64; 2]) -> [f32; 2] {
        sums.map(|v| (v / self.steps.max(1) as f64) as f32)
    }

    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }

    /// The epoch's log row, with the validation figures after it.
    pub fn row(&self, epoch: usize, validation: Option<&Metrics>) -> EpochRow {
        let [loss_fr, loss_fer] = self.mean(self.loss);
        let [w_fr, w_fer] = self.mean(self.weight);
        let accuracy = |t: usize| {
            (self.labelled[t] > 0).then(|| self.correct[t] as f32 / self.labelled[t] as f32)
        };
        EpochRow {
            epoch: epoch + 1,
            steps: self.steps,
            loss_fr,
            loss_fer,
            w_fr,
            w_fer,
            train_fr_accuracy: accuracy(0),
            train_fer_accuracy: accuracy(1),
            val_fr_identification_accuracy: validation.and_then(|m| m.fr_identification_accuracy),
            val_fer_accuracy: validation.and_then(|m| m.fer_accuracy),
            val_fr_verification_auc: validation.and_then(|m| m.fr_verification_auc),
            seconds: self.seconds,
            images_per_second: self.images_per_second(),
        }
    }
}

/// How an epoch ended.
pub enum EpochEnd {
    Finished(EpochTotals),
    /// Stopped on request after a step; the checkpoint is saved.
    Interrupted,
}

/// Trains epoch `epoch` (from the batch the run stands at), appending to `steps_log`.
/// `first_step_seen` is false until the process has taken a step (which compiles kernels).
pub fn train_epoch(
    run: &mut Run,
    epoch: usize,
    options: &RunOptions,
    steps_log: &CsvLog<StepRow>,
    first_step_seen: &mut bool,
    trace: Option<&Trace>,
) -> Result<EpochEnd, TrainError> {
    let config = &run.config;
    let mut order = run.split.train.clone();
    order.shuffle(&mut StdRng::seed_from_u64(derived_seed(
        config.seed,
        1,
        epoch as u64,
    )));
    let first_batch = run.sidecar.batch;
    let batches = Prefetcher::start(
        run.dataset.clone(),
        run.split.clone(),
        order,
        config.batch,
        first_batch,
        (config.augment != AugmentLevel::None).then(|| Augmentation::of(config.augment)),
        derived_seed(config.seed, 2, epoch as u64),
        2,
    );
    let bar = progress_bar(options.progress, epoch, config.epochs, run.steps_per_epoch);
    bar.set_position(first_batch as u64);
    let mut totals = EpochTotals::default();
    let mut rows = Vec::new();
    let seed = config.seed;
    for batch in batches {
        let step_started = Instant::now();
        let lr = run.learner.main_opt.lr();
        let dropout_seed = derived_seed(seed, 3, run.sidecar.step) as u32;
        let result = batch.map_err(TrainError::from).and_then(|batch| {
            let r = run
                .learner
                .step(run.gpu, &batch, run.sidecar.step, dropout_seed, None)?;
            if let Some(trace) = trace {
                let step = run.sidecar.step + 1;
                trace.record(run.gpu, &run.learner.store, step, epoch, &batch.indices)?;
            }
            Ok((r, batch.len()))
        });
        let (result, images) = match result {
            Ok(r) => r,
            Err(e) => {
                bar.abandon();
                steps_log.append(&rows)?;
                return Err(match e {
                    TrainError::NonFinite {
                        step, loss, value, ..
                    } => TrainError::NonFinite {
                        step,
                        loss,
                        value,
                        checkpoint_kept: run.out.join(super::checkpoint::WEIGHTS).is_file(),
                    },
                    e => e,
                });
            }
        };
        let seconds = step_started.elapsed().as_secs_f64();
        // The first step of a process also compiles every kernel (software drivers compile
        // on first use): reported, and kept out of the epoch's images/s.
        let timed = std::mem::replace(first_step_seen, true);
        if !timed {
            bar.suspend(|| {
                crate::note!(
                    "facemtl: first step {seconds:.1} s, most of it compiling kernels (the driver's shader cache makes later runs start faster)"
                )
            });
        }
        let s = &mut run.sidecar;
        s.step += 1;
        s.batch += 1;
        s.images_seen += images as u64;
        s.train_seconds += seconds;
        s.main_optimizer_steps = run.learner.main_opt.steps();
        s.unit_optimizer_steps = run.learner.unit_opt.steps();
        totals.add(&result, images, timed.then_some(seconds));
        let [loss_fr, loss_fer] = result.losses;
        let [w_fr, w_fer] = result.weights;
        rows.push(StepRow {
            epoch: epoch + 1,
            step: s.step,
            loss_fr,
            loss_fer,
            w_fr,
            w_fer,
            lr,
        });
        bar.set_message(format!(
            "L_FR {loss_fr:.3} L_FER {loss_fer:.3} w {w_fr:.2}/{w_fer:.2} {}",
            super::report::rate(totals.images_per_second())
        ));
        bar.inc(1);
        if options.stop.load(Ordering::Relaxed) {
            bar.abandon();
            steps_log.append(&rows)?;
            run.gpu.synchronize()?;
            run.sidecar.epoch = epoch;
            run.save()?;
            return Ok(EpochEnd::Interrupted);
        }
    }
    bar.finish_and_clear();
    steps_log.append(&rows)?;
    Ok(EpochEnd::Finished(totals))
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
