//! Optimiser updates, in place, mirroring the update kernels.

use crate::update_rules::{AdamConfig, RmsPropConfig, SgdConfig};

/// One SGD-with-momentum step.
pub fn sgd_update(
    param: &mut [f64],
    grad: &[f64],
    grad_scale: f64,
    velocity: &mut [f64],
    c: SgdConfig,
) {
    for i in 0..param.len() {
        let g = grad[i] * grad_scale + c.weight_decay as f64 * param[i];
        velocity[i] = c.momentum as f64 * velocity[i] + g;
        param[i] -= c.lr as f64 * velocity[i];
    }
}

/// One Adam step (`step` counts from 1).
pub fn adam_update(
    param: &mut [f64],
    grad: &[f64],
    grad_scale: f64,
    m: &mut [f64],
    v: &mut [f64],
    c: AdamConfig,
    step: u32,
) {
    let (b1, b2) = (c.beta1 as f64, c.beta2 as f64);
    let t = step.max(1) as i32;
    for i in 0..param.len() {
        let g = grad[i] * grad_scale + c.weight_decay as f64 * param[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        let m_hat = m[i] / (1.0 - b1.powi(t));
        let v_hat = v[i] / (1.0 - b2.powi(t));
        param[i] -= c.lr as f64 * m_hat / (v_hat.sqrt() + c.eps as f64);
    }
}

/// One RMSProp-with-momentum step (TensorFlow's form).
pub fn rmsprop_update(
    param: &mut [f64],
    grad: &[f64],
    grad_scale: f64,
    mean_square: &mut [f64],
    momentum: &mut [f64],
    c: RmsPropConfig,
) {
    let decay = c.decay as f64;
    for i in 0..param.len() {
        let g = grad[i] * grad_scale + c.weight_decay as f64 * param[i];
        mean_square[i] = decay * mean_square[i] + (1.0 - decay) * g * g;
        momentum[i] = c.momentum as f64 * momentum[i]
            + c.lr as f64 * g / (mean_square[i] + c.eps as f64).sqrt();
        param[i] -= momentum[i];
    }
}
