//! The multi-task face network and its size presets.

mod center_loss;
mod network;
mod preset;

pub use center_loss::{CenterLoss, CenterTerm, CENTER_LOSS_WEIGHT, CENTER_UPDATE_RATE};
pub use network::{ForwardOptions, MultiTaskNet, Outputs};
pub use preset::{Architecture, Preset};
