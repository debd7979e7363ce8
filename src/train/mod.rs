//! Training, evaluation and prediction. The loop in parts: `run` sets a run up (or resumes
//! it), `step` is one training step, `epoch` one pass over the training images, `evaluate`
//! the held-out figures (`recalibrate` first refreshes batch-norm statistics), `report`
//! the summary and plots, `trainer` ties them together; `checkpoint`, `logs` and `trace`
//! are what a run leaves on disk; `cv` runs every fold, `compare` every method;
//! `open_set` ranks embeddings against a gallery of people never trained on.

pub mod checkpoint;
pub mod compare;
pub mod config;
pub mod cv;
pub mod epoch;
mod error;
pub mod evaluate;
pub mod files;
pub mod init;
pub mod lock;
pub mod logs;
pub mod open_set;
pub mod pairs_protocol;
pub mod plots;
pub mod recalibrate;
pub mod report;
pub mod run;
pub mod step;
pub mod trace;
mod trainer;

pub use error::TrainError;
pub use report::Summary;
pub use run::Run;
pub use run::RunOptions;
pub use step::{Learner, StepResult, StepTiming};
pub use trainer::train;
