//! Layers: each owns the ids of its named parameters and records its forward pass on a
//! tape. Names follow `prefix.layer.weight` so checkpoints and logs can refer to them.

use rand::rngs::StdRng;

use super::init::Init;
use crate::autodiff::{ParamId, ParamStore, Tape, Var};
use crate::geometry::{Conv2dSpec, Pool2dSpec};
use crate::gpu::{Gpu, GpuError, Result, Tensor};

fn new_param(
    gpu: &Gpu,
    store: &mut ParamStore,
    name: String,
    shape: &[usize],
    values: &[f32],
) -> Result<ParamId> {
    store.add(&name, Tensor::from_slice(gpu, shape, values)?)
}

/// 2-D convolution with optional bias; weight [out_c, in_c, kh, kw].
pub struct Conv2d {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub spec: Conv2dSpec,
}

impl Conv2d {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        name: &str,
        in_c: usize,
        out_c: usize,
        kernel: (usize, usize),
        spec: Conv2dSpec,
        bias: bool,
        init: Init,
    ) -> Result<Conv2d> {
        let shape = [out_c, in_c, kernel.0, kernel.1];
        let taps = kernel.0 * kernel.1;
        let values = init.sample(rng, shape.iter().product(), in_c * taps, out_c * taps);
        let weight = new_param(gpu, store, format!("{name}.weight"), &shape, &values)?;
        let bias = if bias {
            Some(new_param(
                gpu,
                store,
                format!("{name}.bias"),
                &[out_c],
                &vec![0.0; out_c],
            )?)
        } else {
            None
        };
        Ok(Conv2d { weight, bias, spec })
    }

    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let w = tape.param(self.weight);
        let b = self.bias.map(|b| tape.param(b));
        tape.conv2d(x, w, b, self.spec)
    }

    /// Each of `convs` (filters of one shape, one spec, no bias) applied to `x`, as one
    /// GEMM ([`Tape::conv2d_stacked`]): their outputs in order.
    pub fn forward_stacked(convs: &[&Conv2d], tape: &mut Tape, x: Var) -> Result<Vec<Var>> {
        let Some(first) = convs.first() else {
            return Ok(Vec::new());
        };
        if convs
            .iter()
            .any(|c| c.bias.is_some() || c.spec != first.spec)
        {
            return Err(GpuError::invalid(
                "conv2d_stacked",
                "stacked convolutions take no bias and share one stride and padding",
            ));
        }
        let ws: Vec<Var> = convs.iter().map(|c| tape.param(c.weight)).collect();
        tape.conv2d_stacked(x, &ws, first.spec)
    }
}

/// Fully connected layer, weight `[out, in]` (PyTorch's layout), bias `[out]`.
pub struct Linear {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
}

impl Linear {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        rng: &mut StdRng,
        name: &str,
        inputs: usize,
        outputs: usize,
        bias: bool,
        init: Init,
    ) -> Result<Linear> {
        let values = init.sample(rng, inputs * outputs, inputs, outputs);
        let weight = new_param(
            gpu,
            store,
            format!("{name}.weight"),
            &[outputs, inputs],
            &values,
        )?;
        let bias = if bias {
            Some(new_param(
                gpu,
                store,
                format!("{name}.bias"),
                &[outputs],
                &vec![0.0; outputs],
            )?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        let w = tape.param(self.weight);
        let b = self.bias.map(|b| tape.param(b));
        tape.linear(x, w, b)
    }
}

/// Batch normalisation over channels of [N, C, H, W] (or features of [N, C]), with learnable
/// scale (`.weight`, ones) and shift (`.bias`, zeros), and running statistics
/// (`.running_mean`, `.running_var`) as PyTorch names them.
pub struct BatchNorm2d {
    pub gamma: ParamId,
    pub beta: ParamId,
    pub running_mean: ParamId,
    pub running_var: ParamId,
    pub momentum: f32,
    pub eps: f32,
}

impl BatchNorm2d {
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        name: &str,
        channels: usize,
    ) -> Result<BatchNorm2d> {
        let ones = vec![1.0; channels];
        let zeros = vec![0.0; channels];
        Ok(BatchNorm2d {
            gamma: new_param(gpu, store, format!("{name}.weight"), &[channels], &ones)?,
            beta: new_param(gpu, store, format!("{name}.bias"), &[channels], &zeros)?,
            running_mean: store.add_buffer(
                &format!("{name}.running_mean"),
                Tensor::from_slice(gpu, &[channels], &zeros)?,
            )?,
            running_var: store.add_buffer(
                &format!("{name}.running_var"),
                Tensor::from_slice(gpu, &[channels], &ones)?,
            )?,
            momentum: 0.1,
            eps: 1e-5,
        })
    }

    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        self.record(tape, x, false, None)
    }

    /// Batch norm followed by ReLU, in one kernel each way.
    pub fn forward_relu(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        self.record(tape, x, true, None)
    }

    /// Batch norm, ReLU and then the max pool `pool` (fused where the pool is 2x2
    /// stride 2; see [`Tape::batch_norm_relu_max_pool`]).
    pub fn forward_relu_max_pool(&self, tape: &mut Tape, x: Var, pool: Pool2dSpec) -> Result<Var> {
        self.record(tape, x, true, Some(pool))
    }

    fn record(&self, tape: &mut Tape, x: Var, relu: bool, pool: Option<Pool2dSpec>) -> Result<Var> {
        let gamma = tape.param(self.gamma);
        let beta = tape.param(self.beta);
        let store = tape.store;
        let (mean, var) = (store.get(self.running_mean), store.get(self.running_var));
        match pool {
            Some(pool) => tape.batch_norm_relu_max_pool(
                x,
                gamma,
                beta,
                mean,
                var,
                self.momentum,
                self.eps,
                pool,
            ),
            None => tape.batch_norm(x, gamma, beta, mean, var, self.momentum, self.eps, relu),
        }
    }
}

/// Max pooling.
pub struct MaxPool2d(pub Pool2dSpec);

impl MaxPool2d {
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        tape.max_pool2d(x, self.0)
    }
}

/// Average pooling (divisor: the full window).
pub struct AvgPool2d(pub Pool2dSpec);

impl AvgPool2d {
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        tape.avg_pool2d(x, self.0)
    }
}

/// Global average pooling, [N, C, H, W] -> [N, C].
pub struct GlobalAvgPool;

impl GlobalAvgPool {
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        tape.global_avg_pool(x)
    }
}

/// ReLU.
pub struct ReLU;

impl ReLU {
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        tape.relu(x)
    }
}

/// [N, ...] -> [N, rest].
pub struct Flatten;

impl Flatten {
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        tape.flatten(x)
    }
}

/// Row-wise L2 normalisation.
pub struct L2Normalize {
    pub eps: f32,
}

impl L2Normalize {
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        tape.l2_normalize(x, self.eps)
    }
}

/// Inverted dropout keeping each activation with probability `keep` (training only).
pub struct Dropout {
    pub keep: f32,
}

impl Dropout {
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        tape.dropout(x, self.keep)
    }
}
