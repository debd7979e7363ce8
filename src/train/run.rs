//! Setting a run up: its config (the saved one when resuming), the data, the subject split,
//! the learner (network, optimisers, weighting), and the state restored from a checkpoint.

use std::path::PathBuf;
use std::sync::Arc;

use super::checkpoint::{self, Checkpoint, Sidecar};
use super::config::{Tasks, TrainConfig};
use super::error::TrainError;
use super::step::Learner;
use super::trainer::RunOptions;
use crate::data::protocol::{self, Split};
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::weighting::WeightingSpec;

/// A run in progress: what it trains on, what it trains, and where it stands.
pub struct Run<'a> {
    pub gpu: &'a Gpu,
    pub config: TrainConfig,
    pub dataset: Arc<Dataset>,
    pub split: Arc<Split>,
    pub learner: Learner,
    /// The tasks trained (fewer than asked when the data lacks a task's labels).
    pub tasks: Tasks,
    pub steps_per_epoch: usize,
    /// Where the run stands (epoch, batch, step, ...), saved with every checkpoint.
    pub sidecar: Sidecar,
    pub out: PathBuf,
}

impl<'a> Run<'a> {
    /// A new run of `config`, or the run saved in `options.out` when resuming.
    pub fn start(
        gpu: &'a Gpu,
        config: TrainConfig,
        options: &RunOptions,
    ) -> Result<Run<'a>, TrainError> {
        let resumed = if options.resume {
            Some(Checkpoint::load(&options.out).map_err(TrainError::Checkpoint)?)
        } else {
            None
        };
        let mut config = match &resumed {
            Some(ck) => ck.sidecar.config.clone(),
            None => config,
        };
        if let (Some(epochs), Some(ck)) = (options.epochs_override, &resumed) {
            if epochs < ck.sidecar.epoch {
                return Err(TrainError::Config(format!(
                    "the run in {} has already trained {} epochs; --epochs {epochs} cannot shorten it (give at least {} to extend it)",
                    options.out.display(),
                    ck.sidecar.epoch,
                    ck.sidecar.epoch
                )));
            }
            config.epochs = epochs;
        }
        config.validate().map_err(TrainError::Config)?;
        let out = options.out.clone();
        std::fs::create_dir_all(out.join("plots"))
            .map_err(|e| TrainError::Output(format!("{}: {e}", out.display())))?;

        let dataset = Arc::new(config.data.load(config.preset.architecture().input)?);
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
            config.shares(),
        )?);
        if split.folds < config.folds {
            eprintln!(
                "facemtl: note: the data has only {} subjects, so {} folds instead of the {} asked",
                split.folds, split.folds, config.folds
            );
        }
        let (weighting, tasks, note) = effective_weighting(&config, &dataset);
        if let Some(note) = note {
            eprintln!("facemtl: {note}");
        }
        let steps_per_epoch = split.train.len().div_ceil(config.batch);
        let learner = Learner::new(
            gpu,
            &config,
            [split.train_subjects.len(), split.expressions.len()],
            tasks,
            weighting,
            steps_per_epoch,
        )?;
        let sidecar = Sidecar::new(
            config.clone(),
            split
                .train_subjects
                .iter()
                .map(|&s| dataset.subjects[s].clone())
                .collect(),
            split
                .expressions
                .iter()
                .map(|e| e.name().to_string())
                .collect(),
        );
        let mut run = Run {
            gpu,
            config,
            dataset,
            split,
            learner,
            tasks,
            steps_per_epoch,
            sidecar,
            out,
        };
        if let Some(ck) = &resumed {
            run.restore(ck)?;
        }
        Ok(run)
    }

    /// Continues from `ck`: its weights, optimiser state and position.
    fn restore(&mut self, ck: &Checkpoint) -> Result<(), TrainError> {
        if ck.sidecar.fr_classes != self.sidecar.fr_classes
            || ck.sidecar.fer_classes != self.sidecar.fer_classes
        {
            return Err(TrainError::Checkpoint(
                "the data no longer matches the checkpoint's classes; resume with the same data"
                    .into(),
            ));
        }
        let l = &mut self.learner;
        ck.restore_model(self.gpu, &l.store)
            .map_err(TrainError::Checkpoint)?;
        ck.restore_optimizers(self.gpu, &l.store, &mut l.main_opt, &mut l.unit_opt)
            .map_err(TrainError::Checkpoint)?;
        l.weighting
            .restore(&ck.sidecar.weighting_state)
            .map_err(TrainError::Checkpoint)?;
        self.sidecar = Sidecar {
            config: self.config.clone(),
            ..ck.sidecar.clone()
        };
        Ok(())
    }

    /// Writes the checkpoint (weights, optimiser state, sidecar with the weighting's state).
    pub fn save(&self) -> Result<(), TrainError> {
        let l = &self.learner;
        let sidecar = Sidecar {
            weighting_state: l.weighting.state(),
            ..self.sidecar.clone()
        };
        checkpoint::save(
            self.gpu,
            &self.out,
            &l.store,
            &l.main_opt,
            &l.unit_opt,
            &sidecar,
        )
        .map_err(TrainError::Checkpoint)
    }
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
