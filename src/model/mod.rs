//! The multi-task face network and its size presets.

mod network;
mod preset;

pub use network::{ForwardOptions, MultiTaskNet, Outputs};
pub use preset::{Architecture, Preset};
