//! The GEMM core that matmul and the three convolution passes share, generated per adapter
//! class. Each invocation keeps a TM x TN block of C in vec4 registers, written out as
//! straight-line code; the tile shape is chosen per class of adapter:
//!
//! - software adapters (lavapipe): 8 invocations (one llvmpipe SIMD vector) of 16x16 each,
//!   a 16 x 128 tile, and for outputs at most 64 columns wide 8 of 16x4 (a 16 x 32 tile).
//!   Measured in the training-step bench (see BENCHMARKS.md): a step 1.4x faster than with
//!   8 x 8x8; larger tiles are no faster in a step and take LLVM minutes to compile.
//! - GPUs: 16 x 16 invocations of 4x4 each, a 64 x 64 tile.
//!
//! A variant file (shaders/gemm/*.wgsl) supplies `Params` (with m, n, k), `row_info`,
//! `col_info`, `k_first` and `k_next` (the K position walked one step at a time, so the
//! loop never divides: integer division is scalarised on SIMD CPUs), `read_a`, `read_b`
//! and `write_c` (which also gets the column's `col_info`, so a variant can place outputs
//! without dividing); see `core_source`.

use std::sync::OnceLock;

use super::kernel_source;
use crate::gpu::{Gpu, GpuError, Kernel, Result};

/// Outputs at most this wide take the narrow software tile.
const NARROW_COLUMNS: usize = 64;

/// Outputs per invocation (rows, columns) and invocations per workgroup (x, y).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileShape {
    pub rows_per_thread: usize,
    pub cols_per_thread: usize,
    pub group_x: usize,
    pub group_y: usize,
}

impl TileShape {
    /// Software adapters, wide problems: 8 invocations (one llvmpipe SIMD vector) of 16 x 16
    /// each. Measured against 16x8, 32x8, 32x16 and 16x32 in the training-step bench (see
    /// BENCHMARKS.md): as fast as any in a step, and the larger tiles take LLVM minutes to
    /// compile on first use.
    const SOFTWARE: TileShape = TileShape {
        rows_per_thread: 16,
        cols_per_thread: 16,
        group_x: 8,
        group_y: 1,
    };
    /// Software adapters, problems at most [`NARROW_COLUMNS`] wide (the first layer's
    /// weight gradient has 9 columns): 8 invocations of 16 x 4.
    const SOFTWARE_NARROW: TileShape = TileShape {
        rows_per_thread: 16,
        cols_per_thread: 4,
        group_x: 8,
        group_y: 1,
    };
    const GPU: TileShape = TileShape {
        rows_per_thread: 4,
        cols_per_thread: 4,
        group_x: 16,
        group_y: 16,
    };

    /// The shapes a kernel can be built with, indexed by [`TileShape::choose`].
    const ALL: [TileShape; 3] = [Self::SOFTWARE, Self::SOFTWARE_NARROW, Self::GPU];

    /// The shape for an output `n` columns wide on this device, as an index into `ALL`.
    fn choose(gpu: &Gpu, n: usize) -> usize {
        if !gpu.software_tiles() {
            2
        } else if n <= NARROW_COLUMNS {
            1
        } else {
            0
        }
    }

    /// Output rows one workgroup covers.
    pub(crate) fn tile_m(self) -> usize {
        self.rows_per_thread * self.group_y
    }

    /// Output columns one workgroup covers.
    pub(crate) fn tile_n(self) -> usize {
        self.cols_per_thread * self.group_x
    }
}

/// WGSL of the core for `t`. Rows and columns past the edge are clamped when read and
/// skipped when written, so any m, n, k works.
fn core_source(t: TileShape) -> String {
    let (tm, tn) = (t.rows_per_thread, t.cols_per_thread);
    let vectors = tn / 4;
    let mut s = String::new();
    s.push_str(&format!(
        "
@compute @workgroup_size({gx}, {gy}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let row0 = (wg.y * {gy}u + lid.y) * {tm}u;
    let col0 = (wg.x * {gx}u + lid.x) * {tn}u;
    let batch = wg.z;
    if (row0 >= p.m || col0 >= p.n) {{
        return;
    }}
    let last_row = p.m - 1u;
    let last_col = p.n - 1u;
",
        gx = t.group_x,
        gy = t.group_y,
    ));
    for r in 0..tm {
        s.push_str(&format!(
            "    let a{r} = row_info(batch, min(row0 + {r}u, last_row));\n"
        ));
    }
    for c in 0..tn {
        s.push_str(&format!(
            "    let b{c} = col_info(batch, min(col0 + {c}u, last_col));\n"
        ));
    }
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
    for r in 0..tm {
        s.push_str(&format!(
            "        let av{r} = vec4<f32>(read_a(a{r}, kk));\n"
        ));
        for v in 0..vectors {
            s.push_str(&format!(
                "        acc{r}_{v} = fma(av{r}, bv{v}, acc{r}_{v});\n"
            ));
        }
    }
    s.push_str("        kk = k_next(kk);\n    }\n");
    for r in 0..tm {
        s.push_str(&format!("    if (row0 + {r}u < p.m) {{\n"));
        for c in 0..tn {
            s.push_str(&format!(
                "        if (col0 + {c}u < p.n) {{ write_c(batch, row0 + {r}u, col0 + {c}u, b{c}, acc{r}_{}[{}]); }}\n",
                c / 4,
                c % 4
            ));
        }
        s.push_str("    }\n");
    }
    s.push_str("}\n");
    s
}

/// A GEMM kernel: a variant's loaders plus the core, built once per tile shape.
pub(crate) struct GemmKernel {
    names: [&'static str; 3],
    loaders: &'static str,
    sources: [OnceLock<String>; 3],
}

impl GemmKernel {
    pub(crate) const fn new(names: [&'static str; 3], loaders: &'static str) -> GemmKernel {
        GemmKernel {
            names,
            loaders,
            sources: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
        }
    }

    /// The kernel and its tile shape for an output `n` columns wide on this device.
    pub(crate) fn for_problem(&'static self, gpu: &Gpu, n: usize) -> (Kernel, TileShape) {
        let index = TileShape::choose(gpu, n);
        let shape = TileShape::ALL[index];
        let source = self.sources[index]
            .get_or_init(|| format!("{}{}", kernel_source(self.loaders), core_source(shape)));
        (
            Kernel {
                name: self.names[index],
                source,
            },
            shape,
        )
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
macro_rules! gemm_kernel {
    ($name:literal, $($file:literal),+ $(,)?) => {
        crate::kernels::gemm::GemmKernel::new(
            [
                concat!($name, "#software"),
                concat!($name, "#software-narrow"),
                concat!($name, "#gpu"),
            ],
            concat!($(include_str!(concat!("../../shaders/", $file))),+),
        )
    };
}
pub(crate) use gemm_kernel;
