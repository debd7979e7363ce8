//! Training, evaluation and prediction: the loop, its checkpoints, logs, metrics and plots.

pub mod checkpoint;
pub mod config;
mod error;
pub mod evaluate;
mod logs;
pub mod plots;
pub mod step;
mod trainer;

pub use error::TrainError;
pub use step::{Learner, StepResult, StepTiming};
pub use trainer::{train, RunOptions, Summary};
