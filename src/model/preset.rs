//! Network sizes: `small` trains on a 2-core CPU through software Vulkan in minutes;
//! `medium` and `large` are wider plain CNNs for real GPUs; `paper` is the paper's
//! Inception-ResNet-v1 trunk, and `paper-small` the same network narrowed and shortened to
//! train on a CPU.

use serde::{Deserialize, Serialize};

use crate::choice::{display_by_name, named, Choice, Named};
use crate::data::image::Standardization;

/// A named network size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// CPU-friendly plain CNN: trains on a 2-core CPU through software Vulkan in minutes.
    Small,
    /// Wider and deeper plain CNN, for real GPUs.
    Medium,
    /// The widest plain CNN, for real GPUs.
    Large,
    /// The paper's Inception-ResNet-v1 trunk on 160x160 faces (5 / 10 / 5 blocks); a GPU job.
    Paper,
    /// The paper's network a quarter as wide, one block of each kind, 96x96 faces: trains
    /// on a CPU.
    PaperSmall,
    /// `paper` with FaceNet's own head and settings (facenet-pytorch's InceptionResnetV1):
    /// a 512-d embedding without bias followed by batch norm, batch-norm eps 1e-3, and the
    /// fixed standardisation (v - 127.5) / 128, so FaceNet's weights load and compute
    /// FaceNet's embedding.
    Facenet,
}

impl Choice for Preset {
    const VALUES: &'static [Named<Self>] = &[
        named(
            Preset::Small,
            "small",
            "CPU-friendly plain CNN, 48 px: trains on 2 CPU cores in minutes",
        ),
        named(
            Preset::Medium,
            "medium",
            "wider and deeper plain CNN, 64 px, for GPUs",
        ),
        named(
            Preset::Large,
            "large",
            "the widest plain CNN, 96 px, for GPUs",
        ),
        named(
            Preset::Paper,
            "paper",
            "the paper's Inception-ResNet-v1 trunk, 160 px: a GPU job",
        ),
        named(
            Preset::PaperSmall,
            "paper-small",
            "the paper's network a quarter as wide, one block of each, 96 px: trains on a CPU",
        ),
        named(
            Preset::Facenet,
            "facenet",
            "paper with FaceNet's head (512-d embedding + batch norm), eps and standardisation: loads FaceNet's weights",
        ),
    ];
}
display_by_name!(Preset);

/// The widths of an Inception-ResNet-v1 trunk (docs/method.md gives the paper's).
#[derive(Debug, Clone, PartialEq)]
pub struct InceptionResNetSizes {
    /// Output channels of the stem's six convolutions.
    pub stem: [usize; 6],
    /// Width of each Block35 branch.
    pub block35: usize,
    /// Reduction-A: [3x3/2 branch, 1x1, 3x3, 3x3/2 of the other branch].
    pub reduction_a: [usize; 4],
    /// Width of each Block17 branch.
    pub block17: usize,
    /// Reduction-B: [the 1x1s, the three branches' 3x3/2 outputs].
    pub reduction_b: [usize; 4],
    /// Width of each Block8 branch.
    pub block8: usize,
    /// Blocks 35, 17 and 8 of the shared trunk.
    pub repeats: [usize; 3],
    /// Every batch norm's epsilon (PyTorch's 1e-5; FaceNet's 1e-3, from TensorFlow).
    pub bn_eps: f32,
}

impl InceptionResNetSizes {
    /// Channels through the Block35s, the Block17s and the Block8s.
    pub fn channels(&self) -> [usize; 3] {
        let c35 = self.stem[5];
        let c17 = self.reduction_a[0] + self.reduction_a[3] + c35;
        let [_, b0, b1, b2] = self.reduction_b;
        [c35, c17, b0 + b1 + b2 + c17]
    }

    /// The side of the trunk's output for an `input` x `input` image, or None when the
    /// image is too small for the stem and both reductions.
    pub fn output_side(input: usize) -> Option<usize> {
        // 3x3/2 valid, 3x3 valid, pool 3x3/2, 3x3 valid, 3x3/2 valid, then two 3x3/2.
        let reduce = |s: usize| (s >= 3).then(|| (s - 3) / 2 + 1);
        let valid = |s: usize| (s >= 3).then(|| s - 2);
        let s = reduce(input)?;
        let s = reduce(valid(s)?)?;
        let s = reduce(valid(s)?)?;
        reduce(reduce(s)?)
    }
}

/// The trunk and branch convolutions of a preset.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// 3x3 conv + BN + ReLU blocks, each ending in a 2x2 max pool; each branch one more
    /// block.
    Plain {
        /// Output channels of each trunk block.
        trunk: Vec<usize>,
        /// Layers per block (trunk and branches).
        convs_per_block: usize,
        /// Channels of each branch's block.
        branch: usize,
    },
    /// The paper's trunk; each branch its own last Block8.
    InceptionResNet(InceptionResNetSizes),
}

/// Every size choice of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// Side of the square input.
    pub input: usize,
    pub body: Body,
    /// FR embedding size (L2-normalised for verification).
    pub embedding: usize,
    /// Hidden width of the FER head.
    pub fer_hidden: usize,
    /// What makes the FR embedding from the branch's pooled map.
    pub embedding_head: EmbeddingHead,
    /// How image files' pixels are scaled for the network.
    pub standardization: Standardization,
}

/// The FR embedding layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingHead {
    /// A linear layer with bias (`fr.embedding`).
    Linear,
    /// A linear layer without bias, then batch norm over the embedding (`fr.embedding`,
    /// `fr.embedding_bn`): FaceNet's `last_linear` and `last_bn`.
    LinearBatchNorm,
}

impl Architecture {
    /// Channels of each branch's map (what the heads' global average pool reads).
    pub fn branch_channels(&self) -> usize {
        match &self.body {
            Body::Plain { branch, .. } => *branch,
            Body::InceptionResNet(sizes) => sizes.channels()[2],
        }
    }

    /// Elements per image of the trunk's output (the weight unit's input).
    pub fn trunk_output_len(&self) -> usize {
        match &self.body {
            Body::Plain { trunk, .. } => {
                let side = self.input >> trunk.len();
                trunk.last().copied().unwrap_or(1) * side * side
            }
            Body::InceptionResNet(sizes) => {
                let side = InceptionResNetSizes::output_side(self.input).unwrap_or(0);
                sizes.channels()[2] * side * side
            }
        }
    }
}

impl Preset {
    pub fn architecture(self) -> Architecture {
        let plain = |input, trunk: &[usize], convs_per_block, branch, fer_hidden| Architecture {
            input,
            body: Body::Plain {
                trunk: trunk.to_vec(),
                convs_per_block,
                branch,
            },
            embedding: 128,
            fer_hidden,
            embedding_head: EmbeddingHead::Linear,
            standardization: Standardization::PerImage,
        };
        let paper = || InceptionResNetSizes {
            stem: [32, 32, 64, 80, 192, 256],
            block35: 32,
            reduction_a: [384, 192, 192, 256],
            block17: 128,
            reduction_b: [256, 384, 256, 256],
            block8: 192,
            repeats: [5, 10, 5],
            bn_eps: 1e-5,
        };
        match self {
            Preset::Small => plain(48, &[16, 32, 64], 1, 64, 64),
            Preset::Medium => plain(64, &[32, 64], 2, 128, 128),
            Preset::Large => plain(96, &[32, 64, 128], 2, 256, 256),
            Preset::Paper => Architecture {
                input: 160,
                body: Body::InceptionResNet(paper()),
                embedding: 128,
                fer_hidden: 256,
                embedding_head: EmbeddingHead::Linear,
                standardization: Standardization::PerImage,
            },
            // `paper` with FaceNet's head and settings.
            Preset::Facenet => Architecture {
                body: Body::InceptionResNet(InceptionResNetSizes {
                    bn_eps: 1e-3,
                    ..paper()
                }),
                embedding: 512,
                embedding_head: EmbeddingHead::LinearBatchNorm,
                standardization: Standardization::Fixed,
                ..Preset::Paper.architecture()
            },
            Preset::PaperSmall => Architecture {
                input: 96,
                body: Body::InceptionResNet(InceptionResNetSizes {
                    stem: [8, 8, 16, 20, 48, 64],
                    block35: 8,
                    reduction_a: [96, 48, 48, 64],
                    block17: 32,
                    reduction_b: [64, 96, 64, 64],
                    block8: 48,
                    repeats: [1, 1, 1],
                    bn_eps: 1e-5,
                }),
                embedding: 128,
                fer_hidden: 64,
                embedding_head: EmbeddingHead::Linear,
                standardization: Standardization::PerImage,
            },
        }
    }
}
