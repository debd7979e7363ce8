//! A buffer pool: training repeats the same shapes every step, so buffers are recycled by
//! exact (size, usage) instead of being allocated anew.
//!
//! A released buffer is only *retired* until the pending commands are submitted: commands
//! recorded earlier in the same encoder may still read it, and `queue.write_buffer` into a
//! reused buffer would run before those commands. After a submit, queue order makes reuse safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (u64, wgpu::BufferUsages);

#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<Key, Vec<wgpu::Buffer>>,
    retired: Vec<(Key, wgpu::Buffer)>,
    allocated_bytes: u64,
    in_use_bytes: u64,
}

/// Byte counts of the pool, for memory-growth checks and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Every byte the pool holds on the device (in use, retired or free).
    pub allocated_bytes: u64,
    /// Bytes held by live tensors and in-flight kernel parameters.
    pub in_use_bytes: u64,
}

impl BufferPool {
    pub(crate) fn acquire(
        &mut self,
        device: &wgpu::Device,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        self.in_use_bytes += size;
        if let Some(buffer) = self.free.get_mut(&(size, usage)).and_then(Vec::pop) {
            return buffer;
        }
        self.allocated_bytes += size;
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("facemtl pooled buffer"),
            size,
            usage,
            mapped_at_creation: false,
        })
    }

    fn release(&mut self, size: u64, usage: wgpu::BufferUsages, buffer: wgpu::Buffer) {
        self.in_use_bytes -= size;
        self.retired.push(((size, usage), buffer));
    }

    /// Called after every submit: retired buffers become reusable.
    pub(crate) fn after_submit(&mut self) {
        for (key, buffer) in self.retired.drain(..) {
            self.free.entry(key).or_default().push(buffer);
        }
    }

    /// Drops every free buffer (the device memory goes back to the driver).
    pub(crate) fn trim(&mut self) {
        for (key, buffers) in self.free.drain() {
            self.allocated_bytes -= key.0 * buffers.len() as u64;
        }
    }

    pub(crate) fn stats(&self) -> MemoryStats {
        MemoryStats {
            allocated_bytes: self.allocated_bytes,
            in_use_bytes: self.in_use_bytes,
        }
    }
}

/// A buffer on loan from the pool; dropping it gives it back.
pub(crate) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    size: u64,
    usage: wgpu::BufferUsages,
    pool: Arc<Mutex<BufferPool>>,
}

impl PooledBuffer {
    pub(crate) fn new(
        pool: &Arc<Mutex<BufferPool>>,
        device: &wgpu::Device,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> Self {
        let buffer = pool
            .lock()
            .expect("buffer pool lock")
            .acquire(device, size, usage);
        PooledBuffer {
            buffer: Some(buffer),
            size,
            usage,
            pool: Arc::clone(pool),
        }
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.buffer
            .as_ref()
            .expect("a pooled buffer is only taken on drop")
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let (Some(buffer), Ok(mut pool)) = (self.buffer.take(), self.pool.lock()) {
            pool.release(self.size, self.usage, buffer);
        }
    }
}

/// Texel arrays (`Texels`) given back, by their rows, for the next of that size.
#[derive(Default)]
pub(crate) struct TexturePool {
    free: std::collections::HashMap<u32, Vec<wgpu::Texture>>,
}

impl TexturePool {
    /// A free texture of `rows` rows, if one was given back.
    pub(crate) fn take(&mut self, rows: u32) -> Option<wgpu::Texture> {
        self.free.get_mut(&rows).and_then(Vec::pop)
    }

    pub(crate) fn give_back(&mut self, rows: u32, texture: wgpu::Texture) {
        self.free.entry(rows).or_default().push(texture);
    }
}
