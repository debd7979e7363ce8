//! A run's trajectory for replaying it in another trainer (`train --trace N`): the weights
//! before the first step and after chosen steps up to N, and the samples of every batch, in
//! `DIR/trace/`. `benches/peers/pytorch_trajectory.py` loads the first weights into the
//! same network in PyTorch, replays the batches with the same recipe and compares the
//! losses, the task weights (from `metrics.csv`) and every tensor at the saved steps.
//!
//! Files: `steps.txt` (N, so a resumed run goes on tracing), `step-K.safetensors` (every parameter and buffer after step K, named as in the
//! checkpoint; K = 0 is the initial weights), `batches.csv` (`step,epoch,samples`: the
//! batch's indices into `split.json`'s samples, space-separated, in batch order).
//! A replay has to draw what facemtl draws: it recomputes facemtl's dropout masks (a hash
//! of the step's seed and the element, `shaders/dropout_mask.wgsl`), but not the
//! augmentation's draws, so a traced run has none (`--augment none`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::checkpoint;
use super::config::TrainConfig;
use super::error::TrainError;
use crate::autodiff::ParamStore;
use crate::data::augment::AugmentLevel;
use crate::gpu::Gpu;

/// The folder of a run's trace.
pub const TRACE_DIR: &str = "trace";

/// The file in the trace folder that records the run's `--trace N`, so that a resumed run
/// goes on tracing.
const SETTING: &str = "steps.txt";

/// Records the first `last_step` steps of a run.
pub struct Trace {
    dir: PathBuf,
    last_step: u64,
}

/// Whether a run of `config` can be replayed draw for draw (no augmentation).
pub fn check_replayable(config: &TrainConfig) -> Result<(), String> {
    if config.augment != AugmentLevel::None {
        return Err(format!(
            "--trace records steps for a replay draw for draw, and a replay cannot draw the augmentation's transforms: add --augment none (this run has --augment {})",
            format!("{:?}", config.augment).to_lowercase()
        ));
    }
    Ok(())
}

impl Trace {
    /// Checks that `config` can be replayed draw for draw and makes `out/trace`.
    pub fn start(out: &Path, config: &TrainConfig, last_step: u64) -> Result<Trace, TrainError> {
        check_replayable(config).map_err(TrainError::Config)?;
        let dir = out.join(TRACE_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| TrainError::Output(format!("{}: {e}", dir.display())))?;
        let batches = dir.join("batches.csv");
        std::fs::write(&batches, "step,epoch,samples\n")
            .map_err(|e| TrainError::Output(format!("{}: {e}", batches.display())))?;
        let setting = dir.join(SETTING);
        std::fs::write(&setting, format!("{last_step}\n"))
            .map_err(|e| TrainError::Output(format!("{}: {e}", setting.display())))?;
        Ok(Trace { dir, last_step })
    }

    /// The trace of the run in `out` being resumed at `step` (None when it has none): the
    /// same last step, and `batches.csv` cut back to the steps up to `step` (later rows
    /// came from steps after the checkpoint, which the resumed run takes again).
    pub fn resume(out: &Path, step: u64) -> Result<Option<Trace>, TrainError> {
        let dir = out.join(TRACE_DIR);
        let setting = dir.join(SETTING);
        let Ok(text) = std::fs::read_to_string(&setting) else {
            return Ok(None);
        };
        let last_step: u64 = text.trim().parse().map_err(|_| {
            TrainError::Checkpoint(format!(
                "{}: {:?} is not a step count; it records the run's --trace N",
                setting.display(),
                text.trim()
            ))
        })?;
        let batches = dir.join("batches.csv");
        let io = |e: std::io::Error| TrainError::Output(format!("{}: {e}", batches.display()));
        let kept: String = std::fs::read_to_string(&batches)
            .map_err(io)?
            .lines()
            .filter(|line| {
                line.split(',')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_none_or(|s| s <= step)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(&batches, kept).map_err(io)?;
        Ok(Some(Trace { dir, last_step }))
    }

    /// Whether the weights after `step` are saved: 0 to 10, then every 10th, and the last.
    pub fn saves(&self, step: u64) -> bool {
        step <= self.last_step && (step <= 10 || step % 10 == 0 || step == self.last_step)
    }

    /// Records the batch of `step` (its sample indices) and, when [`Trace::saves`] it, the
    /// weights after it (`step` 0: the initial weights, with no batch).
    pub fn record(
        &self,
        gpu: &Gpu,
        store: &ParamStore,
        step: u64,
        epoch: usize,
        samples: &[usize],
    ) -> Result<(), TrainError> {
        if step > self.last_step {
            return Ok(());
        }
        if step > 0 {
            let path = self.dir.join("batches.csv");
            let row: Vec<String> = samples.iter().map(usize::to_string).collect();
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut f| writeln!(f, "{step},{},{}", epoch + 1, row.join(" ")))
                .map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))?;
        }
        if self.saves(step) {
            let path = self.dir.join(format!("step-{step}.safetensors"));
            checkpoint::save_weights(gpu, &path, store, step).map_err(TrainError::Output)?;
        }
        Ok(())
    }
}
