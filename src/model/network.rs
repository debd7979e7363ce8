//! The multi-task network (PAPER.md): a shared convolutional trunk, an FR branch (conv
//! block, global average pool, dropout, 128-d embedding, identity FC), an FER branch (conv
//! block, global average pool, dropout, FC, ReLU, dropout, FC), and the weight unit (FC over
//! the L2-normalised flattened trunk output, one output per task, softmax, batch mean).

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::preset::{Architecture, Preset};
use crate::autodiff::{ParamId, ParamStore, Tape, Var};
use crate::geometry::{Conv2dSpec, Pool2dSpec};
use crate::gpu::{Gpu, Result, Tensor};
use crate::nn::{BatchNorm2d, Conv2d, Init, Linear};

/// 3x3 conv + batch norm + ReLU.
struct ConvBnRelu {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvBnRelu {
    fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        name: &str,
        in_c: usize,
        out_c: usize,
    ) -> Result<Self> {
        Ok(ConvBnRelu {
            conv: Conv2d::new(
                gpu,
                store,
                rng,
                &format!("{name}.conv"),
                in_c,
                out_c,
                (3, 3),
                Conv2dSpec::new(1, 1),
                false,
                Init::He,
            )?,
            bn: BatchNorm2d::new(gpu, store, &format!("{name}.bn"), out_c)?,
        })
    }

    fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let h = self.conv.forward(tape, x)?;
        self.bn.forward_relu(tape, h)
    }

    /// Each of `layers` applied to `x`, their convolutions as one GEMM
    /// ([`Conv2d::forward_stacked`]).
    fn forward_stacked(layers: &[&ConvBnRelu], tape: &mut Tape, x: Var) -> Result<Vec<Var>> {
        let convs: Vec<&Conv2d> = layers.iter().map(|l| &l.conv).collect();
        let parts = Conv2d::forward_stacked(&convs, tape, x)?;
        layers
            .iter()
            .zip(parts)
            .map(|(layer, h)| layer.bn.forward_relu(tape, h))
            .collect()
    }

    /// The layer followed by a max pool (batch norm, ReLU and pool in one kernel where
    /// they fuse).
    fn forward_pooled(&self, tape: &mut Tape, x: Var, pool: Pool2dSpec) -> Result<Var> {
        let h = self.conv.forward(tape, x)?;
        self.bn.forward_relu_max_pool(tape, h, pool)
    }
}

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

fn run_stack(stack: &[ConvBnRelu], tape: &mut Tape, mut x: Var) -> Result<Var> {
    for layer in stack {
        x = layer.forward(tape, x)?;
    }
    Ok(x)
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
    trunk: Vec<Vec<ConvBnRelu>>,
    fr_convs: Vec<ConvBnRelu>,
    fr_embedding: Linear,
    fr_logits: Linear,
    fer_convs: Vec<ConvBnRelu>,
    fer_hidden: Linear,
    fer_logits: Linear,
    unit: Linear,
    /// Keep probability of the dropout before the branch FCs (the paper: 0.5).
    pub keep: f32,
    /// Softmax over L2-normalised unit logits (bounds two-task weights to ~[0.2, 0.8]).
    pub normalize_unit_logits: bool,
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
        let mut trunk = Vec::new();
        let mut channels = input_channels;
        for (b, &out_c) in a.trunk.iter().enumerate() {
            trunk.push(conv_stack(
                gpu,
                store,
                &mut rng,
                &format!("trunk.block{}", b + 1),
                channels,
                out_c,
                a.convs_per_block,
            )?);
            channels = out_c;
        }
        let side = a.input >> a.trunk.len();
        let unit_inputs = channels * side * side;
        Ok(MultiTaskNet {
            fr_convs: conv_stack(
                gpu,
                store,
                &mut rng,
                "fr.block",
                channels,
                a.branch,
                a.convs_per_block,
            )?,
            fr_embedding: Linear::new(
                gpu,
                store,
                &mut rng,
                "fr.embedding",
                a.branch,
                a.embedding,
                true,
                Init::Xavier,
            )?,
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
            fer_convs: conv_stack(
                gpu,
                store,
                &mut rng,
                "fer.block",
                channels,
                a.branch,
                a.convs_per_block,
            )?,
            fer_hidden: Linear::new(
                gpu,
                store,
                &mut rng,
                "fer.hidden",
                a.branch,
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
                unit_inputs,
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
        let block = self.trunk.last().expect("every preset has trunk blocks");
        block
            .last()
            .expect("every block has convolutions")
            .conv
            .weight
    }

    /// The L2-normalised FR embedding, which verification compares (recorded only where it
    /// is needed: no loss uses it, so a training step does not compute it).
    pub fn normalize_embedding(tape: &mut Tape, embedding: Var) -> Result<Var> {
        tape.l2_normalize(embedding, 1e-10)
    }

    /// Records the forward pass of `images` [N, 1, input, input].
    pub fn forward(
        &self,
        tape: &mut Tape,
        images: Tensor,
        options: ForwardOptions,
    ) -> Result<Outputs> {
        let mut h = tape.input(images);
        for block in &self.trunk {
            let (last, rest) = block.split_last().expect("every block has convolutions");
            h = run_stack(rest, tape, h)?;
            h = last.forward_pooled(tape, h, Pool2dSpec::new(2, 2, 0))?;
        }
        let trunk = h;

        // The branches' first layers read the same input: one GEMM for both.
        let (fr_first, fr_rest) = self.fr_convs.split_first().expect("branches have layers");
        let (fer_first, fer_rest) = self.fer_convs.split_first().expect("branches have layers");
        let firsts = ConvBnRelu::forward_stacked(&[fr_first, fer_first], tape, trunk)?;
        let (f, e) = (firsts[0], firsts[1]);

        let f = run_stack(fr_rest, tape, f)?;
        let f = tape.global_avg_pool_dropout(f, self.keep)?;
        let embedding = self.fr_embedding.forward(tape, f)?;
        let fr_logits = self.fr_logits.forward(tape, embedding)?;

        let e = run_stack(fer_rest, tape, e)?;
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
