//! The `Gpu` context: adapter choice, device and queue, the pipeline cache, the buffer pool
//! and the one pending command encoder that every kernel records into.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::binding::{Binding, Resource};
use super::dump::WgslDump;
use super::error::{GpuError, Result};
use super::pool::{BufferPool, MemoryStats, PooledBuffer, TexturePool};
use super::profiler::{KernelTime, Profiler};

/// How to pick the adapter.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Keep only adapters whose name contains this (case-insensitive), e.g. "llvmpipe", "H200".
    pub adapter: Option<String>,
    /// Do not log the chosen adapter to stderr.
    pub quiet: bool,
    /// Also say what the adapter means for training speed (a software adapter, an old
    /// Mesa, the GL backend): for the commands that train, not for eval or predict.
    pub speed_notes: bool,
}

/// A WGSL compute kernel: a name for errors and profiles, and its source text (the
/// pipeline cache is keyed by the source, so two kernels never share a pipeline by name).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kernel {
    pub name: &'static str,
    pub source: &'static str,
}

/// A kernel's uniform parameter struct (binding 0), declared once with
/// [`kernel_params!`](crate::gpu::kernel_params): the Rust struct and, in `FIELDS`, its
/// field names and WGSL types, which are checked against the shader's `struct Params` when
/// the kernel is first compiled.
pub(crate) trait KernelParams: bytemuck::Pod {
    const FIELDS: &'static [(&'static str, &'static str)];
}

/// Declares a kernel parameter struct: `#[repr(C)]`, Pod, and its [`KernelParams`] field
/// list. Fields must be 4-byte scalars (u32, i32, f32), as WGSL lays them out without
/// padding.
macro_rules! kernel_params {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($field:ident : $ty:ident),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $($field: $ty),*
        }
        impl crate::gpu::KernelParams for $name {
            const FIELDS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($field), stringify!($ty))),*];
        }
    };
}
pub(crate) use kernel_params;

/// The fields of the shader's `struct Params` as (name, type), comments dropped; None
/// when the source has no such struct.
fn shader_params(source: &str) -> Option<Vec<(String, String)>> {
    let start = source.find("struct Params {")? + "struct Params {".len();
    let body = &source[start..start + source[start..].find('}')?];
    let fields = body
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .flat_map(|line| line.split(','))
        .filter_map(|field| {
            let (name, ty) = field.split_once(':')?;
            Some((name.trim().to_string(), ty.trim().to_string()))
        })
        .collect();
    Some(fields)
}

/// Checks that the Rust parameter struct `fields` is the shader's `struct Params`, field
/// by field (a drift would silently feed the kernel wrong numbers).
fn check_params_layout(kernel: &Kernel, fields: &[(&str, &str)]) -> Result<()> {
    let rust: Vec<(String, String)> = fields
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let scalar = |t: &str| matches!(t, "u32" | "i32" | "f32");
    let shader = shader_params(kernel.source).unwrap_or_default();
    if shader != rust || !rust.iter().all(|(_, t)| scalar(t)) {
        let text = |f: &[(String, String)]| {
            f.iter()
                .map(|(n, t)| format!("{n}: {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(GpuError::Kernel {
            name: kernel.name,
            detail: format!(
                "its shader's struct Params is {{{}}} but the Rust side passes {{{}}} \
                 (fields must match in order and be u32, i32 or f32)",
                text(&shader),
                text(&rust)
            ),
        });
    }
    Ok(())
}

/// Handle to the device; cheap to clone (all clones share one device, pool and encoder).
#[derive(Clone)]
pub struct Gpu {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub pool: Arc<Mutex<BufferPool>>,
    pub textures: Arc<Mutex<TexturePool>>,
    /// Compiled kernels by source (its address and length: every source is a distinct
    /// `'static` string, so no two different sources share a key).
    pipelines: Mutex<HashMap<(usize, usize), Arc<wgpu::ComputePipeline>>>,
    pending: Mutex<Option<wgpu::CommandEncoder>>,
    poison_outputs: AtomicBool,
    /// What the layers above keep per device, one value per type (e.g. the GEMM
    /// switches of `kernels::plan`): see [`Gpu::state`].
    states: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    submits: AtomicU64,
    dispatches: AtomicU64,
    /// Bound where a kernel's optional input (e.g. a bias) is absent.
    placeholder: wgpu::Buffer,
    /// With FACEMTL_PROFILE set: device time per kernel (see `profiler`).
    profile: Option<Mutex<Profiler>>,
    /// With FACEMTL_DUMP_WGSL set: where each compiled kernel's WGSL goes.
    dump: Option<WgslDump>,
    /// Once [`Gpu::record_plans`] is called: each GEMM plan made, described, and how often.
    plans: Mutex<Option<BTreeMap<String, u64>>>,
}

/// Rank of a device type: discrete GPUs first, software adapters last.
fn preference(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// Backend names, e.g. "Vulkan, GL".
fn backend_names(backends: wgpu::Backends) -> String {
    let names = [
        (wgpu::Backends::VULKAN, "Vulkan"),
        (wgpu::Backends::METAL, "Metal"),
        (wgpu::Backends::DX12, "DX12"),
        (wgpu::Backends::GL, "GL"),
        (wgpu::Backends::BROWSER_WEBGPU, "WebGPU"),
    ];
    let present: Vec<&str> = names
        .iter()
        .filter(|(b, _)| backends.contains(*b))
        .map(|(_, n)| *n)
        .collect();
    if present.is_empty() {
        "none".to_string()
    } else {
        present.join(", ")
    }
}

async fn adapters_for(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = backends;
    wgpu::Instance::new(descriptor)
        .enumerate_adapters(backends)
        .await
}

/// The adapter facemtl would choose: `WGPU_BACKEND` if set, else Vulkan/Metal/DX12, falling
/// back to GL only when those find nothing (GL compiles large shaders slowly).
async fn choose_adapter(options: &GpuOptions) -> Result<wgpu::Adapter> {
    let (mut adapters, tried) = match wgpu::Backends::from_env() {
        Some(backends) if backends.is_empty() => {
            let value = std::env::var("WGPU_BACKEND").unwrap_or_default();
            return Err(GpuError::NoAdapter {
                tried: format!(
                    "none: WGPU_BACKEND={value:?} names no backend; use vulkan, metal, dx12 or gl, or unset it"
                ),
                detail: String::new(),
            });
        }
        Some(backends) => (
            adapters_for(backends).await,
            format!("{} (from WGPU_BACKEND)", backend_names(backends)),
        ),
        None => {
            let primary = adapters_for(wgpu::Backends::PRIMARY).await;
            if primary.is_empty() {
                (
                    adapters_for(wgpu::Backends::GL).await,
                    "Vulkan, Metal, DX12, GL".to_string(),
                )
            } else {
                (primary, "Vulkan, Metal, DX12".to_string())
            }
        }
    };
    if adapters.is_empty() {
        return Err(GpuError::NoAdapter {
            tried,
            detail: String::new(),
        });
    }
    if let Some(wanted) = &options.adapter {
        let available: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
        let needle = wanted.to_lowercase();
        adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
        if adapters.is_empty() {
            return Err(GpuError::AdapterNotFound {
                wanted: wanted.clone(),
                available,
            });
        }
    }
    adapters.sort_by_key(|a| {
        let info = a.get_info();
        (
            preference(info.device_type),
            info.backend != wgpu::Backend::Vulkan,
        )
    });
    Ok(adapters.remove(0))
}

/// The Mesa major version that BENCHMARKS.md ("Mesa 22.3 against Mesa 25") measured a
/// software adapter's step on as 1.3x faster than Mesa 22.3 (whose storage-buffer loads
/// cost several times more).
const FASTER_MESA: u32 = 25;

/// The Mesa version (e.g. "22.3.6") of a software Vulkan adapter older than
/// [`FASTER_MESA`], from the driver's version text (lavapipe: "Mesa 22.3.6 (LLVM 15.0.6)").
fn older_mesa_than_measured(info: &wgpu::AdapterInfo) -> Option<String> {
    if info.device_type != wgpu::DeviceType::Cpu || info.backend != wgpu::Backend::Vulkan {
        return None;
    }
    mesa_older_than(&info.driver_info, FASTER_MESA)
}

fn mesa_older_than(driver_info: &str, major: u32) -> Option<String> {
    let version = driver_info
        .split("Mesa ")
        .nth(1)?
        .split_whitespace()
        .next()?;
    let found: u32 = version.split('.').next()?.parse().ok()?;
    (found < major).then(|| version.to_string())
}

impl Gpu {
    /// Opens the best adapter (see [`GpuOptions`]) with all of its own limits.
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        pollster::block_on(Self::new_async(options))
    }

    async fn new_async(options: &GpuOptions) -> Result<Gpu> {
        let adapter = choose_adapter(options).await?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let mut required_features = wgpu::Features::empty();
        for feature in [wgpu::Features::TIMESTAMP_QUERY, wgpu::Features::SUBGROUP] {
            if adapter.features().contains(feature) {
                required_features |= feature;
            }
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("facemtl"),
                required_features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        if !options.quiet {
            crate::note!("facemtl: using adapter {}", describe(&info));
        }
        if !options.quiet && options.speed_notes {
            if info.device_type == wgpu::DeviceType::Cpu {
                crate::note!(
                    "facemtl: warning: {} is a software (CPU) adapter; expect training to be \
                     10-100x slower than on a GPU",
                    info.name
                );
            }
            if let Some(version) = older_mesa_than_measured(&info) {
                crate::note!(
                    "facemtl: note: this adapter runs Mesa {version}; Mesa {FASTER_MESA} ran a \
                     training step 1.3x faster than Mesa 22.3 on the same CPU (BENCHMARKS.md, \
                     \"Mesa 22.3 against Mesa 25\"). \
                     On Debian 12, with bookworm-backports in apt's sources: `apt-get install \
                     -t bookworm-backports mesa-vulkan-drivers`"
                );
            }
            if info.backend == wgpu::Backend::Gl {
                crate::note!(
                    "facemtl: note: running through OpenGL, the slowest path (kernels compile \
                     for tens of seconds at first use); install a Vulkan driver for a faster \
                     one, e.g. `apt-get install mesa-vulkan-drivers` on Debian/Ubuntu"
                );
            }
        }
        let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("facemtl placeholder"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Ok(Gpu {
            shared: Arc::new(Shared {
                info,
                limits,
                pool: Arc::default(),
                textures: Arc::default(),
                pipelines: Mutex::default(),
                pending: Mutex::default(),
                poison_outputs: AtomicBool::new(false),
                states: Mutex::default(),
                submits: AtomicU64::new(0),
                dispatches: AtomicU64::new(0),
                placeholder,
                profile: std::env::var_os("FACEMTL_PROFILE")
                    .map(|_| Mutex::new(Profiler::new(&device, &queue))),
                dump: WgslDump::from_env(),
                plans: Mutex::default(),
                device,
                queue,
            }),
        })
    }

    /// From now on, note every GEMM plan the kernels make (`kernels::plan`), for
    /// [`Gpu::recorded_plans`].
    pub fn record_plans(&self) {
        let mut plans = self.shared.plans.lock().expect("plan log lock");
        plans.get_or_insert_with(BTreeMap::new);
    }

    /// The GEMM plans made since [`Gpu::record_plans`], described, each with how many
    /// times it was made.
    pub fn recorded_plans(&self) -> Vec<(String, u64)> {
        let plans = self.shared.plans.lock().expect("plan log lock");
        plans
            .iter()
            .flatten()
            .map(|(p, n)| (p.clone(), *n))
            .collect()
    }

    /// Notes a plan, described by `describe`, where plans are being recorded.
    pub(crate) fn note_plan(&self, describe: impl FnOnce() -> String) {
        let mut plans = self.shared.plans.lock().expect("plan log lock");
        if let Some(plans) = plans.as_mut() {
            *plans.entry(describe()).or_insert(0) += 1;
        }
    }

    /// Name, backend, device type and driver of the adapter in use.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.shared.info
    }

    /// The limits the device was created with (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.shared.limits
    }

    /// Whether this is a software adapter such as lavapipe (llvmpipe).
    pub fn is_software(&self) -> bool {
        self.shared.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether the device can time GPU work with timestamp queries.
    pub fn has_timestamps(&self) -> bool {
        self.shared
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Fill every kernel output with NaN before the kernel runs, so that an element a kernel
    /// forgets to write shows up in a comparison. For tests; costs one fill per output.
    pub fn set_poison_outputs(&self, on: bool) {
        self.shared.poison_outputs.store(on, Ordering::Relaxed);
    }

    /// The value of type `T` this device keeps for a layer above it, made by `init` when
    /// first asked for. Every clone of the handle sees the same value.
    pub(crate) fn state<T: Any + Send + Sync>(&self, init: impl FnOnce(&Gpu) -> T) -> Arc<T> {
        let key = TypeId::of::<T>();
        if let Some(state) = self.shared.states.lock().expect("state lock").get(&key) {
            return Arc::clone(state)
                .downcast()
                .expect("a state's type is its key");
        }
        // Made outside the lock, so that `init` may ask for other states.
        let made: Arc<dyn Any + Send + Sync> = Arc::new(init(self));
        let mut states = self.shared.states.lock().expect("state lock");
        let state = Arc::clone(states.entry(key).or_insert(made));
        state.downcast().expect("a state's type is its key")
    }

    /// Whether the device runs subgroup operations whose subgroups always have one size:
    /// that size.
    pub(crate) fn fixed_subgroup_size(&self) -> Option<u32> {
        let info = &self.shared.info;
        let fixed = info.subgroup_min_size == info.subgroup_max_size;
        let supported = self
            .shared
            .device
            .features()
            .contains(wgpu::Features::SUBGROUP);
        (fixed && supported).then_some(info.subgroup_min_size)
    }

    pub(crate) fn poison_outputs(&self) -> bool {
        self.shared.poison_outputs.load(Ordering::Relaxed)
    }

    /// Bytes the buffer pool holds on the device: every tensor and kernel parameter
    /// buffer, not the texel arrays of software adapters' GEMMs (`Texels`).
    pub fn memory(&self) -> MemoryStats {
        self.shared.pool.lock().expect("buffer pool lock").stats()
    }

    /// Returns free pooled buffers to the driver.
    pub fn trim_memory(&self) {
        self.shared.pool.lock().expect("buffer pool lock").trim();
    }

    /// Number of queue submissions and kernel dispatches so far (for tests and profiling).
    pub fn counters(&self) -> (u64, u64) {
        (
            self.shared.submits.load(Ordering::Relaxed),
            self.shared.dispatches.load(Ordering::Relaxed),
        )
    }

    /// Checks a buffer size against the adapter's binding and buffer limits.
    pub(crate) fn check_size(&self, what: impl Fn() -> String, bytes: u64) -> Result<()> {
        let limits = &self.shared.limits;
        for (limit, limit_name) in [
            (
                limits.max_storage_buffer_binding_size,
                "max_storage_buffer_binding_size",
            ),
            (limits.max_buffer_size, "max_buffer_size"),
        ] {
            if bytes > limit {
                return Err(GpuError::TooLarge {
                    what: what(),
                    bytes,
                    limit,
                    limit_name,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn buffer(&self, bytes: u64, usage: wgpu::BufferUsages) -> PooledBuffer {
        // Buffers are at least 16 bytes and a multiple of 4 so that empty or odd-sized
        // tensors still bind; the tensor keeps its own logical length.
        let size = bytes.max(16).next_multiple_of(16);
        PooledBuffer::new(&self.shared.pool, &self.shared.device, size, usage)
    }

    /// A buffer to bind where a kernel's optional input (e.g. a bias) is absent.
    pub(crate) fn placeholder(&self) -> Binding<'_> {
        Binding::whole(&self.shared.placeholder)
    }

    /// The kernel's pipeline, compiled on first use: its parameter struct checked against
    /// the shader's, and the driver's validation errors returned as an error naming it.
    fn pipeline(
        &self,
        kernel: &Kernel,
        fields: &[(&str, &str)],
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = (kernel.source.as_ptr() as usize, kernel.source.len());
        let mut cache = self.shared.pipelines.lock().expect("pipeline cache lock");
        if let Some(pipeline) = cache.get(&key) {
            return Ok(Arc::clone(pipeline));
        }
        check_params_layout(kernel, fields)?;
        if let Some(dump) = &self.shared.dump {
            dump.write(kernel.name, kernel.source);
        }
        let device = &self.shared.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name),
            source: wgpu::ShaderSource::Wgsl(kernel.source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.name),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Kernel {
                name: kernel.name,
                detail: error.to_string(),
            });
        }
        let pipeline = Arc::new(pipeline);
        cache.insert(key, Arc::clone(&pipeline));
        Ok(pipeline)
    }

    /// Records one dispatch into the pending encoder. Binding 0 is the kernel's uniform
    /// parameter struct; bindings 1.. are `buffers`, in order.
    pub(crate) fn dispatch<P: KernelParams>(
        &self,
        kernel: &Kernel,
        params: &P,
        buffers: &[Binding<'_>],
        workgroups: [u32; 3],
    ) -> Result<()> {
        let resources: Vec<Resource<'_>> = buffers.iter().map(|&b| Resource::Buffer(b)).collect();
        self.dispatch_resources(kernel, params, &resources, workgroups)
    }

    /// [`Gpu::dispatch`] with texel arrays among the bindings.
    pub(crate) fn dispatch_resources<P: KernelParams>(
        &self,
        kernel: &Kernel,
        params: &P,
        resources: &[Resource<'_>],
        workgroups: [u32; 3],
    ) -> Result<()> {
        if workgroups.contains(&0) {
            return Ok(());
        }
        let pipeline = self.pipeline(kernel, P::FIELDS)?;
        let params = bytemuck::bytes_of(params);
        let uniform = self.buffer(
            params.len() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let mut padded = params.to_vec();
        padded.resize(uniform.size() as usize, 0);
        self.shared.queue.write_buffer(uniform.buffer(), 0, &padded);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.buffer().as_entire_binding(),
        }];
        entries.extend(
            resources
                .iter()
                .enumerate()
                .map(|(i, resource)| wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: match resource {
                        Resource::Buffer(buffer) => buffer.resource(),
                        Resource::Texels(view) => wgpu::BindingResource::TextureView(view),
                    },
                }),
        );
        let bind_group = self
            .shared
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.name),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
        // The profile lock is released before the encoder lock is taken (flush takes them
        // in the other order).
        let (timed, wall_timed) = match &self.shared.profile {
            Some(p) => {
                let mut p = p.lock().expect("profile lock");
                (p.begin_pass(kernel.name), !p.has_timestamps())
            }
            None => (None, false),
        };
        let full = timed.as_ref().is_some_and(|(_, _, full)| *full);
        self.record(|encoder| {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.name),
                timestamp_writes: timed.as_ref().map(|(queries, first, _)| {
                    wgpu::ComputePassTimestampWrites {
                        query_set: queries,
                        beginning_of_pass_write_index: Some(*first),
                        end_of_pass_write_index: Some(*first + 1),
                    }
                }),
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        });
        self.shared.dispatches.fetch_add(1, Ordering::Relaxed);
        if wall_timed {
            let started = std::time::Instant::now();
            let _ = self.synchronize();
            if let Some(p) = &self.shared.profile {
                let seconds = started.elapsed().as_secs_f64();
                p.lock()
                    .expect("profile lock")
                    .add_wall_time(kernel.name, seconds);
            }
        } else if full {
            self.flush();
        }
        Ok(())
    }

    /// With FACEMTL_PROFILE set, the kernels by total device time (empty otherwise).
    pub fn profile(&self) -> Vec<(&'static str, KernelTime)> {
        match &self.shared.profile {
            Some(p) => p.lock().expect("profile lock").table(),
            None => Vec::new(),
        }
    }

    /// With FACEMTL_PROFILE set, forgets the kernel times so far (e.g. after warm-up).
    pub fn reset_profile(&self) {
        if let Some(p) = &self.shared.profile {
            p.lock().expect("profile lock").reset();
        }
    }

    /// Runs `f` on the pending command encoder (created on first use).
    pub(crate) fn record(&self, f: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let mut pending = self.shared.pending.lock().expect("encoder lock");
        let encoder = pending.get_or_insert_with(|| {
            self.shared
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("facemtl step"),
                })
        });
        f(encoder);
    }

    /// Submits everything recorded so far as one command buffer. Does not wait.
    pub fn flush(&self) {
        // The encoder lock is held until the pool has recycled: otherwise another thread
        // could record into a fresh encoder and drop a buffer that this flush would then
        // wrongly treat as submitted.
        let mut pending = self.shared.pending.lock().expect("encoder lock");
        if let Some(mut encoder) = pending.take() {
            let mut profiler = self
                .shared
                .profile
                .as_ref()
                .map(|p| p.lock().expect("profile lock"));
            let collect = profiler.as_ref().is_some_and(|p| p.resolve(&mut encoder));
            self.shared.queue.submit([encoder.finish()]);
            self.shared.submits.fetch_add(1, Ordering::Relaxed);
            if let (true, Some(p)) = (collect, profiler.as_mut()) {
                p.collect(&self.shared.device);
            }
        }
        self.shared
            .pool
            .lock()
            .expect("buffer pool lock")
            .after_submit();
    }

    /// Submits pending work and blocks until the device has finished all of it.
    pub fn synchronize(&self) -> Result<()> {
        self.flush();
        self.shared
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// Copies `bytes` bytes of `source` to the host: submits pending work and waits for it.
    /// The only way data comes back from the device; keep it rare.
    pub(crate) fn read_bytes(&self, source: Binding<'_>, bytes: u64) -> Result<Vec<u8>> {
        let size = bytes.max(4).next_multiple_of(4);
        let staging = self.buffer(
            size,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        self.record(|encoder| {
            encoder.copy_buffer_to_buffer(source.buffer, source.offset, staging.buffer(), 0, size)
        });
        self.flush();
        let slice = staging.buffer().slice(..size);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = sender.send(result);
        });
        self.shared
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        receiver
            .recv()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let bytes = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            view[..bytes as usize].to_vec()
        };
        staging.buffer().unmap();
        Ok(bytes)
    }
}

/// Workgroup counts for `threads` invocations in groups of `group_size`, spread over x and y
/// so that no dimension exceeds the adapter's per-dimension limit. Kernels rebuild the flat
/// index as `(wg.y * num_wg.x + wg.x) * group_size + local_index`.
pub(crate) fn grid_1d(gpu: &Gpu, threads: usize, group_size: u32) -> [u32; 3] {
    let groups = threads.div_ceil(group_size as usize) as u64;
    let max = gpu.shared.limits.max_compute_workgroups_per_dimension as u64;
    if groups <= max {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(max);
        [groups.div_ceil(y) as u32, y as u32, 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    kernel_params! {
        struct Pair {
            len: u32,
            scale: f32,
        }
    }

    const SOURCE: &str = "struct Params {\n    len: u32,  // elements\n    scale: f32,\n}\n\
        @group(0) @binding(0) var<uniform> p: Params;\n\
        @group(0) @binding(1) var<storage, read_write> out: array<f32>;\n\
        @compute @workgroup_size(1)\nfn main() { out[0] = p.scale * f32(p.len); }\n";

    #[test]
    fn an_older_mesa_is_told_apart_from_a_newer_one() {
        assert_eq!(
            mesa_older_than("Mesa 22.3.6 (LLVM 15.0.6)", 25).as_deref(),
            Some("22.3.6")
        );
        assert_eq!(
            mesa_older_than("Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)", 25),
            None
        );
        assert_eq!(mesa_older_than("Mesa 26.1.0", 25), None);
        assert_eq!(mesa_older_than("535.104.05", 25), None);
        assert_eq!(mesa_older_than("Mesa devel", 25), None);
        assert_eq!(mesa_older_than("", 25), None);
    }

    #[test]
    fn the_params_struct_is_read_from_the_shader_and_checked() {
        let kernel = Kernel {
            name: "test/pair",
            source: SOURCE,
        };
        assert_eq!(
            shader_params(SOURCE).unwrap(),
            [("len".into(), "u32".into()), ("scale".into(), "f32".into())]
        );
        check_params_layout(&kernel, Pair::FIELDS).unwrap();
        // Swapped, renamed, missing or non-scalar fields are all drift.
        for fields in [
            &[("scale", "f32"), ("len", "u32")][..],
            &[("len", "u32"), ("factor", "f32")],
            &[("len", "u32")],
            &[("len", "u32"), ("scale", "vec2<f32>")],
        ] {
            let e = check_params_layout(&kernel, fields)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("test/pair") && e.contains("struct Params"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_kernel_that_does_not_compile_is_an_error_naming_it() {
        let gpu = Gpu::new(&GpuOptions {
            adapter: None,
            quiet: true,
            ..Default::default()
        })
        .unwrap();
        let out = gpu.buffer(16, wgpu::BufferUsages::STORAGE);
        let params = Pair { len: 1, scale: 2.0 };
        let good = Kernel {
            name: "test/good",
            source: SOURCE,
        };
        gpu.dispatch(&good, &params, &[Binding::whole(out.buffer())], [1, 1, 1])
            .unwrap();
        let broken: &'static str =
            Box::leak(SOURCE.replace("f32(p.len)", "p.len").into_boxed_str());
        let bad = Kernel {
            name: "test/broken",
            source: broken,
        };
        let e = gpu
            .dispatch(&bad, &params, &[Binding::whole(out.buffer())], [1, 1, 1])
            .unwrap_err();
        assert!(
            matches!(
                e,
                GpuError::Kernel {
                    name: "test/broken",
                    ..
                }
            ),
            "{e}"
        );
        // The same name with a good source is another kernel: the cache is keyed by source.
        let renamed = Kernel {
            name: "test/broken",
            source: SOURCE,
        };
        gpu.dispatch(
            &renamed,
            &params,
            &[Binding::whole(out.buffer())],
            [1, 1, 1],
        )
        .unwrap();
        gpu.synchronize().unwrap();
    }
}
