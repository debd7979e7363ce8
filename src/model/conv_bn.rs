//! The building block of every trunk: a convolution without bias, batch norm, ReLU
//! (Inception-ResNet's "BasicConv2d"), with its parameters under `name.conv` and `name.bn`.

use rand::rngs::StdRng;

use crate::autodiff::{ParamStore, Tape, Var};
use crate::geometry::{Conv2dSpec, Padding, Pool2dSpec};
use crate::gpu::{Gpu, Result};
use crate::nn::{BatchNorm2d, Conv2d, Init};

/// Convolution + batch norm + ReLU.
pub(super) struct ConvBnRelu {
    pub conv: Conv2d,
    pub bn: BatchNorm2d,
}

/// "Same" padding of a stride-1 `(kh, kw)` kernel with odd sides.
pub(super) fn same(kernel: (usize, usize)) -> Conv2dSpec {
    let (v, h) = ((kernel.0 - 1) / 2, (kernel.1 - 1) / 2);
    Conv2dSpec {
        stride: (1, 1),
        padding: Padding {
            top: v,
            bottom: v,
            left: h,
            right: h,
        },
    }
}

impl ConvBnRelu {
    /// A 3x3 "same" layer.
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        name: &str,
        in_c: usize,
        out_c: usize,
    ) -> Result<Self> {
        Self::with_kernel(gpu, store, rng, name, (in_c, out_c), (3, 3), same((3, 3)))
    }

    /// A layer of any kernel and spec; `channels` is (in, out).
    pub fn with_kernel(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        name: &str,
        (in_c, out_c): (usize, usize),
        kernel: (usize, usize),
        spec: Conv2dSpec,
    ) -> Result<Self> {
        let conv_name = format!("{name}.conv");
        Ok(ConvBnRelu {
            conv: Conv2d::new(
                gpu,
                store,
                rng,
                &conv_name,
                in_c,
                out_c,
                kernel,
                spec,
                false,
                Init::He,
            )?,
            bn: BatchNorm2d::new(gpu, store, &format!("{name}.bn"), out_c)?,
        })
    }

    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let h = self.conv.forward(tape, x)?;
        self.bn.forward_relu(tape, h)
    }

    /// Each of `layers` applied to `x`, their convolutions as one GEMM
    /// ([`Conv2d::forward_stacked`]; filters of one shape and spec).
    pub fn forward_stacked(layers: &[&ConvBnRelu], tape: &mut Tape, x: Var) -> Result<Vec<Var>> {
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
    pub fn forward_pooled(&self, tape: &mut Tape, x: Var, pool: Pool2dSpec) -> Result<Var> {
        let h = self.conv.forward(tape, x)?;
        self.bn.forward_relu_max_pool(tape, h, pool)
    }
}

/// `layers` applied in turn.
pub(super) fn run_stack(stack: &[ConvBnRelu], tape: &mut Tape, mut x: Var) -> Result<Var> {
    for layer in stack {
        x = layer.forward(tape, x)?;
    }
    Ok(x)
}

/// Branches that all start from `x`: their first layers (filters of one shape and spec) as
/// one GEMM ([`ConvBnRelu::forward_stacked`]), then each branch's other layers in turn;
/// their outputs in branch order.
pub(super) fn run_branches(
    branches: &[&[ConvBnRelu]],
    tape: &mut Tape,
    x: Var,
) -> Result<Vec<Var>> {
    let firsts: Vec<&ConvBnRelu> = branches.iter().map(|b| &b[0]).collect();
    let heads = ConvBnRelu::forward_stacked(&firsts, tape, x)?;
    branches
        .iter()
        .zip(heads)
        .map(|(branch, h)| run_stack(&branch[1..], tape, h))
        .collect()
}
