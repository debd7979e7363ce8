//! Recording the forward pass. Every op runs its forward kernel at once (recorded into the
//! device's pending encoder) and appends a node; node ids grow in recording order, so the
//! reverse of that order is a valid order for the backward pass.

use std::collections::HashMap;

use super::params::{ParamId, ParamStore};
use crate::geometry::{Conv2dGeometry, Conv2dSpec, Pool2dSpec};
use crate::gpu::{Gpu, GpuError, Indices, Result, Tensor};
use crate::kernels::norm::{BatchStats, ChannelMoments, RunningStats};
use crate::kernels::reduce::DropoutMask;
use crate::kernels::{channels, conv, elementwise, loss, matmul, norm, pool, reduce};

/// A value recorded on a tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

/// One recorded op, holding its inputs and the state its backward rule needs.
pub(crate) enum Op {
    /// Data: no gradient.
    Input,
    Param(ParamId),
    /// The same value with the gradient stopped.
    Detach,
    Conv2d {
        x: Var,
        w: Var,
        b: Option<Var>,
        geometry: Conv2dGeometry,
        /// What the forward pass packed for the backward passes (texel path, training
        /// tapes only).
        packed: Option<Box<conv::PackedOperands>>,
        /// The output's per-channel moments by tile, for a batch norm of it (training
        /// tapes only).
        moments: Option<Box<ChannelMoments>>,
    },
    Linear {
        x: Var,
        w: Var,
        b: Option<Var>,
    },
    Relu(Var),
    MaxPool {
        x: Var,
        argmax: Indices,
        spec: Pool2dSpec,
    },
    AvgPool {
        x: Var,
        spec: Pool2dSpec,
    },
    /// Global average pool of x, then inverted dropout when `dropout` (one kernel each way).
    GlobalAvgPool {
        x: Var,
        dropout: Option<DropoutMask>,
    },
    Reshape(Var),
    /// Stack `index` of a convolution output stored in stacks (`Tape::conv2d_stacked`):
    /// a plain tensor within x's buffer.
    StackPart {
        x: Var,
        index: usize,
    },
    L2Normalize {
        x: Var,
        norms: Tensor,
        eps: f32,
    },
    /// The mean over rows of softmax(x) per row; `probs` is the softmax.
    SoftmaxMeanRows {
        x: Var,
        probs: Tensor,
    },
    /// Inverted dropout of x, or of ReLU(x) when `relu` (one kernel each way).
    Dropout {
        x: Var,
        mask: DropoutMask,
        relu: bool,
    },
    BatchNorm {
        x: Var,
        gamma: Var,
        beta: Var,
        stats: BatchStats,
        eps: f32,
        batch_stats: bool,
        /// Followed by ReLU in the same kernel (the node's value is the ReLU's output).
        relu: bool,
    },
    /// Batch norm, ReLU and a 2x2 stride-2 max pool as one op, forward and backward (the
    /// node's value is the pool's output; the ReLU's output is never stored).
    BatchNormReluMaxPool {
        x: Var,
        gamma: Var,
        beta: Var,
        stats: BatchStats,
        eps: f32,
        batch_stats: bool,
        argmax: Indices,
    },
    SoftmaxRows(Var),
    MeanRows(Var),
    Add(Var, Var),
    Mul(Var, Var),
    Scale(Var, f32),
    Sum(Var),
    Concat(Vec<Var>),
    /// Channel concatenation of `[n, c_i, h, w]` tensors.
    ConcatChannels(Vec<Var>),
    /// `relu(x + scale * r)`, or without the ReLU when `relu` is false.
    ScaledResidual {
        x: Var,
        r: Var,
        scale: f32,
        relu: bool,
    },
    SoftmaxCrossEntropy {
        logits: Var,
        labels: Indices,
        mask: Tensor,
        probs: Tensor,
        valid: Tensor,
    },
}

pub(crate) struct Node {
    pub op: Op,
    pub value: Tensor,
}

/// The record of one forward pass. Create one per step; dropping it frees every
/// activation it holds (back to the device's buffer pool).
pub struct Tape<'s> {
    pub(crate) gpu: Gpu,
    pub(crate) store: &'s ParamStore,
    pub(crate) nodes: Vec<Node>,
    params: HashMap<ParamId, Var>,
    training: bool,
    seed: u32,
    dropouts: u32,
    /// Overrides every batch-norm layer's running-statistics momentum (recalibration).
    batch_norm_momentum: Option<f32>,
}

impl<'s> Tape<'s> {
    /// A tape over `store`'s parameters. `training` turns dropout on and makes batch norm
    /// use (and update) batch statistics; `seed` picks this step's dropout masks.
    pub fn new(gpu: &Gpu, store: &'s ParamStore, training: bool, seed: u32) -> Tape<'s> {
        Tape {
            gpu: gpu.clone(),
            store,
            nodes: Vec::new(),
            params: HashMap::new(),
            training,
            seed,
            dropouts: 0,
            batch_norm_momentum: None,
        }
    }

    /// Makes every batch-norm layer on this (training) tape move its running statistics by
    /// `momentum` instead of its own: 1 / k on the k-th batch of a pass averages the
    /// batches' statistics.
    pub fn set_batch_norm_momentum(&mut self, momentum: f32) {
        self.batch_norm_momentum = Some(momentum);
    }

    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Records what follows in training (`true`) or evaluation mode, returning the mode
    /// before (a frozen part of a network runs in evaluation mode on a training tape).
    pub fn set_training(&mut self, training: bool) -> bool {
        std::mem::replace(&mut self.training, training)
    }

    /// The device the tape records on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The parameters the tape reads.
    pub fn store(&self) -> &'s ParamStore {
        self.store
    }

    fn push(&mut self, op: Op, value: Tensor) -> Var {
        self.nodes.push(Node { op, value });
        Var(self.nodes.len() - 1)
    }

    /// The value of `v`.
    pub fn value(&self, v: Var) -> &Tensor {
        &self.nodes[v.0].value
    }

    /// Records data (an image batch, say): no gradient flows into it.
    pub fn input(&mut self, value: Tensor) -> Var {
        self.push(Op::Input, value)
    }

    /// The parameter `id` as a value on the tape (recorded once per tape).
    pub fn param(&mut self, id: ParamId) -> Var {
        if let Some(&v) = self.params.get(&id) {
            return v;
        }
        let v = self.push(Op::Param(id), self.store.get(id).clone());
        self.params.insert(id, v);
        v
    }

    /// `x` with its gradient stopped.
    pub fn detach(&mut self, x: Var) -> Var {
        let value = self.value(x).clone();
        self.push(Op::Detach, value)
    }

    pub fn conv2d(&mut self, x: Var, w: Var, b: Option<Var>, spec: Conv2dSpec) -> Result<Var> {
        let geometry = Conv2dGeometry::new(self.value(x).shape(), self.value(w).shape(), spec)?;
        let (xv, wv, bv) = (self.value(x), self.value(w), b.map(|b| self.value(b)));
        // An evaluation tape runs no backward pass and uses the running statistics.
        let forward = match self.training {
            true => conv::conv2d_for_training(&self.gpu, xv, wv, bv, spec)?,
            false => conv::TrainingConv {
                y: conv::conv2d(&self.gpu, xv, wv, bv, spec)?,
                packed: None,
                moments: None,
            },
        };
        let op = Op::Conv2d {
            x,
            w,
            b,
            geometry,
            packed: forward.packed.map(Box::new),
            moments: forward.moments.map(Box::new),
        };
        Ok(self.push(op, forward.y))
    }

    /// Several convolutions of `x` without bias, `ws` filters of one shape, as one GEMM:
    /// their filters concatenated, the output stored in stacks
    /// ([`Conv2dGeometry::with_output_stacks`]), and each convolution's output a plain
    /// tensor in its stack (same values as [`conv2d`](Self::conv2d) of each; a batch norm
    /// of one still merges the convolution's moments).
    pub fn conv2d_stacked(&mut self, x: Var, ws: &[Var], spec: Conv2dSpec) -> Result<Vec<Var>> {
        const OP: &str = "conv2d_stacked";
        let Some(&first) = ws.first() else {
            return Err(GpuError::invalid(OP, "no filters to stack"));
        };
        let shape = self.value(first).shape().to_vec();
        if let Some(&other) = ws.iter().find(|&&w| self.value(w).shape() != shape) {
            return Err(GpuError::shape(
                OP,
                format!(
                    "filters {} and {} differ in shape",
                    crate::gpu::shape_text(&shape),
                    crate::gpu::shape_text(self.value(other).shape())
                ),
            ));
        }
        let mut stacked = shape.clone();
        stacked[0] *= ws.len();
        let w = self.concat(ws)?;
        let w = self.reshape(w, &stacked)?;
        let geometry = Conv2dGeometry::new(self.value(x).shape(), &stacked, spec)?
            .with_output_stacks(ws.len())?;
        let forward = conv::conv2d_stacked(
            &self.gpu,
            self.value(x),
            self.value(w),
            &geometry,
            self.training,
        )?;
        let op = Op::Conv2d {
            x,
            w,
            b: None,
            geometry,
            packed: forward.packed.map(Box::new),
            moments: forward.moments.map(Box::new),
        };
        let y = self.push(op, forward.y);
        let part = geometry.stack_shape();
        let len: usize = part.iter().product();
        (0..ws.len())
            .map(|index| {
                let whole = self.value(y);
                // A view where the stack starts on a binding boundary, else a copy.
                let value = match whole.view(&self.gpu, index * len, &part) {
                    Ok(view) => view,
                    Err(_) => whole.slice(&self.gpu, index * len, len)?.reshape(&part)?,
                };
                Ok(self.push(Op::StackPart { x: y, index }, value))
            })
            .collect()
    }

    /// `x [batch, in] * w^T + b`, w [out, in].
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let y = matmul::linear(
            &self.gpu,
            self.value(x),
            self.value(w),
            b.map(|b| self.value(b)),
        )?;
        Ok(self.push(Op::Linear { x, w, b }, y))
    }

    pub fn relu(&mut self, x: Var) -> Result<Var> {
        let y = elementwise::relu(&self.gpu, self.value(x))?;
        Ok(self.push(Op::Relu(x), y))
    }

    pub fn max_pool2d(&mut self, x: Var, spec: Pool2dSpec) -> Result<Var> {
        let out = pool::max_pool2d(&self.gpu, self.value(x), spec)?;
        Ok(self.push(
            Op::MaxPool {
                x,
                argmax: out.argmax,
                spec,
            },
            out.output,
        ))
    }

    pub fn avg_pool2d(&mut self, x: Var, spec: Pool2dSpec) -> Result<Var> {
        let y = pool::avg_pool2d(&self.gpu, self.value(x), spec)?;
        Ok(self.push(Op::AvgPool { x, spec }, y))
    }

    /// [N, C, H, W] -> [N, C].
    pub fn global_avg_pool(&mut self, x: Var) -> Result<Var> {
        let y = reduce::global_avg_pool(&self.gpu, self.value(x))?;
        Ok(self.push(Op::GlobalAvgPool { x, dropout: None }, y))
    }

    /// [`global_avg_pool`](Self::global_avg_pool) then [`dropout`](Self::dropout), as
    /// one op with one kernel each way (same values, and the same mask as the two ops
    /// would draw).
    pub fn global_avg_pool_dropout(&mut self, x: Var, keep: f32) -> Result<Var> {
        let Some(mask) = self.next_dropout(keep) else {
            return self.global_avg_pool(x);
        };
        let y = reduce::global_avg_pool_dropout(&self.gpu, self.value(x), mask)?;
        let dropout = Some(mask);
        Ok(self.push(Op::GlobalAvgPool { x, dropout }, y))
    }

    /// The same values with another shape (no copy).
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let y = self.value(x).reshape(shape)?;
        Ok(self.push(Op::Reshape(x), y))
    }

    /// [N, ...] -> [N, rest].
    pub fn flatten(&mut self, x: Var) -> Result<Var> {
        let shape = self.value(x).shape();
        let batch = shape.first().copied().unwrap_or(1);
        let rest = shape.iter().skip(1).product();
        self.reshape(x, &[batch, rest])
    }

    /// Each row divided by max(its L2 norm, eps).
    pub fn l2_normalize(&mut self, x: Var, eps: f32) -> Result<Var> {
        let out = norm::l2_normalize_rows(&self.gpu, self.value(x), eps)?;
        Ok(self.push(
            Op::L2Normalize {
                x,
                norms: out.norms,
                eps,
            },
            out.output,
        ))
    }

    /// Inverted dropout keeping each element with probability `keep` in training; the
    /// identity in evaluation.
    pub fn dropout(&mut self, x: Var, keep: f32) -> Result<Var> {
        let Some(mask) = self.next_dropout(keep) else {
            return Ok(x);
        };
        let y = elementwise::dropout(&self.gpu, self.value(x), mask.keep, mask.seed)?;
        let relu = false;
        Ok(self.push(Op::Dropout { x, mask, relu }, y))
    }

    /// [`relu`](Self::relu) then [`dropout`](Self::dropout), as one op with one kernel
    /// each way (same values, and the same mask as the two ops would draw).
    pub fn relu_dropout(&mut self, x: Var, keep: f32) -> Result<Var> {
        let Some(mask) = self.next_dropout(keep) else {
            return self.relu(x);
        };
        let y = elementwise::relu_dropout(&self.gpu, self.value(x), mask.keep, mask.seed)?;
        let relu = true;
        Ok(self.push(Op::Dropout { x, mask, relu }, y))
    }

    /// The mask of the tape's next dropout layer, or None where nothing is dropped
    /// (evaluation, or `keep` 1).
    fn next_dropout(&mut self, keep: f32) -> Option<DropoutMask> {
        if !self.training || keep >= 1.0 {
            return None;
        }
        self.dropouts += 1;
        Some(DropoutMask {
            keep,
            seed: dropout_seed(self.seed, self.dropouts),
        })
    }

    /// The statistics a batch norm normalises with: the batch's in training (moving the
    /// running statistics by `momentum`), the running ones in evaluation.
    fn batch_norm_stats(
        &self,
        x: Var,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f32,
    ) -> Result<BatchStats> {
        if self.training {
            let running = RunningStats {
                mean: running_mean,
                var: running_var,
                momentum: self.batch_norm_momentum.unwrap_or(momentum),
            };
            // A convolution's output, or one stack of it: its moments, or the stack's
            // channels of them.
            let (source, stack) = match self.nodes[x.0].op {
                Op::StackPart { x: whole, index } => {
                    let per = self.value(x).shape()[1];
                    (whole, Some(index * per..(index + 1) * per))
                }
                _ => (x, None),
            };
            match &self.nodes[source.0].op {
                Op::Conv2d {
                    moments: Some(m), ..
                } => match stack {
                    Some(channels) => norm::batch_norm_stats_from_moment_channels(
                        &self.gpu,
                        m,
                        channels,
                        Some(running),
                    ),
                    None => norm::batch_norm_stats_from_moments(&self.gpu, m, Some(running)),
                },
                _ => norm::batch_norm_stats(&self.gpu, self.value(x), Some(running)),
            }
        } else {
            Ok(BatchStats {
                mean: running_mean.clone(),
                var: running_var.clone(),
            })
        }
    }

    /// Batch normalisation: batch statistics (moving `running_mean` / `running_var` by
    /// `momentum`) in training, the running statistics in evaluation. With `relu`, ReLU
    /// follows in the same kernel, forward and backward.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f32,
        eps: f32,
        relu: bool,
    ) -> Result<Var> {
        let stats = self.batch_norm_stats(x, running_mean, running_var, momentum)?;
        let y = norm::batch_norm_apply(
            &self.gpu,
            self.value(x),
            &stats,
            self.value(gamma),
            self.value(beta),
            eps,
            relu,
        )?;
        let op = Op::BatchNorm {
            x,
            gamma,
            beta,
            stats,
            eps,
            batch_stats: self.training,
            relu,
        };
        Ok(self.push(op, y))
    }

    /// [`batch_norm`](Self::batch_norm) with ReLU, then a 2x2 stride-2 max pool: one op,
    /// one kernel forward and two backward, and the ReLU's output never stored. Other
    /// pools, or odd sizes, are recorded as the two ops.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm_relu_max_pool(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f32,
        eps: f32,
        pool: Pool2dSpec,
    ) -> Result<Var> {
        if !norm::fuses_max_pool(self.value(x).shape(), pool) {
            let y = self.batch_norm(
                x,
                gamma,
                beta,
                running_mean,
                running_var,
                momentum,
                eps,
                true,
            )?;
            return self.max_pool2d(y, pool);
        }
        let stats = self.batch_norm_stats(x, running_mean, running_var, momentum)?;
        let pooled = norm::batch_norm_relu_max_pool(
            &self.gpu,
            self.value(x),
            &stats,
            self.value(gamma),
            self.value(beta),
            eps,
        )?;
        let op = Op::BatchNormReluMaxPool {
            x,
            gamma,
            beta,
            stats,
            eps,
            batch_stats: self.training,
            argmax: pooled.argmax,
        };
        Ok(self.push(op, pooled.output))
    }

    /// Softmax of each row.
    pub fn softmax_rows(&mut self, x: Var) -> Result<Var> {
        let y = loss::softmax_rows(&self.gpu, self.value(x))?;
        Ok(self.push(Op::SoftmaxRows(x), y))
    }

    /// The mean over rows of each row's softmax, `[rows, cols]` -> `[cols]` (the weight unit's
    /// task weights): [`softmax_rows`](Self::softmax_rows) then
    /// [`mean_rows`](Self::mean_rows) as one op, one kernel each way.
    pub fn softmax_mean_rows(&mut self, x: Var) -> Result<Var> {
        let (probs, mean) = loss::softmax_mean_rows(&self.gpu, self.value(x))?;
        Ok(self.push(Op::SoftmaxMeanRows { x, probs }, mean))
    }

    /// Mean over rows: `[rows, cols]` -> `[cols]`.
    pub fn mean_rows(&mut self, x: Var) -> Result<Var> {
        let y = reduce::mean_rows(&self.gpu, self.value(x))?;
        Ok(self.push(Op::MeanRows(x), y))
    }

    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = elementwise::add(&self.gpu, self.value(a), self.value(b))?;
        Ok(self.push(Op::Add(a, b), y))
    }

    /// Elementwise product.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = elementwise::mul(&self.gpu, self.value(a), self.value(b))?;
        Ok(self.push(Op::Mul(a, b), y))
    }

    pub fn scale(&mut self, a: Var, alpha: f32) -> Result<Var> {
        let y = elementwise::scale(&self.gpu, self.value(a), alpha)?;
        Ok(self.push(Op::Scale(a, alpha), y))
    }

    /// Sum of all elements -> `[1]`.
    pub fn sum(&mut self, a: Var) -> Result<Var> {
        let y = reduce::sum(&self.gpu, self.value(a))?;
        Ok(self.push(Op::Sum(a), y))
    }

    /// Flat concatenation -> `[total]` (e.g. several `[1]` losses into one vector).
    pub fn concat(&mut self, parts: &[Var]) -> Result<Var> {
        if parts.is_empty() {
            return Err(GpuError::invalid("concat", "nothing to concatenate"));
        }
        let values: Vec<&Tensor> = parts.iter().map(|&p| self.value(p)).collect();
        let y = Tensor::concat(&self.gpu, &values)?;
        Ok(self.push(Op::Concat(parts.to_vec()), y))
    }

    /// Channel concatenation: `[n, c_1, h, w], ..., [n, c_k, h, w] -> [n, c_1 + ... + c_k,
    /// h, w]` (the join of an Inception block's branches).
    pub fn concat_channels(&mut self, parts: &[Var]) -> Result<Var> {
        let values: Vec<&Tensor> = parts.iter().map(|&p| self.value(p)).collect();
        let y = channels::concat_channels(&self.gpu, &values)?;
        Ok(self.push(Op::ConcatChannels(parts.to_vec()), y))
    }

    /// Inception-ResNet's residual join: `relu(x + scale * r)`, or `x + scale * r` when
    /// `relu` is false, in one kernel each way.
    pub fn scaled_residual(&mut self, x: Var, r: Var, scale: f32, relu: bool) -> Result<Var> {
        let y = elementwise::scaled_residual(&self.gpu, self.value(x), self.value(r), scale, relu)?;
        Ok(self.push(Op::ScaledResidual { x, r, scale, relu }, y))
    }

    /// Masked mean softmax cross-entropy of `logits` `[batch, classes]` -> `[1]`; samples
    /// whose `mask` is 0 take no part.
    pub fn softmax_cross_entropy(
        &mut self,
        logits: Var,
        labels: &Indices,
        mask: &Tensor,
    ) -> Result<Var> {
        let out = loss::softmax_cross_entropy(&self.gpu, self.value(logits), labels, mask)?;
        let op = Op::SoftmaxCrossEntropy {
            logits,
            labels: labels.clone(),
            mask: mask.clone(),
            probs: out.probs,
            valid: out.valid,
        };
        Ok(self.push(op, out.loss))
    }

    /// The softmax probabilities a cross-entropy node computed (for accuracy, prediction).
    pub fn probabilities(&self, loss: Var) -> Option<&Tensor> {
        match &self.nodes[loss.0].op {
            Op::SoftmaxCrossEntropy { probs, .. } => Some(probs),
            _ => None,
        }
    }
}

/// The seed of a tape's `index`-th dropout layer: the tape's seed mixed with the index by
/// the PCG output permutation (the hash the dropout kernel draws its masks with).
fn dropout_seed(seed: u32, index: u32) -> u32 {
    fn pcg(x: u32) -> u32 {
        let state = x.wrapping_mul(747796405).wrapping_add(2891336453);
        let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
        (word >> 22) ^ word
    }
    pcg(seed ^ pcg(index))
}
