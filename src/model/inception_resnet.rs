//! The paper's trunk: an Inception-ResNet-v1 (docs/method.md, "The Inception-ResNet-v1 trunk";
//! FaceNet's open implementations), with parameter names that are the PyTorch module
//! paths of `benches/peers/pytorch_paper.py`, so a checkpoint loads there as it is.
//!
//! Stem, `repeats[0]` x Block35, Reduction-A, `repeats[1]` x Block17, Reduction-B,
//! `repeats[2]` x Block8 are the shared trunk; each task branch then has one Block8 of its
//! own (FaceNet's last Block8: scale 1, no ReLU) before its global average pool and head.

use rand::rngs::StdRng;

use super::conv_bn::{run_branches, run_stack, same, ConvBnRelu};
use super::preset::InceptionResNetSizes;
use crate::autodiff::{ParamId, ParamStore, Tape, Var};
use crate::geometry::{Conv2dSpec, Pool2dSpec};
use crate::gpu::{Gpu, Result};
use crate::nn::{Conv2d, Init};

/// Inception-ResNet's residual scales (Block35, Block17, Block8).
const SCALES: [f32; 3] = [0.17, 0.10, 0.20];

/// The stem's and the reductions' 3x3 stride-2 max pool, no padding.
fn pool() -> Pool2dSpec {
    Pool2dSpec::new(3, 2, 0)
}

/// 3x3 stride 2, no padding ("valid").
fn reduce() -> Conv2dSpec {
    Conv2dSpec::new(2, 0)
}

/// Builds layers in order under one name prefix, drawing initial values from one RNG.
struct Builder<'a> {
    gpu: &'a Gpu,
    store: &'a mut ParamStore,
    rng: &'a mut StdRng,
    /// Every batch norm's epsilon.
    bn_eps: f32,
}

impl Builder<'_> {
    fn layer(
        &mut self,
        name: &str,
        channels: (usize, usize),
        kernel: (usize, usize),
        spec: Conv2dSpec,
    ) -> Result<ConvBnRelu> {
        let mut layer =
            ConvBnRelu::with_kernel(self.gpu, self.store, self.rng, name, channels, kernel, spec)?;
        layer.bn.eps = self.bn_eps;
        Ok(layer)
    }

    /// One branch `name.0`, `name.1`, ... of `(out channels, kernel, spec)` layers.
    fn branch(
        &mut self,
        name: &str,
        mut in_c: usize,
        layers: &[(usize, (usize, usize), Conv2dSpec)],
    ) -> Result<Vec<ConvBnRelu>> {
        let mut out = Vec::with_capacity(layers.len());
        for (i, &(out_c, kernel, spec)) in layers.iter().enumerate() {
            out.push(self.layer(&format!("{name}.{i}"), (in_c, out_c), kernel, spec)?);
            in_c = out_c;
        }
        Ok(out)
    }
}

/// Block35 / Block17 / Block8: branches that each start with a 1x1 convolution of the
/// input (the three run as one GEMM), joined along channels, projected back by a linear
/// 1x1 convolution with bias, and added to the input scaled: `act(x + scale * project)`.
pub(super) struct ResidualBlock {
    branches: Vec<Vec<ConvBnRelu>>,
    project: Conv2d,
    scale: f32,
    relu: bool,
}

impl ResidualBlock {
    /// `tails[i]` lists the layers branch i has after its 1x1 (kernel and "same" spec),
    /// each `width` channels wide.
    fn new(
        b: &mut Builder,
        name: &str,
        channels: usize,
        width: usize,
        tails: &[&[(usize, usize)]],
        scale: f32,
        relu: bool,
    ) -> Result<Self> {
        let mut branches = Vec::with_capacity(tails.len());
        for (i, tail) in tails.iter().enumerate() {
            let mut layers = vec![(width, (1, 1), same((1, 1)))];
            layers.extend(tail.iter().map(|&k| (width, k, same(k))));
            branches.push(b.branch(&format!("{name}.branch{i}"), channels, &layers)?);
        }
        let project = Conv2d::new(
            b.gpu,
            b.store,
            b.rng,
            &format!("{name}.project"),
            width * tails.len(),
            channels,
            (1, 1),
            same((1, 1)),
            true,
            Init::Xavier,
        )?;
        Ok(ResidualBlock {
            branches,
            project,
            scale,
            relu,
        })
    }

    fn block35(b: &mut Builder, name: &str, channels: usize, width: usize) -> Result<Self> {
        let tails: [&[(usize, usize)]; 3] = [&[], &[(3, 3)], &[(3, 3), (3, 3)]];
        Self::new(b, name, channels, width, &tails, SCALES[0], true)
    }

    fn block17(b: &mut Builder, name: &str, channels: usize, width: usize) -> Result<Self> {
        let tails: [&[(usize, usize)]; 2] = [&[], &[(1, 7), (7, 1)]];
        Self::new(b, name, channels, width, &tails, SCALES[1], true)
    }

    /// A Block8; the branches' own (last) one has scale 1 and no ReLU.
    fn block8(
        b: &mut Builder,
        name: &str,
        channels: usize,
        width: usize,
        last: bool,
    ) -> Result<Self> {
        let tails: [&[(usize, usize)]; 2] = [&[], &[(1, 3), (3, 1)]];
        let (scale, relu) = if last {
            (1.0, false)
        } else {
            (SCALES[2], true)
        };
        Self::new(b, name, channels, width, &tails, scale, relu)
    }

    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let branches: Vec<&[ConvBnRelu]> = self.branches.iter().map(Vec::as_slice).collect();
        let outs = run_branches(&branches, tape, x)?;
        let joined = tape.concat_channels(&outs)?;
        let r = self.project.forward(tape, joined)?;
        tape.scaled_residual(x, r, self.scale, self.relu)
    }
}

/// Reduction-A / Reduction-B: convolution branches ending in a 3x3 stride-2 convolution,
/// and a 3x3 stride-2 max pool of the input, joined along channels.
struct Reduction {
    branches: Vec<Vec<ConvBnRelu>>,
    /// The branches' first layers share one filter shape (Reduction-B's 1x1s): one GEMM.
    stacked: bool,
}

impl Reduction {
    /// `[k 3x3/2], [l 1x1 -> m 3x3 -> n 3x3/2], [pool]`.
    fn a(b: &mut Builder, name: &str, channels: usize, [k, l, m, n]: [usize; 4]) -> Result<Self> {
        let branches = vec![
            b.branch(
                &format!("{name}.branch0"),
                channels,
                &[(k, (3, 3), reduce())],
            )?,
            b.branch(
                &format!("{name}.branch1"),
                channels,
                &[
                    (l, (1, 1), same((1, 1))),
                    (m, (3, 3), same((3, 3))),
                    (n, (3, 3), reduce()),
                ],
            )?,
        ];
        Ok(Reduction {
            branches,
            stacked: false,
        })
    }

    /// `[r 1x1 -> o0 3x3/2], [r 1x1 -> o1 3x3/2], [r 1x1 -> o2 3x3 -> o2 3x3/2], [pool]`.
    fn b(
        b: &mut Builder,
        name: &str,
        channels: usize,
        [r, o0, o1, o2]: [usize; 4],
    ) -> Result<Self> {
        let one = (r, (1, 1), same((1, 1)));
        let branches = vec![
            b.branch(
                &format!("{name}.branch0"),
                channels,
                &[one, (o0, (3, 3), reduce())],
            )?,
            b.branch(
                &format!("{name}.branch1"),
                channels,
                &[one, (o1, (3, 3), reduce())],
            )?,
            b.branch(
                &format!("{name}.branch2"),
                channels,
                &[one, (o2, (3, 3), same((3, 3))), (o2, (3, 3), reduce())],
            )?,
        ];
        Ok(Reduction {
            branches,
            stacked: true,
        })
    }

    fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let mut outs = if self.stacked {
            let branches: Vec<&[ConvBnRelu]> = self.branches.iter().map(Vec::as_slice).collect();
            run_branches(&branches, tape, x)?
        } else {
            let mut outs = Vec::with_capacity(self.branches.len() + 1);
            for branch in &self.branches {
                outs.push(run_stack(branch, tape, x)?);
            }
            outs
        };
        outs.push(tape.max_pool2d(x, pool())?);
        tape.concat_channels(&outs)
    }
}

/// The shared trunk.
pub(super) struct InceptionResNet {
    stem: Vec<ConvBnRelu>,
    blocks35: Vec<ResidualBlock>,
    reduction_a: Reduction,
    blocks17: Vec<ResidualBlock>,
    reduction_b: Reduction,
    blocks8: Vec<ResidualBlock>,
    last_shared_weight: ParamId,
}

impl InceptionResNet {
    /// Registers the trunk's parameters (`trunk.`) in `store`.
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        sizes: &InceptionResNetSizes,
        input_channels: usize,
    ) -> Result<Self> {
        let b = &mut Builder {
            gpu,
            store,
            rng,
            bn_eps: sizes.bn_eps,
        };
        let s = sizes.stem;
        let stem = vec![
            b.layer(
                "trunk.stem.conv1a",
                (input_channels, s[0]),
                (3, 3),
                reduce(),
            )?,
            b.layer(
                "trunk.stem.conv2a",
                (s[0], s[1]),
                (3, 3),
                Conv2dSpec::new(1, 0),
            )?,
            b.layer("trunk.stem.conv2b", (s[1], s[2]), (3, 3), same((3, 3)))?,
            // The max pool comes here.
            b.layer("trunk.stem.conv3b", (s[2], s[3]), (1, 1), same((1, 1)))?,
            b.layer(
                "trunk.stem.conv4a",
                (s[3], s[4]),
                (3, 3),
                Conv2dSpec::new(1, 0),
            )?,
            b.layer("trunk.stem.conv4b", (s[4], s[5]), (3, 3), reduce())?,
        ];
        let [c35, c17, c8] = sizes.channels();
        let [r35, r17, r8] = sizes.repeats;
        let blocks35 = (0..r35)
            .map(|i| ResidualBlock::block35(b, &format!("trunk.block35.{i}"), c35, sizes.block35))
            .collect::<Result<Vec<_>>>()?;
        let reduction_a = Reduction::a(b, "trunk.reduction_a", c35, sizes.reduction_a)?;
        let blocks17 = (0..r17)
            .map(|i| ResidualBlock::block17(b, &format!("trunk.block17.{i}"), c17, sizes.block17))
            .collect::<Result<Vec<_>>>()?;
        let reduction_b = Reduction::b(b, "trunk.reduction_b", c17, sizes.reduction_b)?;
        let blocks8 = (0..r8)
            .map(|i| {
                let name = format!("trunk.block8.{i}");
                ResidualBlock::block8(b, &name, c8, sizes.block8, false)
            })
            .collect::<Result<Vec<_>>>()?;
        // GradNorm's layer: the last one both tasks share.
        let last_shared_weight = match blocks8.last() {
            Some(block) => block.project.weight,
            None => {
                reduction_b.branches[0]
                    .last()
                    .expect("branches have layers")
                    .conv
                    .weight
            }
        };
        Ok(InceptionResNet {
            stem,
            blocks35,
            reduction_a,
            blocks17,
            reduction_b,
            blocks8,
            last_shared_weight,
        })
    }

    pub fn last_shared_weight(&self) -> ParamId {
        self.last_shared_weight
    }

    /// The trunk's output for `x`.
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let (before_pool, after_pool) = self.stem.split_at(3);
        let (last, first) = before_pool.split_last().expect("the stem has layers");
        let mut h = run_stack(first, tape, x)?;
        h = last.forward_pooled(tape, h, pool())?;
        h = run_stack(after_pool, tape, h)?;
        for block in &self.blocks35 {
            h = block.forward(tape, h)?;
        }
        h = self.reduction_a.forward(tape, h)?;
        for block in &self.blocks17 {
            h = block.forward(tape, h)?;
        }
        h = self.reduction_b.forward(tape, h)?;
        for block in &self.blocks8 {
            h = block.forward(tape, h)?;
        }
        Ok(h)
    }

    /// A task branch's own Block8 (`{task}.block8.`): scale 1, no ReLU.
    pub fn branch_block(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        sizes: &InceptionResNetSizes,
        task: &str,
    ) -> Result<ResidualBlock> {
        let b = &mut Builder {
            gpu,
            store,
            rng,
            bn_eps: sizes.bn_eps,
        };
        let channels = sizes.channels()[2];
        ResidualBlock::block8(b, &format!("{task}.block8"), channels, sizes.block8, true)
    }
}
