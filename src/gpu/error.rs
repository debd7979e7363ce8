//! The one error type of the compute engine: every message names the op, shape or limit
//! involved and, where there is one, what the user can do about it.

use std::fmt;

/// Everything that can go wrong in the engine, as a value (never a panic).
#[derive(Debug, Clone, PartialEq)]
pub enum GpuError {
    /// No adapter was found on any backend that was tried.
    NoAdapter { tried: String, detail: String },
    /// `--adapter NAME` matched none of the adapters present.
    AdapterNotFound {
        wanted: String,
        available: Vec<String>,
    },
    /// The adapter refused to create a device.
    RequestDevice(String),
    /// An op was given tensors whose shapes do not fit together.
    Shape { op: &'static str, detail: String },
    /// A buffer would exceed one of the adapter's limits.
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },
    /// Reading a buffer back to the host failed.
    Readback(String),
    /// A bad argument that is not a shape (an unknown option, a zero stride, ...).
    Invalid { op: &'static str, detail: String },
    /// A kernel did not compile or validate on this adapter, or its parameter struct
    /// differs from the shader's.
    Kernel { name: &'static str, detail: String },
}

impl GpuError {
    pub(crate) fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        GpuError::Shape {
            op,
            detail: detail.into(),
        }
    }
    pub(crate) fn invalid(op: &'static str, detail: impl Into<String>) -> Self {
        GpuError::Invalid {
            op,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter { tried, detail } => write!(
                f,
                "no GPU adapter found (backends tried: {tried}){detail}. Install a GPU driver with \
                 Vulkan, Metal or DX12 support, or Mesa's software Vulkan driver \
                 (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`). \
                 WGPU_BACKEND=vulkan|metal|dx12|gl selects a backend."
            ),
            GpuError::AdapterNotFound { wanted, available } => write!(
                f,
                "no adapter name contains {wanted:?}; available adapters: {}",
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join("; ")
                }
            ),
            GpuError::RequestDevice(e) => write!(f, "the adapter refused to create a device: {e}"),
            GpuError::Shape { op, detail } => write!(f, "{op}: shape mismatch: {detail}"),
            GpuError::TooLarge {
                what,
                bytes,
                limit,
                limit_name,
            } => write!(
                f,
                "{what} needs {bytes} bytes, over this adapter's {limit_name} of {limit} bytes; \
                 use a smaller batch (--batch) or a smaller input size"
            ),
            GpuError::Readback(e) => write!(f, "reading a GPU buffer back failed: {e}"),
            GpuError::Invalid { op, detail } => write!(f, "{op}: {detail}"),
            GpuError::Kernel { name, detail } => write!(
                f,
                "kernel {name} cannot run on this adapter: {detail}. This is a facemtl bug or \
                 an adapter limit: please report it with `facemtl info`'s output"
            ),
        }
    }
}

impl std::error::Error for GpuError {}

impl From<crate::geometry::GeometryError> for GpuError {
    fn from(e: crate::geometry::GeometryError) -> Self {
        use crate::geometry::GeometryError;
        match e {
            GeometryError::Shape { op, detail } => GpuError::Shape { op, detail },
            GeometryError::Invalid { op, detail } => GpuError::Invalid { op, detail },
        }
    }
}

/// Result type of the engine.
pub type Result<T> = std::result::Result<T, GpuError>;
