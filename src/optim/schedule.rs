//! Learning-rate schedules, evaluated on the host each step.

/// How the learning rate moves with the step count (counted from 0).
#[derive(Debug, Clone, PartialEq)]
pub enum LrSchedule {
    Constant(f32),
    /// `values[i]` from step `boundaries[i-1]` on (`values` has one more entry), e.g. the
    /// paper's 1e-2 -> 1e-3 -> 1e-4.
    Piecewise {
        boundaries: Vec<u64>,
        values: Vec<f32>,
    },
    /// Cosine decay from `base` to `min` over `total_steps`, then `min`.
    Cosine {
        base: f32,
        min: f32,
        total_steps: u64,
    },
}

impl LrSchedule {
    /// Checks the schedule's shape (piecewise: values = boundaries + 1, increasing).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            LrSchedule::Piecewise { boundaries, values } => {
                if values.len() != boundaries.len() + 1 {
                    return Err(format!(
                        "a piecewise schedule needs one more value than boundaries, got {} values and {} boundaries",
                        values.len(),
                        boundaries.len()
                    ));
                }
                if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!(
                        "piecewise boundaries must increase, got {boundaries:?}"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The learning rate at `step`.
    pub fn at(&self, step: u64) -> f32 {
        match self {
            LrSchedule::Constant(lr) => *lr,
            LrSchedule::Piecewise { boundaries, values } => {
                values[boundaries.iter().filter(|&&b| step >= b).count()]
            }
            LrSchedule::Cosine {
                base,
                min,
                total_steps,
            } => {
                let t = (step as f64 / (*total_steps).max(1) as f64).min(1.0);
                min + 0.5 * (base - min) * (1.0 + (std::f64::consts::PI * t).cos()) as f32
            }
        }
    }
}
