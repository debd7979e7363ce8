//! Channel concatenation `[n, c_i, h, w] -> [n, sum c_i, h, w]` (the join of an Inception
//! block's branches) and the channel slice its backward takes. The channels of one sample
//! are contiguous but the samples interleave the parts, so this is a strided copy: one
//! dispatch per part (shaders/channels/copy.wgsl), memory-bound.

use super::to_u32;
use crate::gpu::{kernel_params, shape_text, Gpu, GpuError, Kernel, Result, Tensor};

kernel_params! {
    struct Params {
        part_inner: u32,
        whole_inner: u32,
        offset: u32,
        samples: u32,
    }
}

/// The copy with INTO set (part into the whole) or not (out of it): a constant between
/// the common prelude and the body, so each variant compiles to one straight copy.
const INTO: Kernel = Kernel {
    name: "channels/concat",
    source: concat!(
        include_str!("../../shaders/common.wgsl"),
        "const INTO: bool = true;\n",
        include_str!("../../shaders/channels/copy.wgsl")
    ),
};

const OUT_OF: Kernel = Kernel {
    name: "channels/slice",
    source: concat!(
        include_str!("../../shaders/common.wgsl"),
        "const INTO: bool = false;\n",
        include_str!("../../shaders/channels/copy.wgsl")
    ),
};

/// `[n, c, h, w]` of `t`, or a shape error naming `what`.
fn dims(op: &'static str, what: &str, t: &Tensor) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(t.shape()).map_err(|_| {
        GpuError::shape(
            op,
            format!(
                "{what} must be [n, c, h, w] but is {}",
                shape_text(t.shape())
            ),
        )
    })
}

fn copy(
    gpu: &Gpu,
    kernel: &Kernel,
    src: &Tensor,
    dst: &Tensor,
    [n, part_c, h, w]: [usize; 4],
    whole_c: usize,
    first: usize,
) -> Result<()> {
    const OP: &str = "concat_channels";
    let plane = h * w;
    let params = Params {
        part_inner: to_u32(OP, part_c * plane)?,
        whole_inner: to_u32(OP, whole_c * plane)?,
        offset: to_u32(OP, first * plane)?,
        samples: to_u32(OP, n)?,
    };
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let groups_x = (part_c * plane).div_ceil(256);
    if groups_x > max || n > max {
        return Err(GpuError::invalid(
            OP,
            format!(
                "{n} samples of {} elements exceed the adapter's {max} workgroups per \
                 dimension; use a smaller batch or image",
                part_c * plane
            ),
        ));
    }
    gpu.dispatch(
        kernel,
        &params,
        &[src.buffer(), dst.buffer()],
        [groups_x as u32, n as u32, 1],
    )
}

/// The parts side by side along channels: `[n, c_1 + ... + c_k, h, w]`.
pub fn concat_channels(gpu: &Gpu, parts: &[&Tensor]) -> Result<Tensor> {
    const OP: &str = "concat_channels";
    let Some(first) = parts.first() else {
        return Err(GpuError::invalid(OP, "no tensors to concatenate"));
    };
    let [n, _, h, w] = dims(OP, "part 1", first)?;
    let mut all = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let d = dims(OP, &format!("part {}", i + 1), part)?;
        if (d[0], d[2], d[3]) != (n, h, w) {
            return Err(GpuError::shape(
                OP,
                format!(
                    "part {} is {} but part 1 is {}: parts differ only in channels",
                    i + 1,
                    shape_text(part.shape()),
                    shape_text(first.shape())
                ),
            ));
        }
        all.push(d);
    }
    let channels: usize = all.iter().map(|d| d[1]).sum();
    let out = Tensor::uninit(gpu, OP, &[n, channels, h, w])?;
    let mut start = 0;
    for (part, d) in parts.iter().zip(all) {
        copy(gpu, &INTO, part, &out, d, channels, start)?;
        start += d[1];
    }
    Ok(out)
}

/// Channels `[start, start + count)` of `whole` `[n, c, h, w]` -> `[n, count, h, w]`.
pub fn channel_slice(gpu: &Gpu, whole: &Tensor, start: usize, count: usize) -> Result<Tensor> {
    const OP: &str = "channel_slice";
    let [n, c, h, w] = dims(OP, "the tensor", whole)?;
    if count == 0 || start + count > c {
        return Err(GpuError::shape(
            OP,
            format!(
                "channels {start}..{} of a tensor {}",
                start + count,
                shape_text(whole.shape())
            ),
        ));
    }
    let out = Tensor::uninit(gpu, OP, &[n, count, h, w])?;
    copy(gpu, &OUT_OF, whole, &out, [n, count, h, w], c, start)?;
    Ok(out)
}
