//! Optimisers over a group of parameters: SGD with momentum, Adam and RMSProp with momentum,
//! each with weight decay, a learning-rate schedule and optional global-norm gradient
//! clipping, all as device kernels (a step reads nothing back).

mod flat;
mod schedule;

pub use crate::update_rules::{AdamConfig, RmsPropConfig, SgdConfig};
pub use schedule::LrSchedule;

use std::ops::Range;

use flat::{flat_view, FlatGroup};

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

/// An optimiser for one parameter group, kept in flat buffers (`flat.rs`): the clipping
/// norm and the update are one dispatch each over the group when every parameter has a
/// gradient (one per run of neighbouring parameters with gradients otherwise).
pub struct Optimizer {
    kind: OptimizerKind,
    group: FlatGroup,
    /// Each state slot as one flat tensor of the group's layout ...
    flat_state: Vec<Tensor>,
    /// ... and as each parameter's view of it (for checkpoints).
    state: Vec<Vec<Tensor>>,
    schedule: LrSchedule,
    clip_norm: Option<f32>,
    ones: Tensor,
    step: u64,
    /// (end, scale): the group's elements below `end` learn at `scale` times the rate (the
    /// shared layers of a network fine-tuned from trained weights); None: one rate for all.
    scaled_below: Option<(usize, f32)>,
}

impl Optimizer {
    /// Moves the parameters `params` into the group's flat buffer (the store's tensors
    /// become views of it; their values are unchanged) and allocates their state.
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        params: Vec<ParamId>,
        kind: OptimizerKind,
        schedule: LrSchedule,
        clip_norm: Option<f32>,
    ) -> Result<Optimizer> {
        schedule
            .validate()
            .map_err(|e| crate::gpu::GpuError::invalid("optimizer", e))?;
        let group = FlatGroup::pack(gpu, store, &params)?;
        let mut flat_state = Vec::new();
        let mut state = vec![Vec::new(); params.len()];
        for slot in 0..kind.state_tensors() {
            let (flat, views) = group.state(gpu, kind.initial_state(slot))?;
            flat_state.push(flat);
            for (per_param, view) in state.iter_mut().zip(views) {
                per_param.push(view);
            }
        }
        Ok(Optimizer {
            kind,
            group,
            flat_state,
            state,
            schedule,
            clip_norm,
            ones: Tensor::full(gpu, &[1], 1.0)?,
            step: 0,
            scaled_below: None,
        })
    }

    /// The first `leading` parameters of the group learn at `scale` times the rate (the
    /// schedule's), the rest at the rate; the gradient clipping stays one norm over all.
    pub fn scale_leading_lr(&mut self, leading: usize, scale: f32) {
        self.scaled_below = Some((self.group.start_of(leading), scale));
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
        self.group.ids()
    }

    /// The optimiser state tensors of each parameter (for checkpoints).
    pub fn state(&self) -> &[Vec<Tensor>] {
        &self.state
    }

    /// Restores the step count (state tensors are restored through [`Optimizer::state`]).
    pub fn set_steps(&mut self, step: u64) {
        self.step = step;
    }

    /// The gradient scale for this step: 1, or the global-norm clipping factor over the
    /// gathered gradients `runs`, computed on the device.
    fn grad_scale(&self, gpu: &Gpu, runs: &[Range<usize>]) -> Result<Tensor> {
        let Some(max_norm) = self.clip_norm else {
            return Ok(self.ones.clone());
        };
        let squares = runs
            .iter()
            .map(|run| reduce::sum_squares(gpu, &self.group.grads(gpu, run)?))
            .collect::<Result<Vec<_>>>()?;
        let total = match squares.as_slice() {
            [] => return Ok(self.ones.clone()),
            [one] => one.clone(),
            _ => reduce::sum_scalars(gpu, &squares)?,
        };
        elementwise::clip_scale(gpu, &total, max_norm)
    }

    /// Applies one update to every parameter that has a gradient in `grads`.
    pub fn step(&mut self, gpu: &Gpu, grads: &Gradients) -> Result<()> {
        let lr = self.lr();
        let runs = self.group.gather(gpu, grads)?;
        let scale = self.grad_scale(gpu, &runs)?;
        self.step += 1;
        let t = u32::try_from(self.step).unwrap_or(u32::MAX);
        // A run that crosses the scaled part's end is updated as its two parts.
        let parts: Vec<(Range<usize>, f32)> = runs
            .iter()
            .flat_map(|run| match self.scaled_below {
                Some((end, scale)) if run.start < end && end < run.end => {
                    vec![(run.start..end, lr * scale), (end..run.end, lr)]
                }
                Some((end, scale)) if run.end <= end => vec![(run.clone(), lr * scale)],
                _ => vec![(run.clone(), lr)],
            })
            .collect();
        for (run, lr) in parts {
            let run = &run;
            let param = self.group.params(gpu, run)?;
            let grad = self.group.grads(gpu, run)?;
            let state = self
                .flat_state
                .iter()
                .map(|flat| flat_view(gpu, flat, run))
                .collect::<Result<Vec<_>>>()?;
            match self.kind {
                OptimizerKind::Adam(c) => optim::adam_update(
                    gpu,
                    &param,
                    &grad,
                    &scale,
                    &state[0],
                    &state[1],
                    AdamConfig { lr, ..c },
                    t,
                )?,
                OptimizerKind::Sgd(c) => {
                    optim::sgd_update(gpu, &param, &grad, &scale, &state[0], SgdConfig { lr, ..c })?
                }
                OptimizerKind::RmsProp(c) => optim::rmsprop_update(
                    gpu,
                    &param,
                    &grad,
                    &scale,
                    &state[0],
                    &state[1],
                    RmsPropConfig { lr, ..c },
                )?,
            }
        }
        Ok(())
    }
}
