//! The multi-task network (docs/method.md): a shared convolutional trunk (a plain CNN, or the
//! paper's Inception-ResNet: `inception_resnet.rs`), an FR branch (its own conv block or
//! Block8, global average pool, dropout, 128-d embedding, identity FC), an FER branch (the
//! same convolutions, global average pool, dropout, FC, ReLU, dropout, FC), and the weight
//! unit (FC over the L2-normalised flattened trunk output, one output per task, softmax,
//! batch mean).

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::conv_bn::{run_branches, run_stack, ConvBnRelu};
use super::inception_resnet::{InceptionResNet, ResidualBlock};
use super::preset::{Architecture, Body, EmbeddingHead, InceptionResNetSizes, Preset};
use crate::autodiff::{ParamId, ParamStore, Tape, Var};
use crate::geometry::Pool2dSpec;
use crate::gpu::{Gpu, GpuError, Result, Tensor};
use crate::nn::{BatchNorm2d, Init, Linear};

fn conv_stack(
    gpu: &Gpu,
    store: &mut ParamStore,
    rng: &mut StdRng,
    name: &str,
    in_c: usize,
    out_c: usize,
    n: usize,
) -> Result<Vec<ConvBnRelu>> {
    (0..n)
        .map(|i| {
            ConvBnRelu::new(
                gpu,
                store,
                rng,
                &format!("{name}.{}", i + 1),
                if i == 0 { in_c } else { out_c },
                out_c,
            )
        })
        .collect()
}

/// The shared convolutions of a preset.
enum Trunk {
    /// Blocks of 3x3 layers, each ending in a 2x2 max pool.
    Plain(Vec<Vec<ConvBnRelu>>),
    InceptionResNet(InceptionResNet),
}

impl Trunk {
    fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        a: &Architecture,
        input_channels: usize,
    ) -> Result<Trunk> {
        match &a.body {
            Body::Plain {
                trunk,
                convs_per_block,
                ..
            } => {
                let mut blocks = Vec::new();
                let mut channels = input_channels;
                for (b, &out_c) in trunk.iter().enumerate() {
                    let name = format!("trunk.block{}", b + 1);
                    let block =
                        conv_stack(gpu, store, rng, &name, channels, out_c, *convs_per_block)?;
                    blocks.push(block);
                    channels = out_c;
                }
                Ok(Trunk::Plain(blocks))
            }
            Body::InceptionResNet(sizes) => {
                if InceptionResNetSizes::output_side(a.input).is_none() {
                    return Err(GpuError::invalid(
                        "network",
                        format!(
                            "{}x{} images are too small for the Inception-ResNet trunk",
                            a.input, a.input
                        ),
                    ));
                }
                let trunk = InceptionResNet::new(gpu, store, rng, sizes, input_channels)?;
                Ok(Trunk::InceptionResNet(trunk))
            }
        }
    }

    fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        match self {
            Trunk::Plain(blocks) => {
                let mut h = x;
                for block in blocks {
                    let (last, rest) = block.split_last().expect("every block has convolutions");
                    h = run_stack(rest, tape, h)?;
                    h = last.forward_pooled(tape, h, Pool2dSpec::new(2, 2, 0))?;
                }
                Ok(h)
            }
            Trunk::InceptionResNet(net) => net.forward(tape, x),
        }
    }
}

/// A task branch's own convolutions, before its global average pool.
enum BranchConvs {
    /// One block of 3x3 layers.
    Plain(Vec<ConvBnRelu>),
    /// One Block8.
    Block8(ResidualBlock),
}

impl BranchConvs {
    /// The branch of `task` ("fr" or "fer").
    fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        a: &Architecture,
        task: &str,
    ) -> Result<BranchConvs> {
        match &a.body {
            Body::Plain {
                trunk,
                convs_per_block,
                branch,
            } => {
                let channels = *trunk.last().expect("every preset has trunk blocks");
                let name = format!("{task}.block");
                let stack =
                    conv_stack(gpu, store, rng, &name, channels, *branch, *convs_per_block)?;
                Ok(BranchConvs::Plain(stack))
            }
            Body::InceptionResNet(sizes) => Ok(BranchConvs::Block8(InceptionResNet::branch_block(
                gpu, store, rng, sizes, task,
            )?)),
        }
    }

    /// Both branches' maps of the trunk output `t`.
    fn forward_both(fr: &Self, fer: &Self, tape: &mut Tape, t: Var) -> Result<(Var, Var)> {
        match (fr, fer) {
            (BranchConvs::Plain(fr), BranchConvs::Plain(fer)) => {
                // The branches' first layers read the same input: one GEMM for both.
                let maps = run_branches(&[fr, fer], tape, t)?;
                Ok((maps[0], maps[1]))
            }
            (fr, fer) => Ok((fr.forward(tape, t)?, fer.forward(tape, t)?)),
        }
    }

    fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        match self {
            BranchConvs::Plain(stack) => run_stack(stack, tape, x),
            BranchConvs::Block8(block) => block.forward(tape, x),
        }
    }
}

/// Options of one forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardOptions {
    /// Run the weight unit.
    pub unit: bool,
    /// Feed the unit a detached copy of the trunk output, so that no gradient reaches the
    /// trunk through the task weights (the default; false reproduces the authors' code).
    pub detach_unit_input: bool,
}

/// What one forward pass yields.
pub struct Outputs {
    /// The trunk's output, the representation both tasks share.
    pub trunk: Var,
    pub fr_logits: Var,
    pub fer_logits: Var,
    /// The FR embedding before normalisation (centre loss works on it; verification
    /// compares [`MultiTaskNet::normalize_embedding`] of it).
    pub embedding: Var,
    /// The task weights w = mean over the batch of softmax(unit logits), `[2]`: (w_FR, w_FER).
    pub task_weights: Option<Var>,
}

/// The network's layers; its parameters live in a [`ParamStore`] under `trunk.`, `fr.`,
/// `fer.` and `unit.`.
pub struct MultiTaskNet {
    pub preset: Preset,
    pub architecture: Architecture,
    /// Input channels: 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    pub fr_classes: usize,
    pub fer_classes: usize,
    trunk: Trunk,
    fr_convs: BranchConvs,
    fr_embedding: Linear,
    /// FaceNet's batch norm over the embedding (`EmbeddingHead::LinearBatchNorm`).
    fr_embedding_bn: Option<BatchNorm2d>,
    fr_logits: Linear,
    fer_convs: BranchConvs,
    fer_hidden: Linear,
    fer_logits: Linear,
    unit: Linear,
    /// Keep probability of the dropout before the branch FCs (the paper: 0.5).
    pub keep: f32,
    /// Softmax over L2-normalised unit logits (bounds two-task weights to ~[0.2, 0.8]).
    pub normalize_unit_logits: bool,
    /// The trunk is not trained (`--freeze trunk`): its batch norms normalise with their
    /// running statistics, which no pass moves, in training as in evaluation.
    pub frozen_trunk: bool,
}

impl MultiTaskNet {
    /// Builds the network for grayscale input, registering its parameters in `store`
    /// (initialised from `seed`).
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        preset: Preset,
        fr_classes: usize,
        fer_classes: usize,
        seed: u64,
    ) -> Result<Self> {
        Self::with_input_channels(gpu, store, preset, 1, fr_classes, fer_classes, seed)
    }

    /// Builds the network for `input_channels` (1 or 3) input channels.
    pub fn with_input_channels(
        gpu: &Gpu,
        store: &mut ParamStore,
        preset: Preset,
        input_channels: usize,
        fr_classes: usize,
        fer_classes: usize,
        seed: u64,
    ) -> Result<Self> {
        let a = preset.architecture();
        let mut rng = StdRng::seed_from_u64(seed);
        let trunk = Trunk::new(gpu, store, &mut rng, &a, input_channels)?;
        let branch = a.branch_channels();
        let fr_convs = BranchConvs::new(gpu, store, &mut rng, &a, "fr")?;
        let with_bn = a.embedding_head == EmbeddingHead::LinearBatchNorm;
        let fr_embedding = Linear::new(
            gpu,
            store,
            &mut rng,
            "fr.embedding",
            branch,
            a.embedding,
            !with_bn,
            Init::Xavier,
        )?;
        // FaceNet's batch norm over the embedding, at its trunk's epsilon.
        let fr_embedding_bn = match with_bn {
            true => {
                let mut bn = BatchNorm2d::new(gpu, store, "fr.embedding_bn", a.embedding)?;
                if let Body::InceptionResNet(sizes) = &a.body {
                    bn.eps = sizes.bn_eps;
                }
                Some(bn)
            }
            false => None,
        };
        Ok(MultiTaskNet {
            fr_convs,
            fr_embedding,
            fr_embedding_bn,
            fr_logits: Linear::new(
                gpu,
                store,
                &mut rng,
                "fr.logits",
                a.embedding,
                fr_classes.max(1),
                true,
                Init::Xavier,
            )?,
            fer_convs: BranchConvs::new(gpu, store, &mut rng, &a, "fer")?,
            fer_hidden: Linear::new(
                gpu,
                store,
                &mut rng,
                "fer.hidden",
                branch,
                a.fer_hidden,
                true,
                Init::He,
            )?,
            fer_logits: Linear::new(
                gpu,
                store,
                &mut rng,
                "fer.logits",
                a.fer_hidden,
                fer_classes.max(1),
                true,
                Init::Xavier,
            )?,
            unit: Linear::new(
                gpu,
                store,
                &mut rng,
                "unit.fc",
                a.trunk_output_len(),
                2,
                true,
                Init::Xavier,
            )?,
            trunk,
            preset,
            architecture: a,
            channels: input_channels,
            fr_classes,
            fer_classes,
            keep: 0.5,
            normalize_unit_logits: true,
            frozen_trunk: false,
        })
    }

    /// Trainable parameters of the network proper (everything but the weight unit).
    pub fn main_params(store: &ParamStore) -> Vec<ParamId> {
        store
            .trainable_with_prefix("")
            .into_iter()
            .filter(|&id| !store.name(id).starts_with("unit."))
            .collect()
    }

    /// Trainable parameters of the weight unit.
    pub fn unit_params(store: &ParamStore) -> Vec<ParamId> {
        store.trainable_with_prefix("unit.")
    }

    /// The weights of the last shared layer (the trunk's last convolution), where GradNorm
    /// measures each task's gradient.
    pub fn last_shared_weight(&self) -> ParamId {
        match &self.trunk {
            Trunk::Plain(blocks) => {
                let block = blocks.last().expect("every preset has trunk blocks");
                block
                    .last()
                    .expect("every block has convolutions")
                    .conv
                    .weight
            }
            Trunk::InceptionResNet(net) => net.last_shared_weight(),
        }
    }

    /// The L2-normalised FR embedding, which verification compares (recorded only where it
    /// is needed: no loss uses it, so a training step does not compute it).
    pub fn normalize_embedding(tape: &mut Tape, embedding: Var) -> Result<Var> {
        tape.l2_normalize(embedding, 1e-10)
    }

    /// Records the forward pass of `images` [N, channels, input, input].
    pub fn forward(
        &self,
        tape: &mut Tape,
        images: Tensor,
        options: ForwardOptions,
    ) -> Result<Outputs> {
        let x = tape.input(images);
        let trunk = if self.frozen_trunk {
            // Evaluation mode for the trunk, and its output a constant to what follows.
            let training = tape.set_training(false);
            let trunk = self.trunk.forward(tape, x);
            tape.set_training(training);
            let trunk = trunk?;
            tape.detach(trunk)
        } else {
            self.trunk.forward(tape, x)?
        };
        let (f, e) = BranchConvs::forward_both(&self.fr_convs, &self.fer_convs, tape, trunk)?;
        let f = tape.global_avg_pool_dropout(f, self.keep)?;
        let mut embedding = self.fr_embedding.forward(tape, f)?;
        if let Some(bn) = &self.fr_embedding_bn {
            embedding = bn.forward(tape, embedding)?;
        }
        let fr_logits = self.fr_logits.forward(tape, embedding)?;

        let e = tape.global_avg_pool_dropout(e, self.keep)?;
        let e = self.fer_hidden.forward(tape, e)?;
        let e = tape.relu_dropout(e, self.keep)?;
        let fer_logits = self.fer_logits.forward(tape, e)?;

        let task_weights = if options.unit {
            let u = if options.detach_unit_input {
                tape.detach(trunk)
            } else {
                trunk
            };
            let u = tape.flatten(u)?;
            let u = tape.l2_normalize(u, 1e-10)?;
            let mut z = self.unit.forward(tape, u)?;
            if self.normalize_unit_logits {
                z = tape.l2_normalize(z, 1e-10)?;
            }
            Some(tape.softmax_mean_rows(z)?)
        } else {
            None
        };
        Ok(Outputs {
            trunk,
            fr_logits,
            fer_logits,
            embedding,
            task_weights,
        })
    }
}
