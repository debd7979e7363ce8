//! Optimisers over a group of parameters: SGD with momentum, Adam and RMSProp with momentum,
//! each with weight decay, a learning-rate schedule and optional global-norm gradient
//! clipping, all as device kernels (a step reads nothing back).

mod schedule;

pub use crate::update_rules::{AdamConfig, RmsPropConfig, SgdConfig};
pub use schedule::LrSchedule;

use crate::autodiff::{Gradients, ParamId, ParamStore};
use crate::gpu::{Gpu, Result, Tensor};
use crate::kernels::{elementwise, optim, reduce};

/// Which update rule, with its hyper-parameters (their `lr` is replaced each step by the
/// schedule's value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    Sgd(SgdConfig),
    Adam(AdamConfig),
    /// The moving mean square starts at 1, as in TensorFlow 1's RMSPropOptimizer (the
    /// paper's), which damps the first steps.
    RmsProp(RmsPropConfig),
}

impl OptimizerKind {
    fn state_tensors(&self) -> usize {
        match self {
            OptimizerKind::Sgd(_) => 1,
            OptimizerKind::Adam(_) | OptimizerKind::RmsProp(_) => 2,
        }
    }

    fn initial_state(&self, slot: usize) -> f32 {
        match (self, slot) {
            (OptimizerKind::RmsProp(_), 0) => 1.0,
            _ => 0.0,
        }
    }
}

/// An optimiser for one parameter group.
pub struct Optimizer {
    kind: OptimizerKind,
    params: Vec<ParamId>,
    state: Vec<Vec<Tensor>>,
    schedule: LrSchedule,
    clip_norm: Option<f32>,
    ones: Tensor,
    step: u64,
}

impl Optimizer {
    /// Allocates the state of every parameter in `params`.
    pub fn new(
        gpu: &Gpu,
        store: &ParamStore,
        params: Vec<ParamId>,
        kind: OptimizerKind,
        schedule: LrSchedule,
        clip_norm: Option<f32>,
    ) -> Result<Optimizer> {
        schedule
            .validate()
            .map_err(|e| crate::gpu::GpuError::invalid("optimizer", e))?;
        let state = params
            .iter()
            .map(|&id| {
                (0..kind.state_tensors())
                    .map(|slot| Tensor::full(gpu, store.get(id).shape(), kind.initial_state(slot)))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Optimizer {
            kind,
            params,
            state,
            schedule,
            clip_norm,
            ones: Tensor::full(gpu, &[1], 1.0)?,
            step: 0,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The learning rate the next step will use.
    pub fn lr(&self) -> f32 {
        self.schedule.at(self.step)
    }

    pub fn params(&self) -> &[ParamId] {
        &self.params
    }

    /// The optimiser state tensors of each parameter (for checkpoints).
    pub fn state(&self) -> &[Vec<Tensor>] {
        &self.state
    }

    /// Restores the step count (state tensors are restored through [`Optimizer::state`]).
    pub fn set_steps(&mut self, step: u64) {
        self.step = step;
    }

    /// The gradient scale for this step: 1, or the global-norm clipping factor computed on
    /// the device.
    fn grad_scale(&self, gpu: &Gpu, grads: &Gradients) -> Result<Tensor> {
        let Some(max_norm) = self.clip_norm else {
            return Ok(self.ones.clone());
        };
        let squares = self
            .params
            .iter()
            .filter_map(|&id| grads.get(id))
            .map(|g| reduce::sum_squares(gpu, g))
            .collect::<Result<Vec<_>>>()?;
        if squares.is_empty() {
            return Ok(self.ones.clone());
        }
        let total = reduce::sum_scalars(gpu, &squares)?;
        elementwise::clip_scale(gpu, &total, max_norm)
    }

    /// Applies one update to every parameter that has a gradient in `grads`.
    pub fn step(&mut self, gpu: &Gpu, store: &ParamStore, grads: &Gradients) -> Result<()> {
        let lr = self.lr();
        let scale = self.grad_scale(gpu, grads)?;
        self.step += 1;
        let t = u32::try_from(self.step).unwrap_or(u32::MAX);
        // (parameter, gradient, state) of every parameter with a gradient.
        let mut updates = self
            .params
            .iter()
            .zip(&self.state)
            .filter_map(|(id, state)| Some((store.get(*id), grads.get(*id)?, state)));
        match self.kind {
            OptimizerKind::Adam(c) => {
                let c = AdamConfig { lr, ..c };
                let tensors: Vec<[&Tensor; 4]> = updates
                    .map(|(param, grad, state)| [param, grad, &state[0], &state[1]])
                    .collect();
                // On GPUs every parameter in a few grouped dispatches (same bits as one per
                // tensor). Software adapters keep one dispatch per tensor: llvmpipe runs
                // every branch of the grouped kernel's per-tensor choice, uniform or not,
                // which made the grouped update 1.6x slower there (BENCHMARKS.md).
                if gpu.is_software() {
                    tensors.iter().try_for_each(|[param, grad, m, v]| {
                        optim::adam_update(gpu, param, grad, &scale, m, v, c, t)
                    })
                } else {
                    optim::adam_update_group(gpu, &tensors, &scale, c, t)
                }
            }
            OptimizerKind::Sgd(c) => updates.try_for_each(|(param, grad, state)| {
                optim::sgd_update(gpu, param, grad, &scale, &state[0], SgdConfig { lr, ..c })
            }),
            OptimizerKind::RmsProp(c) => updates.try_for_each(|(param, grad, state)| {
                optim::rmsprop_update(
                    gpu,
                    param,
                    grad,
                    &scale,
                    &state[0],
                    &state[1],
                    RmsPropConfig { lr, ..c },
                )
            }),
        }
    }
}
