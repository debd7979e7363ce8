//! The device side: context, bindings, buffer and texture pools, tensors, texel arrays and
//! the engine's error type. Modules depend one way: binding, error and pool on nothing
//! here; context on them; tensor and texels on context.

mod binding;
mod context;
mod dump;
mod error;
mod pool;
mod profiler;
mod tensor;
mod texels;

pub(crate) use binding::{Binding, Resource};
pub(crate) use context::{grid_1d, kernel_params, Kernel, KernelParams};
pub use context::{Gpu, GpuOptions};
pub use error::{GpuError, Result};
pub use pool::MemoryStats;
pub use profiler::KernelTime;
pub use tensor::{shape_text, Indices, Tensor};
pub(crate) use texels::Texels;
