//! 2-D convolution as implicit GEMM: forward, backward-data and backward-weight are the
//! same GEMM core (`kernels::gemm`) with im2col-style loaders, so no im2col buffer is ever
//! materialised.

use super::gemm::{self, gemm_kernel, GemmKernel};
use super::norm::ChannelMoments;
use super::plan::{self, Epilogue, Operands};
use super::texel_gemm::{
    self, texel_gemm_kernel, Core, PackLayout, TexelGemmKernel, CHANNELS_PER_TEXEL,
};
use super::{expect_shape, kernel, reduce, to_u32};
use crate::geometry::{Conv2dGeometry, Conv2dSpec, MAX_STACKED_CHANNELS};
use crate::gpu::{grid_1d, kernel_params, Binding, Gpu, GpuError, Kernel, Result, Tensor, Texels};

static FORWARD: GemmKernel = gemm_kernel!(
    "gemm/conv_forward",
    "gemm/operands_storage.wgsl",
    "gemm/conv_params.wgsl",
    "gemm/conv_forward.wgsl",
    "gemm/conv_forward_no_bias.wgsl"
);
static FORWARD_BIAS: GemmKernel = gemm_kernel!(
    "gemm/conv_forward_bias",
    "gemm/operands_storage.wgsl",
    "gemm/conv_params.wgsl",
    "gemm/conv_forward.wgsl",
    "gemm/conv_forward_bias.wgsl"
);
static FORWARD_MOMENTS: GemmKernel = gemm_kernel!(
    moments "gemm/conv_forward_moments",
    "gemm/operands_storage.wgsl",
    "gemm/conv_params.wgsl",
    "gemm/conv_forward.wgsl",
    "gemm/conv_forward_no_bias.wgsl",
    "gemm/conv_forward_moments.wgsl"
);
static BACKWARD_DATA_PHASE: GemmKernel = gemm_kernel!(
    "gemm/conv_backward_data_phase",
    "gemm/operands_storage.wgsl",
    "gemm/conv_params.wgsl",
    "gemm/conv_backward_data_phase.wgsl"
);
static BACKWARD_DATA_UNIT_STRIDE: GemmKernel = gemm_kernel!(
    "gemm/conv_backward_data_unit_stride",
    "gemm/operands_storage.wgsl",
    "gemm/conv_params.wgsl",
    "gemm/conv_backward_data.wgsl",
    "gemm/conv_backward_data_unit_stride.wgsl"
);
static BACKWARD_WEIGHT: GemmKernel = gemm_kernel!(
    "gemm/conv_backward_weight",
    "gemm/operands_storage.wgsl",
    "gemm/conv_params.wgsl",
    "gemm/conv_backward_weight.wgsl"
);

static TEXEL_FORWARD: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/conv_forward",
    Core::PackedK,
    "gemm/conv_params.wgsl",
    "gemm/conv_forward.wgsl",
    "gemm/conv_forward_no_bias.wgsl"
);
static TEXEL_FORWARD_BIAS: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/conv_forward_bias",
    Core::PackedK,
    "gemm/conv_params.wgsl",
    "gemm/conv_forward.wgsl",
    "gemm/conv_forward_bias.wgsl"
);
static TEXEL_FORWARD_MOMENTS: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/conv_forward_moments",
    Core::PackedKWithMoments,
    "gemm/conv_params.wgsl",
    "gemm/conv_forward.wgsl",
    "gemm/conv_forward_no_bias.wgsl",
    "gemm/conv_forward_moments.wgsl"
);
static TEXEL_BACKWARD_DATA_PHASE: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/conv_backward_data_phase",
    Core::PackedK,
    "gemm/conv_params.wgsl",
    "gemm/conv_backward_data_phase.wgsl"
);
static TEXEL_BACKWARD_DATA_UNIT_STRIDE: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/conv_backward_data_unit_stride",
    Core::PackedK,
    "gemm/conv_params.wgsl",
    "gemm/conv_backward_data.wgsl",
    "gemm/conv_backward_data_unit_stride.wgsl"
);
static TEXEL_BACKWARD_WEIGHT: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/conv_backward_weight",
    Core::Outer,
    "gemm/conv_params.wgsl",
    "gemm/conv_backward_weight.wgsl"
);

const SINGLE_CHANNEL_FORWARD: Kernel = kernel!(
    "conv/single_channel_forward",
    "conv/single_channel_window.wgsl",
    "conv/single_channel_forward.wgsl",
    "conv/single_channel_forward_main.wgsl"
);
const SINGLE_CHANNEL_FORWARD_MOMENTS: Kernel = kernel!(
    "conv/single_channel_forward_moments",
    "conv/single_channel_window.wgsl",
    "conv/single_channel_forward.wgsl",
    "conv/single_channel_forward_moments.wgsl"
);

/// Invocations per workgroup of the moments variant: one subgroup, one chunk of moments.
pub(super) const SINGLE_CHANNEL_MOMENTS_LANES: usize = 8;

const SINGLE_CHANNEL_BACKWARD_WEIGHT: Kernel = kernel!(
    "conv/single_channel_backward_weight",
    "conv/single_channel_window.wgsl",
    "conv/single_channel_backward_weight.wgsl"
);

kernel_params! {
    struct SingleChannelWeightParams {
        batch: u32,
        out_c: u32,
        h: u32,
        w: u32,
        row_lanes: u32,
    }
}

/// Output channels the single-channel weight-gradient kernel takes per pass.
pub(super) const SINGLE_CHANNEL_WEIGHT_CHANNELS: usize = 8;

/// Invocations the single-channel weight-gradient kernel aims for: enough to keep a CPU's
/// threads busy, few enough that adding their partial sums is cheap.
const SINGLE_CHANNEL_WEIGHT_LANES: usize = 512;

kernel_params! {
    struct SingleChannelParams {
        batch: u32,
        out_c: u32,
        h: u32,
        w: u32,
        has_bias: u32,
    }
}

/// Filters (and biases, from [`SINGLE_CHANNEL_BIAS_AT`]) the single-channel kernel holds in
/// its uniform buffer, in floats: the shader's `weights` array (144 vec4s) and `BIAS_AT`.
const SINGLE_CHANNEL_UNIFORM_FLOATS: usize = 576;
pub(super) const SINGLE_CHANNEL_BIAS_AT: usize = 512;

/// The first layer's convolution by `conv/single_channel_forward.wgsl` (same bits as the
/// GEMM path): the filters and biases go to a small uniform buffer first. With
/// `with_moments` (planned where the device's subgroups have 8 lanes), the output's
/// per-channel moments by chunks of 32 too.
fn conv2d_single_channel(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &Conv2dGeometry,
    y: &Tensor,
    with_moments: bool,
) -> Result<Option<ChannelMoments>> {
    const OP: &str = "conv2d";
    let uniform = gpu.buffer(
        4 * SINGLE_CHANNEL_UNIFORM_FLOATS as u64,
        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    );
    gpu.record(|encoder| {
        let filters = w.buffer();
        let bytes = 4 * w.len() as u64;
        encoder.copy_buffer_to_buffer(filters.buffer, filters.offset, uniform.buffer(), 0, bytes);
        if let Some(bias) = bias {
            let b = bias.buffer();
            encoder.copy_buffer_to_buffer(
                b.buffer,
                b.offset,
                uniform.buffer(),
                4 * SINGLE_CHANNEL_BIAS_AT as u64,
                4 * bias.len() as u64,
            );
        }
    });
    let p = SingleChannelParams {
        batch: to_u32(OP, g.batch)?,
        out_c: to_u32(OP, g.out_c)?,
        h: to_u32(OP, g.in_h)?,
        w: to_u32(OP, g.in_w)?,
        has_bias: bias.is_some() as u32,
    };
    let quads = g.batch * g.in_h * g.in_w / 4;
    let mut bindings = vec![
        x.buffer(),
        x.buffer(),
        Binding::whole(uniform.buffer()),
        y.buffer(),
    ];
    if !with_moments {
        gpu.dispatch(
            &SINGLE_CHANNEL_FORWARD,
            &p,
            &bindings,
            grid_1d(gpu, quads, 64),
        )?;
        return Ok(None);
    }
    // A workgroup's chunk: its lanes' four pixels each.
    let lanes = SINGLE_CHANNEL_MOMENTS_LANES;
    let moments = ChannelMoments::uninit(gpu, g.out_c, 4 * lanes, 4 * quads)?;
    bindings.push(moments.moments.buffer());
    let grid = grid_1d(gpu, quads, lanes as u32);
    gpu.dispatch(&SINGLE_CHANNEL_FORWARD_MOMENTS, &p, &bindings, grid)?;
    Ok(Some(moments))
}

kernel_params! {
    struct Params {
        m: u32,
        n: u32,
        k: u32,
        in_c: u32,
        in_h: u32,
        in_w: u32,
        out_c: u32,
        out_h: u32,
        out_w: u32,
        kernel_h: u32,
        kernel_w: u32,
        stride_h: u32,
        stride_w: u32,
        pad_top: u32,
        pad_left: u32,
        k_total: u32,
        out_stack: u32,
        stack_stride: u32,
        phase_rows: u32,
        phase_cols: u32,
        first_y: u32,
        first_x: u32,
        base_oh: u32,
        base_ow: u32,
        tap0_h: u32,
        tap0_w: u32,
        taps_h: u32,
        taps_w: u32,
    }
}

fn params(op: &'static str, g: &Conv2dGeometry, [m, n, k]: [usize; 3]) -> Result<Params> {
    if g.out_c >= MAX_STACKED_CHANNELS {
        return Err(GpuError::invalid(
            op,
            format!(
                "{} output channels: the kernels place channels exactly below {MAX_STACKED_CHANNELS}",
                g.out_c
            ),
        ));
    }
    Ok(Params {
        m: to_u32(op, m)?,
        n: to_u32(op, n)?,
        k: to_u32(op, k)?,
        in_c: to_u32(op, g.in_c)?,
        in_h: to_u32(op, g.in_h)?,
        in_w: to_u32(op, g.in_w)?,
        out_c: to_u32(op, g.out_c)?,
        out_h: to_u32(op, g.out_h)?,
        out_w: to_u32(op, g.out_w)?,
        kernel_h: to_u32(op, g.kernel_h)?,
        kernel_w: to_u32(op, g.kernel_w)?,
        stride_h: to_u32(op, g.stride_h)?,
        stride_w: to_u32(op, g.stride_w)?,
        pad_top: to_u32(op, g.pad_top)?,
        pad_left: to_u32(op, g.pad_left)?,
        k_total: to_u32(op, k)?,
        out_stack: to_u32(op, g.stack_channels())?,
        stack_stride: to_u32(op, g.batch * g.stack_channels() * g.out_h * g.out_w)?,
        phase_rows: 0,
        phase_cols: 0,
        first_y: 0,
        first_x: 0,
        base_oh: 0,
        base_ow: 0,
        tap0_h: 0,
        tap0_w: 0,
        taps_h: 0,
        taps_w: 0,
    })
}

/// One axis of a stride phase `phase` (0 <= phase < stride): the input indices i with
/// (i + pad) % stride == phase are `first`, `first + stride`, ... (`count` of them, of
/// `len`); only the taps `phase`, `phase + stride`, ... (`taps` of them, of `kernel`)
/// reach them, tap `phase + stride t` of index `first + stride a` from output `base + a - t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PhaseAxis {
    first: usize,
    count: usize,
    base: usize,
    taps: usize,
}

impl PhaseAxis {
    fn new(len: usize, pad: usize, stride: usize, kernel: usize, phase: usize) -> PhaseAxis {
        let first = (phase + stride - pad % stride) % stride;
        PhaseAxis {
            first,
            count: if first < len {
                (len - 1 - first) / stride + 1
            } else {
                0
            },
            // first + pad >= phase: first + pad is the least value >= pad in phase's class.
            base: (first + pad - phase) / stride,
            taps: if phase < kernel {
                (kernel - 1 - phase) / stride + 1
            } else {
                0
            },
        }
    }
}

/// `p` for a texel-path backward pass, whose dy the packing has unstacked: one stack.
fn unstacked(mut p: Params, g: &Conv2dGeometry) -> Params {
    p.out_stack = p.out_c;
    p.stack_stride = (g.batch * g.out_c.div_ceil(CHANNELS_PER_TEXEL) * g.out_h * g.out_w) as u32;
    p
}

/// Convolution of `x` `[N, Ci, H, W]` with `w` `[Co, Ci, KH, KW]` plus `bias` `[Co]`:
/// output [N, Co, OH, OW].
pub fn conv2d(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: Conv2dSpec,
) -> Result<Tensor> {
    let g = Conv2dGeometry::new(x.shape(), w.shape(), spec)?;
    forward(gpu, x, w, bias, &g, false).map(|f| f.y)
}

/// What a texel-path training convolution's forward pass packed four channels deep that
/// its backward passes read in the same layout: x, which backward-weight reads as the
/// forward pass did, and, where backward-data takes the texel path too, the filters by
/// output channel, packed in the same dispatch as the forward's by input channel. A tape
/// that keeps this spares the backward pass a packing of x and one of the filters.
pub struct PackedOperands {
    x: Texels,
    filters_by_output: Option<Texels>,
}

/// A training tape's convolution: the output and what the kernels computed on the way
/// that later passes would otherwise compute again.
pub struct TrainingConv {
    pub y: Tensor,
    /// What the texel path packed for the backward passes.
    pub packed: Option<PackedOperands>,
    /// The output's per-channel moments by tile (without bias; all but the first layer's
    /// kernel on devices whose subgroups are not 8 lanes), for the batch norm that
    /// follows.
    pub moments: Option<ChannelMoments>,
}

/// [`conv2d`], also returning what a training step's later passes can use.
pub fn conv2d_for_training(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: Conv2dSpec,
) -> Result<TrainingConv> {
    let g = Conv2dGeometry::new(x.shape(), w.shape(), spec)?;
    forward(gpu, x, w, bias, &g, true)
}

/// Convolution of `x` [N, Ci, H, W] with `w` [Co, Ci, KH, KW], no bias, its output stored
/// in `g.out_stacks` stacks ([`Conv2dGeometry::with_output_stacks`]; `g` from x, w and
/// the spec): [stacks, N, Co / stacks, OH, OW]. With `training`, also what the backward
/// pass and a batch norm can use, as [`conv2d_for_training`].
pub fn conv2d_stacked(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    g: &Conv2dGeometry,
    training: bool,
) -> Result<TrainingConv> {
    const OP: &str = "conv2d_stacked";
    expect_shape(OP, "input", x, &g.input_shape())?;
    expect_shape(OP, "weight", w, &g.weight_shape())?;
    forward(gpu, x, w, None, g, training)
}

fn forward(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &Conv2dGeometry,
    training: bool,
) -> Result<TrainingConv> {
    const OP: &str = "conv2d";
    let g = *g;
    if let Some(bias) = bias {
        expect_shape(OP, "bias", bias, &[g.out_c])?;
    }
    let y = Tensor::uninit(gpu, OP, &g.stored_output_shape())?;
    // Moments of the outputs as stored, so without a bias (the GEMM cores add it in
    // their stores, after the moments' accumulators).
    let plan = plan::conv_forward(gpu, &g, bias.is_some(), training);
    let with_moments = plan.epilogue == Epilogue::Moments;
    if plan.operands == Operands::FirstLayer {
        let moments = conv2d_single_channel(gpu, x, w, bias, &g, &y, with_moments)?;
        return Ok(TrainingConv {
            y,
            packed: None,
            moments,
        });
    }
    let (m, n, k) = (plan.m, plan.n, plan.k);
    let packed = match plan.texels() {
        true => {
            // A training pass packs the filters for backward-data too, in the same
            // dispatch, where that pass will read texels.
            let both_ways = training
                && plan::conv_backward_data_reads_texels(gpu, &g)
                && texel_gemm::packs_filters_both_ways(gpu, g.weight_shape());
            let (a, by_output) = match both_ways {
                true => {
                    let (a, by_output) = texel_gemm::pack_filters_both_ways(gpu, w)?;
                    (a, Some(by_output))
                }
                false => {
                    let filters = PackLayout::filters_by_input(g.weight_shape());
                    (texel_gemm::pack(gpu, "conv2d filters", w, filters)?, None)
                }
            };
            let input = PackLayout::nchw(g.input_shape());
            let b = texel_gemm::pack(gpu, "conv2d input", x, input)?;
            Some((a, b, by_output))
        }
        false => None,
    };
    let (kernel, operands) = match &packed {
        Some((a, b, _)) => {
            let variant = match plan.epilogue {
                Epilogue::Moments => &TEXEL_FORWARD_MOMENTS,
                Epilogue::Bias => &TEXEL_FORWARD_BIAS,
                Epilogue::Store => &TEXEL_FORWARD,
            };
            (variant.for_plan(&plan), [a.resource(), b.resource()])
        }
        None => {
            let variant = match plan.epilogue {
                Epilogue::Moments => &FORWARD_MOMENTS,
                Epilogue::Bias => &FORWARD_BIAS,
                Epilogue::Store => &FORWARD,
            };
            (variant.for_plan(&plan), [w.resource(), x.resource()])
        }
    };
    let p = params(OP, &g, [m, n, k])?;
    let shape = plan.tile();
    let grid = gemm::grid(gpu, OP, shape, m, n, 1)?;
    let moments = match with_moments {
        // A workgroup's chunk: its tile's columns.
        true => Some(ChannelMoments::uninit(gpu, m, shape.tile_n(), n)?),
        false => None,
    };
    // Binding 4: the bias or the moments; with_moments implies no bias.
    let mut resources = vec![operands[0], operands[1], y.resource()];
    if let Some(b) = bias {
        resources.push(b.resource());
    }
    if let Some(mo) = &moments {
        resources.push(mo.moments.resource());
    }
    gpu.dispatch_resources(&kernel, &p, &resources, grid)?;
    Ok(TrainingConv {
        y,
        packed: packed
            .filter(|_| training)
            .map(|(_, x, filters_by_output)| PackedOperands {
                x,
                filters_by_output,
            }),
        moments,
    })
}

/// Gradient w.r.t. the input: dy [N, Co, OH, OW] -> dx [N, Ci, H, W].
pub fn conv2d_backward_input(
    gpu: &Gpu,
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeometry,
) -> Result<Tensor> {
    backward_input(gpu, &OutputGradient::new(dy), w, None, g)
}

/// A convolution's output gradient dy and, once a texel-path pass has asked for it, dy
/// packed four channels deep: the two backward passes share the packing.
struct OutputGradient<'a> {
    dy: &'a Tensor,
    packed: std::cell::OnceCell<Texels>,
}

impl<'a> OutputGradient<'a> {
    fn new(dy: &'a Tensor) -> Self {
        OutputGradient {
            dy,
            packed: std::cell::OnceCell::new(),
        }
    }

    fn packed(&self, gpu: &Gpu, g: &Conv2dGeometry) -> Result<&Texels> {
        if self.packed.get().is_none() {
            let layout = PackLayout::conv_output(g);
            let texels = texel_gemm::pack(gpu, "conv2d output gradient", self.dy, layout)?;
            let _ = self.packed.set(texels);
        }
        Ok(self.packed.get().expect("set above"))
    }
}

/// `packed_filters`: w packed by output channel by the forward pass, if it was.
fn backward_input(
    gpu: &Gpu,
    gradient: &OutputGradient<'_>,
    w: &Tensor,
    packed_filters: Option<&Texels>,
    g: &Conv2dGeometry,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_input";
    let dy = gradient.dy;
    expect_shape(OP, "dy", dy, &g.stored_output_shape())?;
    expect_shape(OP, "weight", w, &g.weight_shape())?;
    let dx = Tensor::uninit(gpu, OP, &g.input_shape())?;
    let texels = plan::conv_backward_data_reads_texels(gpu, g);
    let repacked;
    let operands = match texels {
        true => {
            let a = match packed_filters {
                Some(texels) => texels,
                None => {
                    let filters = PackLayout::filters_by_output(g.weight_shape());
                    repacked = texel_gemm::pack(gpu, "conv2d filters", w, filters)?;
                    &repacked
                }
            };
            [
                a.resource(),
                gradient.packed(gpu, g)?.resource(),
                dx.resource(),
            ]
        }
        false => [w.resource(), dy.resource(), dx.resource()],
    };
    let params_for = |mnk: [usize; 3]| -> Result<Params> {
        let p = params(OP, g, mnk)?;
        Ok(if texels { unstacked(p, g) } else { p })
    };
    if g.stride_h == 1 && g.stride_w == 1 {
        let plan = plan::conv_backward_data(gpu, g);
        let kernel = match texels {
            true => TEXEL_BACKWARD_DATA_UNIT_STRIDE.for_plan(&plan),
            false => BACKWARD_DATA_UNIT_STRIDE.for_plan(&plan),
        };
        let grid = gemm::grid(gpu, OP, plan.tile(), plan.m, plan.n, 1)?;
        gpu.dispatch_resources(
            &kernel,
            &params_for([plan.m, plan.n, plan.k])?,
            &operands,
            grid,
        )?;
        return Ok(dx);
    }
    // Strided: one GEMM per stride phase, each writing its own input pixels (together all
    // of them), so no tap is walked that cannot reach the pixel.
    let channels = match texels {
        true => g.out_c.div_ceil(CHANNELS_PER_TEXEL),
        false => g.out_c,
    };
    for phase_y in 0..g.stride_h {
        for phase_x in 0..g.stride_w {
            let y = PhaseAxis::new(g.in_h, g.pad_top, g.stride_h, g.kernel_h, phase_y);
            let x = PhaseAxis::new(g.in_w, g.pad_left, g.stride_w, g.kernel_w, phase_x);
            let n = g.batch * y.count * x.count;
            if n == 0 {
                continue;
            }
            let k = channels * y.taps * x.taps;
            let plan = plan::conv_backward_data_phase(gpu, g, texels, [n, k]);
            let mut p = params_for([plan.m, n, k])?;
            p.phase_rows = to_u32(OP, y.count)?;
            p.phase_cols = to_u32(OP, x.count)?;
            p.first_y = to_u32(OP, y.first)?;
            p.first_x = to_u32(OP, x.first)?;
            p.base_oh = to_u32(OP, y.base)?;
            p.base_ow = to_u32(OP, x.base)?;
            p.tap0_h = to_u32(OP, phase_y)?;
            p.tap0_w = to_u32(OP, phase_x)?;
            p.taps_h = to_u32(OP, y.taps)?;
            p.taps_w = to_u32(OP, x.taps)?;
            let kernel = match texels {
                true => TEXEL_BACKWARD_DATA_PHASE.for_plan(&plan),
                false => BACKWARD_DATA_PHASE.for_plan(&plan),
            };
            let grid = gemm::grid(gpu, OP, plan.tile(), plan.m, n, 1)?;
            gpu.dispatch_resources(&kernel, &p, &operands, grid)?;
        }
    }
    Ok(dx)
}

/// Workgroups that keep the device busy: 64 on a GPU; 8 on a software adapter, whose
/// threads are the CPU's cores, which spares partial-sum passes (small/32: three of the
/// four texel-path layers unsplit, `sum_rows` 0.6 ms per step on 2 cores against 4.4 with
/// 64). A constant, not one per core, so that every CPU machine sums the
/// weight gradients in the same order and a run gives the same figures on each.
fn workgroups_to_fill(gpu: &Gpu) -> usize {
    match gpu.is_software() {
        true => 8,
        false => 64,
    }
}

/// How many slices to split a backward-weight GEMM's K into: enough workgroups to fill
/// the device, slices of at least a few hundred terms.
fn k_splits(target_workgroups: usize, tiles: usize, k: usize) -> usize {
    const MIN_CHUNK: usize = 256;
    target_workgroups
        .div_ceil(tiles)
        .clamp(1, (k / MIN_CHUNK).max(1))
}

/// Gradient w.r.t. the weight: sums over the batch into dw [Co, Ci, KH, KW]. K (batch x
/// output pixels) is split over workgroups and the partial sums are added afterwards.
pub fn conv2d_backward_weight(
    gpu: &Gpu,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeometry,
) -> Result<Tensor> {
    backward_weight(gpu, &OutputGradient::new(dy), x, None, g)
}

fn backward_weight(
    gpu: &Gpu,
    gradient: &OutputGradient<'_>,
    x: &Tensor,
    packed_x: Option<&Texels>,
    g: &Conv2dGeometry,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    let dy = gradient.dy;
    expect_shape(OP, "dy", dy, &g.stored_output_shape())?;
    expect_shape(OP, "input", x, &g.input_shape())?;
    let plan = plan::conv_backward_weight(gpu, g);
    if plan.operands == Operands::FirstLayer {
        return backward_weight_single_channel(gpu, dy, x, g);
    }
    let taps = g.kernel_h * g.kernel_w;
    let (m, n, k) = (plan.m, plan.n, plan.k);
    let repacked;
    let packed = if plan.texels() {
        let b = match packed_x {
            Some(texels) => texels,
            None => {
                let input = PackLayout::nchw(g.input_shape());
                repacked = texel_gemm::pack(gpu, "conv2d input", x, input)?;
                &repacked
            }
        };
        Some((gradient.packed(gpu, g)?, b))
    } else {
        None
    };
    let kernel = match packed {
        Some(_) => TEXEL_BACKWARD_WEIGHT.for_plan(&plan),
        None => BACKWARD_WEIGHT.for_plan(&plan),
    };
    let shape = plan.tile();
    let tiles = m.div_ceil(shape.tile_m()) * n.div_ceil(shape.tile_n());
    let splits = k_splits(workgroups_to_fill(gpu), tiles, k);
    let chunk = match packed {
        Some(_) => k
            .div_ceil(splits)
            .next_multiple_of(texel_gemm::OUTER_K_STEP),
        None => k.div_ceil(splits),
    };
    let mut p = params(OP, g, [m, n, chunk])?;
    if packed.is_some() {
        p = unstacked(p, g);
    }
    p.k_total = to_u32(OP, k)?;
    let grid = gemm::grid(gpu, OP, shape, m, n, splits)?;
    let partial = Tensor::uninit(gpu, OP, &[splits, m * taps * g.in_c])?;
    let operands = match &packed {
        Some((a, b)) => [a.resource(), b.resource(), partial.resource()],
        None => [dy.resource(), x.resource(), partial.resource()],
    };
    gpu.dispatch_resources(&kernel, &p, &operands, grid)?;
    // With K unsplit the one partial sum is the gradient.
    let dw = match splits {
        1 => partial,
        _ => reduce::sum_rows(gpu, &partial)?,
    };
    dw.reshape(&g.weight_shape())
}

/// The first layer's weight gradient by `conv/single_channel_backward_weight.wgsl`: each
/// invocation sums one quad column over a share of the rows into its own partial row, and
/// the rows are added afterwards.
fn backward_weight_single_channel(
    gpu: &Gpu,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeometry,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    let quads = g.in_w / 4;
    let rows = g.batch * g.in_h;
    let row_lanes = (SINGLE_CHANNEL_WEIGHT_LANES / quads).clamp(1, rows);
    let lanes = quads * row_lanes;
    let p = SingleChannelWeightParams {
        batch: to_u32(OP, g.batch)?,
        out_c: to_u32(OP, g.out_c)?,
        h: to_u32(OP, g.in_h)?,
        w: to_u32(OP, g.in_w)?,
        row_lanes: to_u32(OP, row_lanes)?,
    };
    let partial = Tensor::uninit(gpu, OP, &[lanes, g.out_c * 9])?;
    gpu.dispatch(
        &SINGLE_CHANNEL_BACKWARD_WEIGHT,
        &p,
        &[x.buffer(), x.buffer(), dy.buffer(), partial.buffer()],
        grid_1d(gpu, lanes, 64),
    )?;
    reduce::sum_rows(gpu, &partial)?.reshape(&g.weight_shape())
}

/// Gradients of [`conv2d`].
pub struct Conv2dGrads {
    pub input: Tensor,
    pub weight: Tensor,
    pub bias: Tensor,
}

/// All three gradients of [`conv2d`] for upstream gradient `dy`.
pub fn conv2d_backward(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    spec: Conv2dSpec,
) -> Result<Conv2dGrads> {
    let g = Conv2dGeometry::new(x.shape(), w.shape(), spec)?;
    let (input, weight) = conv2d_backward_input_and_weight(gpu, dy, x, None, w, &g, true, true)?;
    Ok(Conv2dGrads {
        input: input.expect("asked for"),
        weight: weight.expect("asked for"),
        bias: reduce::channel_sums(gpu, dy)?,
    })
}

/// The input and the weight gradient for upstream gradient `dy`, each only where asked for
/// (`None` otherwise); on the texel path dy is packed once for both, and x and the
/// filters not at all when `packed` (from [`conv2d_for_training`] or [`conv2d_stacked`]
/// on the same x and w) holds them.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_input_and_weight(
    gpu: &Gpu,
    dy: &Tensor,
    x: &Tensor,
    packed: Option<&PackedOperands>,
    w: &Tensor,
    g: &Conv2dGeometry,
    input: bool,
    weight: bool,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let gradient = OutputGradient::new(dy);
    let dx = match input {
        true => {
            let filters = packed.and_then(|p| p.filters_by_output.as_ref());
            Some(backward_input(gpu, &gradient, w, filters, g)?)
        }
        false => None,
    };
    let dw = match weight {
        true => Some(backward_weight(gpu, &gradient, x, packed.map(|p| &p.x), g)?),
        false => None,
    };
    Ok((dx, dw))
}
