//! Software adapters' convolutions with A and B gathered from texel arrays instead of
//! storage buffers. On llvmpipe every storage load runs a loop over the SIMD lanes that
//! passes each lane's value through memory (a store-forwarding stall per lane), and those
//! loads were two thirds of the storage GEMM's time; a texel fetch is an unrolled gather
//! that brings four floats (BENCHMARKS.md, "Texel operands on software adapters"). So each operand is first packed four
//! channels deep into a texel array (`shaders/texels/pack_c4.wgsl`, one pass over it), and
//! the GEMM reads a texel where it read a float. Which GEMMs read texels, and with which
//! tile, is decided in [`plan`](super::plan).
//!
//! The loaders are the storage GEMM's own (`shaders/gemm/conv_*.wgsl`) built with
//! `gemm/operands_texels.wgsl` instead of `gemm/operands_storage.wgsl`, so the geometry is
//! written once. Two cores, both with A shared through subgroups of 8 like the storage
//! core's software tiles:
//! - packed K (forward, backward-data): one K step is one texel, four channels of one tap,
//!   for A's row and B's column alike; each accumulator takes four multiply-adds.
//! - outer product (backward-weight, whose K runs over pixels): one K step is one pixel; a
//!   texel of A is four rows (output channels), one of B four columns (input channels of
//!   one tap), and the 8 lanes' A texels are the tile's 32 rows.

use std::sync::OnceLock;

use super::gemm::{self, TileShape, NARROW_COLUMNS, SHORT_ROWS};
use super::plan::GemmPlan;
use super::{kernel, kernel_source, to_u32};
use crate::geometry::Conv2dGeometry;
use crate::gpu::{
    kernel_params, shape_text, Gpu, GpuError, Kernel, Resource, Result, Tensor, Texels,
};

const PACK_C4: Kernel = kernel!("texels/pack_c4", "texels/pack_c4.wgsl");
const PACK_FILTERS_C4: Kernel = kernel!("texels/pack_filters_c4", "texels/pack_filters_c4.wgsl");

kernel_params! {
    struct PackParams {
        c: u32,
        c4: u32,
        plane: u32,
        stride_n: u32,
        stride_c: u32,
        stride_pixel: u32,
        stack_channels: u32,
        stride_stack: u32,
    }
}

kernel_params! {
    struct PackFiltersParams {
        co: u32,
        ci: u32,
        ci4: u32,
        taps: u32,
    }
}

/// Channels per texel.
pub(crate) const CHANNELS_PER_TEXEL: usize = 4;

/// Pack invocations per workgroup (`shaders/texels/pack_c4.wgsl`).
const PACK_GROUP: usize = 64;

/// A tensor's data seen as a 3-D array (n, c, pixels), to be packed four channels deep:
/// texel (n * c4 + q) * pixels + i holds channels 4q .. 4q + 3 at (n, i).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackLayout {
    /// n, c, pixels per plane.
    pub dims: [usize; 3],
    /// Elements between neighbouring n, c and pixels (within a stack).
    pub strides: [usize; 3],
    /// Channels per stack and elements between stacks: channel s * stack[0] + j is at
    /// s * stack[1] + j * strides[1] (a stacked convolution output, see
    /// `Conv2dGeometry::with_output_stacks`; one stack holds every channel).
    pub stack: [usize; 2],
}

impl PackLayout {
    /// An NCHW activation.
    pub(crate) fn nchw([n, c, h, w]: [usize; 4]) -> PackLayout {
        PackLayout {
            dims: [n, c, h * w],
            strides: [c * h * w, h * w, 1],
            stack: [c, 0],
        }
    }

    /// A convolution's output (or its gradient) as stored, in its stacks.
    pub(crate) fn conv_output(g: &Conv2dGeometry) -> PackLayout {
        let (plane, per) = (g.out_h * g.out_w, g.stack_channels());
        PackLayout {
            dims: [g.batch, g.out_c, plane],
            strides: [per * plane, plane, 1],
            stack: [per, g.batch * per * plane],
        }
    }

    /// Filters [co, ci, kh, kw] packed by input channel: texel (co, q, tap), as the forward
    /// loaders read them.
    pub(crate) fn filters_by_input([co, ci, kh, kw]: [usize; 4]) -> PackLayout {
        PackLayout {
            dims: [co, ci, kh * kw],
            strides: [ci * kh * kw, kh * kw, 1],
            stack: [ci, 0],
        }
    }

    /// Filters [co, ci, kh, kw] packed by output channel: texel (q, ci, tap), as the
    /// backward-data loaders read them.
    pub(crate) fn filters_by_output([co, ci, kh, kw]: [usize; 4]) -> PackLayout {
        PackLayout {
            dims: [1, co, ci * kh * kw],
            strides: [0, ci * kh * kw, 1],
            stack: [co, 0],
        }
    }

    /// A matrix with `k` along K and `rows` rows (or columns), element (r, k) at
    /// `r * row_stride + k * k_stride`: texel k4 * rows + r, as the matmul loaders read it.
    pub(crate) fn matrix(rows: usize, k: usize, row_stride: usize, k_stride: usize) -> PackLayout {
        PackLayout {
            dims: [1, k, rows],
            strides: [0, k_stride, row_stride],
            stack: [k, 0],
        }
    }

    pub(crate) fn channels(&self) -> usize {
        self.dims[1]
    }

    pub(crate) fn texels(&self) -> usize {
        let [n, c, plane] = self.dims;
        n * c.div_ceil(CHANNELS_PER_TEXEL) * plane
    }

    /// The packing kernel's grid: (pixel groups, texels across c, n).
    fn grid(&self) -> [usize; 3] {
        let [n, c, plane] = self.dims;
        [
            plane.div_ceil(PACK_GROUP),
            c.div_ceil(CHANNELS_PER_TEXEL),
            n,
        ]
    }

    /// Whether no texel takes channels from two stacks.
    fn stacks_whole_texels(&self) -> bool {
        self.stack[0] >= self.dims[1] || self.stack[0] % CHANNELS_PER_TEXEL == 0
    }
}

/// `src` packed into a new texel array (one dispatch).
pub(crate) fn pack(gpu: &Gpu, what: &str, src: &Tensor, layout: PackLayout) -> Result<Texels> {
    const OP: &str = "pack_c4";
    let out = Texels::new(gpu, what, layout.texels())?;
    let [_, c, plane] = layout.dims;
    let [stride_n, stride_c, stride_pixel] = layout.strides;
    let [per, stride_stack] = layout.stack;
    // Stacked layouts come from a stacked convolution's geometry, which holds its channels
    // under the bound that `stack_of` divides exactly below
    // (`Conv2dGeometry::with_output_stacks`).
    let stacked = per < c;
    let p = PackParams {
        c: to_u32(OP, c)?,
        c4: to_u32(OP, c.div_ceil(CHANNELS_PER_TEXEL))?,
        plane: to_u32(OP, plane)?,
        stride_n: to_u32(OP, stride_n)?,
        stride_c: to_u32(OP, stride_c)?,
        stride_pixel: to_u32(OP, stride_pixel)?,
        // One stack: a divisor no channel reaches, so every channel is in stack 0.
        stack_channels: if stacked { to_u32(OP, per)? } else { u32::MAX },
        stride_stack: to_u32(OP, stride_stack)?,
    };
    let grid = layout.grid().map(|g| g as u32);
    // Packed into a buffer, then copied into the texels (see shaders/texels/pack_c4.wgsl).
    out.fill_through_staging(gpu, layout.texels(), |staging| {
        gpu.dispatch_resources(
            &PACK_C4,
            &p,
            &[Resource::Buffer(src.buffer()), Resource::Buffer(staging)],
            grid,
        )
    })?;
    Ok(out)
}

/// Filters `w` [co, ci, kh, kw] packed both ways in one dispatch: by input channel
/// ([`PackLayout::filters_by_input`], for the forward pass) and by output channel
/// ([`PackLayout::filters_by_output`], for backward-data), the texels `pack` would write
/// for each (`shaders/texels/pack_filters_c4.wgsl`).
pub(crate) fn pack_filters_both_ways(gpu: &Gpu, w: &Tensor) -> Result<(Texels, Texels)> {
    const OP: &str = "pack_filters_c4";
    let &[co, ci, kh, kw] = w.shape() else {
        return Err(GpuError::shape(
            OP,
            format!(
                "filters must be [co, ci, kh, kw], got {}",
                shape_text(w.shape())
            ),
        ));
    };
    let shape = [co, ci, kh, kw];
    let by_input = Texels::new(
        gpu,
        "conv2d filters",
        PackLayout::filters_by_input(shape).texels(),
    )?;
    let by_output = Texels::new(
        gpu,
        "conv2d filters by output channel",
        PackLayout::filters_by_output(shape).texels(),
    )?;
    let ci4 = ci.div_ceil(CHANNELS_PER_TEXEL);
    let p = PackFiltersParams {
        co: to_u32(OP, co)?,
        ci: to_u32(OP, ci)?,
        ci4: to_u32(OP, ci4)?,
        taps: to_u32(OP, kh * kw)?,
    };
    let grid = both_ways_grid(shape);
    if !packs_filters_both_ways(gpu, shape) {
        return Err(GpuError::invalid(
            OP,
            format!(
                "filters {} need a grid of {grid:?} workgroups, past the adapter's \
                 max_compute_workgroups_per_dimension of {}",
                shape_text(w.shape()),
                gpu.limits().max_compute_workgroups_per_dimension
            ),
        ));
    }
    gpu.dispatch_resources(
        &PACK_FILTERS_C4,
        &p,
        &[
            Resource::Buffer(w.buffer()),
            by_input.resource(),
            by_output.resource(),
        ],
        grid.map(|g| g as u32),
    )?;
    Ok((by_input, by_output))
}

/// Invocations per workgroup of `shaders/texels/pack_filters_c4.wgsl`.
const PACK_FILTERS_LANES: usize = 8;

/// The two-way filter pack's grid: lanes over the input channel groups, then taps, then
/// output channel groups.
fn both_ways_grid([co, ci, kh, kw]: [usize; 4]) -> [usize; 3] {
    [
        ci.div_ceil(CHANNELS_PER_TEXEL).div_ceil(PACK_FILTERS_LANES),
        kh * kw,
        co.div_ceil(CHANNELS_PER_TEXEL),
    ]
}

/// Whether [`pack_filters_both_ways`] can pack filters of `shape` on this device (its
/// grid within the per-dimension limit; each layout's texels are `fits`' business).
pub(crate) fn packs_filters_both_ways(gpu: &Gpu, shape: [usize; 4]) -> bool {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    both_ways_grid(shape).iter().all(|&g| g <= max)
}

/// Whether every one of `layouts` fits one texel array, and its packing one grid, on this
/// device.
pub(crate) fn fits(gpu: &Gpu, layouts: &[PackLayout]) -> bool {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    layouts.iter().all(|l| {
        Texels::fit(gpu, l.texels())
            && l.grid().iter().all(|&g| g <= max)
            && l.stacks_whole_texels()
    })
}

/// Which core a kernel is built on (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Core {
    PackedK,
    /// The packed-K core, its tiles' per-row moments written after its stores
    /// ([`channel_moments_source`]; the loaders bind `moments`).
    PackedKWithMoments,
    Outer,
}

const LANES: usize = 8;

/// The outer-product core's tiles: 8 lanes of 4 rows each make 32 rows; 8 columns a lane
/// (two texels), or 4 for outputs at most [`NARROW_COLUMNS`] wide.
const OUTER: TileShape = TileShape {
    rows_per_thread: 32,
    cols_per_thread: 8,
    group_x: LANES,
    group_y: 1,
};
const OUTER_NARROW: TileShape = TileShape {
    rows_per_thread: 32,
    cols_per_thread: 4,
    group_x: LANES,
    group_y: 1,
};

/// The tile shapes a core builds, in the order of [`TexelGemmKernel::built`].
fn shapes(core: Core) -> &'static [TileShape] {
    match core {
        Core::PackedK | Core::PackedKWithMoments => &[
            TileShape::SOFTWARE_TALL,
            TileShape::SOFTWARE,
            TileShape::SOFTWARE_NARROW,
        ],
        Core::Outer => &[OUTER, OUTER_NARROW],
    }
}

/// The tile `core` takes for an m x n output.
pub(crate) fn tile_for(core: Core, m: usize, n: usize) -> TileShape {
    shapes(core)[choose(core, m, n)]
}

/// The shape for an m x n output, as an index into [`shapes`].
fn choose(core: Core, m: usize, n: usize) -> usize {
    match core {
        Core::PackedK | Core::PackedKWithMoments if n <= NARROW_COLUMNS => 2,
        Core::PackedK | Core::PackedKWithMoments if m > SHORT_ROWS => 0,
        Core::PackedK | Core::PackedKWithMoments => 1,
        Core::Outer if n <= NARROW_COLUMNS => 1,
        Core::Outer => 0,
    }
}

/// The lines that open either core: the storage core's header, then scalar accumulators.
fn core_opening(t: TileShape) -> String {
    let mut s = gemm::tile_header(t);
    for r in 0..t.rows_per_thread {
        for c in 0..t.cols_per_thread {
            s.push_str(&format!("    var acc{r}_{c} = 0.0;\n"));
        }
    }
    s
}

/// WGSL of the packed-K core: `read_a` / `read_b` return a texel of four K values, p.k
/// counts texels. With `moments`, the tile's per-row moments follow its stores
/// ([`channel_moments_source`]).
fn packed_k_source(t: TileShape, moments: bool) -> String {
    let (tm, tn) = (t.rows_per_thread, t.cols_per_thread);
    let mut s = core_opening(t);
    s.push_str(&gemm::shared_row_infos(t));
    s.push_str(&gemm::column_infos(t));
    s.push_str("    var kk = k_first(batch);\n    for (var k = 0u; k < p.k; k = k + 1u) {\n");
    for c in 0..tn {
        s.push_str(&format!("        let bv{c} = read_b(kk, b{c});\n"));
    }
    for j in 0..tm / LANES {
        s.push_str(&format!("        let mine{j} = read_a(own{j}, kk);\n"));
    }
    for r in 0..tm {
        s.push_str(&format!(
            "        let av{r} = subgroupBroadcast(mine{}, {}u);\n",
            r / LANES,
            r % LANES
        ));
        for c in 0..tn {
            s.push_str(&format!(
                "        acc{r}_{c} = fma(av{r}.w, bv{c}.w, fma(av{r}.z, bv{c}.z, fma(av{r}.y, bv{c}.y, fma(av{r}.x, bv{c}.x, acc{r}_{c}))));\n"
            ));
        }
    }
    s.push_str("        kk = k_next(kk);\n    }\n");
    s.push_str(&gemm::tile_writes(
        t,
        |r, c| format!("acc{r}_{c}"),
        |c| format!("b{c}"),
    ));
    if moments {
        s.push_str(&channel_moments_source(t));
    }
    s.push_str("}\n");
    s
}

/// WGSL that writes, for each row of a packed-K tile (a convolution's output channel), the
/// mean of its outputs in the tile's columns and their sum of squared deviations from that
/// mean to `moments[wg.x * p.m + row]` (the workgroup is one subgroup of [`LANES`], each
/// lane holding every row and `cols_per_thread` columns): the chunks that
/// `norm::batch_norm_stats_from_moments` merges. Two passes over the accumulators, which
/// are still in registers, so the deviations are exact to rounding.
fn channel_moments_source(t: TileShape) -> String {
    let value = |r: usize, c: usize| format!("acc{r}_{c}");
    let mut s = gemm::moments_opening(t);
    for r in 0..t.rows_per_thread {
        let sum = gemm::masked_row_sum(t, r, &value);
        s.push_str(&format!(
            "    let mean{r} = subgroupAdd({sum}) * per_col;\n"
        ));
        let squares = gemm::masked_row_squares(t, r, &value, &format!("mean{r}"));
        s.push_str(&format!(
            "    let deviations{r} = subgroupAdd({squares});\n    if (lid.x == {}u && row0 + {r}u < p.m) {{ moments[wg.x * p.m + row0 + {r}u] = vec2<f32>(mean{r}, deviations{r}); }}\n",
            r % LANES
        ));
    }
    s
}

/// Pixels (K steps) the outer-product core takes per loop iteration: a launcher gives it
/// slices of K that are a multiple of this.
pub(crate) const OUTER_K_STEP: usize = 4;

/// WGSL of the outer-product core: `row_info` / `col_info` take the first of four rows /
/// columns, `read_a` / `read_b` return the four at one k. Each iteration reads
/// [`OUTER_K_STEP`] pixels and adds their four products to an accumulator in one chain:
/// llvmpipe keeps a tile's accumulators on the stack, so a load and a store of one per
/// product (one pixel per iteration) cost more than the products themselves.
fn outer_source(t: TileShape) -> String {
    let tn = t.cols_per_thread;
    let per = CHANNELS_PER_TEXEL;
    let steps = OUTER_K_STEP;
    let mut s = core_opening(t);
    s.push_str(&format!(
        "    let last_row_group = last_row / {per}u * {per}u;\n    let last_col_group = last_col / {per}u * {per}u;\n    let own = row_info(batch, min(row0 + {per}u * lid.x, last_row_group));\n"
    ));
    for g in 0..tn / per {
        s.push_str(&format!(
            "    let b{g} = col_info(batch, min(col0 + {}u, last_col_group));\n",
            g * per
        ));
    }
    s.push_str(&format!(
        "    var kk = k_first(batch);\n    for (var k = 0u; k < p.k; k = k + {steps}u) {{\n"
    ));
    for j in 0..steps {
        s.push_str(&format!("        let mine{j} = read_a(own, kk);\n"));
        for g in 0..tn / per {
            s.push_str(&format!("        let bv{j}_{g} = read_b(kk, b{g});\n"));
        }
        s.push_str("        kk = k_next(kk);\n");
    }
    for lane in 0..LANES {
        for j in 0..steps {
            s.push_str(&format!(
                "        let rows{lane}_{j} = subgroupBroadcast(mine{j}, {lane}u);\n"
            ));
        }
        for i in 0..per {
            let r = lane * per + i;
            for c in 0..tn {
                let mut sum = format!("acc{r}_{c}");
                for j in 0..steps {
                    sum = format!(
                        "fma(rows{lane}_{j}[{i}], bv{j}_{}[{}], {sum})",
                        c / per,
                        c % per
                    );
                }
                s.push_str(&format!("        acc{r}_{c} = {sum};\n"));
            }
        }
    }
    s.push_str("    }\n");
    s.push_str(&gemm::tile_writes(
        t,
        |r, c| format!("acc{r}_{c}"),
        |c| format!("b{}", c / per),
    ));
    s.push_str("}\n");
    s
}

/// A convolution GEMM on texels: a variant's loaders plus a core, built once per shape.
pub(crate) struct TexelGemmKernel {
    name: &'static str,
    loaders: &'static str,
    core: Core,
    built: [OnceLock<(String, String)>; 3],
}

impl TexelGemmKernel {
    pub(crate) const fn new(name: &'static str, core: Core, loaders: &'static str) -> Self {
        TexelGemmKernel {
            name,
            loaders,
            core,
            built: [const { OnceLock::new() }; 3],
        }
    }

    /// The kernel of `plan` (texel operands on this kernel's core).
    pub(crate) fn for_plan(&'static self, plan: &GemmPlan) -> Kernel {
        assert!(
            plan.texels(),
            "{}: a texel kernel for a plan of {:?}",
            self.name,
            plan.operands
        );
        let index = shapes(self.core)
            .iter()
            .position(|&s| s == plan.tile())
            .expect("every planned texel tile is one of its core's");
        let shape = shapes(self.core)[index];
        let (name, source) = self.built[index].get_or_init(|| {
            let core = match self.core {
                Core::PackedK => packed_k_source(shape, false),
                Core::PackedKWithMoments => packed_k_source(shape, true),
                Core::Outer => outer_source(shape),
            };
            (
                format!(
                    "{}#texels-{}x{}",
                    self.name, shape.rows_per_thread, shape.cols_per_thread
                ),
                format!("{}{core}", kernel_source(self.loaders)),
            )
        });
        Kernel { name, source }
    }
}

/// A [`TexelGemmKernel`] from shader files (the texel operands come first).
macro_rules! texel_gemm_kernel {
    ($name:literal, $core:expr, $($file:literal),+ $(,)?) => {
        crate::kernels::texel_gemm::TexelGemmKernel::new(
            $name,
            $core,
            concat!(
                include_str!("../../shaders/gemm/operands_texels.wgsl"),
                $(include_str!(concat!("../../shaders/", $file))),+
            ),
        )
    };
}
pub(crate) use texel_gemm_kernel;
