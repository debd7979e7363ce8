//! Every GEMM decision in one place. matmul and the three convolution passes ask for a
//! [`GemmPlan`] for their problem on this device, then for the plan's kernel: the plan
//! says where the operands come from (storage buffers, A shared through subgroups or not;
//! texel arrays; or, for a one-channel first layer on a software adapter, a direct
//! kernel instead of a GEMM), the tile each invocation computes and what follows the
//! stores. The device's GEMM switches ([`GemmSwitches`]: chosen from the adapter,
//! overridden by `FACEMTL_GEMM_TILES`, `FACEMTL_GEMM_SUBGROUPS`, `FACEMTL_GEMM_TEXELS` or
//! by tests and benchmarks) live here and are read by no launcher. With
//! [`Gpu::record_plans`] on, each plan made is noted: `facemtl info --plans` lists a
//! training step's.

use std::fmt;
use std::sync::Mutex;

use super::conv::{
    SINGLE_CHANNEL_BIAS_AT, SINGLE_CHANNEL_MOMENTS_LANES, SINGLE_CHANNEL_WEIGHT_CHANNELS,
};
use super::gemm::{TileShape, NARROW_COLUMNS, SHORT_ROWS};
use super::texel_gemm::{self, Core, PackLayout, CHANNELS_PER_TEXEL};
use crate::geometry::Conv2dGeometry;
use crate::gpu::Gpu;

/// The device's GEMM switches, from which every plan follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmSwitches {
    /// Tiles for a software adapter (`true`) or for a GPU (`false`).
    pub software_tiles: bool,
    /// Whether GEMM kernels may share values through subgroups where the device can.
    pub subgroups: bool,
    /// Whether a software adapter's convolutions may gather from texels where they can.
    pub texels: bool,
}

/// Where a device keeps its switches (one per device, see `Gpu::state`).
struct DeviceSwitches(Mutex<GemmSwitches>);

impl GemmSwitches {
    /// The adapter's own: software tiles on a software adapter, subgroups and texels on,
    /// each overridden by its environment variable (`FACEMTL_GEMM_TILES=software|gpu`,
    /// `FACEMTL_GEMM_SUBGROUPS=off`, `FACEMTL_GEMM_TEXELS=off`; for benchmarks).
    pub fn for_adapter(gpu: &Gpu) -> GemmSwitches {
        let var = |name| std::env::var(name).ok();
        GemmSwitches {
            software_tiles: match var("FACEMTL_GEMM_TILES").as_deref() {
                Some("software") => true,
                Some("gpu") => false,
                _ => gpu.is_software(),
            },
            subgroups: var("FACEMTL_GEMM_SUBGROUPS").as_deref() != Some("off"),
            texels: var("FACEMTL_GEMM_TEXELS").as_deref() != Some("off"),
        }
    }

    fn slot(gpu: &Gpu) -> std::sync::Arc<DeviceSwitches> {
        gpu.state(|gpu| DeviceSwitches(Mutex::new(GemmSwitches::for_adapter(gpu))))
    }

    /// The switches `gpu` plans with now.
    pub fn of(gpu: &Gpu) -> GemmSwitches {
        *GemmSwitches::slot(gpu).0.lock().expect("GEMM switch lock")
    }

    /// Plans on `gpu` from now on follow these switches (tests and benchmarks of each
    /// path; every clone of the handle shares them).
    pub fn apply(self, gpu: &Gpu) {
        *GemmSwitches::slot(gpu).0.lock().expect("GEMM switch lock") = self;
    }

    /// The subgroup size the GEMM kernels may rely on under these switches: where
    /// subgroups are switched on, the device runs subgroup operations and its subgroups
    /// always have that one size.
    fn subgroup_size(self, gpu: &Gpu) -> Option<u32> {
        gpu.fixed_subgroup_size().filter(|_| self.subgroups)
    }

    /// Whether the convolutions take the texel path (`kernels::texel_gemm`) under these
    /// switches: software tiles whose GEMM kernels share rows through subgroups of 8,
    /// texels switched on.
    fn texel_path(self, gpu: &Gpu) -> bool {
        self.software_tiles && self.texels && self.subgroup_size(gpu) == Some(8)
    }
}

/// Whether the device plans with a software adapter's tiles.
fn software_tiles(gpu: &Gpu) -> bool {
    GemmSwitches::of(gpu).software_tiles
}

/// The subgroup size the device's GEMM kernels may rely on now.
fn subgroup_size(gpu: &Gpu) -> Option<u32> {
    GemmSwitches::of(gpu).subgroup_size(gpu)
}

/// Whether the device's convolutions take the texel path now.
pub fn texel_path(gpu: &Gpu) -> bool {
    GemmSwitches::of(gpu).texel_path(gpu)
}

/// Which GEMM a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    Matmul,
    /// A dense layer's weight and bias gradients in one GEMM.
    LinearParameters,
    ConvForward,
    ConvBackwardData,
    /// One stride phase of a strided convolution's data gradient.
    ConvBackwardDataPhase,
    ConvBackwardWeight,
}

/// Where a GEMM's operands come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operands {
    /// Storage buffers; with `share_rows` each A value is read once per subgroup and
    /// broadcast to its lanes.
    Storage { share_rows: bool },
    /// Texel arrays packed four channels deep, read by `core`.
    Texels { core: Core },
    /// The one-channel first layer's direct kernel (a software adapter's): not a GEMM.
    FirstLayer,
}

/// What follows the stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epilogue {
    Store,
    /// A per-row bias added as the outputs are stored.
    Bias,
    /// Each tile's per-row mean and sum of squared deviations, for the batch norm after.
    Moments,
}

/// One GEMM's decisions: an m x n output summed over k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmPlan {
    pub(crate) pass: Pass,
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) operands: Operands,
    /// None for the first layer's direct kernel.
    pub(crate) tile: Option<TileShape>,
    pub(crate) epilogue: Epilogue,
}

impl GemmPlan {
    /// The tile of a GEMM plan (the first layer's direct kernel has none).
    pub(crate) fn tile(&self) -> TileShape {
        self.tile.expect("a GEMM plan has a tile")
    }

    pub(crate) fn texels(&self) -> bool {
        matches!(self.operands, Operands::Texels { .. })
    }
}

impl fmt::Display for GemmPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pass = match self.pass {
            Pass::Matmul => "matmul",
            Pass::LinearParameters => "dense weight+bias gradient",
            Pass::ConvForward => "conv forward",
            Pass::ConvBackwardData => "conv data gradient",
            Pass::ConvBackwardDataPhase => "conv data gradient (one stride phase)",
            Pass::ConvBackwardWeight => "conv weight gradient",
        };
        let k_unit = match self.operands {
            Operands::Texels {
                core: Core::PackedK | Core::PackedKWithMoments,
            } => " texels",
            _ => "",
        };
        write!(f, "{pass} {} x {} (k {}{k_unit}): ", self.m, self.n, self.k)?;
        match self.operands {
            Operands::FirstLayer => f.write_str("first-layer direct kernel")?,
            Operands::Storage { share_rows } => write!(
                f,
                "storage operands{}",
                if share_rows {
                    ", A shared through subgroups"
                } else {
                    ""
                }
            )?,
            Operands::Texels { core } => write!(
                f,
                "texel operands ({} core)",
                match core {
                    Core::Outer => "outer-product",
                    Core::PackedK | Core::PackedKWithMoments => "packed-K",
                }
            )?,
        }
        if let Some(t) = self.tile {
            write!(
                f,
                ", {} x {} outputs per invocation, {} x {} invocations",
                t.rows_per_thread, t.cols_per_thread, t.group_x, t.group_y
            )?;
        }
        match self.epilogue {
            Epilogue::Store => Ok(()),
            Epilogue::Bias => f.write_str(", bias"),
            Epilogue::Moments => f.write_str(", moments"),
        }
    }
}

/// Notes `plan` where the device records plans, and returns it.
fn made(gpu: &Gpu, plan: GemmPlan) -> GemmPlan {
    gpu.note_plan(|| plan.to_string());
    plan
}

/// The storage-operand tile for an m x n output on this device, and whether A is shared
/// through subgroups.
fn storage_tile(gpu: &Gpu, m: usize, n: usize) -> (TileShape, bool) {
    let switches = GemmSwitches::of(gpu);
    let lanes = switches.subgroup_size(gpu);
    if !switches.software_tiles {
        (TileShape::GPU, false)
    } else if n <= NARROW_COLUMNS {
        let shape = TileShape::SOFTWARE_NARROW;
        (shape, shape.shares_rows(lanes))
    } else if m > SHORT_ROWS && TileShape::SOFTWARE_TALL.shares_rows(lanes) {
        (TileShape::SOFTWARE_TALL, true)
    } else {
        let shape = TileShape::SOFTWARE;
        (shape, shape.shares_rows(lanes))
    }
}

/// A storage-operand plan.
fn storage(gpu: &Gpu, pass: Pass, [m, n, k]: [usize; 3], epilogue: Epilogue) -> GemmPlan {
    let (tile, share_rows) = storage_tile(gpu, m, n);
    made(
        gpu,
        GemmPlan {
            pass,
            m,
            n,
            k,
            operands: Operands::Storage { share_rows },
            tile: Some(tile),
            epilogue,
        },
    )
}

/// A texel-operand plan on `core`.
fn texels(
    gpu: &Gpu,
    pass: Pass,
    core: Core,
    [m, n, k]: [usize; 3],
    epilogue: Epilogue,
) -> GemmPlan {
    made(
        gpu,
        GemmPlan {
            pass,
            m,
            n,
            k,
            operands: Operands::Texels { core },
            tile: Some(texel_gemm::tile_for(core, m, n)),
            epilogue,
        },
    )
}

/// Whether a GEMM with operands `layouts` reads texels: the device does, each operand
/// fits one texel array, and none is padded by more than a quarter of its channels (its
/// K, for a matrix) to whole texels (one input channel, as in the first layer, would pad
/// to four and quadruple the work: storage is faster there).
fn takes_texels(gpu: &Gpu, layouts: &[PackLayout]) -> bool {
    texel_path(gpu)
        && texel_gemm::fits(gpu, layouts)
        && layouts.iter().all(|l| {
            let channels = l.channels();
            4 * channels.next_multiple_of(CHANNELS_PER_TEXEL) <= 5 * channels
        })
}

/// Whether a convolution of geometry `g` takes the one-channel first-layer kernels: a
/// software adapter (on GPUs the GEMM is right), one input channel, 3x3 filters at stride
/// 1 with padding 1 all round, a width that is a multiple of 4, and filters that fit the
/// kernel's uniform buffer.
fn first_layer(gpu: &Gpu, g: &Conv2dGeometry) -> bool {
    software_tiles(gpu)
        && g.out_stacks == 1
        && g.in_c == 1
        && (g.kernel_h, g.kernel_w) == (3, 3)
        && (g.stride_h, g.stride_w) == (1, 1)
        && (g.pad_top, g.pad_left) == (1, 1)
        && (g.out_h, g.out_w) == (g.in_h, g.in_w)
        && g.in_w % 4 == 0
        && g.out_c * 9 <= SINGLE_CHANNEL_BIAS_AT
}

/// A convolution's forward pass: with `bias`, or else, on a training tape, with the
/// moments of its output.
pub(crate) fn conv_forward(gpu: &Gpu, g: &Conv2dGeometry, bias: bool, training: bool) -> GemmPlan {
    let with_moments = training && !bias;
    let epilogue = match (with_moments, bias) {
        (true, _) => Epilogue::Moments,
        (false, true) => Epilogue::Bias,
        (false, false) => Epilogue::Store,
    };
    let taps = g.kernel_h * g.kernel_w;
    let (m, n) = (g.out_c, g.batch * g.out_h * g.out_w);
    if first_layer(gpu, g) {
        // The direct kernel's moments need subgroups of its width.
        let lanes = Some(SINGLE_CHANNEL_MOMENTS_LANES as u32);
        let epilogue = match epilogue {
            Epilogue::Moments if subgroup_size(gpu) != lanes => Epilogue::Store,
            other => other,
        };
        let plan = GemmPlan {
            pass: Pass::ConvForward,
            m,
            n,
            k: taps,
            operands: Operands::FirstLayer,
            tile: None,
            epilogue,
        };
        return made(gpu, plan);
    }
    let layouts = [
        PackLayout::filters_by_input(g.weight_shape()),
        PackLayout::nchw(g.input_shape()),
    ];
    if takes_texels(gpu, &layouts) {
        let core = match with_moments {
            true => Core::PackedKWithMoments,
            false => Core::PackedK,
        };
        let k = g.in_c.div_ceil(CHANNELS_PER_TEXEL) * taps;
        return texels(gpu, Pass::ConvForward, core, [m, n, k], epilogue);
    }
    storage(gpu, Pass::ConvForward, [m, n, g.in_c * taps], epilogue)
}

/// Whether a convolution's data gradient reads texels (its forward packs the filters for
/// it then).
pub(crate) fn conv_backward_data_reads_texels(gpu: &Gpu, g: &Conv2dGeometry) -> bool {
    let filters = PackLayout::filters_by_output(g.weight_shape());
    takes_texels(gpu, &[filters, PackLayout::conv_output(g)])
}

/// A convolution's data gradient, dy -> dx.
pub(crate) fn conv_backward_data(gpu: &Gpu, g: &Conv2dGeometry) -> GemmPlan {
    let taps = g.kernel_h * g.kernel_w;
    let (m, n) = (g.in_c, g.batch * g.in_h * g.in_w);
    if conv_backward_data_reads_texels(gpu, g) {
        let k = g.out_c.div_ceil(CHANNELS_PER_TEXEL) * taps;
        return texels(
            gpu,
            Pass::ConvBackwardData,
            Core::PackedK,
            [m, n, k],
            Epilogue::Store,
        );
    }
    storage(
        gpu,
        Pass::ConvBackwardData,
        [m, n, g.out_c * taps],
        Epilogue::Store,
    )
}

/// One stride phase of a strided convolution's data gradient: `n` of its input pixels, `k`
/// = stored output channels x the phase's taps, on texels where the whole gradient would
/// be ([`conv_backward_data_reads_texels`]).
pub(crate) fn conv_backward_data_phase(
    gpu: &Gpu,
    g: &Conv2dGeometry,
    texel_operands: bool,
    [n, k]: [usize; 2],
) -> GemmPlan {
    let (pass, m) = (Pass::ConvBackwardDataPhase, g.in_c);
    match texel_operands {
        true => texels(gpu, pass, Core::PackedK, [m, n, k], Epilogue::Store),
        false => storage(gpu, pass, [m, n, k], Epilogue::Store),
    }
}

/// A convolution's weight gradient, summed over the batch's output pixels.
pub(crate) fn conv_backward_weight(gpu: &Gpu, g: &Conv2dGeometry) -> GemmPlan {
    let taps = g.kernel_h * g.kernel_w;
    let (m, k) = (g.out_c, g.batch * g.out_h * g.out_w);
    if first_layer(gpu, g) && g.out_c % SINGLE_CHANNEL_WEIGHT_CHANNELS == 0 {
        let plan = GemmPlan {
            pass: Pass::ConvBackwardWeight,
            m,
            n: taps,
            k,
            operands: Operands::FirstLayer,
            tile: None,
            epilogue: Epilogue::Store,
        };
        return made(gpu, plan);
    }
    let layouts = [
        PackLayout::conv_output(g),
        PackLayout::nchw(g.input_shape()),
    ];
    if takes_texels(gpu, &layouts) {
        // The outer-product core's columns run over (tap, ci), ci padded to whole texels.
        let n = taps * g.in_c.next_multiple_of(CHANNELS_PER_TEXEL);
        return texels(
            gpu,
            Pass::ConvBackwardWeight,
            Core::Outer,
            [m, n, k],
            Epilogue::Store,
        );
    }
    storage(
        gpu,
        Pass::ConvBackwardWeight,
        [m, taps * g.in_c, k],
        Epilogue::Store,
    )
}

/// Multiply-adds from which an unbatched matmul takes the texel path where the device has
/// it: below, packing both operands (two more dispatches) costs about what it saves.
const TEXEL_MIN_MACS: usize = 1 << 24;

/// A matrix product (`batch` of them) whose operands would pack as `layouts` [A, B].
pub(crate) fn matmul(
    gpu: &Gpu,
    [m, n, k, batch]: [usize; 4],
    layouts: [PackLayout; 2],
    bias: bool,
) -> GemmPlan {
    let epilogue = match bias {
        true => Epilogue::Bias,
        false => Epilogue::Store,
    };
    if batch == 1 && m * n * k >= TEXEL_MIN_MACS && takes_texels(gpu, &layouts) {
        let k4 = k.div_ceil(CHANNELS_PER_TEXEL);
        return texels(gpu, Pass::Matmul, Core::PackedK, [m, n, k4], epilogue);
    }
    storage(gpu, Pass::Matmul, [m, n, k], epilogue)
}

/// A dense layer's weight and bias gradients as one GEMM: `[outputs, features + 1]` over
/// the batch.
pub(crate) fn linear_parameters(gpu: &Gpu, [m, n, k]: [usize; 3]) -> GemmPlan {
    storage(gpu, Pass::LinearParameters, [m, n, k], Epilogue::Store)
}

/// Which GEMM kernels this device runs, in words (for `facemtl info` and benchmarks).
pub fn describe_tiles(gpu: &Gpu) -> String {
    let outputs = |t: TileShape| format!("{} x {}", t.rows_per_thread, t.cols_per_thread);
    let (wide, narrow) = (TileShape::SOFTWARE, TileShape::SOFTWARE_NARROW);
    let switches = GemmSwitches::of(gpu);
    if !switches.software_tiles {
        let t = TileShape::GPU;
        return format!(
            "GPU tiles ({} x {} invocations of {} outputs)",
            t.group_x,
            t.group_y,
            outputs(t)
        );
    }
    let lanes = switches.subgroup_size(gpu);
    if TileShape::SOFTWARE_TALL.shares_rows(lanes) {
        return format!(
            "software tiles, A shared through subgroups of {} ({} outputs per invocation for \
             outputs over {SHORT_ROWS} rows, else {}; {} for outputs at most \
             {NARROW_COLUMNS} columns wide)",
            wide.group_x,
            outputs(TileShape::SOFTWARE_TALL),
            outputs(wide),
            outputs(narrow)
        );
    }
    let why = match lanes {
        Some(size) => format!(
            "; the adapter's subgroups have {size} lanes, the tiles use {}",
            wide.group_x
        ),
        None => String::new(),
    };
    format!(
        "software tiles without subgroups ({} outputs per invocation; {} for outputs at \
         most {NARROW_COLUMNS} columns wide){why}",
        outputs(wide),
        outputs(narrow)
    )
}
