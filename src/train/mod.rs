//! Training, evaluation and prediction: the loop, its checkpoints, logs, metrics and plots.

pub mod checkpoint;
pub mod config;
mod error;
pub mod evaluate;
mod logs;
pub mod plots;
mod trainer;

pub use error::TrainError;
pub use trainer::{train, RunOptions, Summary};
