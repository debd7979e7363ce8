//! The device side: context, buffer pool, tensors and the engine's error type.

mod context;
mod dump;
mod error;
mod pool;
mod profiler;
mod tensor;
mod texels;

pub(crate) use context::{grid_1d, kernel_params, Kernel, KernelParams, Resource};
pub use context::{Gpu, GpuOptions};
pub use error::{GpuError, Result};
pub use pool::MemoryStats;
pub use profiler::KernelTime;
pub(crate) use tensor::Binding;
pub use tensor::{shape_text, Indices, Tensor};
pub(crate) use texels::Texels;
