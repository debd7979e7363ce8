//! Errors of a training, evaluation or prediction run.

use std::fmt;

use crate::data::DataError;
use crate::gpu::GpuError;

#[derive(Debug)]
pub enum TrainError {
    Gpu(GpuError),
    Data(DataError),
    /// A bad flag value or combination.
    Config(String),
    /// A missing, corrupt or mismatched checkpoint.
    Checkpoint(String),
    /// Writing results failed.
    Output(String),
    /// A loss became NaN or infinite.
    NonFinite {
        step: u64,
        loss: &'static str,
        value: f32,
        /// Whether a checkpoint (of the last finite weights) was written before it.
        checkpoint_kept: bool,
    },
    /// Stopped by Ctrl-C after saving a checkpoint.
    Interrupted {
        epoch: usize,
        batch: usize,
        dir: String,
        /// The subcommand that continues it (`train` or `compare`).
        command: &'static str,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Gpu(e) => write!(f, "{e}"),
            TrainError::Data(e) => write!(f, "{e}"),
            TrainError::Config(e) | TrainError::Checkpoint(e) | TrainError::Output(e) => write!(f, "{e}"),
            TrainError::NonFinite {
                step,
                loss,
                value,
                checkpoint_kept,
            } => {
                let kept = if *checkpoint_kept {
                    "keeping the last checkpoint (its weights are finite)"
                } else {
                    "before the first checkpoint, so none exists yet"
                };
                write!(
                    f,
                    "{loss} became {value} at step {step}: training diverged; stopped, {kept}. \
                     Try a smaller --lr, or turn clipping on (--clip-norm 5) if it is off"
                )
            }
            TrainError::Interrupted {
                epoch,
                batch,
                dir,
                command,
            } => write!(
                f,
                "interrupted: checkpoint saved at epoch {} batch {batch}; continue with `facemtl {command} --resume {dir}`",
                epoch + 1
            ),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<GpuError> for TrainError {
    fn from(e: GpuError) -> Self {
        TrainError::Gpu(e)
    }
}

impl From<DataError> for TrainError {
    fn from(e: DataError) -> Self {
        TrainError::Data(e)
    }
}
