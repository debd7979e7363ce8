//! Row-wise L2 normalisation, `y = x / max(||x||, eps)` (PyTorch's `F.normalize`).

use super::{expect_matrix, expect_shape, kernel, to_u32};
use crate::gpu::{grid_1d, Gpu, Kernel, Result, Tensor};

const FORWARD: Kernel = kernel!("norm/l2_forward", "row_reduce.wgsl", "norm/l2_forward.wgsl");
const BACKWARD: Kernel = kernel!(
    "norm/l2_backward",
    "row_reduce.wgsl",
    "norm/l2_backward.wgsl"
);

/// The eps of `F.normalize`.
pub const DEFAULT_EPS: f32 = 1e-12;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
}

/// Normalised rows and the clamped norm of each row (kept for the backward pass).
pub struct L2Normalized {
    pub output: Tensor,
    pub norms: Tensor,
}

/// Normalises each row of `x` [rows, cols] to unit length.
pub fn l2_normalize_rows(gpu: &Gpu, x: &Tensor, eps: f32) -> Result<L2Normalized> {
    const OP: &str = "l2_normalize_rows";
    let (rows, cols) = expect_matrix(OP, "input", x)?;
    let params = Params {
        rows: to_u32(OP, rows)?,
        cols: to_u32(OP, cols)?,
        eps,
    };
    let output = Tensor::uninit(gpu, OP, &[rows, cols])?;
    let norms = Tensor::uninit(gpu, OP, &[rows])?;
    gpu.dispatch(
        &FORWARD,
        bytemuck::bytes_of(&params),
        &[x.buffer(), output.buffer(), norms.buffer()],
        grid_1d(gpu, rows * 256, 256),
    );
    Ok(L2Normalized { output, norms })
}

/// Backward of [`l2_normalize_rows`] for upstream gradient `dy`.
pub fn l2_normalize_rows_backward(
    gpu: &Gpu,
    forward: &L2Normalized,
    dy: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    const OP: &str = "l2_normalize_rows_backward";
    let (rows, cols) = expect_matrix(OP, "output", &forward.output)?;
    expect_shape(OP, "dy", dy, &[rows, cols])?;
    let params = Params {
        rows: to_u32(OP, rows)?,
        cols: to_u32(OP, cols)?,
        eps,
    };
    let dx = Tensor::uninit(gpu, OP, &[rows, cols])?;
    gpu.dispatch(
        &BACKWARD,
        bytemuck::bytes_of(&params),
        &[
            forward.output.buffer(),
            forward.norms.buffer(),
            dy.buffer(),
            dx.buffer(),
        ],
        grid_1d(gpu, rows * 256, 256),
    );
    Ok(dx)
}
