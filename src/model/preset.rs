//! Network sizes: `small` trains on a 2-core CPU through software Vulkan in minutes;
//! `medium` and `large` are for real GPUs.

use serde::{Deserialize, Serialize};

/// A named network size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// CPU-friendly: trains on a 2-core CPU through software Vulkan in minutes.
    Small,
    /// Wider and deeper, for real GPUs.
    Medium,
    /// The widest, for real GPUs.
    Large,
}

/// Every size choice of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// Side of the square grayscale input.
    pub input: usize,
    /// Output channels of each trunk block (each block: convs, then a 2x2 max-pool).
    pub trunk: Vec<usize>,
    /// 3x3 conv + BN + ReLU layers per block (trunk and branches).
    pub convs_per_block: usize,
    /// Channels of each branch's conv block.
    pub branch: usize,
    /// FR embedding size (L2-normalised for verification).
    pub embedding: usize,
    /// Hidden width of the FER head.
    pub fer_hidden: usize,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Medium => "medium",
            Preset::Large => "large",
        }
    }

    pub fn architecture(self) -> Architecture {
        match self {
            Preset::Small => Architecture {
                input: 48,
                trunk: vec![16, 32, 64],
                convs_per_block: 1,
                branch: 64,
                embedding: 128,
                fer_hidden: 64,
            },
            Preset::Medium => Architecture {
                input: 64,
                trunk: vec![32, 64],
                convs_per_block: 2,
                branch: 128,
                embedding: 128,
                fer_hidden: 128,
            },
            Preset::Large => Architecture {
                input: 96,
                trunk: vec![32, 64, 128],
                convs_per_block: 2,
                branch: 256,
                embedding: 128,
                fer_hidden: 256,
            },
        }
    }
}
