//! `balanced`: facemtl's own dynamic weighting. Like the paper's method, a weight unit
//! reads the shared features and is trained, on the host-set gradient of its own
//! objective, to move weight toward the harder task. It changes the two things that make
//! the paper's unit collapse onto one task on real data:
//!
//! 1. Difficulty is made comparable across tasks. A raw cross-entropy depends on the
//!    number of classes (ln 57 = 4.0 at chance for 57 identities, ln 2 = 0.69 for two
//!    expressions), so the task with more classes always looks harder. `balanced` measures
//!    each task by its progress instead: r_i = L_i / L_i(0), the loss relative to the task's
//!    own starting loss (the mean over the first `warmup` steps). Two tasks learning at the
//!    same relative pace weigh the same, whatever their class counts.
//! 2. The weights do not saturate. The paper's objective L_w = sum w_i / (L_i + s) is linear
//!    in w, so its minimum over the simplex is always a corner and w runs to a bound. Adding
//!    an entropy term, L_w = sum_i w_i / (r_i + s) + lambda sum_i w_i ln w_i, makes it
//!    strictly convex: its minimum is interior, w_i proportional to exp(-1 / (lambda (r_i +
//!    s))), so the task that has progressed less gets more weight, smoothly, and a task is
//!    only starved as its relative loss goes to 0 (a solved task). A floor keeps at least
//!    `floor` on each task all the same: w = floor + (1 - 2 floor) w_unit.
//!
//! The unit's gradient is dL_w/dw_i = 1 / (r_i + s) + lambda (ln w_i + 1); at its optimum
//! the unit's output is the closed form above (tested).

use super::{StepView, TaskWeighting, UNIT_LOSS_FLOOR};

pub struct Balanced {
    /// Weight of the entropy term.
    pub lambda: f32,
    /// Least weight of each task.
    pub floor: f32,
    /// Steps whose mean loss is each task's starting loss.
    pub warmup: u32,
    /// Sums of the losses over the warm-up steps seen, and how many.
    pub start_sum: [f32; 2],
    pub start_steps: u32,
    /// The unit's weights of the current step (before the floor), for its gradient.
    unit: [f32; 2],
    /// The current step's relative losses r_i.
    relative: [f32; 2],
}

impl Balanced {
    pub fn new(lambda: f32, floor: f32, warmup: u32) -> Balanced {
        Balanced {
            lambda,
            floor,
            warmup,
            start_sum: [0.0; 2],
            start_steps: 0,
            unit: [0.5; 2],
            relative: [1.0; 2],
        }
    }

    /// The unit's optimal weights for relative losses `r` (the objective's minimiser).
    pub fn optimum(&self, r: [f32; 2]) -> [f32; 2] {
        let logits = r.map(|r| -1.0 / (self.lambda * (r + UNIT_LOSS_FLOOR)));
        let m = logits[0].max(logits[1]);
        let e = logits.map(|l| (l - m).exp());
        e.map(|v| v / (e[0] + e[1]))
    }
}

impl TaskWeighting for Balanced {
    fn name(&self) -> String {
        "balanced".into()
    }
    fn uses_unit(&self) -> bool {
        true
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        if self.start_steps < self.warmup {
            for t in 0..2 {
                self.start_sum[t] += step.losses[t];
            }
            self.start_steps += 1;
        }
        let n = self.start_steps.max(1) as f32;
        self.relative = [0, 1].map(|t| step.losses[t] / (self.start_sum[t] / n).max(1e-6));
        self.unit = step.unit.unwrap_or([0.5, 0.5]);
        self.unit.map(|w| self.floor + (1.0 - 2.0 * self.floor) * w)
    }
    fn unit_gradient(&self, _losses: [f32; 2], _weights: [f32; 2]) -> Option<[f32; 2]> {
        Some([0, 1].map(|t| {
            1.0 / (self.relative[t] + UNIT_LOSS_FLOOR)
                + self.lambda * (self.unit[t].max(1e-12).ln() + 1.0)
        }))
    }
    fn state(&self) -> Vec<f32> {
        vec![
            self.start_sum[0],
            self.start_sum[1],
            self.start_steps as f32,
        ]
    }
    fn restore(&mut self, state: &[f32]) -> Result<(), String> {
        let [a, b, n] = <[f32; 3]>::try_from(state).map_err(|_| {
            format!(
                "the checkpoint's balanced state has {} values, not 3",
                state.len()
            )
        })?;
        (self.start_sum, self.start_steps) = ([a, b], n as u32);
        Ok(())
    }
}
