//! GradNorm (Chen et al. 2018): task weights that keep the tasks' gradient magnitudes on
//! the last shared layer in the proportion of how far each task still has to go.
//!
//! With W the last shared layer's weights (the trunk's last convolution), n_i = |dL_i/dW|
//! and G_i = w_i n_i the size of task i's weighted gradient there, GradNorm asks every G_i
//! to equal its target mean_j(G_j) r_i^alpha, where r_i = (L_i / L_i(0)) / mean_j(L_j /
//! L_j(0)) is the task's relative inverse training rate: a task whose loss has fallen less
//! (r_i > 1) is asked for a larger gradient. The weights descend
//! L_grad = sum_i |G_i - target_i| with the targets held constant, whose gradient is
//! dL_grad/dw_i = sign(G_i - target_i) n_i; after each step they are renormalised.
//!
//! Two departures from the paper, both about scale, neither about direction:
//! - The weights sum to 1 (the paper's to the number of tasks, 2), like every other method
//!   here, so a learning rate means the same under all of them.
//! - The paper updates w with the network's optimiser; here w takes a plain step of `lr`
//!   along the gradient divided by mean_j(n_j), so how fast the weights move does not
//!   depend on the network's gradient scale (which changes by orders of magnitude over a
//!   run), only on the ratio of the two norms. A floor of 1e-3 keeps both weights positive.
//!
//! The step computes the two norms on the device (each task's loss back-propagated to W
//! alone: the head and one weight gradient) and reads them back with the losses. The
//! weights of a step are those before its update, as in the paper's algorithm.

use super::scalar::normalized;
use super::{StepView, TaskWeighting};

pub struct GradNorm {
    /// Asymmetry: how strongly the targets follow the training rates (the paper: 1.5).
    pub alpha: f32,
    /// Step of the weights per training step, on the normalised gradient.
    pub lr: f32,
    /// Current weights (sum 1).
    pub weights: [f32; 2],
    /// Each task's loss at the first step, L_i(0).
    pub initial: Option<[f32; 2]>,
}

/// Least weight of a task before renormalising.
const FLOOR: f32 = 1e-3;

impl GradNorm {
    pub fn new(alpha: f32, lr: f32) -> GradNorm {
        GradNorm {
            alpha,
            lr,
            weights: [0.5, 0.5],
            initial: None,
        }
    }
}

impl TaskWeighting for GradNorm {
    fn name(&self) -> String {
        "gradnorm".into()
    }
    fn wants_layer_gradient_norms(&self) -> bool {
        true
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        let used = self.weights;
        let initial = *self.initial.get_or_insert(step.losses);
        let Some(norms) = step.layer_gradient_norms else {
            return used;
        };
        let ratio = [0, 1].map(|t| step.losses[t] / initial[t].max(1e-12));
        let mean_ratio = (ratio[0] + ratio[1]) / 2.0;
        let mean_norm = (norms[0] + norms[1]) / 2.0;
        if !(mean_ratio > 0.0 && mean_norm > 0.0 && mean_norm.is_finite()) {
            return used;
        }
        let g = [0, 1].map(|t| used[t] * norms[t]);
        let mean_g = (g[0] + g[1]) / 2.0;
        let next = [0, 1].map(|t| {
            let target = mean_g * (ratio[t] / mean_ratio).powf(self.alpha);
            let gradient = (g[t] - target).signum() * norms[t] / mean_norm;
            // signum(0) is 1 in Rust; a task exactly on its target does not move.
            let gradient = if g[t] == target { 0.0 } else { gradient };
            (used[t] - self.lr * gradient).max(FLOOR)
        });
        self.weights = normalized(next);
        used
    }
    fn state(&self) -> Vec<f32> {
        let initial = self.initial.unwrap_or([f32::NAN; 2]);
        vec![self.weights[0], self.weights[1], initial[0], initial[1]]
    }
    fn restore(&mut self, s: &[f32]) -> Result<(), String> {
        let [w0, w1, l0, l1] = <[f32; 4]>::try_from(s).map_err(|_| {
            format!(
                "the checkpoint's gradnorm state has {} values, not 4",
                s.len()
            )
        })?;
        self.weights = [w0, w1];
        self.initial = (!l0.is_nan()).then_some([l0, l1]);
        Ok(())
    }
}
