//! The backward pass: one exhaustive match over the recorded ops, walking the tape in
//! reverse. Only nodes that lead to a requested parameter are visited, so one tape can
//! serve several backward passes for separate parameter groups (the main network and the
//! task-weight unit) without one touching the other's parameters.

use std::collections::HashSet;

use super::params::ParamId;
use super::tape::{Op, Tape, Var};
use crate::gpu::{shape_text, GpuError, Result, Tensor};
use crate::kernels::{channels, conv, elementwise, loss, matmul, norm, pool, reduce};

/// Gradients of the requested parameters (a parameter the seeds do not reach has none).
#[derive(Default)]
pub struct Gradients {
    grads: Vec<(ParamId, Tensor)>,
}

impl Gradients {
    /// Gradients put together by hand (e.g. combined from per-task backward passes).
    pub fn from_pairs(grads: Vec<(ParamId, Tensor)>) -> Gradients {
        Gradients { grads }
    }

    pub fn get(&self, id: ParamId) -> Option<&Tensor> {
        self.grads.iter().find(|(p, _)| *p == id).map(|(_, g)| g)
    }

    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Tensor)> {
        self.grads.iter().map(|(p, g)| (*p, g))
    }

    pub fn len(&self) -> usize {
        self.grads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
}

/// Inputs of an op (the vars its gradient flows into).
fn inputs(op: &Op) -> Vec<Var> {
    match op {
        Op::Input | Op::Param(_) | Op::Detach => vec![],
        Op::Conv2d { x, w, b, .. } | Op::Linear { x, w, b } => {
            [Some(*x), Some(*w), *b].into_iter().flatten().collect()
        }
        Op::BatchNorm { x, gamma, beta, .. } | Op::BatchNormReluMaxPool { x, gamma, beta, .. } => {
            vec![*x, *gamma, *beta]
        }
        Op::Relu(x)
        | Op::MaxPool { x, .. }
        | Op::AvgPool { x, .. }
        | Op::GlobalAvgPool { x, .. }
        | Op::Reshape(x)
        | Op::StackPart { x, .. }
        | Op::L2Normalize { x, .. }
        | Op::Dropout { x, .. }
        | Op::SoftmaxRows(x)
        | Op::SoftmaxMeanRows { x, .. }
        | Op::MeanRows(x)
        | Op::Scale(x, _)
        | Op::Sum(x) => vec![*x],
        Op::SoftmaxCrossEntropy { logits, .. } => vec![*logits],
        Op::Add(a, b) | Op::Mul(a, b) => vec![*a, *b],
        Op::Concat(parts) | Op::ConcatChannels(parts) => parts.clone(),
        Op::ScaledResidual { x, r, .. } => vec![*x, *r],
    }
}

struct Accumulator<'t> {
    tape: &'t Tape<'t>,
    needed: Vec<bool>,
    grads: Vec<Option<Tensor>>,
    /// For a value whose gradient so far is a buffer that [`Accumulator::add_part`] made
    /// (zeros where no part has come), the element ranges the parts wrote; empty
    /// otherwise.
    parts: Vec<Vec<std::ops::Range<usize>>>,
}

impl Accumulator<'_> {
    /// Adds `g` to the gradient of `v` (if `v` leads to a requested parameter).
    fn add(&mut self, v: Var, g: Tensor) -> Result<()> {
        if !self.needed[v.0] {
            return Ok(());
        }
        let expected = self.tape.value(v).shape();
        if g.shape() != expected {
            return Err(GpuError::shape(
                "backward",
                format!(
                    "gradient {} for a value of shape {}",
                    shape_text(g.shape()),
                    shape_text(expected)
                ),
            ));
        }
        self.grads[v.0] = Some(match self.grads[v.0].take() {
            None => g,
            Some(acc) => elementwise::add(&self.tape.gpu, &acc, &g)?,
        });
        self.parts[v.0].clear();
        Ok(())
    }

    /// Adds `g` to elements `[start, start + len(g))` of the gradient of `v`. Parts that
    /// do not overlap (the stacks of a convolution's output) are copied into one buffer,
    /// zeros elsewhere, with no kernel.
    fn add_part(&mut self, v: Var, start: usize, g: Tensor) -> Result<()> {
        if !self.needed[v.0] {
            return Ok(());
        }
        let gpu = &self.tape.gpu;
        let whole = self.tape.value(v).shape();
        let range = start..start + g.len();
        let apart = |r: &std::ops::Range<usize>| r.end <= range.start || range.end <= r.start;
        let into_ours = !self.parts[v.0].is_empty() && self.parts[v.0].iter().all(apart);
        if self.grads[v.0].is_none() || into_ours {
            let target = match self.grads[v.0].take() {
                Some(ours) => ours,
                None => Tensor::zeros(gpu, whole)?,
            };
            g.copy_into(gpu, &target, start)?;
            self.grads[v.0] = Some(target);
            self.parts[v.0].push(range);
            return Ok(());
        }
        let spread = Tensor::zeros(gpu, whole)?;
        g.copy_into(gpu, &spread, start)?;
        self.add(v, spread)
    }

    fn wants(&self, v: Var) -> bool {
        self.needed[v.0]
    }
}

impl Tape<'_> {
    /// Back-propagates `seeds` (each a value and the gradient of the objective w.r.t. it,
    /// e.g. a loss and its task weight as a `[1]` tensor) into the parameters `wrt`.
    /// Everything is recorded into the device's pending encoder; nothing is read back.
    pub fn backward(&self, seeds: &[(Var, Tensor)], wrt: &[ParamId]) -> Result<Gradients> {
        self.propagate(seeds, wrt, None).map(|(grads, _)| grads)
    }

    /// The gradient of the objective that `seeds` define w.r.t. the recorded value `at`
    /// (e.g. the trunk's output, for per-task gradients of the shared representation);
    /// None when no seed depends on it. Only the ops between the seeds and `at` run.
    pub fn gradient_at(&self, seeds: &[(Var, Tensor)], at: Var) -> Result<Option<Tensor>> {
        self.propagate(seeds, &[], Some(at)).map(|(_, g)| g)
    }

    fn propagate(
        &self,
        seeds: &[(Var, Tensor)],
        wrt: &[ParamId],
        stop_at: Option<Var>,
    ) -> Result<(Gradients, Option<Tensor>)> {
        let wanted: HashSet<ParamId> = wrt.iter().copied().collect();
        let mut needed = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            needed[i] = stop_at.is_some_and(|v| v.0 == i)
                || match node.op {
                    Op::Param(id) => wanted.contains(&id),
                    _ => inputs(&node.op).iter().any(|v| needed[v.0]),
                };
        }
        let mut acc = Accumulator {
            tape: self,
            needed,
            grads: vec![None; self.nodes.len()],
            parts: vec![Vec::new(); self.nodes.len()],
        };
        for (v, g) in seeds {
            acc.add(*v, g.clone())?;
        }
        let mut result = Gradients::default();
        for i in (0..self.nodes.len()).rev() {
            let Some(dy) = acc.grads[i].take() else {
                continue;
            };
            if stop_at.is_some_and(|v| v.0 == i) {
                return Ok((result, Some(dy)));
            }
            let node = &self.nodes[i];
            if let Op::Param(id) = &node.op {
                result.grads.push((*id, dy));
            } else {
                self.backward_op(&mut acc, &node.op, &node.value, dy)?;
            }
        }
        Ok((result, None))
    }
}

/// One op's backward pass: the gradient `dy` of its output `y` spread to its inputs. One
/// exhaustive match; each family of ops has its helper.
impl Tape<'_> {
    fn backward_op(&self, acc: &mut Accumulator, op: &Op, y: &Tensor, dy: Tensor) -> Result<()> {
        let gpu = &self.gpu;
        match op {
            Op::Input | Op::Detach | Op::Param(_) => Ok(()),
            Op::Conv2d {
                x,
                w,
                b,
                geometry,
                packed,
                ..
            } => self.conv_backward(acc, &dy, [*x, *w], *b, geometry, packed.as_deref()),
            Op::Linear { x, w, b } => self.linear_backward(acc, &dy, [*x, *w], *b),
            Op::BatchNorm {
                x,
                gamma,
                beta,
                stats,
                eps,
                batch_stats,
                relu,
            } => {
                let grads = norm::batch_norm_backward(
                    gpu,
                    self.value(*x),
                    &dy,
                    stats,
                    self.value(*gamma),
                    *eps,
                    *batch_stats,
                    relu.then_some(y),
                )?;
                add_norm_grads(acc, [*x, *gamma, *beta], grads)
            }
            Op::BatchNormReluMaxPool {
                x,
                gamma,
                beta,
                stats,
                eps,
                batch_stats,
                argmax,
            } => {
                let pooled = pool::MaxPoolOutput {
                    output: y.clone(),
                    argmax: argmax.clone(),
                };
                let grads = norm::batch_norm_relu_max_pool_backward(
                    gpu,
                    self.value(*x),
                    &pooled,
                    &dy,
                    stats,
                    self.value(*gamma),
                    *eps,
                    *batch_stats,
                )?;
                add_norm_grads(acc, [*x, *gamma, *beta], grads)
            }
            Op::MaxPool { .. } | Op::AvgPool { .. } | Op::GlobalAvgPool { .. } => {
                self.pool_backward(acc, op, dy)
            }
            Op::SoftmaxRows(_)
            | Op::SoftmaxMeanRows { .. }
            | Op::SoftmaxCrossEntropy { .. }
            | Op::L2Normalize { .. } => self.row_backward(acc, op, y, dy),
            Op::Relu(_)
            | Op::Dropout { .. }
            | Op::Reshape(_)
            | Op::StackPart { .. }
            | Op::MeanRows(_)
            | Op::Add(..)
            | Op::Mul(..)
            | Op::Scale(..)
            | Op::Sum(_)
            | Op::Concat(_)
            | Op::ConcatChannels(_) => self.elementwise_backward(acc, op, dy),
            Op::ScaledResidual { x, r, scale, relu } => {
                let (dx, dr) = elementwise::scaled_residual_backward(gpu, y, &dy, *scale, *relu)?;
                acc.add(*x, dx)?;
                acc.add(*r, dr)
            }
        }
    }

    /// A convolution: input and weight gradients in one call, the bias's as channel sums.
    fn conv_backward(
        &self,
        acc: &mut Accumulator,
        dy: &Tensor,
        [x, w]: [Var; 2],
        b: Option<Var>,
        geometry: &crate::geometry::Conv2dGeometry,
        packed: Option<&conv::PackedOperands>,
    ) -> Result<()> {
        let (dx, dw) = conv::conv2d_backward_input_and_weight(
            &self.gpu,
            dy,
            self.value(x),
            packed,
            self.value(w),
            geometry,
            acc.wants(x),
            acc.wants(w),
        )?;
        if let Some(dx) = dx {
            acc.add(x, dx)?;
        }
        if let Some(dw) = dw {
            acc.add(w, dw)?;
        }
        if let Some(b) = b.filter(|b| acc.wants(*b)) {
            acc.add(b, reduce::channel_sums(&self.gpu, dy)?)?;
        }
        Ok(())
    }

    /// A dense layer: dx = dy W; dW and db in one GEMM when both are wanted.
    fn linear_backward(
        &self,
        acc: &mut Accumulator,
        dy: &Tensor,
        [x, w]: [Var; 2],
        b: Option<Var>,
    ) -> Result<()> {
        let gpu = &self.gpu;
        if acc.wants(x) {
            acc.add(x, matmul::linear_backward_input(gpu, dy, self.value(w))?)?;
        }
        let x = self.value(x);
        match (acc.wants(w), b.filter(|b| acc.wants(*b))) {
            (true, Some(b)) => {
                let (dw, db) = matmul::linear_backward_weight_and_bias(gpu, dy, x)?;
                acc.add(w, dw)?;
                acc.add(b, db)
            }
            (true, None) => acc.add(w, matmul::linear_backward_weight(gpu, dy, x)?),
            (false, Some(b)) => acc.add(b, reduce::channel_sums(gpu, dy)?),
            (false, None) => Ok(()),
        }
    }

    /// Max, average and global average pooling (the latter with its fused dropout).
    fn pool_backward(&self, acc: &mut Accumulator, op: &Op, dy: Tensor) -> Result<()> {
        let gpu = &self.gpu;
        match op {
            Op::MaxPool { x, argmax, spec } => acc.add(
                *x,
                pool::max_pool2d_backward(gpu, &dy, argmax, self.value(*x).shape(), *spec)?,
            ),
            Op::AvgPool { x, spec } => acc.add(
                *x,
                pool::avg_pool2d_backward(gpu, &dy, self.value(*x).shape(), *spec)?,
            ),
            Op::GlobalAvgPool { x, dropout } => {
                let shape = self.value(*x).shape();
                let dx = match dropout {
                    None => reduce::global_avg_pool_backward(gpu, &dy, shape)?,
                    Some(mask) => reduce::global_avg_pool_dropout_backward(gpu, &dy, shape, *mask)?,
                };
                acc.add(*x, dx)
            }
            _ => unreachable!("pool_backward is called for pooling ops"),
        }
    }

    /// Row-wise ops: softmax, softmax + batch mean, softmax cross-entropy, L2 normalisation.
    fn row_backward(&self, acc: &mut Accumulator, op: &Op, y: &Tensor, dy: Tensor) -> Result<()> {
        let gpu = &self.gpu;
        match op {
            Op::SoftmaxRows(x) => acc.add(*x, loss::softmax_rows_backward(gpu, y, &dy)?),
            Op::SoftmaxMeanRows { x, probs } => {
                acc.add(*x, loss::softmax_mean_rows_backward(gpu, probs, &dy)?)
            }
            Op::SoftmaxCrossEntropy {
                logits,
                labels,
                mask,
                probs,
                valid,
            } => {
                let forward = loss::SoftmaxCrossEntropy {
                    loss: y.clone(),
                    probs: probs.clone(),
                    valid: valid.clone(),
                };
                acc.add(
                    *logits,
                    loss::softmax_cross_entropy_backward(gpu, &forward, labels, mask, &dy)?,
                )
            }
            Op::L2Normalize { x, norms, eps } => {
                let forward = norm::L2Normalized {
                    output: y.clone(),
                    norms: norms.clone(),
                };
                acc.add(
                    *x,
                    norm::l2_normalize_rows_backward(gpu, &forward, &dy, *eps)?,
                )
            }
            _ => unreachable!("row_backward is called for row-wise ops"),
        }
    }

    /// Elementwise and shape ops: ReLU, dropout, add, multiply, scale, sums and means,
    /// concatenation, reshapes and stack parts.
    fn elementwise_backward(&self, acc: &mut Accumulator, op: &Op, dy: Tensor) -> Result<()> {
        let gpu = &self.gpu;
        match op {
            Op::Relu(x) => acc.add(*x, elementwise::relu_backward(gpu, self.value(*x), &dy)?),
            Op::Dropout { x, mask, relu } => {
                let (keep, seed) = (mask.keep, mask.seed);
                let dx = if *relu {
                    elementwise::relu_dropout_backward(gpu, self.value(*x), &dy, keep, seed)?
                } else {
                    elementwise::dropout(gpu, &dy, keep, seed)?
                };
                acc.add(*x, dx)
            }
            Op::Reshape(x) => acc.add(*x, dy.reshape(self.value(*x).shape())?),
            Op::StackPart { x, index } => acc.add_part(*x, index * dy.len(), dy),
            Op::MeanRows(x) => acc.add(
                *x,
                reduce::mean_rows_backward(gpu, &dy, self.value(*x).shape()[0])?,
            ),
            Op::Add(a, b) => {
                acc.add(*a, dy.clone())?;
                acc.add(*b, dy)
            }
            Op::Mul(a, b) => {
                if acc.wants(*a) {
                    acc.add(*a, elementwise::mul(gpu, &dy, self.value(*b))?)?;
                }
                if acc.wants(*b) {
                    acc.add(*b, elementwise::mul(gpu, &dy, self.value(*a))?)?;
                }
                Ok(())
            }
            Op::Scale(a, alpha) => acc.add(*a, elementwise::scale(gpu, &dy, *alpha)?),
            Op::Sum(a) => acc.add(*a, reduce::sum_backward(gpu, &dy, self.value(*a).shape())?),
            Op::Concat(parts) => {
                let mut offset = 0;
                for part in parts {
                    let shape = self.value(*part).shape();
                    let len = self.value(*part).len();
                    if acc.wants(*part) {
                        acc.add(*part, dy.slice(gpu, offset, len)?.reshape(shape)?)?;
                    }
                    offset += len;
                }
                Ok(())
            }
            Op::ConcatChannels(parts) => {
                let mut start = 0;
                for part in parts {
                    let channels = self.value(*part).shape()[1];
                    if acc.wants(*part) {
                        acc.add(*part, channels::channel_slice(gpu, &dy, start, channels)?)?;
                    }
                    start += channels;
                }
                Ok(())
            }
            _ => unreachable!("elementwise_backward is called for elementwise and shape ops"),
        }
    }
}

/// A batch norm's gradients: to its input, scale and shift.
fn add_norm_grads(
    acc: &mut Accumulator,
    [x, gamma, beta]: [Var; 3],
    grads: norm::BatchNormGrads,
) -> Result<()> {
    acc.add(x, grads.input)?;
    acc.add(gamma, grads.gamma)?;
    acc.add(beta, grads.beta)
}
