//! Elementwise maps: add / axpby, scale, multiply, ReLU and its backward, in-place
//! accumulation, dropout (alone, or of a ReLU's output), the clipping factor.

use super::{expect_same_shape, to_u32};
use crate::gpu::{grid_1d, kernel_params, Gpu, Kernel, Result, Tensor};

/// One kernel per op: OP is set to one of the op constants of
/// shaders/elementwise/map_ops.wgsl, so the compiler drops the other cases (a `switch` on a
/// uniform costs every case on llvmpipe). The op codes' values live only in the shader.
/// `map_kernel!(vec4 ...)` builds the op's map4.wgsl kernel, one vec4 per invocation.
macro_rules! map_kernel {
    ($name:literal, $constant:literal) => {
        map_kernel!(@ concat!("elementwise/", $name), $constant, "map.wgsl")
    };
    (vec4 $name:literal, $constant:literal) => {
        map_kernel!(@ concat!("elementwise/", $name, "#vec4"), $constant, "map4.wgsl")
    };
    (@ $name:expr, $constant:literal, $file:literal) => {
        Kernel {
            name: $name,
            source: concat!(
                include_str!("../../shaders/common.wgsl"),
                include_str!("../../shaders/dropout_mask.wgsl"),
                "const OP: u32 = ",
                $constant,
                ";\n",
                include_str!("../../shaders/elementwise/map_ops.wgsl"),
                include_str!(concat!("../../shaders/elementwise/", $file))
            ),
        }
    };
}

kernel_params! {
    struct Params {
        len: u32,
        alpha: f32,
        beta: f32,
        seed: u32,
    }
}

/// The ops of shaders/elementwise/map.wgsl.
#[derive(Clone, Copy)]
enum Op {
    Axpby,
    Mul,
    Relu,
    ReluBackward,
    Accumulate,
    Dropout,
    ClipScale,
    ReluDropout,
    ReluDropoutBackward,
}

impl Op {
    /// The op's kernel: map.wgsl with OP set to the op's constant there.
    fn kernel(self) -> &'static Kernel {
        const AXPBY: Kernel = map_kernel!("axpby", "AXPBY");
        const MUL: Kernel = map_kernel!("mul", "MUL");
        const RELU: Kernel = map_kernel!("relu", "RELU");
        const RELU_BACKWARD: Kernel = map_kernel!("relu_backward", "RELU_BACKWARD");
        const ACCUMULATE: Kernel = map_kernel!("accumulate", "ACCUMULATE");
        const DROPOUT: Kernel = map_kernel!("dropout", "DROPOUT");
        const CLIP_SCALE: Kernel = map_kernel!("clip_scale", "CLIP_SCALE");
        const RELU_DROPOUT: Kernel = map_kernel!("relu_dropout", "RELU_DROPOUT");
        const RELU_DROPOUT_BACKWARD: Kernel =
            map_kernel!("relu_dropout_backward", "RELU_DROPOUT_BACKWARD");
        match self {
            Op::Axpby => &AXPBY,
            Op::Mul => &MUL,
            Op::Relu => &RELU,
            Op::ReluBackward => &RELU_BACKWARD,
            Op::Accumulate => &ACCUMULATE,
            Op::Dropout => &DROPOUT,
            Op::ClipScale => &CLIP_SCALE,
            Op::ReluDropout => &RELU_DROPOUT,
            Op::ReluDropoutBackward => &RELU_DROPOUT_BACKWARD,
        }
    }

    /// The op's map4.wgsl kernel (one vec4 per invocation), for the ops whose formula is
    /// the same for every element; dropout's mask and the clipping factor have none.
    fn vec4_kernel(self) -> Option<&'static Kernel> {
        const AXPBY: Kernel = map_kernel!(vec4 "axpby", "AXPBY");
        const MUL: Kernel = map_kernel!(vec4 "mul", "MUL");
        const RELU: Kernel = map_kernel!(vec4 "relu", "RELU");
        const RELU_BACKWARD: Kernel = map_kernel!(vec4 "relu_backward", "RELU_BACKWARD");
        const ACCUMULATE: Kernel = map_kernel!(vec4 "accumulate", "ACCUMULATE");
        match self {
            Op::Axpby => Some(&AXPBY),
            Op::Mul => Some(&MUL),
            Op::Relu => Some(&RELU),
            Op::ReluBackward => Some(&RELU_BACKWARD),
            Op::Accumulate => Some(&ACCUMULATE),
            Op::Dropout | Op::ClipScale | Op::ReluDropout | Op::ReluDropoutBackward => None,
        }
    }
}

fn launch(
    gpu: &Gpu,
    op: Op,
    a: Option<&Tensor>,
    b: Option<&Tensor>,
    out: &Tensor,
    alpha: f32,
    beta: f32,
) -> Result<()> {
    launch_seeded(gpu, op, a, b, out, alpha, beta, 0)
}

#[allow(clippy::too_many_arguments)]
fn launch_seeded(
    gpu: &Gpu,
    op: Op,
    a: Option<&Tensor>,
    b: Option<&Tensor>,
    out: &Tensor,
    alpha: f32,
    beta: f32,
    seed: u32,
) -> Result<()> {
    // Tensors of a multiple of 4 elements go as vec4s where the op has that kernel.
    let (kernel, items) = match op.vec4_kernel() {
        Some(kernel) if out.len() % 4 == 0 => (kernel, out.len() / 4),
        _ => (op.kernel(), out.len()),
    };
    let params = Params {
        len: to_u32("elementwise", items)?,
        alpha,
        beta,
        seed,
    };
    let placeholder = gpu.placeholder();
    let a = a.map_or(placeholder, Tensor::buffer);
    let b = b.map_or(placeholder, Tensor::buffer);
    gpu.dispatch(
        kernel,
        &params,
        &[a, b, out.buffer()],
        grid_1d(gpu, items, 256),
    )?;
    Ok(())
}

fn binary(
    gpu: &Gpu,
    op_name: &'static str,
    op: Op,
    a: &Tensor,
    b: &Tensor,
    alpha: f32,
    beta: f32,
) -> Result<Tensor> {
    expect_same_shape(op_name, ("a", a), ("b", b))?;
    let out = Tensor::uninit(gpu, op_name, a.shape())?;
    launch(gpu, op, Some(a), Some(b), &out, alpha, beta)?;
    Ok(out)
}

/// `alpha * a + beta * b`.
pub fn axpby(gpu: &Gpu, alpha: f32, a: &Tensor, beta: f32, b: &Tensor) -> Result<Tensor> {
    binary(gpu, "axpby", Op::Axpby, a, b, alpha, beta)
}

/// `a + b`.
pub fn add(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(gpu, "add", Op::Axpby, a, b, 1.0, 1.0)
}

/// `a * b`, elementwise.
pub fn mul(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(gpu, "mul", Op::Mul, a, b, 1.0, 0.0)
}

/// `alpha * a`.
pub fn scale(gpu: &Gpu, a: &Tensor, alpha: f32) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, "scale", a.shape())?;
    launch(gpu, Op::Axpby, Some(a), Some(a), &out, alpha, 0.0)?;
    Ok(out)
}

/// `max(x, 0)`.
pub fn relu(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, "relu", x.shape())?;
    launch(gpu, Op::Relu, Some(x), Some(x), &out, 0.0, 0.0)?;
    Ok(out)
}

/// Gradient of ReLU: `dy` where the forward input `x` was positive, else 0.
pub fn relu_backward(gpu: &Gpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    binary(gpu, "relu_backward", Op::ReluBackward, x, dy, 0.0, 0.0)
}

/// `acc += alpha * g`, in place (gradient accumulation).
pub fn accumulate(gpu: &Gpu, acc: &Tensor, g: &Tensor, alpha: f32) -> Result<()> {
    expect_same_shape("accumulate", ("accumulator", acc), ("gradient", g))?;
    launch(gpu, Op::Accumulate, Some(g), Some(g), acc, alpha, 0.0)
}

/// Checks a dropout keep probability: in (0, 1].
pub(super) fn check_keep(op: &'static str, keep_prob: f32) -> Result<()> {
    if keep_prob > 0.0 && keep_prob <= 1.0 {
        return Ok(());
    }
    Err(crate::gpu::GpuError::invalid(
        op,
        format!("keep probability must be in (0, 1], got {keep_prob}"),
    ))
}

/// Inverted dropout: keeps each element with probability `keep_prob` (scaling it by
/// `1 / keep_prob`), chosen by a hash of (`seed`, index). The same call on the upstream
/// gradient is its backward pass.
pub fn dropout(gpu: &Gpu, x: &Tensor, keep_prob: f32, seed: u32) -> Result<Tensor> {
    dropout_map(gpu, "dropout", Op::Dropout, x, x, keep_prob, seed)
}

/// [`dropout`] of `max(x, 0)` in one pass (same bits as [`relu`] then [`dropout`]).
pub fn relu_dropout(gpu: &Gpu, x: &Tensor, keep_prob: f32, seed: u32) -> Result<Tensor> {
    dropout_map(gpu, "relu_dropout", Op::ReluDropout, x, x, keep_prob, seed)
}

/// Gradient of [`relu_dropout`] w.r.t. its input `x`: `dy / keep_prob` where the element
/// was kept and `x` positive, else 0 (same bits as the two backward passes in turn).
pub fn relu_dropout_backward(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    keep_prob: f32,
    seed: u32,
) -> Result<Tensor> {
    const OP: &str = "relu_dropout_backward";
    expect_same_shape(OP, ("x", x), ("dy", dy))?;
    dropout_map(gpu, OP, Op::ReluDropoutBackward, x, dy, keep_prob, seed)
}

/// One of the dropping map ops over `a` (and `b`) into a new tensor of `a`'s shape.
fn dropout_map(
    gpu: &Gpu,
    op_name: &'static str,
    op: Op,
    a: &Tensor,
    b: &Tensor,
    keep_prob: f32,
    seed: u32,
) -> Result<Tensor> {
    check_keep(op_name, keep_prob)?;
    let out = Tensor::uninit(gpu, op_name, a.shape())?;
    launch_seeded(gpu, op, Some(a), Some(b), &out, keep_prob, 0.0, seed)?;
    Ok(out)
}

/// Global-norm clipping factor `min(1, max_norm / (sqrt(squared_norm) + 1e-6))`, `[1]` -> `[1]`.
pub fn clip_scale(gpu: &Gpu, squared_norm: &Tensor, max_norm: f32) -> Result<Tensor> {
    super::expect_shape("clip_scale", "squared norm", squared_norm, &[1])?;
    let out = Tensor::uninit(gpu, "clip_scale", &[1])?;
    launch(
        gpu,
        Op::ClipScale,
        Some(squared_norm),
        Some(squared_norm),
        &out,
        max_norm,
        0.0,
    )?;
    Ok(out)
}

kernel_params! {
    struct ResidualParams {
        len: u32,
        scale: f32,
    }
}

/// shaders/elementwise/residual.wgsl (or its backward) with RELU set to `relu`.
fn residual_kernel(backward: bool, relu: bool) -> &'static Kernel {
    macro_rules! residual {
        ($name:literal, $file:literal, $relu:literal) => {
            Kernel {
                name: concat!("elementwise/", $name),
                source: concat!(
                    include_str!("../../shaders/common.wgsl"),
                    "const RELU: bool = ",
                    $relu,
                    ";\n",
                    include_str!(concat!("../../shaders/elementwise/", $file))
                ),
            }
        };
    }
    const FORWARD: [Kernel; 2] = [
        residual!("residual_linear", "residual.wgsl", "false"),
        residual!("residual_relu", "residual.wgsl", "true"),
    ];
    const BACKWARD: [Kernel; 2] = [
        residual!(
            "residual_linear_backward",
            "residual_backward.wgsl",
            "false"
        ),
        residual!("residual_relu_backward", "residual_backward.wgsl", "true"),
    ];
    match backward {
        false => &FORWARD[relu as usize],
        true => &BACKWARD[relu as usize],
    }
}

/// Inception-ResNet's scaled residual: `relu(x + scale * r)`, or `x + scale * r` when
/// `relu` is false.
pub fn scaled_residual(
    gpu: &Gpu,
    x: &Tensor,
    r: &Tensor,
    scale: f32,
    relu: bool,
) -> Result<Tensor> {
    const OP: &str = "scaled_residual";
    expect_same_shape(OP, ("x", x), ("the residual", r))?;
    let y = Tensor::uninit(gpu, OP, x.shape())?;
    let params = ResidualParams {
        len: to_u32(OP, x.len())?,
        scale,
    };
    gpu.dispatch(
        residual_kernel(false, relu),
        &params,
        &[x.buffer(), r.buffer(), y.buffer()],
        grid_1d(gpu, x.len(), 256),
    )?;
    Ok(y)
}

/// The gradients (to x, to r) of [`scaled_residual`] from its output `y` and `dy`.
pub fn scaled_residual_backward(
    gpu: &Gpu,
    y: &Tensor,
    dy: &Tensor,
    scale: f32,
    relu: bool,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "scaled_residual_backward";
    expect_same_shape(OP, ("y", y), ("dy", dy))?;
    let dx = Tensor::uninit(gpu, OP, y.shape())?;
    let dr = Tensor::uninit(gpu, OP, y.shape())?;
    let params = ResidualParams {
        len: to_u32(OP, y.len())?,
        scale,
    };
    gpu.dispatch(
        residual_kernel(true, relu),
        &params,
        &[y.buffer(), dy.buffer(), dx.buffer(), dr.buffer()],
        grid_1d(gpu, y.len(), 256),
    )?;
    Ok((dx, dr))
}
