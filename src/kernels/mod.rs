//! Launchers of the WGSL kernels: one module per kernel family, each checking shapes,
//! filling the kernel's parameter struct and recording the dispatch. The WGSL itself lives
//! in `shaders/` and is compiled into the binary.

pub mod channels;
pub mod conv;
pub mod elementwise;
pub(crate) mod gemm;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub(crate) mod plan;
pub use plan::{describe_tiles, texel_path, GemmPlan, GemmSwitches};
pub mod pool;
pub mod reduce;
pub(crate) mod texel_gemm;

use crate::gpu::{shape_text, GpuError, Result, Tensor};

/// A kernel built from `shaders/common.wgsl` followed by the named shader files.
macro_rules! kernel {
    ($name:expr, $($file:literal),+ $(,)?) => {
        crate::gpu::Kernel {
            name: $name,
            source: concat!(
                include_str!("../../shaders/common.wgsl"),
                $(include_str!(concat!("../../shaders/", $file))),+
            ),
        }
    };
}
pub(crate) use kernel;

/// `shaders/common.wgsl` followed by `body` (for kernels whose source is built at run time).
pub(crate) fn kernel_source(body: &str) -> String {
    format!("{}{body}", include_str!("../../shaders/common.wgsl"))
}

/// Fails with a shape error unless `b` has the shape of `a`.
pub(crate) fn expect_same_shape(
    op: &'static str,
    a: (&str, &Tensor),
    b: (&str, &Tensor),
) -> Result<()> {
    if a.1.shape() == b.1.shape() {
        Ok(())
    } else {
        Err(GpuError::shape(
            op,
            format!(
                "{} is {} but {} is {}",
                a.0,
                shape_text(a.1.shape()),
                b.0,
                shape_text(b.1.shape())
            ),
        ))
    }
}

/// Fails with a shape error unless `t` has exactly `shape`.
pub(crate) fn expect_shape(
    op: &'static str,
    what: &str,
    t: &Tensor,
    shape: &[usize],
) -> Result<()> {
    if t.shape() == shape {
        Ok(())
    } else {
        Err(GpuError::shape(
            op,
            format!(
                "{what} must be {} but is {}",
                shape_text(shape),
                shape_text(t.shape())
            ),
        ))
    }
}

/// Fails unless `t` is 2-D, returning (rows, cols).
pub(crate) fn expect_matrix(op: &'static str, what: &str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.shape() {
        [rows, cols] => Ok((rows, cols)),
        _ => Err(GpuError::shape(
            op,
            format!(
                "{what} must be 2-D [rows, cols], got {}",
                shape_text(t.shape())
            ),
        )),
    }
}

/// [N, C] or [N, C, H, W] as (N, C, H*W): the layout of per-channel reductions.
pub(crate) fn channel_layout(op: &'static str, t: &Tensor) -> Result<(usize, usize, usize)> {
    match *t.shape() {
        [n, c] => Ok((n, c, 1)),
        [n, c, h, w] => Ok((n, c, h * w)),
        _ => Err(GpuError::shape(
            op,
            format!(
                "input must be [N, C] or [N, C, H, W], got {}",
                shape_text(t.shape())
            ),
        )),
    }
}

/// Kernel parameters are u32 on the device; sizes past u32 are refused.
pub(crate) fn to_u32(op: &'static str, value: usize) -> Result<u32> {
    u32::try_from(value).map_err(|_| {
        GpuError::invalid(
            op,
            format!("size {value} exceeds the u32 range of the kernels"),
        )
    })
}
