//! Setting a run up: its config (the saved one when resuming), the data, the subject split,
//! the learner (network, optimisers, weighting), and the state restored from a checkpoint.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::checkpoint::{self, Checkpoint, Sidecar};
use super::config::{Tasks, TrainConfig};
use super::error::TrainError;
use super::init::{InitSource, Source};
use super::lock::RunLock;
use super::step::Learner;
use crate::data::protocol::{self, Split};
use crate::data::{Dataset, Expression};
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
    /// Record the run's first this many steps for a replay (`trace.rs`).
    pub trace: Option<u64>,
}

/// A run in progress: what it trains on, what it trains, and where it stands.
pub struct Run<'a> {
    /// The run directory's lock, held while the run lives.
    _lock: RunLock,
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
        let mut stretched_from = None;
        if let (Some(epochs), Some(ck)) = (options.epochs_override, &resumed) {
            if epochs < ck.sidecar.epoch {
                return Err(TrainError::Config(format!(
                    "the run in {} has already trained {} epochs; --epochs {epochs} cannot shorten it (give at least {} to extend it)",
                    options.out.display(),
                    ck.sidecar.epoch,
                    ck.sidecar.epoch
                )));
            }
            stretched_from = Some(config.epochs);
            config.epochs = epochs;
        }
        config.validate().map_err(TrainError::Config)?;
        let out = options.out.clone();
        let dataset = Arc::new(config.data.load(&config.preprocess())?);
        dataset.warn_skipped();
        let data_digest = config.data.files_digest(&dataset);
        if let Some(warning) = resumed
            .as_ref()
            .and_then(|ck| ck.sidecar.data_changed(data_digest.as_deref()))
        {
            crate::note!("{warning}");
        }
        let split = Arc::new(protocol::split(
            &dataset,
            config.folds,
            config.fold,
            config.seed,
            config.shares(),
        )?);
        if dataset.samples.iter().any(|s| s.usage.is_some()) {
            crate::note!(
                "facemtl: note: the data keeps its official split: {} training, {} validation (PublicTest) and {} test (PrivateTest) images, one fold; --folds, --fold and --val-fraction do not apply",
                split.train.len(),
                split.validation.len(),
                split.test.len()
            );
            config.folds = split.folds;
        } else if split.folds < config.folds {
            crate::note!(
                "facemtl: note: the data has only {} subjects, so {} folds instead of the {} asked",
                split.folds,
                split.folds,
                config.folds
            );
            // The config records the folds used (the same split: the folds asked are capped
            // at the subjects there are).
            config.folds = split.folds;
        }
        let (weighting, tasks, note) = effective_weighting(&config, &dataset, &split)?;
        if let Some(note) = note {
            crate::note!("facemtl: {note}");
        }
        // The run directory only once the data has loaded and a run can start.
        let _lock = RunLock::acquire(&out)?;
        std::fs::create_dir_all(out.join("plots"))
            .map_err(|e| TrainError::Output(format!("{}: {e}", out.display())))?;
        let steps_per_epoch = split.train.len().div_ceil(config.batch);
        if let (Some(from), Some(ck)) = (stretched_from, &resumed) {
            note_schedule_stretch(
                &config,
                from,
                steps_per_epoch,
                ck.sidecar.main_optimizer_steps,
            );
        }
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
            tasks,
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
        let sidecar = Sidecar {
            data_digest,
            ..sidecar
        };
        let mut run = Run {
            _lock,
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
        match (&resumed, run.config.init_from.clone()) {
            (Some(ck), _) => run.restore(ck)?,
            (None, Some(init)) => run.init_from(&init)?,
            (None, None) => {}
        }
        Ok(run)
    }

    /// Loads the trained weights `init` names (a new run's start), saying what it loaded.
    fn init_from(&mut self, init: &InitSource) -> Result<(), TrainError> {
        let source = Source::read(std::path::Path::new(&init.path)).map_err(TrainError::Config)?;
        if source.record.digest != init.digest {
            return Err(TrainError::Config(format!(
                "--init-from {}: the file changed since the run was set up (digest {} then, {} now)",
                init.path, init.digest, source.record.digest
            )));
        }
        let report = super::init::load_into(self.gpu, &self.learner.store, &source)?;
        crate::note!(
            "facemtl: started from {} (digest {}):\n{}",
            init.path,
            init.digest,
            report.table()
        );
        Ok(())
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
            data_digest: self.sidecar.data_digest.clone(),
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

/// `--resume --epochs` lays the run's learning-rate schedule out over the new total, as a
/// run of that many epochs from the start would: for a cosine or piecewise schedule the rate
/// where the run stands changes, jumping up on a finished cosine run. Said, with the rates.
fn note_schedule_stretch(config: &TrainConfig, from: usize, per_epoch: usize, step: u64) {
    if config.schedule == super::config::ScheduleSpec::Constant || from == config.epochs {
        return;
    }
    let before = config
        .schedule
        .schedule(config.lr, per_epoch, from)
        .at(step);
    let after = config
        .schedule
        .schedule(config.lr, per_epoch, config.epochs)
        .at(step);
    if before != after {
        crate::note!(
            "facemtl: note: --epochs {} lays the {} learning-rate schedule out over {} epochs instead of {from}, as a run of {} epochs from the start would have it: the rate at step {step} goes from {before:.3e} to {after:.3e}",
            config.epochs,
            config.schedule,
            config.epochs,
            config.epochs
        );
    }
}

/// Why a task cannot train on this data (None when it can): no labels for it at all, or
/// fewer than two classes on the training side of the split.
fn untrainable(task: Tasks, dataset: &Dataset, split: &Split) -> Option<String> {
    let (name, labelled, classes): (&str, bool, Vec<String>) = match task {
        Tasks::Fr => (
            "face recognition",
            dataset.samples.iter().any(|s| s.subject.is_some()),
            split
                .train_subjects
                .iter()
                .map(|&s| dataset.subjects[s].clone())
                .collect(),
        ),
        _ => {
            let mut found: Vec<_> = split
                .train
                .iter()
                .filter_map(|&i| dataset.samples[i].expression)
                .collect();
            found.sort_by_key(|e| Expression::ALL.iter().position(|x| x == e));
            found.dedup();
            (
                "expression recognition",
                dataset.samples.iter().any(|s| s.expression.is_some()),
                found.iter().map(|e| e.name().to_string()).collect(),
            )
        }
    };
    let kind = if task == Tasks::Fr {
        "subject"
    } else {
        "expression"
    };
    if !labelled {
        return Some(format!(
            "the data has no {kind} labels, so {name} has nothing to learn"
        ));
    }
    (classes.len() < 2).then(|| {
        format!(
            "{name} needs at least two {kind} classes on the training side of the split, and found {} ({})",
            classes.len(),
            if classes.is_empty() { "none".to_string() } else { classes.join(", ") }
        )
    })
}

/// What of `config` has no effect once the data leaves one task, `tasks`: the weighting
/// and its unit's settings, and the centre loss without face recognition.
fn one_task_note(config: &TrainConfig, tasks: Tasks) -> String {
    let mut idle = vec![format!("--weighting {}", config.weighting)];
    if config.weight_grad_to_trunk {
        idle.push("--weight-grad-to-trunk".into());
    }
    if !config.normalize_unit_logits {
        idle.push("--raw-unit-logits".into());
    }
    if config.center_loss && tasks == Tasks::Fer {
        idle.push("--center-loss".into());
    }
    format!(
        " ({} {} no effect)",
        idle.join(", "),
        if idle.len() == 1 { "has" } else { "have" }
    )
}

/// The tasks to train and their weighting, given the tasks asked and the labels on the
/// training side: a task asked alone that cannot train is an error; of two, the one that
/// cannot is dropped with a note (an error when neither can).
fn effective_weighting(
    config: &TrainConfig,
    dataset: &Dataset,
    split: &Split,
) -> Result<(WeightingSpec, Tasks, Option<String>), TrainError> {
    let fr = untrainable(Tasks::Fr, dataset, split);
    let fer = untrainable(Tasks::Fer, dataset, split);
    let refuse = |flag: &str, why: &String| {
        TrainError::Config(format!("{flag}: {why}; this data cannot train it"))
    };
    let (tasks, note) = match (config.tasks, fr, fer) {
        (Tasks::Fr, Some(why), _) => return Err(refuse("--tasks fr", &why)),
        (Tasks::Fer, _, Some(why)) => return Err(refuse("--tasks fer", &why)),
        (Tasks::Both, Some(fr), Some(fer)) => {
            return Err(TrainError::Config(format!(
                "neither task can train on this data: {fr}; and {fer}"
            )))
        }
        (Tasks::Both, None, Some(why)) => (
            Tasks::Fr,
            Some(format!(
                "{why}: training face recognition only{}",
                one_task_note(config, Tasks::Fr)
            )),
        ),
        (Tasks::Both, Some(why), None) => (
            Tasks::Fer,
            Some(format!(
                "{why}: training expression recognition only{}",
                one_task_note(config, Tasks::Fer)
            )),
        ),
        (t, _, _) => (t, None),
    };
    let spec = match tasks {
        Tasks::Both => config.weighting.clone(),
        Tasks::Fr => WeightingSpec::Static([1.0, 0.0]),
        Tasks::Fer => WeightingSpec::Static([0.0, 1.0]),
    };
    Ok((spec, tasks, note))
}
