//! The training loop: set the run up (or resume it), train epoch after epoch with a
//! validation and a checkpoint after each, evaluate the test fold once, then write the
//! summary and the plots.

use std::time::Instant;

use super::checkpoint::ThresholdSource;
use super::config::TrainConfig;
use super::epoch::{train_epoch, EpochEnd};
use super::error::TrainError;
use super::evaluate::{evaluate, Metrics, Threshold};
use super::logs::CsvLog;
use super::recalibrate::recalibrate_batch_norm;
use super::report::{self, Summary};
use super::run::{Run, RunOptions};
use super::trace::Trace;
use crate::data::protocol::HeldOut;
use crate::gpu::Gpu;

/// Trains `config` (or resumes the run in `options.out`), writing every result there.
/// After each epoch: batch-norm recalibration (when configured; before the last epoch over
/// a sample of the training images, see `recalibration_images`), the validation figures,
/// a checkpoint. After the last: the verification threshold chosen on the validation split
/// and stored with the checkpoint, then the test fold, evaluated once.
pub fn train(gpu: &Gpu, config: TrainConfig, options: &RunOptions) -> Result<Summary, TrainError> {
    let started = Instant::now();
    let mut run = Run::start(gpu, config, options)?;
    let trace = match options.trace {
        Some(steps) => {
            let trace = Trace::start(&run.out, &run.config, steps)?;
            trace.record(gpu, &run.learner.store, 0, 0, &[])?;
            Some(trace)
        }
        None if options.resume => Trace::resume(&run.out, run.sidecar.step)?,
        None => None,
    };
    let (start_epoch, epochs) = (run.sidecar.epoch, run.config.epochs);
    let resume_at = |position: u64| options.resume.then_some(position);
    let steps_log = CsvLog::open(run.out.join("metrics.csv"), resume_at(run.sidecar.step))?;
    let epochs_log = CsvLog::open(run.out.join("epochs.csv"), resume_at(start_epoch as u64))?;
    report::write_split(&run)?;
    report::print_start(&run);

    let mut last_weights = [0.5f32, 0.5];
    let mut first_step_seen = false;
    let mut validation = None;
    for epoch in start_epoch..epochs {
        let totals = match train_epoch(
            &mut run,
            epoch,
            options,
            &steps_log,
            &mut first_step_seen,
            trace.as_ref(),
        )? {
            EpochEnd::Finished(totals) => totals,
            EpochEnd::Interrupted => {
                return Err(TrainError::Interrupted {
                    epoch,
                    batch: run.sidecar.batch,
                    dir: run.out.display().to_string(),
                    command: "train",
                })
            }
        };
        // The threshold (which also runs the pairs it is fitted on) only after the last.
        let last = epoch + 1 == epochs;
        recalibrate(&run, last)?;
        validation = evaluate_validation(&run, last)?;
        let row = totals.row(epoch, validation.as_ref());
        epochs_log.append(&[row])?;
        report::print_epoch(&row, epochs, run.tasks);
        if totals.steps > 0 {
            last_weights = totals.last_weights;
        }
        run.sidecar.epoch = epoch + 1;
        run.sidecar.batch = 0;
        if last {
            choose_threshold(&mut run, validation.as_ref())?;
        }
        run.save()?;
    }
    if start_epoch >= epochs {
        validation = evaluate_validation(&run, true)?;
    }
    let threshold = run
        .sidecar
        .verification_threshold
        .map_or(Threshold::Skip, Threshold::Given);
    let metrics = evaluate_on(&run, run.split.test_set(), threshold)?;
    report::write_plots(
        &run.out,
        &steps_log,
        &epochs_log,
        &run.sidecar.fer_classes,
        &metrics,
        run.tasks,
    )?;
    let summary = Summary::of(&run, metrics, validation, last_weights, started.elapsed());
    report::write_json(&run.out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// Batch-norm statistics over the clean training images, when the config asks for it
/// (after the last epoch over all of them).
fn recalibrate(run: &Run, last: bool) -> Result<(), TrainError> {
    if !run.config.bn_recalibration {
        return Ok(());
    }
    let l = &run.learner;
    let images = recalibration_images(&run.split.train, last);
    recalibrate_batch_norm(run.gpu, &l.net, &l.store, &run.dataset, &images)
        .map_err(TrainError::Output)
}

/// Training images that recalibration passes over before the last epoch, at most.
pub const RECALIBRATION_SAMPLE: usize = 256;

/// The images to recalibrate over: all of `train` after the last epoch (the statistics the
/// results and the final checkpoint are evaluated with), and before it, for the epoch's
/// validation row, at most [`RECALIBRATION_SAMPLE`] of them evenly spaced through the list.
/// The pass over all 640 images of the default run was a fifth of its time; over 256,
/// its epoch rows moved by at most 0.036 FER accuracy (4 of 112 images), 0.016
/// identification (1 of 64) and 0.001 AUC, and the final figures not at all. The running
/// statistics of training instead are far off mid-run (validation accuracies up to 0.37
/// lower), so every epoch still recalibrates.
pub fn recalibration_images(train: &[usize], last: bool) -> Vec<usize> {
    if last || train.len() <= RECALIBRATION_SAMPLE {
        return train.to_vec();
    }
    (0..RECALIBRATION_SAMPLE)
        .map(|i| train[i * train.len() / RECALIBRATION_SAMPLE])
        .collect()
}

/// The validation split's figures (None without one); with `threshold`, also the
/// verification threshold chosen on its pairs and the accuracy there.
fn evaluate_validation(run: &Run, threshold: bool) -> Result<Option<Metrics>, TrainError> {
    let set = run.split.validation_set();
    if set.fer.is_empty() && set.identification.is_empty() {
        return Ok(None);
    }
    let threshold = if threshold {
        Threshold::FitOn(set.verification)
    } else {
        Threshold::Skip
    };
    evaluate_on(run, set, threshold).map(Some)
}

/// The verification threshold stored with the run: chosen on the validation split's pairs,
/// or, where it has none (no validation split, or one subject, so no impostor pairs), on
/// training subjects' pairs, which `eval`, `verify` and `identify` then name as its origin.
fn choose_threshold(run: &mut Run, validation: Option<&Metrics>) -> Result<(), TrainError> {
    if let Some(t) = validation.and_then(|v| v.fr_verification_threshold) {
        run.sidecar.verification_threshold = Some(t);
        run.sidecar.threshold_chosen_on = Some(ThresholdSource::Validation);
        return Ok(());
    }
    let t = threshold_on_training_subjects(run)?;
    if t.is_some() && validation.is_some() {
        crate::note!(
            "facemtl: note: the validation split has {} subject(s), so no pairs of different people; the verification threshold is chosen on training subjects' pairs",
            run.split.validation_subjects.len()
        );
    }
    run.sidecar.verification_threshold = t;
    run.sidecar.threshold_chosen_on = t.map(|_| ThresholdSource::TrainingSubjects);
    Ok(())
}

/// The threshold chosen on training subjects' pairs.
fn threshold_on_training_subjects(run: &Run) -> Result<Option<f32>, TrainError> {
    let images = [run.split.train.clone(), run.split.identification.clone()].concat();
    let none = HeldOut {
        fer: &[],
        identification: &[],
        verification: &[],
    };
    Ok(evaluate_on(run, none, Threshold::FitOn(&images))?.fr_verification_threshold)
}

/// The run's network on `set`.
fn evaluate_on(run: &Run, set: HeldOut, threshold: Threshold) -> Result<Metrics, TrainError> {
    let l = &run.learner;
    evaluate(
        run.gpu,
        &l.net,
        &l.store,
        &run.dataset,
        &run.split,
        set,
        threshold,
        run.config.seed,
    )
    .map(|m| m.of_trained(run.tasks))
    .map_err(TrainError::Output)
}

#[cfg(test)]
mod tests {
    use super::{recalibration_images, RECALIBRATION_SAMPLE};

    #[test]
    fn recalibration_samples_before_the_last_epoch_and_takes_all_after_it() {
        let train: Vec<usize> = (100..740).collect();
        assert_eq!(recalibration_images(&train, true), train);
        let sample = recalibration_images(&train, false);
        assert_eq!(sample.len(), RECALIBRATION_SAMPLE);
        assert_eq!(sample[0], 100);
        assert!(sample.windows(2).all(|w| w[0] < w[1]), "distinct, in order");
        // Evenly spaced: 640 / 256 = 2.5 apart, the last within one step of the end.
        assert_eq!(sample[1], 102);
        assert_eq!(sample[2], 105);
        assert!(*sample.last().unwrap() >= 739 - 3);
        let few: Vec<usize> = (0..RECALIBRATION_SAMPLE).collect();
        assert_eq!(recalibration_images(&few, false), few);
    }
}
