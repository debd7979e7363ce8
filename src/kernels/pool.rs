//! Max and average pooling, forward and backward. Max pooling saves the winning position
//! of every window; its backward gathers through them, or, where windows overlap, adds
//! each window's gradient at its winner one class of disjoint windows at a time (no
//! atomics either way, deterministic).

use super::{expect_shape, kernel, to_u32};
use crate::geometry::{Pool2dGeometry, Pool2dSpec};
use crate::gpu::{grid_1d, kernel_params, Gpu, Indices, Kernel, Result, Tensor};

const MAX_FORWARD: Kernel = kernel!(
    "pool/max_forward",
    "pool/pool_params.wgsl",
    "pool/max_forward.wgsl"
);
const MAX_BACKWARD: Kernel = kernel!(
    "pool/max_backward",
    "pool/pool_params.wgsl",
    "pool/max_backward.wgsl"
);
const MAX_BACKWARD_TILED: Kernel = kernel!(
    "pool/max_backward_tiled",
    "pool/pool_params.wgsl",
    "pool/max_backward_tiled.wgsl"
);
const MAX_BACKWARD_SCATTER: Kernel = kernel!(
    "pool/max_backward_scatter",
    "pool/max_backward_scatter.wgsl"
);
const AVG_FORWARD: Kernel = kernel!(
    "pool/avg_forward",
    "pool/pool_params.wgsl",
    "pool/avg_forward.wgsl"
);
const AVG_BACKWARD: Kernel = kernel!(
    "pool/avg_backward",
    "pool/pool_params.wgsl",
    "pool/avg_backward.wgsl"
);

kernel_params! {
    struct Params {
        planes: u32,
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        kernel_h: u32,
        kernel_w: u32,
        stride_h: u32,
        stride_w: u32,
        pad_h: u32,
        pad_w: u32,
    }
}

fn params(op: &'static str, g: &Pool2dGeometry) -> Result<Params> {
    Ok(Params {
        planes: to_u32(op, g.batch * g.channels)?,
        in_h: to_u32(op, g.in_h)?,
        in_w: to_u32(op, g.in_w)?,
        out_h: to_u32(op, g.out_h)?,
        out_w: to_u32(op, g.out_w)?,
        kernel_h: to_u32(op, g.kernel_h)?,
        kernel_w: to_u32(op, g.kernel_w)?,
        stride_h: to_u32(op, g.stride_h)?,
        stride_w: to_u32(op, g.stride_w)?,
        pad_h: to_u32(op, g.pad_h)?,
        pad_w: to_u32(op, g.pad_w)?,
    })
}

/// Max pooling's output and, per output element, the winning input position
/// (`iy * in_w + ix` within its plane).
/// Workgroups of 8 x 8 positions of a `width` x `height` plane, one z layer per plane (up
/// to the adapter's limit; the kernels take further planes in strides of it).
fn plane_grid(
    gpu: &Gpu,
    op: &'static str,
    width: usize,
    height: usize,
    planes: usize,
) -> Result<[u32; 3]> {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    // The kernels stride over planes past the z limit.
    let grid = [width.div_ceil(8), height.div_ceil(8), planes.min(max)];
    if grid.iter().any(|&g| g > max) {
        return Err(crate::gpu::GpuError::invalid(
            op,
            format!("{planes} planes of {height}x{width} need workgroups {grid:?}, over the adapter's limit of {max} per dimension; use a smaller batch"),
        ));
    }
    Ok(grid.map(|g| g as u32))
}

pub struct MaxPoolOutput {
    pub output: Tensor,
    pub argmax: Indices,
}

/// Max pooling of `x` [N, C, H, W].
pub fn max_pool2d(gpu: &Gpu, x: &Tensor, spec: Pool2dSpec) -> Result<MaxPoolOutput> {
    const OP: &str = "max_pool2d";
    if super::norm::fuses_max_pool(x.shape(), spec) {
        return super::norm::max_pool_2x2(gpu, x);
    }
    let g = Pool2dGeometry::new(OP, x.shape(), spec)?;
    let output = Tensor::uninit(gpu, OP, &g.output_shape())?;
    let argmax = Indices::uninit(gpu, OP, output.len())?;
    let p = params(OP, &g)?;
    let grid = plane_grid(gpu, OP, g.out_w, g.out_h, g.batch * g.channels)?;
    gpu.dispatch(
        &MAX_FORWARD,
        &p,
        &[x.buffer(), output.buffer(), argmax.buffer()],
        grid,
    )?;
    Ok(MaxPoolOutput { output, argmax })
}

/// Fails unless `argmax` holds one winning position per pooled gradient in `dy`.
pub(crate) fn expect_argmax(op: &'static str, argmax: &Indices, dy: &Tensor) -> Result<()> {
    if argmax.len() == dy.len() {
        return Ok(());
    }
    Err(crate::gpu::GpuError::shape(
        op,
        format!("{} argmax entries for {} gradients", argmax.len(), dy.len()),
    ))
}

/// Backward of [`max_pool2d`]: dy [N, C, OH, OW] -> dx of `input_shape`.
pub fn max_pool2d_backward(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Indices,
    input_shape: &[usize],
    spec: Pool2dSpec,
) -> Result<Tensor> {
    const OP: &str = "max_pool2d_backward";
    let g = Pool2dGeometry::new(OP, input_shape, spec)?;
    expect_shape(OP, "dy", dy, &g.output_shape())?;
    expect_argmax(OP, argmax, dy)?;
    let dx = Tensor::uninit(gpu, OP, input_shape)?;
    let p = params(OP, &g)?;
    let tiled = g.stride_h == g.kernel_h
        && g.stride_w == g.kernel_w
        && g.pad_h == 0
        && g.pad_w == 0
        && g.in_h == g.out_h * g.stride_h
        && g.in_w == g.out_w * g.stride_w;
    let planes = g.batch * g.channels;
    if g.kernel_h > g.stride_h || g.kernel_w > g.stride_w {
        return max_pool2d_backward_overlapping(gpu, dy, argmax, &g);
    }
    let (kernel, grid) = if tiled {
        (
            &MAX_BACKWARD_TILED,
            plane_grid(gpu, OP, g.out_w, g.out_h, planes)?,
        )
    } else {
        (&MAX_BACKWARD, plane_grid(gpu, OP, g.in_w, g.in_h, planes)?)
    };
    gpu.dispatch(
        kernel,
        &p,
        &[dy.buffer(), argmax.buffer(), dx.buffer()],
        grid,
    )?;
    Ok(dx)
}

kernel_params! {
    struct ScatterParams {
        planes: u32,
        out_h: u32,
        out_w: u32,
        in_plane: u32,
        class_y: u32,
        class_x: u32,
        step_y: u32,
        step_x: u32,
    }
}

/// [`max_pool2d_backward`] where windows overlap (3x3 stride 2): windows `step` apart do
/// not, so each of the `step_y * step_x` classes of them adds its gradient in one
/// dispatch. Every window is visited once; the gather would visit every input's windows
/// and divide to find them.
fn max_pool2d_backward_overlapping(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Indices,
    g: &Pool2dGeometry,
) -> Result<Tensor> {
    const OP: &str = "max_pool2d_backward";
    let dx = Tensor::zeros(gpu, &g.input_shape())?;
    let (step_y, step_x) = (
        g.kernel_h.div_ceil(g.stride_h),
        g.kernel_w.div_ceil(g.stride_w),
    );
    let planes = g.batch * g.channels;
    for class_y in 0..step_y {
        for class_x in 0..step_x {
            let p = ScatterParams {
                planes: to_u32(OP, planes)?,
                out_h: to_u32(OP, g.out_h)?,
                out_w: to_u32(OP, g.out_w)?,
                in_plane: to_u32(OP, g.in_h * g.in_w)?,
                class_y: to_u32(OP, class_y)?,
                class_x: to_u32(OP, class_x)?,
                step_y: to_u32(OP, step_y)?,
                step_x: to_u32(OP, step_x)?,
            };
            let (rows, cols) = (
                g.out_h.saturating_sub(class_y).div_ceil(step_y),
                g.out_w.saturating_sub(class_x).div_ceil(step_x),
            );
            let grid = plane_grid(gpu, OP, cols, rows, planes)?;
            gpu.dispatch(
                &MAX_BACKWARD_SCATTER,
                &p,
                &[dy.buffer(), argmax.buffer(), dx.buffer()],
                grid,
            )?;
        }
    }
    Ok(dx)
}

/// Average pooling of `x` [N, C, H, W]; the divisor is the full window, padding included.
pub fn avg_pool2d(gpu: &Gpu, x: &Tensor, spec: Pool2dSpec) -> Result<Tensor> {
    const OP: &str = "avg_pool2d";
    let g = Pool2dGeometry::new(OP, x.shape(), spec)?;
    let y = Tensor::uninit(gpu, OP, &g.output_shape())?;
    let p = params(OP, &g)?;
    gpu.dispatch(
        &AVG_FORWARD,
        &p,
        &[x.buffer(), y.buffer()],
        grid_1d(gpu, y.len(), 256),
    )?;
    Ok(y)
}

/// Backward of [`avg_pool2d`]: dy [N, C, OH, OW] -> dx of `input_shape`.
pub fn avg_pool2d_backward(
    gpu: &Gpu,
    dy: &Tensor,
    input_shape: &[usize],
    spec: Pool2dSpec,
) -> Result<Tensor> {
    const OP: &str = "avg_pool2d_backward";
    let g = Pool2dGeometry::new(OP, input_shape, spec)?;
    expect_shape(OP, "dy", dy, &g.output_shape())?;
    let dx = Tensor::uninit(gpu, OP, input_shape)?;
    let p = params(OP, &g)?;
    gpu.dispatch(
        &AVG_BACKWARD,
        &p,
        &[dy.buffer(), dx.buffer()],
        grid_1d(gpu, dx.len(), 256),
    )?;
    Ok(dx)
}
