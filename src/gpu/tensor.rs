//! GPU-resident tensors: f32 NCHW `Tensor`s and u32 `Indices` (class labels, argmax).

use super::binding::{Binding, Resource};
use super::context::Gpu;
use super::error::{GpuError, Result};
use std::sync::Arc;

use super::pool::PooledBuffer;

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Shape as text for error messages, e.g. `[2, 3, 5, 5]`.
pub fn shape_text(shape: &[usize]) -> String {
    format!("{shape:?}")
}

fn element_count(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// A dense f32 tensor on the device, row-major (NCHW for images). Cloning is cheap and
/// shares the device buffer (a clone is another handle, not a copy). A tensor owns its
/// buffer, or is a [view](Tensor::view) of a slot in another tensor's buffer (the
/// optimiser keeps a parameter group in one flat buffer this way).
#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    storage: Arc<PooledBuffer>,
    /// Where the data starts in `storage`, in elements (0 unless a view).
    start: usize,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

impl Tensor {
    /// Allocates an uninitialised tensor (NaN-filled when the gpu poisons outputs).
    pub(crate) fn uninit(gpu: &Gpu, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        let len = element_count(shape);
        let bytes = 4 * len as u64;
        gpu.check_size(
            || format!("{op}: tensor of shape {}", shape_text(shape)),
            bytes,
        )?;
        let storage = Arc::new(gpu.buffer(bytes, STORAGE));
        if gpu.poison_outputs() && len > 0 {
            let nan = vec![f32::NAN; len];
            gpu.shared
                .queue
                .write_buffer(storage.buffer(), 0, bytemuck::cast_slice(&nan));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            storage,
            start: 0,
        })
    }

    /// Uploads `data` (row-major) as a tensor of `shape`.
    pub fn from_slice(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        if element_count(shape) != data.len() {
            return Err(GpuError::shape(
                "upload",
                format!(
                    "shape {} holds {} values, got {}",
                    shape_text(shape),
                    element_count(shape),
                    data.len()
                ),
            ));
        }
        let bytes = 4 * data.len() as u64;
        gpu.check_size(
            || format!("upload: tensor of shape {}", shape_text(shape)),
            bytes,
        )?;
        let storage = Arc::new(gpu.buffer(bytes, STORAGE));
        if !data.is_empty() {
            // Safe without a flush: a freshly acquired buffer is not used by pending commands.
            gpu.shared
                .queue
                .write_buffer(storage.buffer(), 0, bytemuck::cast_slice(data));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            storage,
            start: 0,
        })
    }

    /// A tensor of zeros.
    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        Tensor::full(gpu, shape, 0.0)
    }

    /// A tensor with every element `value`.
    pub fn full(gpu: &Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
        let len = element_count(shape);
        let bytes = 4 * len as u64;
        gpu.check_size(
            || format!("full: tensor of shape {}", shape_text(shape)),
            bytes,
        )?;
        if value.to_bits() != 0 {
            return Tensor::from_slice(gpu, shape, &vec![value; len]);
        }
        let tensor = Tensor {
            shape: shape.to_vec(),
            storage: Arc::new(gpu.buffer(bytes, STORAGE)),
            start: 0,
        };
        let buffer = tensor.storage.buffer();
        gpu.record(|encoder| encoder.clear_buffer(buffer, 0, None));
        Ok(tensor)
    }

    /// Elements a [view](Tensor::view)'s start must be a multiple of: the adapter's storage
    /// binding offset alignment, and at least 4 (16 bytes).
    pub fn view_alignment(gpu: &Gpu) -> usize {
        (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(4)
    }

    /// Elements `[start, start + len(shape))` of this tensor as a tensor of `shape` that
    /// shares the buffer: kernels that write the view write this tensor. `start` must be a
    /// multiple of [`Tensor::view_alignment`].
    pub fn view(&self, gpu: &Gpu, start: usize, shape: &[usize]) -> Result<Tensor> {
        let len = element_count(shape);
        let alignment = Tensor::view_alignment(gpu);
        if start % alignment != 0 || start + len > self.len() {
            return Err(GpuError::shape(
                "view",
                format!(
                    "elements {start}..{} as {} of a tensor {} with {} (a view starts at a \
                     multiple of {alignment})",
                    start + len,
                    shape_text(shape),
                    shape_text(&self.shape),
                    self.len()
                ),
            ));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            storage: Arc::clone(&self.storage),
            start: self.start + start,
        })
    }

    /// Sets every element to `value`, after all work recorded so far.
    pub fn fill(&self, gpu: &Gpu, value: f32) -> Result<()> {
        if value.to_bits() == 0 {
            let b = self.buffer();
            let bytes = 4 * self.len() as u64;
            gpu.record(|encoder| encoder.clear_buffer(b.buffer, b.offset, Some(bytes)));
            Ok(())
        } else {
            self.write(gpu, &vec![value; self.len()])
        }
    }

    /// Replaces the contents with `data` (same length), after all work recorded so far.
    pub fn write(&self, gpu: &Gpu, data: &[f32]) -> Result<()> {
        if data.len() != self.len() {
            return Err(GpuError::shape(
                "write",
                format!(
                    "tensor {} holds {} values, got {}",
                    shape_text(&self.shape),
                    self.len(),
                    data.len()
                ),
            ));
        }
        // Pending commands may read this buffer: submit them first so that queue order
        // puts the write after them.
        gpu.flush();
        if !data.is_empty() {
            gpu.shared.queue.write_buffer(
                self.storage.buffer(),
                self.byte_offset(),
                bytemuck::cast_slice(data),
            );
        }
        Ok(())
    }

    /// Copies the tensor to the host (submits pending work and waits).
    pub fn to_vec(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let bytes = gpu.read_bytes(self.buffer(), 4 * self.len() as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The same data seen with another shape of the same number of elements (shares the
    /// buffer).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if element_count(shape) != self.len() {
            return Err(GpuError::shape(
                "reshape",
                format!(
                    "cannot view {} as {}",
                    shape_text(&self.shape),
                    shape_text(shape)
                ),
            ));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            storage: Arc::clone(&self.storage),
            start: self.start,
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        element_count(&self.shape)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies elements `[offset, offset + len)` into a new 1-D tensor, in order with the
    /// recorded kernels.
    pub fn slice(&self, gpu: &Gpu, offset: usize, len: usize) -> Result<Tensor> {
        if offset + len > self.len() {
            return Err(GpuError::shape(
                "slice",
                format!(
                    "elements {offset}..{} of a tensor {} with {}",
                    offset + len,
                    shape_text(&self.shape),
                    self.len()
                ),
            ));
        }
        let out = Tensor::uninit(gpu, "slice", &[len])?;
        copy_elements(gpu, self.buffer(), offset, out.buffer(), 0, len);
        Ok(out)
    }

    /// Copies this tensor's elements into `dst` (the same number of elements, another
    /// buffer), in order with the recorded kernels.
    pub fn copy_to(&self, gpu: &Gpu, dst: &Tensor) -> Result<()> {
        if dst.len() != self.len() {
            return Err(GpuError::shape(
                "copy",
                format!(
                    "cannot copy a tensor {} into a tensor {}",
                    shape_text(&self.shape),
                    shape_text(&dst.shape)
                ),
            ));
        }
        self.copy_into(gpu, dst, 0)
    }

    /// Copies this tensor's elements into `dst` from its element `at` on (another buffer),
    /// in order with the recorded kernels.
    pub fn copy_into(&self, gpu: &Gpu, dst: &Tensor, at: usize) -> Result<()> {
        if at + self.len() > dst.len() || Arc::ptr_eq(&self.storage, &dst.storage) {
            return Err(GpuError::shape(
                "copy",
                format!(
                    "cannot copy a tensor {} into elements {at}.. of a tensor {}{}",
                    shape_text(&self.shape),
                    shape_text(&dst.shape),
                    if Arc::ptr_eq(&self.storage, &dst.storage) {
                        " of the same buffer"
                    } else {
                        ""
                    }
                ),
            ));
        }
        copy_elements(gpu, self.buffer(), 0, dst.buffer(), at, self.len());
        Ok(())
    }

    /// Concatenates flat tensors into one 1-D tensor (device-side copies).
    pub fn concat(gpu: &Gpu, parts: &[&Tensor]) -> Result<Tensor> {
        let total = parts.iter().map(|p| p.len()).sum();
        let out = Tensor::uninit(gpu, "concat", &[total])?;
        let mut offset = 0;
        for part in parts {
            copy_elements(gpu, part.buffer(), 0, out.buffer(), offset, part.len());
            offset += part.len();
        }
        Ok(out)
    }

    /// The range of the device buffer that holds this tensor, for binding to a kernel.
    /// The tensor's data as a kernel binding.
    pub(crate) fn resource(&self) -> Resource<'_> {
        Resource::Buffer(self.buffer())
    }

    pub(crate) fn buffer(&self) -> Binding<'_> {
        Binding::of(
            self.storage.buffer(),
            self.byte_offset(),
            4 * self.len() as u64,
        )
    }

    fn byte_offset(&self) -> u64 {
        4 * self.start as u64
    }
}

/// Copies `len` elements from `src` (from its element `src_offset`) to `dst` (from
/// `dst_offset`), in order with the recorded kernels.
fn copy_elements(
    gpu: &Gpu,
    src: Binding<'_>,
    src_offset: usize,
    dst: Binding<'_>,
    dst_offset: usize,
    len: usize,
) {
    if len > 0 {
        gpu.record(|encoder| {
            encoder.copy_buffer_to_buffer(
                src.buffer,
                src.offset + 4 * src_offset as u64,
                dst.buffer,
                dst.offset + 4 * dst_offset as u64,
                4 * len as u64,
            )
        });
    }
}

/// A vector of u32 on the device: class labels, or max-pool argmax positions. Clones
/// share the buffer.
#[derive(Clone)]
pub struct Indices {
    len: usize,
    storage: Arc<PooledBuffer>,
}

impl Indices {
    pub(crate) fn uninit(gpu: &Gpu, op: &'static str, len: usize) -> Result<Indices> {
        let bytes = 4 * len as u64;
        gpu.check_size(|| format!("{op}: {len} indices"), bytes)?;
        Ok(Indices {
            len,
            storage: Arc::new(gpu.buffer(bytes, STORAGE)),
        })
    }

    /// Uploads `data`.
    pub fn from_slice(gpu: &Gpu, data: &[u32]) -> Result<Indices> {
        let indices = Indices::uninit(gpu, "upload", data.len())?;
        if !data.is_empty() {
            gpu.shared
                .queue
                .write_buffer(indices.storage.buffer(), 0, bytemuck::cast_slice(data));
        }
        Ok(indices)
    }

    /// Copies the indices to the host.
    pub fn to_vec(&self, gpu: &Gpu) -> Result<Vec<u32>> {
        let bytes = gpu.read_bytes(self.buffer(), 4 * self.len as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device buffer that holds the indices, for binding to a kernel.
    pub(crate) fn buffer(&self) -> Binding<'_> {
        Binding::of(self.storage.buffer(), 0, 4 * self.len as u64)
    }
}
