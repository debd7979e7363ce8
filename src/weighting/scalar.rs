//! Weighting methods that need only the scalars the scheduler already reads back each step
//! (the two task losses and the batch's accuracies), so they run on the host between the
//! forward and the backward pass at no device cost. Each keeps its own small state, saved
//! with the checkpoint, so a resumed run weighs its steps exactly as an uninterrupted one.
//! Weights are scaled to sum to 1 like the static 0.5/0.5 baseline (so a learning rate means
//! the same under every method); where a paper's weights sum to the number of tasks K, that
//! is a factor of K in the learning rate.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{StepView, TaskWeighting};

fn softmax(x: [f32; 2]) -> [f32; 2] {
    let m = x[0].max(x[1]);
    let e = x.map(|v| (v - m).exp());
    let total = e[0] + e[1];
    e.map(|v| v / total)
}

/// `w` scaled to sum to 1 (equal weights where that is impossible).
pub(super) fn normalized(w: [f32; 2]) -> [f32; 2] {
    let total = w[0] + w[1];
    if total > 0.0 && total.is_finite() {
        w.map(|v| v / total)
    } else {
        [0.5, 0.5]
    }
}

/// Uncertainty weighting (Kendall et al. 2018): a log-variance s_i per task, the loss
/// sum_i 0.5 (exp(-s_i) L_i + s_i); the network sees weights 0.5 exp(-s_i) (normalised), and
/// s moves by plain SGD on dL/ds_i = 0.5 (1 - exp(-s_i) L_i), toward s_i = log L_i: the task
/// with the larger loss gets the smaller weight.
pub struct Uncertainty {
    pub log_variance: [f32; 2],
    pub lr: f32,
}

impl TaskWeighting for Uncertainty {
    fn name(&self) -> String {
        "uncertainty".into()
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        let w = self.log_variance.map(|s| 0.5 * (-s).exp());
        for (s, loss) in self.log_variance.iter_mut().zip(step.losses) {
            *s -= self.lr * 0.5 * (1.0 - (-*s).exp() * loss);
        }
        normalized(w)
    }
    fn state(&self) -> Vec<f32> {
        self.log_variance.to_vec()
    }
    fn restore(&mut self, state: &[f32]) -> Result<(), String> {
        self.log_variance = restore_pair(state, "uncertainty")?;
        Ok(())
    }
}

fn restore_pair(state: &[f32], method: &str) -> Result<[f32; 2], String> {
    <[f32; 2]>::try_from(state).map_err(|_| {
        format!(
            "the checkpoint's {method} state has {} values, not 2",
            state.len()
        )
    })
}

/// Dynamic Weight Average (Liu et al. 2019): w = softmax(r / T) with r_i the ratio of task
/// i's mean loss over the last two epochs, T = 2; equal weights for the first two epochs.
pub struct Dwa {
    pub steps_per_epoch: u64,
    pub temperature: f32,
    /// Mean losses of the last two finished epochs ([older, newer]), and the running sum
    /// over the current epoch (sums, steps).
    pub history: Vec<[f32; 2]>,
    pub sum: [f32; 2],
    pub steps: u32,
}

impl TaskWeighting for Dwa {
    fn name(&self) -> String {
        "dwa".into()
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        // An epoch ended before this step: its mean joins the history.
        if step.step > 0 && step.step % self.steps_per_epoch.max(1) == 0 && self.steps > 0 {
            let n = self.steps as f32;
            self.history.push(self.sum.map(|s| s / n));
            if self.history.len() > 2 {
                self.history.remove(0);
            }
            (self.sum, self.steps) = ([0.0; 2], 0);
        }
        for t in 0..2 {
            self.sum[t] += step.losses[t];
        }
        self.steps += 1;
        match self.history[..] {
            [older, newer] => {
                let r = [0, 1].map(|t| newer[t] / older[t].max(1e-12));
                softmax(r.map(|r| r / self.temperature))
            }
            _ => [0.5, 0.5],
        }
    }
    fn state(&self) -> Vec<f32> {
        let mut state = vec![self.history.len() as f32];
        state.extend(self.history.iter().flatten());
        state.extend(self.sum);
        state.push(self.steps as f32);
        state
    }
    fn restore(&mut self, state: &[f32]) -> Result<(), String> {
        let bad = || {
            format!(
                "the checkpoint's dwa state is malformed ({} values)",
                state.len()
            )
        };
        let n = *state.first().ok_or_else(bad)? as usize;
        if n > 2 || state.len() != 1 + 2 * n + 3 {
            return Err(bad());
        }
        self.history = state[1..1 + 2 * n]
            .chunks(2)
            .map(|c| [c[0], c[1]])
            .collect();
        self.sum = [state[1 + 2 * n], state[2 + 2 * n]];
        self.steps = state[3 + 2 * n] as u32;
        Ok(())
    }
}

/// Random Loss Weighting (Lin et al. 2021): w = softmax(noise), the noise drawn from a
/// standard normal each step; drawn from (seed, step), so a resumed run draws the same.
pub struct Rlw {
    pub seed: u64,
}

impl TaskWeighting for Rlw {
    fn name(&self) -> String {
        "rlw".into()
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ step.step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Two standard normal draws (Box-Muller).
        let (u1, u2): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f32::consts::TAU * u2;
        softmax([radius * angle.cos(), radius * angle.sin()])
    }
}

/// Dynamic Task Prioritisation (Guo et al. 2018): k_i, task i's batch accuracy smoothed by
/// an exponential moving average (factor `smoothing` on the old value), gives the focal
/// weight -(1 - k_i)^gamma log k_i: the task with the lower accuracy weighs more.
pub struct Dtp {
    pub gamma: f32,
    pub smoothing: f32,
    /// The smoothed accuracies (None until a task has had a labelled batch).
    pub kpi: [Option<f32>; 2],
}

impl TaskWeighting for Dtp {
    fn name(&self) -> String {
        "dtp".into()
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        for t in 0..2 {
            if let Some(a) = step.accuracy[t] {
                self.kpi[t] = Some(match self.kpi[t] {
                    Some(k) => self.smoothing * k + (1.0 - self.smoothing) * a,
                    None => a,
                });
            }
        }
        let focal = |k: Option<f32>| {
            let k = k.unwrap_or(0.5).clamp(1e-3, 1.0 - 1e-3);
            -(1.0 - k).powf(self.gamma) * k.ln()
        };
        normalized([focal(self.kpi[0]), focal(self.kpi[1])])
    }
    fn state(&self) -> Vec<f32> {
        self.kpi.iter().map(|k| k.unwrap_or(f32::NAN)).collect()
    }
    fn restore(&mut self, state: &[f32]) -> Result<(), String> {
        let pair = restore_pair(state, "dtp")?;
        self.kpi = pair.map(|k| (!k.is_nan()).then_some(k));
        Ok(())
    }
}

/// FAMO (Liu et al. 2023): task logits xi, z = softmax(xi); the network's loss
/// sum_i (z_i / c) log(L_i + eps) with c = sum_j z_j / (L_j + eps) detached, i.e. weights
/// z_i / (c (L_i + eps)) on the raw losses, which sum to 1 by the choice of c. After each step xi moves by Adam (lr 0.025, weight decay 0.01) along
/// J_z^T delta, delta_i = log(L_i + eps) before minus after (the next step's losses), so
/// the task whose log loss fell less gains weight.
pub struct Famo {
    pub logits: [f32; 2],
    pub previous: Option<[f32; 2]>,
    pub adam: HostAdam,
    pub eps: f32,
}

/// Adam for a pair of host-side scalars, with L2 weight decay added to the gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostAdam {
    pub lr: f32,
    pub weight_decay: f32,
    pub m: [f32; 2],
    pub v: [f32; 2],
    pub t: u32,
}

impl HostAdam {
    pub fn new(lr: f32, weight_decay: f32) -> HostAdam {
        HostAdam {
            lr,
            weight_decay,
            m: [0.0; 2],
            v: [0.0; 2],
            t: 0,
        }
    }

    /// One step of `x` along `grad`.
    pub fn step(&mut self, x: &mut [f32; 2], grad: [f32; 2]) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        self.t += 1;
        for i in 0..2 {
            let g = grad[i] + self.weight_decay * x[i];
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g;
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g;
            let m_hat = self.m[i] / (1.0 - b1.powi(self.t as i32));
            let v_hat = self.v[i] / (1.0 - b2.powi(self.t as i32));
            x[i] -= self.lr * m_hat / (v_hat.sqrt() + eps);
        }
    }
}

impl TaskWeighting for Famo {
    fn name(&self) -> String {
        "famo".into()
    }
    fn weights(&mut self, step: &StepView) -> [f32; 2] {
        let log_loss = step.losses.map(|l| (l.max(0.0) + self.eps).ln());
        if let Some(before) = self.previous {
            let z = softmax(self.logits);
            let delta = [before[0] - log_loss[0], before[1] - log_loss[1]];
            // J_z^T delta for z = softmax(xi): z_i (delta_i - z . delta).
            let mean = z[0] * delta[0] + z[1] * delta[1];
            let grad = [z[0] * (delta[0] - mean), z[1] * (delta[1] - mean)];
            self.adam.step(&mut self.logits, grad);
        }
        self.previous = Some(log_loss);
        let z = softmax(self.logits);
        let inverse = step.losses.map(|l| 1.0 / (l.max(0.0) + self.eps));
        normalized([z[0] * inverse[0], z[1] * inverse[1]])
    }
    fn state(&self) -> Vec<f32> {
        let previous = self.previous.unwrap_or([f32::NAN; 2]);
        let a = &self.adam;
        vec![
            self.logits[0],
            self.logits[1],
            previous[0],
            previous[1],
            a.m[0],
            a.m[1],
            a.v[0],
            a.v[1],
            a.t as f32,
        ]
    }
    fn restore(&mut self, s: &[f32]) -> Result<(), String> {
        if s.len() != 9 {
            return Err(format!(
                "the checkpoint's famo state has {} values, not 9",
                s.len()
            ));
        }
        self.logits = [s[0], s[1]];
        self.previous = (!s[2].is_nan()).then_some([s[2], s[3]]);
        (self.adam.m, self.adam.v, self.adam.t) = ([s[4], s[5]], [s[6], s[7]], s[8] as u32);
        Ok(())
    }
}
