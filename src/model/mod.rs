//! The multi-task face network and its size presets.

mod center_loss;
mod conv_bn;
mod inception_resnet;
mod network;
mod preset;

pub use center_loss::{CenterLoss, CenterTerm, CENTER_LOSS_WEIGHT, CENTER_UPDATE_RATE};
pub use network::{ForwardOptions, MultiTaskNet, Outputs};
pub use preset::{Architecture, Body, EmbeddingHead, InceptionResNetSizes, Preset};
