//! What a kernel binds: a range of a buffer, or a texel array's view.

/// The range of a device buffer that a kernel binds or a copy reads: a tensor's own
/// buffer, or the slot of a view into a larger one.
#[derive(Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub buffer: &'a wgpu::Buffer,
    /// Bytes from the buffer's start.
    pub offset: u64,
    /// Bytes bound: the data's bytes rounded up to 16 (so vec4 views of odd lengths bind),
    /// never past the buffer's end.
    pub size: u64,
}

impl<'a> Binding<'a> {
    pub(super) fn of(buffer: &'a wgpu::Buffer, offset: u64, bytes: u64) -> Binding<'a> {
        let size = bytes
            .max(16)
            .next_multiple_of(16)
            .min(buffer.size() - offset);
        Binding {
            buffer,
            offset,
            size,
        }
    }

    /// All of `buffer` (e.g. a kernel's small uniform buffer).
    pub(crate) fn whole(buffer: &'a wgpu::Buffer) -> Binding<'a> {
        Binding {
            buffer,
            offset: 0,
            size: buffer.size(),
        }
    }

    pub(crate) fn resource(self) -> wgpu::BindingResource<'a> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.size),
        })
    }
}

/// What a kernel binds after its parameters: a buffer range, or a texel array's view
/// (`Texels::resource`; bound as `texture_2d<f32>` or `texture_storage_2d<rgba32float,
/// write>`, as the shader declares).
#[derive(Clone, Copy)]
pub(crate) enum Resource<'a> {
    Buffer(Binding<'a>),
    Texels(&'a wgpu::TextureView),
}
