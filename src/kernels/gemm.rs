//! The GEMM core that matmul and the three convolution passes share, generated per adapter
//! class. Each invocation keeps a TM x TN block of C in vec4 registers, written out as
//! straight-line code; the tile shape is chosen per class of adapter (by
//! [`plan`](super::plan), which makes every GEMM decision):
//!
//! - software adapters (lavapipe): 8 invocations (one llvmpipe SIMD vector) of 16x16 each,
//!   a 16 x 128 tile, and for outputs at most 64 columns wide 8 of 16x4 (a 16 x 32 tile).
//!   Where the adapter runs subgroups of 8 (lavapipe does), the 8 invocations read each A
//!   value once between them and share it by subgroup broadcast, and outputs more than
//!   16 rows tall take 8 of 32x8 (a 32 x 64 tile). BENCHMARKS.md, "Design notes", has
//!   the measurements.
//! - GPUs: 16 x 16 invocations of 4x4 each, a 64 x 64 tile.
//!
//! A variant file (shaders/gemm/*.wgsl) supplies `Params` (with m, n, k), `row_info`,
//! `col_info`, `k_first` and `k_next` (the K position walked one step at a time, so the
//! loop never divides: integer division is scalarised on SIMD CPUs), `read_a`, `read_b`
//! and `write_c` (which also gets the column's `col_info`, so a variant can place outputs
//! without dividing); see `core_source`.

use std::sync::OnceLock;

use super::kernel_source;
use super::plan::{GemmPlan, Operands};
use crate::gpu::{Gpu, GpuError, Kernel, Result};

/// Outputs at most this wide take the narrow software tile.
pub(crate) const NARROW_COLUMNS: usize = 64;

/// Outputs per invocation (rows, columns) and invocations per workgroup (x, y).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileShape {
    pub rows_per_thread: usize,
    pub cols_per_thread: usize,
    pub group_x: usize,
    pub group_y: usize,
}

impl TileShape {
    /// Software adapters, outputs more than [`SHORT_ROWS`] tall, where the invocations share
    /// A through subgroups: 8 invocations of 32 x 8. Each output column's B value is read
    /// once per 32 rows (against 16 for 16 x 16), and the extra A rows cost broadcasts,
    /// not reads (BENCHMARKS.md, "The A operand shared through subgroups").
    pub(crate) const SOFTWARE_TALL: TileShape = TileShape {
        rows_per_thread: 32,
        cols_per_thread: 8,
        group_x: 8,
        group_y: 1,
    };
    /// Software adapters otherwise: 8 invocations (one llvmpipe SIMD vector) of 16 x 16
    /// each. Measured against 16x8, 32x8, 32x16 and 16x32 without subgroups in the
    /// training-step bench: as fast as any in a step, and the larger
    /// tiles take LLVM minutes to compile on first use.
    pub(crate) const SOFTWARE: TileShape = TileShape {
        rows_per_thread: 16,
        cols_per_thread: 16,
        group_x: 8,
        group_y: 1,
    };
    /// Software adapters, problems at most [`NARROW_COLUMNS`] wide (the first layer's
    /// weight gradient has 9 columns): 8 invocations of 16 x 4.
    pub(crate) const SOFTWARE_NARROW: TileShape = TileShape {
        rows_per_thread: 16,
        cols_per_thread: 4,
        group_x: 8,
        group_y: 1,
    };
    pub(crate) const GPU: TileShape = TileShape {
        rows_per_thread: 4,
        cols_per_thread: 4,
        group_x: 16,
        group_y: 16,
    };

    /// Output rows one workgroup covers.
    pub(crate) fn tile_m(self) -> usize {
        self.rows_per_thread * self.group_y
    }

    /// Output columns one workgroup covers.
    pub(crate) fn tile_n(self) -> usize {
        self.cols_per_thread * self.group_x
    }

    /// Whether the rows can be read once per subgroup of `lanes` and broadcast: one row
    /// of invocations that is the subgroup, and rows a multiple of the invocations.
    pub(crate) fn shares_rows(self, lanes: Option<u32>) -> bool {
        lanes == Some(self.group_x as u32)
            && self.group_y == 1
            && self.rows_per_thread % self.group_x == 0
    }
}

/// Outputs at most this tall take a 16-row software tile even with subgroups.
pub(crate) const SHORT_ROWS: usize = 16;

/// The kernel variants a [`GemmKernel`] can build: a tile shape, and whether A is shared
/// through subgroup broadcasts.
const VARIANTS: [(&str, TileShape, bool); 6] = [
    ("software", TileShape::SOFTWARE, false),
    ("software-narrow", TileShape::SOFTWARE_NARROW, false),
    ("gpu", TileShape::GPU, false),
    ("software-subgroups", TileShape::SOFTWARE, true),
    (
        "software-narrow-subgroups",
        TileShape::SOFTWARE_NARROW,
        true,
    ),
    ("software-tall-subgroups", TileShape::SOFTWARE_TALL, true),
];

/// WGSL of the core for `t`. Rows and columns past the edge are clamped when read and
/// skipped when written, so any m, n, k works.
///
/// With `share_rows` (a software adapter whose subgroup is the workgroup's row of
/// invocations): every invocation of the row needs the same A values, so each reads
/// `rows / lanes` of them and the rest arrive by subgroup broadcast, instead of every
/// invocation reading all of them (on llvmpipe a read per invocation is a gather of one
/// load per lane, a broadcast one shuffle). No invocation returns early then, as the
/// broadcasts need the whole subgroup.
///
/// With `moments`, the tile's per-row moments follow its stores ([`channel_moments_source`];
/// no invocation returns early then either, as they meet at barriers).
fn core_source(t: TileShape, share_rows: bool, moments: bool) -> String {
    let (tm, tn) = (t.rows_per_thread, t.cols_per_thread);
    let lanes = t.group_x;
    let vectors = tn / 4;
    let mut s = String::new();
    if moments {
        s.push_str(&channel_moments_memory(t));
    }
    s.push_str(&tile_header(t));
    if !share_rows {
        if !moments {
            s.push_str("    if (row0 >= p.m || col0 >= p.n) {\n        return;\n    }\n");
        }
        for r in 0..tm {
            s.push_str(&format!(
                "    let a{r} = row_info(batch, min(row0 + {r}u, last_row));\n"
            ));
        }
    } else {
        s.push_str(&shared_row_infos(t));
    }
    s.push_str(&column_infos(t));
    for r in 0..tm {
        for v in 0..vectors {
            s.push_str(&format!("    var acc{r}_{v} = vec4<f32>(0.0);\n"));
        }
    }
    s.push_str("    var kk = k_first(batch);\n    for (var k = 0u; k < p.k; k = k + 1u) {\n");
    for v in 0..vectors {
        let reads: Vec<String> = (0..4)
            .map(|j| format!("read_b(kk, b{})", 4 * v + j))
            .collect();
        s.push_str(&format!(
            "        let bv{v} = vec4<f32>({});\n",
            reads.join(", ")
        ));
    }
    if share_rows {
        for j in 0..tm / lanes {
            s.push_str(&format!("        let mine{j} = read_a(own{j}, kk);\n"));
        }
    }
    for r in 0..tm {
        let a = if share_rows {
            format!("subgroupBroadcast(mine{}, {}u)", r / lanes, r % lanes)
        } else {
            format!("read_a(a{r}, kk)")
        };
        s.push_str(&format!("        let av{r} = vec4<f32>({a});\n"));
        for v in 0..vectors {
            s.push_str(&format!(
                "        acc{r}_{v} = fma(av{r}, bv{v}, acc{r}_{v});\n"
            ));
        }
    }
    s.push_str("        kk = k_next(kk);\n    }\n");
    let value = |r: usize, c: usize| format!("acc{r}_{}[{}]", c / 4, c % 4);
    s.push_str(&tile_writes(t, value, |c| format!("b{c}")));
    if moments {
        s.push_str(&channel_moments_source(t, value));
    }
    s.push_str("}\n");
    s
}

/// The workgroup memory of [`channel_moments_source`], declared before the entry point.
fn channel_moments_memory(t: TileShape) -> String {
    format!(
        "var<workgroup> moment_parts: array<f32, {}>;\nvar<workgroup> moment_means: array<f32, {}>;\n",
        t.tile_m() * t.group_x,
        t.tile_m()
    )
}

/// WGSL that writes, for each row of a workgroup's tile (a convolution's output channel),
/// the mean of its outputs in the tile's columns and their sum of squared deviations from
/// that mean to `moments[wg.x * p.m + row]`: the chunks that
/// `norm::batch_norm_stats_from_moments` merges. `value(r, c)` names the accumulator of the
/// invocation's row r, column c. Each invocation sums its columns of each of its rows into
/// workgroup memory, and the rows' totals are taken in a fixed order; two passes over the
/// accumulators, which are still in registers, so the deviations are exact to rounding.
fn channel_moments_source(t: TileShape, value: impl Fn(usize, usize) -> String) -> String {
    let (tm, gx) = (t.rows_per_thread, t.group_x);
    let (tile_m, threads) = (t.tile_m(), t.group_x * t.group_y);
    let mut s = moments_opening(t);
    s.push_str(&format!(
        "    let part = lid.y * {tm}u * {gx}u + lid.x;\n    let me = lid.y * {gx}u + lid.x;\n"
    ));
    // The rows' totals of moment_parts, each row's `gx` parts in order, as `total`.
    let row_totals = |body: &str| {
        format!(
            "    workgroupBarrier();
    for (var row = me; row < {tile_m}u; row = row + {threads}u) {{
        var total = 0.0;
        for (var j = 0u; j < {gx}u; j = j + 1u) {{
            total = total + moment_parts[row * {gx}u + j];
        }}
{body}    }}
"
        )
    };
    for r in 0..tm {
        let sum = masked_row_sum(t, r, &value);
        s.push_str(&format!("    moment_parts[part + {}u] = {sum};\n", r * gx));
    }
    s.push_str(&row_totals(
        "        moment_means[row] = total * per_col;\n",
    ));
    s.push_str("    workgroupBarrier();\n");
    for r in 0..tm {
        s.push_str(&format!(
            "    let mean{r} = moment_means[lid.y * {tm}u + {r}u];\n"
        ));
        let squares = masked_row_squares(t, r, &value, &format!("mean{r}"));
        s.push_str(&format!(
            "    moment_parts[part + {}u] = {squares};\n",
            r * gx
        ));
    }
    s.push_str(&row_totals(&format!(
        "        let out_row = wg.y * {tile_m}u + row;
        if (out_row < p.m) {{
            moments[wg.x * p.m + out_row] = vec2<f32>(moment_means[row], total);
        }}
"
    )));
    s
}

/// The opening of a GEMM core for tile `t`: the entry point, the tile's corner and the
/// last row and column (for clamping). Shared with the texel cores (`kernels::texel_gemm`).
pub(crate) fn tile_header(t: TileShape) -> String {
    format!(
        "
@compute @workgroup_size({gx}, {gy}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let row0 = (wg.y * {gy}u + lid.y) * {tm}u;
    let col0 = (wg.x * {gx}u + lid.x) * {tn}u;
    let batch = wg.z;
    let last_row = p.m - 1u;
    let last_col = p.n - 1u;
",
        gx = t.group_x,
        gy = t.group_y,
        tm = t.rows_per_thread,
        tn = t.cols_per_thread,
    )
}

/// Where rows are shared through subgroups: the `row_info` of each row this invocation
/// reads for the others (`own{j}`: row `row0 + j * lanes + lid.x`).
pub(crate) fn shared_row_infos(t: TileShape) -> String {
    let lanes = t.group_x;
    (0..t.rows_per_thread / lanes)
        .map(|j| {
            format!(
                "    let own{j} = row_info(batch, min(row0 + {}u + lid.x, last_row));\n",
                j * lanes
            )
        })
        .collect()
}

/// The `col_info` of each of the invocation's columns (`b{c}`).
pub(crate) fn column_infos(t: TileShape) -> String {
    (0..t.cols_per_thread)
        .map(|c| format!("    let b{c} = col_info(batch, min(col0 + {c}u, last_col));\n"))
        .collect()
}

/// The lines both moments epilogues (this module's and the texel cores') open with:
/// `tile_cols`, the workgroup tile's columns inside n, `per_col` its inverse, and `in{c}`,
/// whether the invocation's column c is inside n.
pub(crate) fn moments_opening(t: TileShape) -> String {
    let tile_n = t.tile_n();
    let mut s = format!(
        "    let tile_cols = min(p.n - wg.x * {tile_n}u, {tile_n}u);\n    let per_col = 1.0 / f32(tile_cols);\n"
    );
    for c in 0..t.cols_per_thread {
        s.push_str(&format!("    let in{c} = col0 + {c}u < p.n;\n"));
    }
    s
}

/// The sum of row r's accumulators (`value(r, c)`) over the invocation's columns inside n.
pub(crate) fn masked_row_sum(
    t: TileShape,
    r: usize,
    value: &impl Fn(usize, usize) -> String,
) -> String {
    (0..t.cols_per_thread)
        .map(|c| format!("select(0.0, {}, in{c})", value(r, c)))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The sum of the squared deviations of row r's accumulators from `mean` over the
/// invocation's columns inside n.
pub(crate) fn masked_row_squares(
    t: TileShape,
    r: usize,
    value: &impl Fn(usize, usize) -> String,
    mean: &str,
) -> String {
    let mut squares = "0.0".to_string();
    for c in 0..t.cols_per_thread {
        let d = format!("select(0.0, {} - {mean}, in{c})", value(r, c));
        squares = format!("fma({d}, {d}, {squares})");
    }
    squares
}

/// The stores of a GEMM core (before its closing brace): every output of the tile inside
/// m x n goes to `write_c`, `value(r, c)` naming its accumulator and `info(c)` the ColInfo
/// of its column.
pub(crate) fn tile_writes(
    t: TileShape,
    value: impl Fn(usize, usize) -> String,
    info: impl Fn(usize) -> String,
) -> String {
    let mut s = String::new();
    for r in 0..t.rows_per_thread {
        s.push_str(&format!("    if (row0 + {r}u < p.m) {{\n"));
        for c in 0..t.cols_per_thread {
            s.push_str(&format!(
                "        if (col0 + {c}u < p.n) {{ write_c(batch, row0 + {r}u, col0 + {c}u, {}, {}); }}\n",
                info(c),
                value(r, c)
            ));
        }
        s.push_str("    }\n");
    }
    s
}

/// A GEMM kernel: a variant's loaders plus the core, built once per tile shape.
pub(crate) struct GemmKernel {
    name: &'static str,
    loaders: &'static str,
    /// The core also writes each tile's per-row moments (the loaders bind `moments`).
    channel_moments: bool,
    /// Each variant's name and source, built on first use.
    built: [OnceLock<(String, String)>; VARIANTS.len()],
}

impl GemmKernel {
    pub(crate) const fn new(name: &'static str, loaders: &'static str) -> GemmKernel {
        GemmKernel {
            name,
            loaders,
            channel_moments: false,
            built: [const { OnceLock::new() }; VARIANTS.len()],
        }
    }

    /// A kernel whose core also writes its tiles' per-row moments
    /// ([`channel_moments_source`]).
    pub(crate) const fn with_channel_moments(
        name: &'static str,
        loaders: &'static str,
    ) -> GemmKernel {
        GemmKernel {
            name,
            loaders,
            channel_moments: true,
            built: [const { OnceLock::new() }; VARIANTS.len()],
        }
    }

    /// The kernel of `plan` (storage operands).
    pub(crate) fn for_plan(&'static self, plan: &GemmPlan) -> Kernel {
        let Operands::Storage { share_rows } = plan.operands else {
            panic!(
                "{}: a storage-operand kernel for a plan of {:?}",
                self.name, plan.operands
            );
        };
        let index = VARIANTS
            .iter()
            .position(|&(_, s, shares)| s == plan.tile() && shares == share_rows)
            .expect("every planned storage tile is a variant");
        let (variant, shape, share_rows) = VARIANTS[index];
        let (name, source) = self.built[index].get_or_init(|| {
            (
                format!("{}#{variant}", self.name),
                format!(
                    "{}{}",
                    kernel_source(self.loaders),
                    core_source(shape, share_rows, self.channel_moments)
                ),
            )
        });
        Kernel { name, source }
    }
}

/// Workgroups for an m x n output over `batch` batches, within the adapter's limits.
pub(crate) fn grid(
    gpu: &Gpu,
    op: &'static str,
    shape: TileShape,
    m: usize,
    n: usize,
    batch: usize,
) -> Result<[u32; 3]> {
    let grid = [
        n.div_ceil(shape.tile_n()),
        m.div_ceil(shape.tile_m()),
        batch,
    ];
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if grid.iter().any(|&g| g > max) {
        return Err(GpuError::invalid(
            op,
            format!("a {m}x{n} output over {batch} batches needs workgroups {grid:?}, over the adapter's limit of {max} per dimension"),
        ));
    }
    Ok(grid.map(|g| g as u32))
}

/// A [`GemmKernel`] from shader files, e.g. `gemm_kernel!("gemm/matmul", "gemm/matmul.wgsl")`.
/// `gemm_kernel!(moments "name", files...)` builds one whose core writes its tiles' moments.
macro_rules! gemm_kernel {
    ($name:literal, $($file:literal),+ $(,)?) => {
        crate::kernels::gemm::GemmKernel::new(
            $name,
            concat!($(include_str!(concat!("../../shaders/", $file))),+),
        )
    };
    (moments $name:literal, $($file:literal),+ $(,)?) => {
        crate::kernels::gemm::GemmKernel::with_channel_moments(
            $name,
            concat!($(include_str!(concat!("../../shaders/", $file))),+),
        )
    };
}
pub(crate) use gemm_kernel;
