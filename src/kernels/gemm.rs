//! The GEMM core that matmul and the three convolution passes share, generated per adapter
//! class. Each invocation keeps a TM x TN block of C in vec4 registers, written out as
//! straight-line code; the tile shape is chosen per class of adapter:
//!
//! - software adapters (lavapipe): 8 invocations (one llvmpipe SIMD vector) of 8x8 each,
//!   an 8 x 64 tile. Measured in a training epoch (FACEMTL_PROFILE=1, see BENCHMARKS.md):
//!   conv forward + backward 1.9x faster than 64 invocations of 4x4.
//! - GPUs: 16 x 16 invocations of 4x4 each, a 64 x 64 tile.
//!
//! A variant file (shaders/gemm/*.wgsl) supplies `Params` (with m, n, k), `row_info`,
//! `col_info`, `k_info`, `read_a`, `read_b` and `write_c`; see `core_source`.

use std::sync::OnceLock;

use super::kernel_source;
use crate::gpu::{Gpu, GpuError, Kernel, Result};

/// Outputs per invocation (rows, columns) and invocations per workgroup (x, y).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileShape {
    pub rows_per_thread: usize,
    pub cols_per_thread: usize,
    pub group_x: usize,
    pub group_y: usize,
}

impl TileShape {
    const SOFTWARE: TileShape = TileShape {
        rows_per_thread: 8,
        cols_per_thread: 8,
        group_x: 8,
        group_y: 1,
    };
    const GPU: TileShape = TileShape {
        rows_per_thread: 4,
        cols_per_thread: 4,
        group_x: 16,
        group_y: 16,
    };

    pub(crate) fn for_gpu(gpu: &Gpu) -> TileShape {
        if gpu.software_tiles() {
            TileShape::SOFTWARE
        } else {
            TileShape::GPU
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
fn store_row(batch: u32, row: u32, col0: u32, v: vec4<f32>) {{
    if (row >= p.m) {{
        return;
    }}
    for (var j = 0u; j < 4u; j = j + 1u) {{
        if (col0 + j < p.n) {{
            write_c(batch, row, col0 + j, v[j]);
        }}
    }}
}}

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
    s.push_str("    for (var k = 0u; k < p.k; k = k + 1u) {\n        let kk = k_info(batch, k);\n");
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
    s.push_str("    }\n");
    for r in 0..tm {
        for v in 0..vectors {
            s.push_str(&format!(
                "    store_row(batch, row0 + {r}u, col0 + {}u, acc{r}_{v});\n",
                4 * v
            ));
        }
    }
    s.push_str("}\n");
    s
}

/// A GEMM kernel: a variant's loaders plus the core, built once per adapter class.
pub(crate) struct GemmKernel {
    names: [&'static str; 2],
    loaders: &'static str,
    sources: [OnceLock<String>; 2],
}

impl GemmKernel {
    pub(crate) const fn new(names: [&'static str; 2], loaders: &'static str) -> GemmKernel {
        GemmKernel {
            names,
            loaders,
            sources: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The kernel and its tile shape for this device.
    pub(crate) fn for_gpu(&'static self, gpu: &Gpu) -> (Kernel, TileShape) {
        let shape = TileShape::for_gpu(gpu);
        let class = usize::from(!gpu.software_tiles());
        let source = self.sources[class]
            .get_or_init(|| format!("{}{}", kernel_source(self.loaders), core_source(shape)));
        (
            Kernel {
                name: self.names[class],
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
            [concat!($name, "#software"), concat!($name, "#gpu")],
            concat!($(include_str!(concat!("../../shaders/", $file))),+),
        )
    };
}
pub(crate) use gemm_kernel;
