//! Optimiser updates as kernels, in place on a parameter and its state. Every update reads
//! a one-element `grad_scale` on the device (1, or the global-norm clipping factor), so a
//! step needs no host readback.

use std::sync::OnceLock;

use super::{expect_same_shape, expect_shape, kernel, kernel_source, to_u32};
use crate::gpu::{grid_1d, kernel_params, Gpu, Kernel, KernelParams, Result, Tensor};

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

/// Tensors one grouped Adam dispatch updates at most (each binds 4 storage buffers).
const GROUP_MAX: usize = 8;

kernel_params! {
    struct AdamGroupParams {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        bias_correction1: f32,
        bias_correction2: f32,
        len0: u32,
        len1: u32,
        len2: u32,
        len3: u32,
        len4: u32,
        len5: u32,
        len6: u32,
        len7: u32,
        start0: u32,
        start1: u32,
        start2: u32,
        start3: u32,
        start4: u32,
        start5: u32,
        start6: u32,
        start7: u32,
    }
}

/// WGSL of the grouped Adam kernel for `n` tensors: tensor t's workgroups run from
/// `start{t}`, each tensor its own bindings, every element through `adam_step`
/// (optim/adam_rule.wgsl), so the results are the single-tensor kernel's bit for bit.
fn adam_group_source(n: usize) -> String {
    // The parameter struct from the Rust one, so the two cannot drift.
    let mut s = String::from("struct Params {\n");
    for (name, ty) in AdamGroupParams::FIELDS {
        s.push_str(&format!("    {name}: {ty},\n"));
    }
    s.push_str("}\n\n@group(0) @binding(0) var<uniform> p: Params;\n");
    s.push_str("@group(0) @binding(1) var<storage, read> grad_scale: array<f32>;\n");
    for t in 0..n {
        let b = 2 + 4 * t;
        s.push_str(&format!(
            "@group(0) @binding({b}) var<storage, read_write> param{t}: array<f32>;\n"
        ));
        s.push_str(&format!(
            "@group(0) @binding({}) var<storage, read> grad{t}: array<f32>;\n",
            b + 1
        ));
        s.push_str(&format!(
            "@group(0) @binding({}) var<storage, read_write> m{t}: array<f32>;\n",
            b + 2
        ));
        s.push_str(&format!(
            "@group(0) @binding({}) var<storage, read_write> v{t}: array<f32>;\n",
            b + 3
        ));
    }
    s.push_str("\n@compute @workgroup_size(256)\n");
    s.push_str("fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,\n");
    s.push_str("        @builtin(local_invocation_index) local: u32) {\n");
    s.push_str("    let g = flat_group(wg, groups);\n");
    // From the last tensor down: the first whose start the workgroup has reached.
    for t in (0..n).rev() {
        s.push_str(&format!("    if (g >= p.start{t}) {{\n"));
        s.push_str(&format!(
            "        let i = (g - p.start{t}) * 256u + local;\n"
        ));
        s.push_str(&format!("        if (i < p.len{t}) {{\n"));
        s.push_str(&format!(
            "            let next = adam_step(grad{t}[i] * grad_scale[0], param{t}[i], m{t}[i], v{t}[i]);\n"
        ));
        s.push_str(&format!("            param{t}[i] = next.x;\n"));
        s.push_str(&format!("            m{t}[i] = next.y;\n"));
        s.push_str(&format!("            v{t}[i] = next.z;\n"));
        s.push_str("        }\n        return;\n    }\n");
    }
    s.push_str("}\n");
    s.push_str(include_str!("../../shaders/optim/adam_rule.wgsl"));
    kernel_source(&s)
}

/// The grouped Adam kernel for `n` tensors, built once per count.
fn adam_group_kernel(n: usize) -> Kernel {
    static BUILT: [OnceLock<(String, String)>; GROUP_MAX] = [const { OnceLock::new() }; GROUP_MAX];
    let (name, source) =
        BUILT[n - 1].get_or_init(|| (format!("optim/adam#group{n}"), adam_group_source(n)));
    Kernel { name, source }
}

/// One Adam step on several parameters at once, as [`adam_update`] on each (same bits):
/// `tensors` holds (param, grad, m, v) per parameter. A dispatch takes as many tensors as
/// the adapter's storage-buffer limit allows, up to 8, so a model's update is a few
/// dispatches instead of one per tensor.
pub fn adam_update_group(
    gpu: &Gpu,
    tensors: &[[&Tensor; 4]],
    grad_scale: &Tensor,
    c: AdamConfig,
    step: u32,
) -> Result<()> {
    const OP: &str = "adam_update_group";
    let per_dispatch =
        ((gpu.limits().max_storage_buffers_per_shader_stage as usize).saturating_sub(1) / 4)
            .min(GROUP_MAX);
    if per_dispatch == 0 {
        for [param, grad, m, v] in tensors {
            adam_update(gpu, param, grad, grad_scale, m, v, c, step)?;
        }
        return Ok(());
    }
    let (bias_correction1, bias_correction2) = adam_bias_corrections(c, step);
    for chunk in tensors.chunks(per_dispatch) {
        let mut lens = [0u32; GROUP_MAX];
        let mut starts = [u32::MAX; GROUP_MAX];
        let mut groups = 0usize;
        let mut buffers = vec![grad_scale.buffer()];
        for (k, [param, grad, m, v]) in chunk.iter().enumerate() {
            lens[k] = check(OP, param, grad, grad_scale, &[m, v])?;
            starts[k] = to_u32(OP, groups)?;
            groups += param.len().div_ceil(256);
            buffers.extend([param.buffer(), grad.buffer(), m.buffer(), v.buffer()]);
        }
        let p = AdamGroupParams {
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
            bias_correction1,
            bias_correction2,
            len0: lens[0],
            len1: lens[1],
            len2: lens[2],
            len3: lens[3],
            len4: lens[4],
            len5: lens[5],
            len6: lens[6],
            len7: lens[7],
            start0: starts[0],
            start1: starts[1],
            start2: starts[2],
            start3: starts[3],
            start4: starts[4],
            start5: starts[5],
            start6: starts[6],
            start7: starts[7],
        };
        let kernel = adam_group_kernel(chunk.len());
        gpu.dispatch(&kernel, &p, &buffers, grid_1d(gpu, groups * 256, 256))?;
    }
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
