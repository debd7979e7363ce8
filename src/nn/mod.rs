//! Neural-network layers on the autodiff tape, and their initialisation.

mod init;
mod layers;

pub use init::Init;
pub use layers::{
    AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool, L2Normalize, Linear,
    MaxPool2d, ReLU,
};
