//! Reductions over axes (sum, mean, sum of squares, per-channel sums, global average
//! pooling, optionally with dropout on its output) and their adjoint, broadcasting.

use super::{kernel, to_u32};
use crate::gpu::{grid_1d, kernel_params, shape_text, Gpu, GpuError, Kernel, Result, Tensor};

/// The reductions and the broadcast, each without dropout and with it on the reduced side.
struct Kernels {
    reduce: Kernel,
    reduce_serial: Kernel,
    broadcast: Kernel,
}

macro_rules! reduce_kernels {
    ($suffix:literal, $($mask:literal),+) => {
        Kernels {
            reduce: kernel!(
                concat!("reduce/reduce_axes", $suffix),
                $($mask,)+
                "reduce/reduce_params.wgsl",
                "reduce/reduce_axes.wgsl"
            ),
            reduce_serial: kernel!(
                concat!("reduce/reduce_axes_serial", $suffix),
                $($mask,)+
                "reduce/reduce_params.wgsl",
                "reduce/reduce_axes_serial.wgsl"
            ),
            broadcast: kernel!(
                concat!("reduce/broadcast", $suffix),
                $($mask,)+
                "reduce/broadcast.wgsl"
            ),
        }
    };
}

const PLAIN: Kernels = reduce_kernels!("", "reduce/no_dropout.wgsl");
const DROPOUT: Kernels = reduce_kernels!("#dropout", "dropout_mask.wgsl", "reduce/dropout.wgsl");

/// Inverted dropout applied to the reduced side of a reduction or broadcast (the mask of
/// `elementwise::dropout` with the same seed over that tensor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropoutMask {
    /// Keep probability, in (0, 1].
    pub keep: f32,
    pub seed: u32,
}

impl DropoutMask {
    fn kernels(mask: Option<DropoutMask>) -> (&'static Kernels, f32, u32) {
        match mask {
            Some(m) => (&DROPOUT, m.keep, m.seed),
            None => (&PLAIN, 1.0, 0),
        }
    }
}
/// Sums of at most this many elements, or at least this many outputs, run one invocation
/// per output; longer sums over fewer outputs run a workgroup per output.
const SERIAL_LIMIT: usize = 512;
const SUM_ROWS: Kernel = kernel!("reduce/sum_rows", "reduce/sum_rows.wgsl");

kernel_params! {
    struct ReduceParams {
        outer: u32,
        mid: u32,
        inner: u32,
        square: u32,
        scale: f32,
        keep: f32,
        seed: u32,
    }
}

kernel_params! {
    struct BroadcastParams {
        outer: u32,
        mid: u32,
        inner: u32,
        scale: f32,
        keep: f32,
        seed: u32,
    }
}

/// `x` viewed as [outer, mid, inner] -> `scale * sum over outer and inner` (of x or x^2),
/// written into a new tensor of `out_shape` (mid elements).
fn reduce_axes(
    gpu: &Gpu,
    op: &'static str,
    x: &Tensor,
    shape: [usize; 3],
    square: bool,
    scale: f32,
    out_shape: &[usize],
) -> Result<Tensor> {
    reduce_axes_masked(gpu, op, x, shape, square, scale, out_shape, None)
}

/// [`reduce_axes`], each output through `mask` when given.
#[allow(clippy::too_many_arguments)]
fn reduce_axes_masked(
    gpu: &Gpu,
    op: &'static str,
    x: &Tensor,
    [outer, mid, inner]: [usize; 3],
    square: bool,
    scale: f32,
    out_shape: &[usize],
    mask: Option<DropoutMask>,
) -> Result<Tensor> {
    let (kernels, keep, seed) = DropoutMask::kernels(mask);
    let out = Tensor::uninit(gpu, op, out_shape)?;
    let params = ReduceParams {
        outer: to_u32(op, outer)?,
        mid: to_u32(op, mid)?,
        inner: to_u32(op, inner)?,
        square: square as u32,
        scale,
        keep,
        seed,
    };
    let (kernel, grid) = if outer * inner <= SERIAL_LIMIT || mid >= SERIAL_LIMIT {
        (&kernels.reduce_serial, grid_1d(gpu, mid, 64))
    } else {
        (&kernels.reduce, grid_1d(gpu, mid * 64, 64))
    };
    gpu.dispatch(kernel, &params, &[x.buffer(), out.buffer()], grid)?;
    Ok(out)
}

/// Sum of all elements, as a 1-element tensor.
pub fn sum(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    reduce_axes(gpu, "sum", x, [1, 1, x.len()], false, 1.0, &[1])
}

/// Mean of all elements, as a 1-element tensor (0 for an empty tensor).
pub fn mean(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let scale = if x.is_empty() {
        0.0
    } else {
        1.0 / x.len() as f32
    };
    reduce_axes(gpu, "mean", x, [1, 1, x.len()], false, scale, &[1])
}

/// Sum of squares of all elements (for gradient norms), as a 1-element tensor.
pub fn sum_squares(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    reduce_axes(gpu, "sum_squares", x, [1, 1, x.len()], true, 1.0, &[1])
}

/// The dot product of two tensors of one shape, as a 1-element tensor.
pub fn dot(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    sum(gpu, &super::elementwise::mul(gpu, a, b)?)
}

/// The sum of 1-element tensors (e.g. per-parameter sums of squares), as one; 0 for none.
pub fn sum_scalars(gpu: &Gpu, parts: &[Tensor]) -> Result<Tensor> {
    if parts.is_empty() {
        return Tensor::zeros(gpu, &[1]);
    }
    let refs: Vec<&Tensor> = parts.iter().collect();
    sum(gpu, &Tensor::concat(gpu, &refs)?)
}

/// Per-channel sums of [N, C] or [N, C, H, W] (the bias gradient of dense and conv layers).
pub fn channel_sums(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let (n, c, inner) = super::channel_layout("channel_sums", x)?;
    reduce_axes(gpu, "channel_sums", x, [n, c, inner], false, 1.0, &[c])
}

fn expect_image(op: &'static str, x: &Tensor) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(x.shape()).map_err(|_| {
        GpuError::shape(
            op,
            format!(
                "input must be [batch, channels, height, width], got {}",
                shape_text(x.shape())
            ),
        )
    })
}

/// Global average pooling: [N, C, H, W] -> [N, C].
pub fn global_avg_pool(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    global_avg_pool_masked(gpu, x, None)
}

/// Global average pooling with inverted dropout on its output [N, C], in one pass (the
/// same bits as [`global_avg_pool`] then `elementwise::dropout` with `mask`'s keep and
/// seed).
pub fn global_avg_pool_dropout(gpu: &Gpu, x: &Tensor, mask: DropoutMask) -> Result<Tensor> {
    global_avg_pool_masked(gpu, x, Some(mask))
}

fn global_avg_pool_masked(gpu: &Gpu, x: &Tensor, mask: Option<DropoutMask>) -> Result<Tensor> {
    const OP: &str = "global_avg_pool";
    let [n, c, h, w] = expect_image(OP, x)?;
    if h * w == 0 {
        return Err(GpuError::shape(
            OP,
            format!("empty spatial size in {}", shape_text(x.shape())),
        ));
    }
    check_mask(OP, mask)?;
    reduce_axes_masked(
        gpu,
        OP,
        x,
        [1, n * c, h * w],
        false,
        1.0 / (h * w) as f32,
        &[n, c],
        mask,
    )
}

fn check_mask(op: &'static str, mask: Option<DropoutMask>) -> Result<()> {
    mask.map_or(Ok(()), |m| super::elementwise::check_keep(op, m.keep))
}

/// Backward of global average pooling: dy [N, C] -> dx of `input_shape` [N, C, H, W].
pub fn global_avg_pool_backward(gpu: &Gpu, dy: &Tensor, input_shape: &[usize]) -> Result<Tensor> {
    global_avg_pool_backward_masked(gpu, dy, input_shape, None)
}

/// Backward of [`global_avg_pool_dropout`]: dy [N, C] through the dropout's mask, spread
/// over each plane, in one pass (the same bits as the two backward passes in turn).
pub fn global_avg_pool_dropout_backward(
    gpu: &Gpu,
    dy: &Tensor,
    input_shape: &[usize],
    mask: DropoutMask,
) -> Result<Tensor> {
    global_avg_pool_backward_masked(gpu, dy, input_shape, Some(mask))
}

fn global_avg_pool_backward_masked(
    gpu: &Gpu,
    dy: &Tensor,
    input_shape: &[usize],
    mask: Option<DropoutMask>,
) -> Result<Tensor> {
    const OP: &str = "global_avg_pool_backward";
    let [n, c, h, w] = <[usize; 4]>::try_from(input_shape).map_err(|_| {
        GpuError::shape(
            OP,
            format!("input shape must be 4-D, got {}", shape_text(input_shape)),
        )
    })?;
    super::expect_shape(OP, "dy", dy, &[n, c])?;
    check_mask(OP, mask)?;
    broadcast_masked(
        gpu,
        OP,
        dy,
        [1, n * c, h * w],
        1.0 / (h * w).max(1) as f32,
        input_shape,
        mask,
    )
}

/// `out[o, m, i] = scale * src[m]` as a new tensor of `out_shape`.
fn broadcast(
    gpu: &Gpu,
    op: &'static str,
    src: &Tensor,
    shape: [usize; 3],
    scale: f32,
    out_shape: &[usize],
) -> Result<Tensor> {
    broadcast_masked(gpu, op, src, shape, scale, out_shape, None)
}

/// [`broadcast`], each `src[m]` through `mask` when given.
fn broadcast_masked(
    gpu: &Gpu,
    op: &'static str,
    src: &Tensor,
    [outer, mid, inner]: [usize; 3],
    scale: f32,
    out_shape: &[usize],
    mask: Option<DropoutMask>,
) -> Result<Tensor> {
    let (kernels, keep, seed) = DropoutMask::kernels(mask);
    let out = Tensor::uninit(gpu, op, out_shape)?;
    let params = BroadcastParams {
        outer: to_u32(op, outer)?,
        mid: to_u32(op, mid)?,
        inner: to_u32(op, inner)?,
        scale,
        keep,
        seed,
    };
    gpu.dispatch(
        &kernels.broadcast,
        &params,
        &[src.buffer(), out.buffer()],
        grid_1d(gpu, out.len(), 256),
    )?;
    Ok(out)
}

/// Mean over the rows of `x` `[rows, cols]` -> `[cols]` (the weight unit's batch mean).
pub fn mean_rows(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let (rows, cols) = super::expect_matrix("mean_rows", "input", x)?;
    reduce_axes(
        gpu,
        "mean_rows",
        x,
        [rows, cols, 1],
        false,
        1.0 / rows.max(1) as f32,
        &[cols],
    )
}

/// Backward of [`mean_rows`]: dy `[cols]` -> dx `[rows, cols]` = dy / rows.
pub fn mean_rows_backward(gpu: &Gpu, dy: &Tensor, rows: usize) -> Result<Tensor> {
    let cols = dy.len();
    broadcast(
        gpu,
        "mean_rows_backward",
        dy,
        [rows, cols, 1],
        1.0 / rows.max(1) as f32,
        &[rows, cols],
    )
}

/// Backward of [`sum`]: dy `[1]` -> a tensor of `shape` filled with dy.
pub fn sum_backward(gpu: &Gpu, dy: &Tensor, shape: &[usize]) -> Result<Tensor> {
    super::expect_shape("sum_backward", "dy", dy, &[1])?;
    broadcast(
        gpu,
        "sum_backward",
        dy,
        [1, 1, shape.iter().product()],
        1.0,
        shape,
    )
}

kernel_params! {
    struct SumRowsParams {
        rows: u32,
        cols: u32,
    }
}

/// Sum over the rows of `x` `[rows, cols]` -> `[cols]`, one invocation per column (for few
/// rows and many columns).
pub fn sum_rows(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "sum_rows";
    let (rows, cols) = super::expect_matrix(OP, "input", x)?;
    let out = Tensor::uninit(gpu, OP, &[cols])?;
    let params = SumRowsParams {
        rows: to_u32(OP, rows)?,
        cols: to_u32(OP, cols)?,
    };
    gpu.dispatch(
        &SUM_ROWS,
        &params,
        &[x.buffer(), out.buffer()],
        grid_1d(gpu, cols, 256),
    )?;
    Ok(out)
}
