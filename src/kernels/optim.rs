//! Optimiser updates as kernels, in place on a parameter and its state. Every update reads
//! a one-element `grad_scale` on the device (1, or the global-norm clipping factor), so a
//! step needs no host readback.

use super::{expect_same_shape, expect_shape, kernel, to_u32};
use crate::gpu::{grid_1d, kernel_params, Gpu, Kernel, Result, Tensor};

const SGD: Kernel = kernel!("optim/sgd", "optim/sgd.wgsl");
const ADAM: Kernel = kernel!("optim/adam", "optim/adam.wgsl", "optim/adam_rule.wgsl");
const RMSPROP: Kernel = kernel!("optim/rmsprop", "optim/rmsprop.wgsl");

pub use crate::update_rules::{AdamConfig, RmsPropConfig, SgdConfig};

kernel_params! {
    struct SgdParams {
        len: u32,
        lr: f32,
        momentum: f32,
        weight_decay: f32,
    }
}

kernel_params! {
    struct AdamParams {
        len: u32,
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        bias_correction1: f32,
        bias_correction2: f32,
    }
}

kernel_params! {
    struct RmsPropParams {
        len: u32,
        lr: f32,
        decay: f32,
        momentum: f32,
        eps: f32,
        weight_decay: f32,
    }
}

fn check(
    op: &'static str,
    param: &Tensor,
    grad: &Tensor,
    grad_scale: &Tensor,
    state: &[&Tensor],
) -> Result<u32> {
    expect_same_shape(op, ("param", param), ("grad", grad))?;
    expect_shape(op, "grad_scale", grad_scale, &[1])?;
    for s in state {
        expect_same_shape(op, ("param", param), ("optimiser state", s))?;
    }
    to_u32(op, param.len())
}

/// One SGD step on `param` with its `velocity`.
pub fn sgd_update(
    gpu: &Gpu,
    param: &Tensor,
    grad: &Tensor,
    grad_scale: &Tensor,
    velocity: &Tensor,
    c: SgdConfig,
) -> Result<()> {
    let len = check("sgd_update", param, grad, grad_scale, &[velocity])?;
    let p = SgdParams {
        len,
        lr: c.lr,
        momentum: c.momentum,
        weight_decay: c.weight_decay,
    };
    let buffers = [
        param.buffer(),
        grad.buffer(),
        grad_scale.buffer(),
        velocity.buffer(),
    ];
    gpu.dispatch(&SGD, &p, &buffers, grid_1d(gpu, param.len(), 256))?;
    Ok(())
}

/// Adam's bias corrections 1 - beta^t for step `step` (counted from 1).
fn adam_bias_corrections(c: AdamConfig, step: u32) -> (f32, f32) {
    let t = step.max(1) as i32;
    (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t))
}

/// One Adam step; `step` counts from 1 (it sets the bias corrections).
#[allow(clippy::too_many_arguments)]
pub fn adam_update(
    gpu: &Gpu,
    param: &Tensor,
    grad: &Tensor,
    grad_scale: &Tensor,
    m: &Tensor,
    v: &Tensor,
    c: AdamConfig,
    step: u32,
) -> Result<()> {
    let len = check("adam_update", param, grad, grad_scale, &[m, v])?;
    let (bias_correction1, bias_correction2) = adam_bias_corrections(c, step);
    let p = AdamParams {
        len,
        lr: c.lr,
        beta1: c.beta1,
        beta2: c.beta2,
        eps: c.eps,
        weight_decay: c.weight_decay,
        bias_correction1,
        bias_correction2,
    };
    let buffers = [
        param.buffer(),
        grad.buffer(),
        grad_scale.buffer(),
        m.buffer(),
        v.buffer(),
    ];
    gpu.dispatch(&ADAM, &p, &buffers, grid_1d(gpu, param.len(), 256))?;
    Ok(())
}

/// One RMSProp step on `param` with its `mean_square` and `momentum` state.
pub fn rmsprop_update(
    gpu: &Gpu,
    param: &Tensor,
    grad: &Tensor,
    grad_scale: &Tensor,
    mean_square: &Tensor,
    momentum: &Tensor,
    c: RmsPropConfig,
) -> Result<()> {
    let len = check(
        "rmsprop_update",
        param,
        grad,
        grad_scale,
        &[mean_square, momentum],
    )?;
    let p = RmsPropParams {
        len,
        lr: c.lr,
        decay: c.decay,
        momentum: c.momentum,
        eps: c.eps,
        weight_decay: c.weight_decay,
    };
    let buffers = [
        param.buffer(),
        grad.buffer(),
        grad_scale.buffer(),
        mean_square.buffer(),
        momentum.buffer(),
    ];
    gpu.dispatch(&RMSPROP, &p, &buffers, grid_1d(gpu, param.len(), 256))?;
    Ok(())
}
