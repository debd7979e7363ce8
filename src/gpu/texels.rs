//! Texel arrays: rgba32float textures addressed as one flat array of vec4 texels (texel
//! `i` at column `i % TEXEL_ROW`, row `i / TEXEL_ROW`), for kernels that gather from
//! them. On llvmpipe a storage-buffer load runs a loop over the SIMD lanes that inserts
//! each lane's value into a vector through memory (a store-forwarding stall per lane),
//! while a texel fetch is an unrolled gather in registers that returns four floats
//! (BENCHMARKS.md, "Texel operands on software adapters"). The GEMM's texel path (`kernels::texel_gemm`) packs its operands into
//! these.
//!
//! Textures are recycled by height, like buffers. A texture is only ever written by
//! kernels recorded in the one pending encoder, never by `queue.write_texture`, so unlike
//! a buffer it may be reused at once: commands run in the order they were recorded.

use std::sync::{Arc, Mutex};

use super::binding::{Binding, Resource};
use super::context::Gpu;
use super::error::{GpuError, Result};
use super::pool::TexturePool;

/// Texels per texture row (a power of two, so the shaders split an index with a mask and
/// a shift: `shaders/gemm/operands_texels.wgsl` and `shaders/texels/pack_*.wgsl` write
/// `i & 4095u, i >> 12u`; a test below holds them to this constant).
const TEXEL_ROW: u32 = 4096;

/// Bytes per texel (four f32s).
const TEXEL_BYTES: u32 = 16;

/// The buffer texel fills go through ([`Texels::fill_through_staging`]), one per device;
/// like the textures, outside the buffer pool's accounting.
#[derive(Default)]
struct Staging(Mutex<Option<wgpu::Buffer>>);

/// A texel array on loan from the pool; dropping it gives it back.
pub(crate) struct Texels {
    texture: Option<wgpu::Texture>,
    view: wgpu::TextureView,
    rows: u32,
    pool: Arc<Mutex<TexturePool>>,
}

impl Texels {
    /// Room for `texels` texels, or an error naming the adapter's limit when a texture that
    /// large is past it (callers then take a path without textures).
    pub(crate) fn new(gpu: &Gpu, what: &str, texels: usize) -> Result<Texels> {
        let rows = texels.div_ceil(TEXEL_ROW as usize).max(1);
        let limit = gpu.limits().max_texture_dimension_2d;
        if rows > limit as usize {
            return Err(GpuError::invalid(
                "texels",
                format!(
                    "{what}: {texels} texels need a texture {rows} rows tall, over the \
                     adapter's max_texture_dimension_2d of {limit}"
                ),
            ));
        }
        let rows = rows as u32;
        let pool = Arc::clone(&gpu.shared.textures);
        let reused = pool.lock().expect("texture pool lock").take(rows);
        let texture = reused.unwrap_or_else(|| {
            gpu.shared.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("facemtl texels"),
                size: wgpu::Extent3d {
                    width: TEXEL_ROW,
                    height: rows,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Float,
                usage: wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        });
        let view = texture.create_view(&Default::default());
        Ok(Texels {
            texture: Some(texture),
            view,
            rows,
            pool,
        })
    }

    /// The array as a dispatch binds it.
    pub(crate) fn resource(&self) -> Resource<'_> {
        Resource::Texels(&self.view)
    }

    /// Fills the first `texels` texels of the array through the device's staging buffer:
    /// `write` records a kernel that writes them to the buffer it is given, in order as
    /// vec4s from its start, then a copy into the array is recorded. The buffer is one per
    /// device, grown to the largest fill and reused at once: like a texture, only commands
    /// recorded in the one pending encoder touch it, and they run in order. It is held
    /// from the kernel to the copy, so fills from two threads do not interleave.
    pub(crate) fn fill_through_staging(
        &self,
        gpu: &Gpu,
        texels: usize,
        write: impl FnOnce(Binding<'_>) -> Result<()>,
    ) -> Result<()> {
        let staging = gpu.state(|_| Staging::default());
        let mut slot = staging.0.lock().expect("staging buffer lock");
        let bytes = texels as u64 * TEXEL_BYTES as u64;
        if slot.as_ref().is_none_or(|b| b.size() < bytes) {
            // Made by the device, not the pool, so that a buffer it outgrows is freed.
            *slot = Some(gpu.shared.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("facemtl texel staging"),
                size: bytes.max(TEXEL_BYTES as u64),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }));
        }
        let buffer = slot.as_ref().expect("a staging buffer");
        write(Binding::whole(buffer))?;
        self.copy_from(gpu, buffer, texels);
        Ok(())
    }

    /// Records a copy of the first `texels` texels of the array from `src`, which holds
    /// them in order as vec4s (16 bytes each) from its start: the whole rows, then the
    /// rest of the last one.
    fn copy_from(&self, gpu: &Gpu, src: &wgpu::Buffer, texels: usize) {
        let texture = self
            .texture
            .as_ref()
            .expect("a texel array holds its texture");
        let (full_rows, rest) = (texels / TEXEL_ROW as usize, texels % TEXEL_ROW as usize);
        let row_bytes = TEXEL_ROW * TEXEL_BYTES;
        let part = |first_row: u32, width: u32, height: u32| {
            (
                wgpu::TexelCopyBufferInfo {
                    buffer: src,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: first_row as u64 * row_bytes as u64,
                        bytes_per_row: Some(row_bytes),
                        rows_per_image: None,
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: first_row,
                        z: 0,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
            )
        };
        gpu.record(|encoder| {
            for (width, height, first_row) in [
                (TEXEL_ROW, full_rows as u32, 0),
                (rest as u32, 1, full_rows as u32),
            ] {
                if width > 0 && height > 0 {
                    let (from, to, size) = part(first_row, width, height);
                    encoder.copy_buffer_to_texture(from, to, size);
                }
            }
        });
    }

    /// Whether `texels` texels fit one texture on this adapter.
    pub(crate) fn fit(gpu: &Gpu, texels: usize) -> bool {
        texels.div_ceil(TEXEL_ROW as usize) <= gpu.limits().max_texture_dimension_2d as usize
    }
}

impl Drop for Texels {
    fn drop(&mut self) {
        if let (Some(texture), Ok(mut pool)) = (self.texture.take(), self.pool.lock()) {
            pool.give_back(self.rows, texture);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TEXEL_ROW;

    #[test]
    fn the_shaders_split_texel_indices_by_this_row_length() {
        assert!(TEXEL_ROW.is_power_of_two());
        let split = format!(
            "vec2<u32>(i & {}u, i >> {}u)",
            TEXEL_ROW - 1,
            TEXEL_ROW.trailing_zeros()
        );
        for (file, source) in [
            (
                "gemm/operands_texels.wgsl",
                include_str!("../../shaders/gemm/operands_texels.wgsl"),
            ),
            (
                "texels/pack_filters_c4.wgsl",
                include_str!("../../shaders/texels/pack_filters_c4.wgsl"),
            ),
        ] {
            assert!(
                source.contains(&split),
                "shaders/{file} does not address texels as `{split}` (TEXEL_ROW {TEXEL_ROW})"
            );
        }
    }
}
