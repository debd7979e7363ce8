//! Per-kernel device time (FACEMTL_PROFILE=1). Where the adapter has timestamp queries,
//! every compute pass writes a begin and an end timestamp; the queries are resolved and read
//! back at each submission, so the figures are the kernels' own execution times with the
//! normal batching of work. Without timestamp queries each dispatch is submitted and waited
//! for alone, which adds the submission overhead to every figure; FACEMTL_PROFILE=wall
//! asks for that on any adapter (lavapipe's timestamps around passes that write or read
//! textures come out far too short: a small/32 step's passes summed to 37 of 237 ms).

use std::collections::HashMap;

/// Timestamp pairs one submission can hold; a fuller encoder is submitted early.
const PAIRS: u32 = 2048;

/// Accumulated dispatches and device seconds of one kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelTime {
    pub dispatches: u64,
    pub seconds: f64,
}

pub(crate) struct Profiler {
    timestamps: Option<Timestamps>,
    table: HashMap<&'static str, KernelTime>,
}

struct Timestamps {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    period_ns: f64,
    /// The kernel of each query pair recorded since the last submission.
    pending: Vec<&'static str>,
}

impl Profiler {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Profiler {
        let wall = std::env::var("FACEMTL_PROFILE").as_deref() == Ok("wall");
        let timestamps = (!wall && device.features().contains(wgpu::Features::TIMESTAMP_QUERY))
            .then(|| Timestamps {
                queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("facemtl profile"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2 * PAIRS,
                }),
                resolved: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("facemtl profile resolve"),
                    size: 16 * PAIRS as u64,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                readback: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("facemtl profile readback"),
                    size: 16 * PAIRS as u64,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                period_ns: queue.get_timestamp_period() as f64,
                pending: Vec::new(),
            });
        Profiler {
            timestamps,
            table: HashMap::new(),
        }
    }

    /// Whether dispatches are timed by the device (else each is waited for alone).
    pub(crate) fn has_timestamps(&self) -> bool {
        self.timestamps.is_some()
    }

    /// The query set and first query index for the next pass of `kernel` (begin at the
    /// index, end at the next), and whether the encoder must be submitted after it (the
    /// query set is full). None without timestamp queries.
    pub(crate) fn begin_pass(
        &mut self,
        kernel: &'static str,
    ) -> Option<(wgpu::QuerySet, u32, bool)> {
        let t = self.timestamps.as_mut()?;
        let pair = t.pending.len() as u32;
        t.pending.push(kernel);
        Some((t.queries.clone(), 2 * pair, pair + 1 == PAIRS))
    }

    /// Records the resolution of this submission's queries into `encoder` (before it is
    /// finished). Returns whether [`Profiler::collect`] must run after the submission.
    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) -> bool {
        let Some(t) = &self.timestamps else {
            return false;
        };
        let n = t.pending.len() as u32;
        if n == 0 {
            return false;
        }
        encoder.resolve_query_set(&t.queries, 0..2 * n, &t.resolved, 0);
        encoder.copy_buffer_to_buffer(&t.resolved, 0, &t.readback, 0, 16 * n as u64);
        true
    }

    /// Reads the submitted queries back (waits for the device) and adds them to the table.
    pub(crate) fn collect(&mut self, device: &wgpu::Device) {
        let Some(t) = &mut self.timestamps else {
            return;
        };
        let n = t.pending.len();
        let slice = t.readback.slice(..16 * n as u64);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        if device.poll(wgpu::PollType::wait_indefinitely()).is_ok() {
            if let Ok(view) = slice.get_mapped_range() {
                let ticks: &[u64] = bytemuck::cast_slice(&view);
                for (pair, kernel) in t.pending.iter().enumerate() {
                    let elapsed = ticks[2 * pair + 1].saturating_sub(ticks[2 * pair]);
                    let entry = self.table.entry(kernel).or_default();
                    entry.dispatches += 1;
                    entry.seconds += elapsed as f64 * t.period_ns * 1e-9;
                }
            }
        }
        t.readback.unmap();
        t.pending.clear();
    }

    /// Adds one dispatch timed on the host (the fallback without timestamp queries).
    pub(crate) fn add_wall_time(&mut self, kernel: &'static str, seconds: f64) {
        let entry = self.table.entry(kernel).or_default();
        entry.dispatches += 1;
        entry.seconds += seconds;
    }

    /// Every kernel's totals, the slowest first.
    pub(crate) fn table(&self) -> Vec<(&'static str, KernelTime)> {
        let mut rows: Vec<_> = self.table.iter().map(|(k, t)| (*k, *t)).collect();
        rows.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
        rows
    }

    /// Forgets every figure so far.
    pub(crate) fn reset(&mut self) {
        self.table.clear();
    }
}
