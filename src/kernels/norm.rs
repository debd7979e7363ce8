//! Normalisation kernels: row-wise L2 normalisation, `y = x / max(||x||, eps)` (PyTorch's
//! `F.normalize`), and batch normalisation (statistics, apply, backward), alone, followed
//! by ReLU, or followed by ReLU and a 2x2 max pool in one pass each way.

use super::{channel_layout, expect_matrix, expect_shape, kernel, to_u32};
use crate::geometry::{Pool2dGeometry, Pool2dSpec};
use crate::gpu::{
    grid_1d, kernel_params, Binding, Gpu, GpuError, Indices, Kernel, KernelParams, Result, Tensor,
};
use crate::kernels::pool::MaxPoolOutput;

const FORWARD: Kernel = kernel!("norm/l2_forward", "row_reduce.wgsl", "norm/l2_forward.wgsl");
const BACKWARD: Kernel = kernel!(
    "norm/l2_backward",
    "row_reduce.wgsl",
    "norm/l2_backward.wgsl"
);

/// The eps of `F.normalize`.
pub const DEFAULT_EPS: f32 = 1e-12;

kernel_params! {
    struct Params {
        rows: u32,
        cols: u32,
        eps: f32,
    }
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
        &params,
        &[x.buffer(), output.buffer(), norms.buffer()],
        grid_1d(gpu, rows * 256, 256),
    )?;
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
        &params,
        &[
            forward.output.buffer(),
            forward.norms.buffer(),
            dy.buffer(),
            dx.buffer(),
        ],
        grid_1d(gpu, rows * 256, 256),
    )?;
    Ok(dx)
}

/// A kernel built twice from the same source: taking one element (or 2x2 window) per step,
/// and taking vectors of them where the sizes allow (`elem_*.wgsl`, `norm/window_step_*.wgsl`
/// supply the types). On llvmpipe every storage access costs a loop over the SIMD lanes
/// whatever its width, so the wide build does the same work with a fraction of them.
struct StepKernel {
    single: Kernel,
    wide: Kernel,
}

impl StepKernel {
    fn pick(&self, wide: bool) -> &Kernel {
        if wide {
            &self.wide
        } else {
            &self.single
        }
    }
}

/// A [`StepKernel`] from its two names, the two shims and the shader files after them.
macro_rules! step_kernel {
    ($name:literal, $wide_name:literal, [$single_shim:literal, $wide_shim:literal],
     $($file:literal),+ $(,)?) => {
        StepKernel {
            single: kernel!($name, $single_shim, $($file),+),
            wide: kernel!($wide_name, $wide_shim, $($file),+),
        }
    };
}

/// Per-channel kernels step through planes whose size is a multiple of 4 as vec4s.
fn vec4_planes(inner: usize) -> bool {
    inner % 4 == 0
}

const BN_STATS: StepKernel = step_kernel!(
    "norm/batch_norm_stats",
    "norm/batch_norm_stats#vec4",
    ["elem_f32.wgsl", "elem_vec4.wgsl"],
    "group_reduce.wgsl",
    "channel_walk.wgsl",
    "norm/batch_statistics_out.wgsl",
    "norm/batch_norm_stats.wgsl"
);
const BN_MERGE_STATS: Kernel = kernel!(
    "norm/batch_norm_merge_stats",
    "norm/batch_statistics_out.wgsl",
    "norm/batch_norm_merge_stats.wgsl"
);
const BN_APPLY: StepKernel = step_kernel!(
    "norm/batch_norm_apply",
    "norm/batch_norm_apply#vec4",
    ["elem_f32.wgsl", "elem_vec4.wgsl"],
    "channel_walk.wgsl",
    "norm/batch_norm_apply.wgsl"
);
const BN_RELU_POOL: StepKernel = step_kernel!(
    "norm/batch_norm_relu_pool",
    "norm/batch_norm_relu_pool#pairs",
    ["norm/window_step_1.wgsl", "norm/window_step_2.wgsl"],
    "channel_walk.wgsl",
    "norm/window_walk.wgsl",
    "norm/batch_norm_relu_pool.wgsl",
    "norm/window_max_pool.wgsl"
);
const MAX_POOL_2X2: StepKernel = step_kernel!(
    "pool/max_2x2",
    "pool/max_2x2#pairs",
    ["norm/window_step_1.wgsl", "norm/window_step_2.wgsl"],
    "channel_walk.wgsl",
    "norm/window_walk.wgsl",
    "pool/max_2x2.wgsl",
    "norm/window_max_pool.wgsl"
);
const BN_RELU_POOL_BACKWARD_REDUCE: StepKernel = step_kernel!(
    "norm/batch_norm_relu_pool_backward_reduce",
    "norm/batch_norm_relu_pool_backward_reduce#pairs",
    ["norm/window_step_1.wgsl", "norm/window_step_2.wgsl"],
    "group_reduce.wgsl",
    "channel_walk.wgsl",
    "norm/window_walk.wgsl",
    "norm/batch_norm_relu_pool_backward_reduce.wgsl"
);
const BN_RELU_POOL_BACKWARD_INPUT: StepKernel = step_kernel!(
    "norm/batch_norm_relu_pool_backward_input",
    "norm/batch_norm_relu_pool_backward_input#pairs",
    ["norm/window_step_1.wgsl", "norm/window_step_2.wgsl"],
    "channel_walk.wgsl",
    "norm/window_walk.wgsl",
    "norm/batch_norm_input_gradient.wgsl",
    "norm/batch_norm_relu_pool_backward_input.wgsl"
);

/// The fused kernels take two neighbouring windows per step where the pooled width is even.
fn window_pairs(g: &Pool2dGeometry) -> bool {
    g.out_w % 2 == 0
}

/// The fused kernels' grid (see [`run_grid`]) over `batch` images of `channels` channels
/// pooled as `g`: their steps per image are the plane's windows, or pairs of them.
fn window_grid(
    gpu: &Gpu,
    op: &'static str,
    g: &Pool2dGeometry,
    [batch, channels]: [usize; 2],
) -> Result<([u32; 3], u32)> {
    let per_step = if window_pairs(g) { 2 } else { 1 };
    run_grid(gpu, op, batch, channels, g.out_h * g.out_w / per_step)
}
const BN_BACKWARD_REDUCE: StepKernel = step_kernel!(
    "norm/batch_norm_backward_reduce",
    "norm/batch_norm_backward_reduce#vec4",
    ["elem_f32.wgsl", "elem_vec4.wgsl"],
    "group_reduce.wgsl",
    "channel_walk.wgsl",
    "norm/batch_norm_backward_reduce.wgsl"
);
const BN_BACKWARD_INPUT: StepKernel = step_kernel!(
    "norm/batch_norm_backward_input",
    "norm/batch_norm_backward_input#vec4",
    ["elem_f32.wgsl", "elem_vec4.wgsl"],
    "channel_walk.wgsl",
    "norm/batch_norm_input_gradient.wgsl",
    "norm/batch_norm_backward_input.wgsl"
);

/// Per-channel mean and biased variance of a batch, each `[C]`.
pub struct BatchStats {
    pub mean: Tensor,
    pub var: Tensor,
}

/// Running statistics that a training-mode batch norm moves toward the batch's.
pub struct RunningStats<'a> {
    pub mean: &'a Tensor,
    pub var: &'a Tensor,
    pub momentum: f32,
}

kernel_params! {
    struct StatsParams {
        batch: u32,
        channels: u32,
        inner: u32,
        update_running: u32,
        momentum: f32,
    }
}

/// Batch statistics of `x` [N, C(, H, W)], updating `running` in place when given.
pub fn batch_norm_stats(
    gpu: &Gpu,
    x: &Tensor,
    running: Option<RunningStats>,
) -> Result<BatchStats> {
    const OP: &str = "batch_norm_stats";
    let (n, c, inner) = channel_layout(OP, x)?;
    let params = StatsParams {
        batch: to_u32(OP, n)?,
        channels: to_u32(OP, c)?,
        inner: to_u32(OP, inner)?,
        update_running: running.is_some() as u32,
        momentum: running.as_ref().map_or(0.0, |r| r.momentum),
    };
    let kernel = BN_STATS.pick(vec4_planes(inner));
    write_batch_statistics(gpu, OP, kernel, &params, x.buffer(), c, running)
}

/// Per-channel moments of the chunks of a tensor, written by the kernel that produced it
/// (a training tape's convolutions, `conv::conv2d_for_training`), so that its batch
/// statistics need not read it again: chunk t holds `chunk` of each channel's `count`
/// elements (the last chunk what is left), and `moments` [chunks, channels, 2] their mean
/// and sum of squared deviations from it.
pub struct ChannelMoments {
    pub(crate) moments: Tensor,
    pub(crate) chunk: usize,
    pub(crate) count: usize,
}

impl ChannelMoments {
    /// Room for the moments of `channels` channels of `count` elements each, in chunks of
    /// `chunk` (the last what is left), for a kernel to write.
    pub(crate) fn uninit(gpu: &Gpu, channels: usize, chunk: usize, count: usize) -> Result<Self> {
        let chunks = count.div_ceil(chunk);
        Ok(ChannelMoments {
            moments: Tensor::uninit(gpu, "channel moments", &[chunks, channels, 2])?,
            chunk,
            count,
        })
    }
}

kernel_params! {
    struct MergeStatsParams {
        chunks: u32,
        channels: u32,
        chunk: u32,
        count: u32,
        update_running: u32,
        momentum: f32,
        first_channel: u32,
        row: u32,
    }
}

/// [`batch_norm_stats`] of a tensor from its [`ChannelMoments`]: one small pass over the
/// moments instead of one over the tensor.
pub fn batch_norm_stats_from_moments(
    gpu: &Gpu,
    m: &ChannelMoments,
    running: Option<RunningStats>,
) -> Result<BatchStats> {
    let channels = m.moments.shape().get(1).copied().unwrap_or(0);
    batch_norm_stats_from_moment_channels(gpu, m, 0..channels, running)
}

/// [`batch_norm_stats_from_moments`] of `channels` of the moments only (the tensor one
/// stack of a convolution's output: `conv::conv2d_stacked`).
pub fn batch_norm_stats_from_moment_channels(
    gpu: &Gpu,
    m: &ChannelMoments,
    channels: std::ops::Range<usize>,
    running: Option<RunningStats>,
) -> Result<BatchStats> {
    const OP: &str = "batch_norm_stats_from_moments";
    let [chunks, c, two] = m.moments.shape() else {
        return Err(GpuError::shape(
            OP,
            format!(
                "moments must be [chunks, channels, 2], got {:?}",
                m.moments.shape()
            ),
        ));
    };
    if *two != 2 || m.chunk == 0 || m.count.div_ceil(m.chunk) != *chunks {
        return Err(GpuError::shape(
            OP,
            format!(
                "moments {:?} do not hold {} elements per channel in chunks of {}",
                m.moments.shape(),
                m.count,
                m.chunk
            ),
        ));
    }
    if channels.is_empty() || channels.end > *c {
        return Err(GpuError::shape(
            OP,
            format!("channels {channels:?} of moments for {c} channels"),
        ));
    }
    let params = MergeStatsParams {
        chunks: to_u32(OP, *chunks)?,
        channels: to_u32(OP, channels.len())?,
        chunk: to_u32(OP, m.chunk)?,
        count: to_u32(OP, m.count)?,
        update_running: running.is_some() as u32,
        momentum: running.as_ref().map_or(0.0, |r| r.momentum),
        first_channel: to_u32(OP, channels.start)?,
        row: to_u32(OP, *c)?,
    };
    write_batch_statistics(
        gpu,
        OP,
        &BN_MERGE_STATS,
        &params,
        m.moments.buffer(),
        channels.len(),
        running,
    )
}

/// Runs a batch-statistics kernel, one workgroup per channel, reading `source`
/// (`norm/batch_statistics_out.wgsl` names the outputs).
fn write_batch_statistics<P: KernelParams>(
    gpu: &Gpu,
    op: &'static str,
    kernel: &Kernel,
    params: &P,
    source: Binding<'_>,
    c: usize,
    running: Option<RunningStats>,
) -> Result<BatchStats> {
    if let Some(r) = &running {
        expect_shape(op, "running mean", r.mean, &[c])?;
        expect_shape(op, "running var", r.var, &[c])?;
    }
    let mean = Tensor::uninit(gpu, op, &[c])?;
    let var = Tensor::uninit(gpu, op, &[c])?;
    // Without running statistics the kernel still binds two buffers there; scratch buffers
    // stand in (they are not written through those bindings).
    let scratch_mean = Tensor::uninit(gpu, op, &[c])?;
    let scratch_var = Tensor::uninit(gpu, op, &[c])?;
    let (running_mean, running_var) = match &running {
        Some(r) => (r.mean.buffer(), r.var.buffer()),
        None => (scratch_mean.buffer(), scratch_var.buffer()),
    };
    gpu.dispatch(
        kernel,
        params,
        &[
            source,
            mean.buffer(),
            var.buffer(),
            running_mean,
            running_var,
        ],
        grid_1d(gpu, c * 64, 64),
    )?;
    Ok(BatchStats { mean, var })
}

kernel_params! {
    struct ApplyParams {
        batch: u32,
        channels: u32,
        inner: u32,
        eps: f32,
        relu: u32,
        images_per_group: u32,
    }
}

/// Elements (or 2x2 windows) a workgroup of the per-channel kernels takes at least
/// (channel_walk.wgsl, norm/window_walk.wgsl): enough to fill its 64 lanes many times over
/// and pay for the workgroup's start on a CPU adapter, few enough to leave hundreds of
/// workgroups at the small preset's sizes.
const ITEMS_PER_GROUP: usize = 1024;

/// The grid of the per-channel kernels over a batch of `batch` images holding `per_image`
/// items of each of `channels` channels: one workgroup per channel and run of whole images,
/// and the images each run holds.
fn run_grid(
    gpu: &Gpu,
    op: &'static str,
    batch: usize,
    channels: usize,
    per_image: usize,
) -> Result<([u32; 3], u32)> {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if channels > max {
        return Err(crate::gpu::GpuError::invalid(
            op,
            format!("{channels} channels: at most {max} (the adapter's workgroup limit)"),
        ));
    }
    let images = ITEMS_PER_GROUP
        .div_ceil(per_image.max(1))
        .max(batch.div_ceil(max))
        .clamp(1, batch.max(1));
    Ok((
        [channels as u32, to_u32(op, batch.div_ceil(images))?, 1],
        to_u32(op, images)?,
    ))
}

/// Checks that the statistics and the affine parameters hold one value per channel.
fn expect_channel_vectors(
    op: &'static str,
    channels: usize,
    stats: &BatchStats,
    gamma: &Tensor,
    beta: &Tensor,
) -> Result<()> {
    for (what, t) in [
        ("mean", &stats.mean),
        ("var", &stats.var),
        ("gamma", gamma),
        ("beta", beta),
    ] {
        expect_shape(op, what, t, &[channels])?;
    }
    Ok(())
}

/// `y = (x - mean) / sqrt(var + eps) * gamma + beta`, per channel; with `relu`, `max(y, 0)`
/// in the same pass (batch norm followed by ReLU, fused).
pub fn batch_norm_apply(
    gpu: &Gpu,
    x: &Tensor,
    stats: &BatchStats,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    relu: bool,
) -> Result<Tensor> {
    const OP: &str = "batch_norm";
    let (n, c, inner) = channel_layout(OP, x)?;
    expect_channel_vectors(OP, c, stats, gamma, beta)?;
    let y = Tensor::uninit(gpu, OP, x.shape())?;
    let (grid, images_per_group) = run_grid(gpu, OP, n, c, inner)?;
    let params = ApplyParams {
        batch: to_u32(OP, n)?,
        channels: to_u32(OP, c)?,
        inner: to_u32(OP, inner)?,
        eps,
        relu: relu as u32,
        images_per_group,
    };
    gpu.dispatch(
        BN_APPLY.pick(vec4_planes(inner)),
        &params,
        &[
            x.buffer(),
            stats.mean.buffer(),
            stats.var.buffer(),
            gamma.buffer(),
            beta.buffer(),
            y.buffer(),
        ],
        grid,
    )?;
    Ok(y)
}

kernel_params! {
    struct ReluPoolParams {
        batch: u32,
        channels: u32,
        in_h: u32,
        in_w: u32,
        eps: f32,
        images_per_group: u32,
    }
}

/// The one pool the fused kernel computes: 2x2, stride 2, no padding.
const FUSED_POOL: Pool2dSpec = Pool2dSpec {
    kernel: (2, 2),
    stride: (2, 2),
    padding: (0, 0),
};

/// Whether [`batch_norm_relu_max_pool`] computes the pool `spec` over an input of `shape`:
/// the 2x2 stride-2 pool over [N, C, H, W] with H and W even.
pub fn fuses_max_pool(shape: &[usize], spec: Pool2dSpec) -> bool {
    spec == FUSED_POOL && shape.len() == 4 && shape[2] % 2 == 0 && shape[3] % 2 == 0
}

/// Checks the fused kernels' input [N, C, H, W] (H and W even) and returns its pool
/// geometry.
fn fused_pool_geometry(op: &'static str, x: &Tensor) -> Result<Pool2dGeometry> {
    let g = Pool2dGeometry::new(op, x.shape(), FUSED_POOL)?;
    if !fuses_max_pool(x.shape(), FUSED_POOL) {
        return Err(crate::gpu::GpuError::shape(
            op,
            format!(
                "the fused 2x2 pool needs an even height and width, got {}x{}",
                g.in_h, g.in_w
            ),
        ));
    }
    Ok(g)
}

/// [`batch_norm_apply`] with ReLU, then a 2x2 stride-2 max pool, in one pass over `x`
/// [N, C, H, W] (H and W even): the pool's output and argmax, as `pool::max_pool2d` of the
/// ReLU's output gives them. The ReLU's output itself is not kept: the backward pass
/// ([`batch_norm_relu_max_pool_backward`]) needs only `x` and the pool's output.
pub fn batch_norm_relu_max_pool(
    gpu: &Gpu,
    x: &Tensor,
    stats: &BatchStats,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
) -> Result<MaxPoolOutput> {
    const OP: &str = "batch_norm_relu_max_pool";
    let g = fused_pool_geometry(OP, x)?;
    let (n, c) = (g.batch, g.channels);
    expect_channel_vectors(OP, c, stats, gamma, beta)?;
    let pooled = Tensor::uninit(gpu, OP, &g.output_shape())?;
    let argmax = Indices::uninit(gpu, OP, pooled.len())?;
    let (grid, images_per_group) = window_grid(gpu, OP, &g, [g.batch, g.channels])?;
    let params = ReluPoolParams {
        batch: to_u32(OP, n)?,
        channels: to_u32(OP, c)?,
        in_h: to_u32(OP, g.in_h)?,
        in_w: to_u32(OP, g.in_w)?,
        eps,
        images_per_group,
    };
    gpu.dispatch(
        BN_RELU_POOL.pick(window_pairs(&g)),
        &params,
        &[
            x.buffer(),
            stats.mean.buffer(),
            stats.var.buffer(),
            gamma.buffer(),
            beta.buffer(),
            pooled.buffer(),
            argmax.buffer(),
        ],
        grid,
    )?;
    Ok(MaxPoolOutput {
        output: pooled,
        argmax,
    })
}

kernel_params! {
    struct WindowPoolParams {
        batch: u32,
        channels: u32,
        in_h: u32,
        in_w: u32,
        images_per_group: u32,
    }
}

/// The 2x2 stride-2 max pool of `x` [N, C, H, W] (H and W even) by the fused kernel's walk
/// without its batch norm and ReLU (each plane an image of one channel, so any number of
/// planes fills the workgroups): `pool::max_pool2d` takes it for that pool. The output and
/// argmax are its general kernel's, bit for bit; each step reads whole input rows of its
/// windows at once, where the general kernel reads one value per tap.
pub(crate) fn max_pool_2x2(gpu: &Gpu, x: &Tensor) -> Result<MaxPoolOutput> {
    const OP: &str = "max_pool2d";
    let g = fused_pool_geometry(OP, x)?;
    let planes = g.batch * g.channels;
    let pooled = Tensor::uninit(gpu, OP, &g.output_shape())?;
    let argmax = Indices::uninit(gpu, OP, pooled.len())?;
    let (grid, images_per_group) = window_grid(gpu, OP, &g, [planes, 1])?;
    let params = WindowPoolParams {
        batch: to_u32(OP, planes)?,
        channels: 1,
        in_h: to_u32(OP, g.in_h)?,
        in_w: to_u32(OP, g.in_w)?,
        images_per_group,
    };
    gpu.dispatch(
        MAX_POOL_2X2.pick(window_pairs(&g)),
        &params,
        &[x.buffer(), pooled.buffer(), argmax.buffer()],
        grid,
    )?;
    Ok(MaxPoolOutput {
        output: pooled,
        argmax,
    })
}

kernel_params! {
    struct ReluPoolBackwardReduceParams {
        batch: u32,
        channels: u32,
        in_h: u32,
        in_w: u32,
        eps: f32,
    }
}

kernel_params! {
    struct ReluPoolBackwardInputParams {
        batch: u32,
        channels: u32,
        in_h: u32,
        in_w: u32,
        eps: f32,
        count: f32,
        batch_stats: u32,
        images_per_group: u32,
    }
}

/// Backward of [`batch_norm_relu_max_pool`] for the gradient `dy` of its pooled output:
/// the same gradients as the pool's backward followed by [`batch_norm_backward`] with the
/// ReLU, without materialising the gradient at the ReLU's output (it is nonzero only at
/// each window's argmax, where the window's maximum is positive). `batch_stats` as in
/// [`batch_norm_backward`].
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_relu_max_pool_backward(
    gpu: &Gpu,
    x: &Tensor,
    pooled: &MaxPoolOutput,
    dy: &Tensor,
    stats: &BatchStats,
    gamma: &Tensor,
    eps: f32,
    batch_stats: bool,
) -> Result<BatchNormGrads> {
    const OP: &str = "batch_norm_relu_max_pool_backward";
    let g = fused_pool_geometry(OP, x)?;
    let (n, c) = (g.batch, g.channels);
    let out_shape = g.output_shape();
    expect_shape(OP, "pooled output", &pooled.output, &out_shape)?;
    expect_shape(OP, "dy", dy, &out_shape)?;
    crate::kernels::pool::expect_argmax(OP, &pooled.argmax, dy)?;
    for (what, t) in [("mean", &stats.mean), ("var", &stats.var), ("gamma", gamma)] {
        expect_shape(OP, what, t, &[c])?;
    }
    let dgamma = Tensor::uninit(gpu, OP, &[c])?;
    let dbeta = Tensor::uninit(gpu, OP, &[c])?;
    let reduce = ReluPoolBackwardReduceParams {
        batch: to_u32(OP, n)?,
        channels: to_u32(OP, c)?,
        in_h: to_u32(OP, g.in_h)?,
        in_w: to_u32(OP, g.in_w)?,
        eps,
    };
    gpu.dispatch(
        BN_RELU_POOL_BACKWARD_REDUCE.pick(window_pairs(&g)),
        &reduce,
        &[
            x.buffer(),
            dy.buffer(),
            pooled.output.buffer(),
            pooled.argmax.buffer(),
            stats.mean.buffer(),
            stats.var.buffer(),
            dgamma.buffer(),
            dbeta.buffer(),
        ],
        grid_1d(gpu, c * 64, 64),
    )?;
    let dx = Tensor::uninit(gpu, OP, x.shape())?;
    let (grid, images_per_group) = window_grid(gpu, OP, &g, [g.batch, g.channels])?;
    let params = ReluPoolBackwardInputParams {
        batch: reduce.batch,
        channels: reduce.channels,
        in_h: reduce.in_h,
        in_w: reduce.in_w,
        eps,
        count: (n * g.in_h * g.in_w) as f32,
        batch_stats: batch_stats as u32,
        images_per_group,
    };
    gpu.dispatch(
        BN_RELU_POOL_BACKWARD_INPUT.pick(window_pairs(&g)),
        &params,
        &[
            x.buffer(),
            dy.buffer(),
            pooled.output.buffer(),
            pooled.argmax.buffer(),
            stats.mean.buffer(),
            stats.var.buffer(),
            gamma.buffer(),
            dgamma.buffer(),
            dbeta.buffer(),
            dx.buffer(),
        ],
        grid,
    )?;
    Ok(BatchNormGrads {
        input: dx,
        gamma: dgamma,
        beta: dbeta,
    })
}

kernel_params! {
    struct BackwardReduceParams {
        batch: u32,
        channels: u32,
        inner: u32,
        eps: f32,
        relu: u32,
    }
}

/// Gradients of batch norm.
pub struct BatchNormGrads {
    pub input: Tensor,
    pub gamma: Tensor,
    pub beta: Tensor,
}

kernel_params! {
    struct BackwardInputParams {
        batch: u32,
        channels: u32,
        inner: u32,
        eps: f32,
        count: f32,
        batch_stats: u32,
        relu: u32,
        images_per_group: u32,
    }
}

/// Backward of [`batch_norm_apply`]. `batch_stats`: whether `stats` were the batch's own
/// (training; the gradient then flows through the mean and variance too) or fixed running
/// statistics (evaluation). `relu_output`: for the fused batch norm + ReLU, its output `y`
/// (dy is taken as 0 where y <= 0).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    stats: &BatchStats,
    gamma: &Tensor,
    eps: f32,
    batch_stats: bool,
    relu_output: Option<&Tensor>,
) -> Result<BatchNormGrads> {
    const OP: &str = "batch_norm_backward";
    let (n, c, inner) = channel_layout(OP, x)?;
    expect_shape(OP, "dy", dy, x.shape())?;
    expect_shape(OP, "gamma", gamma, &[c])?;
    if let Some(y) = relu_output {
        expect_shape(OP, "ReLU output", y, x.shape())?;
    }
    // Without the ReLU, dy stands in for the unread mask binding.
    let mask = relu_output.unwrap_or(dy);
    let dgamma = Tensor::uninit(gpu, OP, &[c])?;
    let dbeta = Tensor::uninit(gpu, OP, &[c])?;
    let reduce = BackwardReduceParams {
        batch: to_u32(OP, n)?,
        channels: to_u32(OP, c)?,
        inner: to_u32(OP, inner)?,
        eps,
        relu: relu_output.is_some() as u32,
    };
    gpu.dispatch(
        BN_BACKWARD_REDUCE.pick(vec4_planes(inner)),
        &reduce,
        &[
            x.buffer(),
            dy.buffer(),
            mask.buffer(),
            stats.mean.buffer(),
            stats.var.buffer(),
            dgamma.buffer(),
            dbeta.buffer(),
        ],
        grid_1d(gpu, c * 64, 64),
    )?;
    let dx = Tensor::uninit(gpu, OP, x.shape())?;
    let (grid, images_per_group) = run_grid(gpu, OP, n, c, inner)?;
    let params = BackwardInputParams {
        batch: reduce.batch,
        channels: reduce.channels,
        inner: reduce.inner,
        eps,
        count: (n * inner) as f32,
        batch_stats: batch_stats as u32,
        relu: reduce.relu,
        images_per_group,
    };
    gpu.dispatch(
        BN_BACKWARD_INPUT.pick(vec4_planes(inner)),
        &params,
        &[
            x.buffer(),
            dy.buffer(),
            mask.buffer(),
            stats.mean.buffer(),
            stats.var.buffer(),
            gamma.buffer(),
            dgamma.buffer(),
            dbeta.buffer(),
            dx.buffer(),
        ],
        grid,
    )?;
    Ok(BatchNormGrads {
        input: dx,
        gamma: dgamma,
        beta: dbeta,
    })
}
