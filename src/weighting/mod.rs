//! Task-weighting methods behind one trait. The host-side scheduler reads the step's task
//! losses (and the weight unit's output) back from the device, asks the method for this
//! step's weights, and only then dispatches the backward pass with them.

use serde::{Deserialize, Serialize};

/// The losses' floor in the weight unit's objective, L_w = sum w_i / (L_i + s).
pub const UNIT_LOSS_FLOOR: f32 = 0.01;

/// A task-weighting method. Index 0 is FR, 1 is FER.
pub trait TaskWeighting: Send {
    /// Name for logs and summaries.
    fn name(&self) -> String;

    /// Whether the network's weight unit runs (and is trained).
    fn uses_unit(&self) -> bool;

    /// The weights of L_total = w_FR L_FR + w_FER L_FER for this step, from the step's
    /// losses and, when [`uses_unit`](Self::uses_unit), the unit's weights.
    fn weights(&mut self, losses: [f32; 2], unit: Option<[f32; 2]>) -> [f32; 2];

    /// The gradient of the unit's own objective w.r.t. its weights w (None: no unit update).
    fn unit_gradient(&self, losses: [f32; 2], weights: [f32; 2]) -> Option<[f32; 2]>;
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
    fn weights(&mut self, _losses: [f32; 2], unit: Option<[f32; 2]>) -> [f32; 2] {
        unit.unwrap_or([0.5, 0.5])
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
    fn weights(&mut self, _losses: [f32; 2], unit: Option<[f32; 2]>) -> [f32; 2] {
        unit.unwrap_or([0.5, 0.5])
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
    fn uses_unit(&self) -> bool {
        false
    }
    fn weights(&mut self, _losses: [f32; 2], _unit: Option<[f32; 2]>) -> [f32; 2] {
        self.0
    }
    fn unit_gradient(&self, _losses: [f32; 2], _weights: [f32; 2]) -> Option<[f32; 2]> {
        None
    }
}

/// A weighting method as named on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WeightingSpec {
    Dynamic,
    NaiveDynamic,
    Static([f32; 2]),
}

impl std::fmt::Display for WeightingSpec {
    /// The text [`WeightingSpec::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightingSpec::Dynamic => write!(f, "dynamic"),
            WeightingSpec::NaiveDynamic => write!(f, "naive-dynamic"),
            WeightingSpec::Static([fr, fer]) => write!(f, "static:{fr},{fer}"),
        }
    }
}

impl WeightingSpec {
    /// Parses `dynamic`, `naive-dynamic` or `static:W_FR,W_FER`.
    pub fn parse(text: &str) -> Result<WeightingSpec, String> {
        match text {
            "dynamic" => Ok(WeightingSpec::Dynamic),
            "naive-dynamic" => Ok(WeightingSpec::NaiveDynamic),
            _ => {
                let weights = text.strip_prefix("static:").ok_or_else(|| {
                    format!("unknown weighting {text:?}: use dynamic, naive-dynamic or static:W_FR,W_FER (e.g. static:0.5,0.5)")
                })?;
                let values: Vec<f32> = weights
                    .split(',')
                    .map(|w| {
                        w.trim()
                            .parse::<f32>()
                            .map_err(|_| format!("static weight {w:?} is not a number"))
                    })
                    .collect::<Result<_, _>>()?;
                match values[..] {
                    [fr, fer] if fr >= 0.0 && fer >= 0.0 && fr + fer > 0.0 => Ok(WeightingSpec::Static([fr, fer])),
                    _ => Err(format!("static weighting needs two non-negative weights, not both 0: got {weights:?}")),
                }
            }
        }
    }

    pub fn build(&self) -> Box<dyn TaskWeighting> {
        match self {
            WeightingSpec::Dynamic => Box::new(Dynamic),
            WeightingSpec::NaiveDynamic => Box::new(NaiveDynamic),
            WeightingSpec::Static(w) => Box::new(Static(*w)),
        }
    }
}
