//! Task-weighting methods behind one trait. The host-side scheduler reads the step's task
//! losses (and the weight unit's output) back from the device, asks the method for this
//! step's weights, and only then dispatches the backward pass with them.

pub mod balanced;
pub mod gradnorm;
pub mod scalar;

use serde::{Deserialize, Serialize};

pub use balanced::Balanced;
pub use gradnorm::GradNorm;
pub use scalar::{Dtp, Dwa, Famo, HostAdam, Rlw, Uncertainty};

/// MGDA-UB (Sener and Koltun 2018): the min-norm combination of the two tasks' gradients
/// of the shared representation Z. With g_1, g_2 the gradients of L_FR and L_FER w.r.t. Z,
/// alpha = clip(((g_2 - g_1) . g_2) / |g_1 - g_2|^2, 0, 1) makes |alpha g_1 + (1 - alpha) g_2|
/// smallest; the step's weights are (alpha, 1 - alpha). The step computes the three dot
/// products on the device and reads them back with the losses (no extra readback).
pub struct Mgda;

/// PCGrad (Yu et al. 2020) for two tasks: each task's gradient of the shared (trunk)
/// parameters, g_1 and g_2; when they conflict (g_1 . g_2 < 0) each is projected onto the
/// normal plane of the other, g_1 - (g_1 . g_2 / |g_2|^2) g_2 and likewise; the trunk's
/// update is their sum, each head gets its own task's gradient. The step does the two
/// backward passes and the projection on the device; it reads the three dot products back
/// (a second wait per step). Weights 0.5 each, so the update's scale matches static 0.5/0.5.
pub struct PcGrad;

impl TaskWeighting for PcGrad {
    fn name(&self) -> String {
        "pcgrad".into()
    }
    fn projects_gradients(&self) -> bool {
        true
    }
    fn weights(&mut self, _step: &StepView) -> [f32; 2] {
        [0.5, 0.5]
    }
}

impl TaskWeighting for Mgda {
    fn name(&self) -> String {
        "mgda".into()
    }
    fn wants_shared_gradients(&self) -> bool {
        true
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        let Some([g11, g22, g12]) = step.shared_gradients else {
            return [0.5, 0.5];
        };
        let distance = g11 + g22 - 2.0 * g12;
        if distance.is_nan() || distance <= 1e-20 {
            return [0.5, 0.5];
        }
        let alpha = ((g22 - g12) / distance).clamp(0.0, 1.0);
        [alpha, 1.0 - alpha]
    }
}

/// What a method sees of a step: its index, the two task losses, the unit's weights (when
/// it runs) and the batch's accuracy per task (None where no sample had that label).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepView {
    pub step: u64,
    pub losses: [f32; 2],
    pub unit: Option<[f32; 2]>,
    pub accuracy: [Option<f32>; 2],
    /// For methods that ask for them: with g_i the gradient of task i's loss w.r.t. the
    /// shared representation (the trunk's output), (|g_FR|^2, |g_FER|^2, g_FR . g_FER).
    pub shared_gradients: Option<[f32; 3]>,
    /// For methods that ask for them: |dL_FR/dW| and |dL_FER/dW| for W the last shared
    /// layer's weights (the trunk's last convolution).
    pub layer_gradient_norms: Option<[f32; 2]>,
}

impl StepView {
    /// A step with only losses (and unit weights) known.
    pub fn of(step: u64, losses: [f32; 2], unit: Option<[f32; 2]>) -> StepView {
        StepView {
            step,
            losses,
            unit,
            accuracy: [None; 2],
            shared_gradients: None,
            layer_gradient_norms: None,
        }
    }
}

/// What building a method may need from the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunContext {
    pub seed: u64,
    pub steps_per_epoch: usize,
    /// The learning rate of the method's own parameters (the weight unit's, --unit-lr).
    pub unit_lr: f32,
}

/// The losses' floor in the weight unit's objective, L_w = sum w_i / (L_i + s).
pub const UNIT_LOSS_FLOOR: f32 = 0.01;

/// A task-weighting method. Index 0 is FR, 1 is FER.
pub trait TaskWeighting: Send {
    /// Name for logs and summaries.
    fn name(&self) -> String;

    /// Whether the network's weight unit runs (and is trained); by default it does not.
    fn uses_unit(&self) -> bool {
        false
    }

    /// The weights of L_total = w_FR L_FR + w_FER L_FER for this step (called once per
    /// step, in order), from what the step read back.
    fn weights(&mut self, step: &StepView) -> [f32; 2];

    /// The gradient of the unit's own objective w.r.t. its weights w (None, the default: no
    /// unit update).
    fn unit_gradient(&self, _losses: [f32; 2], _weights: [f32; 2]) -> Option<[f32; 2]> {
        None
    }

    /// Whether the step must compute the per-task gradients of the shared representation
    /// (their squared norms and dot product, in [`StepView::shared_gradients`]).
    fn wants_shared_gradients(&self) -> bool {
        false
    }

    /// Whether the step must compute each task's gradient norm on the last shared layer
    /// (in [`StepView::layer_gradient_norms`]).
    fn wants_layer_gradient_norms(&self) -> bool {
        false
    }

    /// Whether the step must back-propagate each task alone and combine the two gradients
    /// of the shared (trunk) parameters by projection (PCGrad) instead of one backward pass
    /// of the weighted losses.
    fn projects_gradients(&self) -> bool {
        false
    }

    /// The method's own state, saved with each checkpoint (empty: none).
    fn state(&self) -> Vec<f32> {
        Vec::new()
    }

    /// Takes back a state saved by [`state`](Self::state).
    fn restore(&mut self, state: &[f32]) -> Result<(), String> {
        if state.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} keeps no state, but the checkpoint has {} values for it",
                self.name(),
                state.len()
            ))
        }
    }
}

/// The paper's method: w comes from the unit; the unit minimises
/// L_w = sum w_i / (L_i + s), which moves weight toward the task with the larger loss.
pub struct Dynamic;

impl TaskWeighting for Dynamic {
    fn name(&self) -> String {
        "dynamic".into()
    }
    fn uses_unit(&self) -> bool {
        true
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        step.unit.unwrap_or([0.5, 0.5])
    }
    fn unit_gradient(&self, losses: [f32; 2], _weights: [f32; 2]) -> Option<[f32; 2]> {
        Some(losses.map(|l| 1.0 / (l + UNIT_LOSS_FLOOR)))
    }
}

/// The negative baseline: the unit trained on L_total itself, which moves weight to the
/// easier task (dL_total/dw_i = L_i).
pub struct NaiveDynamic;

impl TaskWeighting for NaiveDynamic {
    fn name(&self) -> String {
        "naive-dynamic".into()
    }
    fn uses_unit(&self) -> bool {
        true
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        step.unit.unwrap_or([0.5, 0.5])
    }
    fn unit_gradient(&self, losses: [f32; 2], _weights: [f32; 2]) -> Option<[f32; 2]> {
        Some(losses)
    }
}

/// Fixed weights (single-task training is (1, 0) or (0, 1)).
pub struct Static(pub [f32; 2]);

impl TaskWeighting for Static {
    fn name(&self) -> String {
        format!("static:{},{}", self.0[0], self.0[1])
    }
    fn weights(&mut self, _step: &StepView) -> [f32; 2] {
        self.0
    }
}

/// A weighting method as named on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WeightingSpec {
    Dynamic,
    NaiveDynamic,
    Static([f32; 2]),
    Uncertainty,
    GradNorm,
    Dwa,
    Rlw,
    Dtp,
    Famo,
    Mgda,
    PcGrad,
    Balanced,
}

impl std::fmt::Display for WeightingSpec {
    /// The text [`WeightingSpec::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightingSpec::Dynamic => write!(f, "dynamic"),
            WeightingSpec::NaiveDynamic => write!(f, "naive-dynamic"),
            WeightingSpec::Static([fr, fer]) => write!(f, "static:{fr},{fer}"),
            WeightingSpec::Uncertainty => write!(f, "uncertainty"),
            WeightingSpec::GradNorm => write!(f, "gradnorm"),
            WeightingSpec::Dwa => write!(f, "dwa"),
            WeightingSpec::Rlw => write!(f, "rlw"),
            WeightingSpec::Dtp => write!(f, "dtp"),
            WeightingSpec::Famo => write!(f, "famo"),
            WeightingSpec::Mgda => write!(f, "mgda"),
            WeightingSpec::PcGrad => write!(f, "pcgrad"),
            WeightingSpec::Balanced => write!(f, "balanced"),
        }
    }
}

impl WeightingSpec {
    /// Parses a method's name, or `static:W_FR,W_FER`.
    pub fn parse(text: &str) -> Result<WeightingSpec, String> {
        match text {
            "dynamic" => Ok(WeightingSpec::Dynamic),
            "naive-dynamic" => Ok(WeightingSpec::NaiveDynamic),
            "uncertainty" => Ok(WeightingSpec::Uncertainty),
            "gradnorm" => Ok(WeightingSpec::GradNorm),
            "dwa" => Ok(WeightingSpec::Dwa),
            "rlw" => Ok(WeightingSpec::Rlw),
            "dtp" => Ok(WeightingSpec::Dtp),
            "famo" => Ok(WeightingSpec::Famo),
            "mgda" => Ok(WeightingSpec::Mgda),
            "pcgrad" => Ok(WeightingSpec::PcGrad),
            "balanced" => Ok(WeightingSpec::Balanced),
            _ => {
                let weights = text.strip_prefix("static:").ok_or_else(|| {
                    format!("unknown weighting {text:?}: use dynamic, balanced, naive-dynamic, uncertainty, gradnorm, dwa, rlw, dtp, famo, mgda, pcgrad or static:W_FR,W_FER (e.g. static:0.5,0.5)")
                })?;
                let values: Vec<f32> = weights
                    .split(',')
                    .map(|w| {
                        w.trim()
                            .parse::<f32>()
                            .map_err(|_| format!("static weight {w:?} is not a number"))
                    })
                    .collect::<Result<_, _>>()?;
                if let Some(bad) = values.iter().find(|w| !w.is_finite()) {
                    return Err(format!("static weight {bad} is not a finite number: static weighting needs two finite, non-negative weights, not both 0 (e.g. static:0.5,0.5)"));
                }
                match values[..] {
                    [fr, fer] if fr >= 0.0 && fer >= 0.0 && fr + fer > 0.0 => Ok(WeightingSpec::Static([fr, fer])),
                    _ => Err(format!("static weighting needs two non-negative weights, not both 0: got {weights:?}")),
                }
            }
        }
    }

    /// The method, set up for a run.
    pub fn build(&self, run: RunContext) -> Box<dyn TaskWeighting> {
        match self {
            WeightingSpec::Dynamic => Box::new(Dynamic),
            WeightingSpec::NaiveDynamic => Box::new(NaiveDynamic),
            WeightingSpec::Static(w) => Box::new(Static(*w)),
            WeightingSpec::Uncertainty => Box::new(Uncertainty {
                log_variance: [0.0; 2],
                lr: run.unit_lr,
            }),
            WeightingSpec::GradNorm => Box::new(GradNorm::new(1.5, 0.01)),
            WeightingSpec::Dwa => Box::new(Dwa {
                steps_per_epoch: run.steps_per_epoch as u64,
                temperature: 2.0,
                history: Vec::new(),
                sum: [0.0; 2],
                steps: 0,
            }),
            WeightingSpec::Rlw => Box::new(Rlw { seed: run.seed }),
            WeightingSpec::Dtp => Box::new(Dtp {
                gamma: 1.0,
                smoothing: 0.9,
                kpi: [None; 2],
            }),
            WeightingSpec::Mgda => Box::new(Mgda),
            WeightingSpec::PcGrad => Box::new(PcGrad),
            WeightingSpec::Balanced => {
                Box::new(Balanced::new(1.0, 0.1, run.steps_per_epoch.max(1) as u32))
            }
            WeightingSpec::Famo => Box::new(Famo {
                logits: [0.0; 2],
                previous: None,
                adam: HostAdam::new(0.025, 0.01),
                eps: 1e-3,
            }),
        }
    }
}
