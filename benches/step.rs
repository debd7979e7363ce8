//! `cargo bench --bench step`: one training step of the real network, as `facemtl train`
//! runs it (dynamic weighting, Adam with clipping, dropout, batch norm in training mode),
//! split into forward (recording plus the wait for the step's readback), host scheduling
//! (accuracy and task weights) and backward + update (recording plus the wait for the
//! device). Prints the median over timed steps, images/s, and dispatches and submissions
//! per step, and the device memory the step holds (every buffer of the pool after the
//! warm-up: parameters, optimiser state, activations, gradients), for the small preset at
//! batch 32 and 64, the medium preset at batch 32, paper-small at 32 and paper at 16.
//!
//! With FACEMTL_PROFILE=1 it also prints the device time per kernel over the timed steps.
//! `FACEMTL_BENCH_STEPS` sets the number of timed steps (default 20).
//! `FACEMTL_BENCH_CASES` picks cases by name, e.g. `small/32`.
//! `FACEMTL_BENCH_PEERS=1` also runs the same step in PyTorch on the CPU
//! (benches/peers/pytorch_step.py; needs python3 with torch), alternating with facemtl:
//! `FACEMTL_BENCH_ROUNDS` (default 3) rounds of facemtl's timed steps, then PyTorch's, so
//! that a shared machine's drift (which moved both by 1.5x within minutes) falls on both;
//! it prints facemtl's time over PyTorch's for each round and their median.
//! `FACEMTL_BENCH_PEER_DEVICE=cuda` runs PyTorch on the GPU instead (for a machine with
//! one and a CUDA build of torch).

#[path = "peers/mod.rs"]
mod peers;

use facemtl::choice::Choice;
use facemtl::data::batches::Batch;
use facemtl::gpu::{Gpu, GpuOptions};
use facemtl::model::Preset;
use facemtl::train::config::{Tasks, TrainConfig};
use facemtl::train::{Learner, StepTiming};
use facemtl::weighting::WeightingSpec;
use rand::rngs::StdRng;
use rand::SeedableRng;

const IDENTITIES: usize = 36;
const EXPRESSIONS: usize = 7;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Where the PyTorch peer runs: FACEMTL_BENCH_PEER_DEVICE (`cpu` unless set).
fn peer_device() -> String {
    std::env::var("FACEMTL_BENCH_PEER_DEVICE").unwrap_or_else(|_| "cpu".to_string())
}

/// PyTorch's median step in ms for this case (benches/peers/pytorch_step.py), or why not.
fn peer_step_ms(preset: Preset, batch: usize, steps: usize) -> Result<f64, String> {
    let args = [
        "--steps".to_string(),
        steps.to_string(),
        "--cases".to_string(),
        format!("{}/{batch}", preset.name()),
        "--device".to_string(),
        peer_device(),
    ];
    // Fields: preset, batch, ms, images/s.
    peers::run("pytorch_step.py", &args)?
        .iter()
        .find_map(|f| f.get(2)?.parse().ok())
        .ok_or_else(|| "pytorch_step.py: unreadable result".to_string())
}

/// Rounds of facemtl and PyTorch blocks when the peer runs: FACEMTL_BENCH_ROUNDS (3 unless
/// set).
fn peer_rounds() -> usize {
    std::env::var("FACEMTL_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3)
}

fn bench(gpu: &Gpu, preset: Preset, batch: usize, steps: usize, peers: bool) {
    // The previous case's buffers go back to the driver, so the pool holds this one's only.
    gpu.trim_memory();
    let config = TrainConfig {
        preset,
        batch,
        ..TrainConfig::default()
    };
    let size = preset.architecture().input;
    let mut learner = Learner::new(
        gpu,
        &config,
        [IDENTITIES, EXPRESSIONS],
        Tasks::Both,
        WeightingSpec::Dynamic,
        100,
    )
    .expect("network");
    let mut rng = StdRng::seed_from_u64(7);
    let batches: Vec<Batch> = (0..4)
        .map(|_| Batch::random(&mut rng, batch, size * size, [IDENTITIES, EXPRESSIONS]))
        .collect();
    // Warm-up: pipelines compiled, the buffer pool filled.
    for (i, b) in batches.iter().enumerate() {
        learner
            .step(gpu, b, i as u64, i as u32, Some(&mut StepTiming::default()))
            .expect("step");
    }
    gpu.flush();
    let memory = gpu.memory().allocated_bytes;
    gpu.reset_profile();
    let (submits0, dispatches0) = gpu.counters();
    // Without the peer one block of timed steps; with it, blocks alternating with
    // PyTorch's, each round's ratio from its own two blocks.
    let rounds = if peers { peer_rounds() } else { 1 };
    let mut timings = Vec::with_capacity(rounds * steps);
    let mut peer_blocks: Vec<Result<(f64, f64), String>> = Vec::new();
    for round in 0..rounds {
        let mut block = Vec::with_capacity(steps);
        for s in 0..steps {
            let mut t = StepTiming::default();
            let i = round * steps + s;
            learner
                .step(
                    gpu,
                    &batches[i % batches.len()],
                    i as u64,
                    i as u32,
                    Some(&mut t),
                )
                .expect("step");
            block.push(t.forward + t.host + t.backward);
            timings.push(t);
        }
        if peers {
            let ours = median(&mut block);
            peer_blocks.push(peer_step_ms(preset, batch, steps).map(|ms| (ours * 1e3, ms)));
        }
    }
    let steps = timings.len();
    let (submits1, dispatches1) = gpu.counters();
    let pick = |f: fn(&StepTiming) -> f64| median(&mut timings.iter().map(f).collect::<Vec<_>>());
    let total = pick(|t| t.forward + t.host + t.backward);
    println!(
        "{:<12} {:>5} {:>10.1} {:>10.1} {:>8.2} {:>10.1} {:>9.1} {:>10.1} {:>8.1} {:>8.0}",
        preset.name(),
        batch,
        total * 1e3,
        pick(|t| t.forward) * 1e3,
        pick(|t| t.host) * 1e3,
        pick(|t| t.backward) * 1e3,
        batch as f64 / total,
        (dispatches1 - dispatches0) as f64 / steps as f64,
        (submits1 - submits0) as f64 / steps as f64,
        memory as f64 / (1 << 20) as f64,
    );
    if peers {
        match peer_blocks.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(pairs) => {
                let mut peer_ms: Vec<f64> = pairs.iter().map(|&(_, ms)| ms).collect();
                let mut ratios: Vec<f64> = pairs.iter().map(|&(ours, ms)| ours / ms).collect();
                let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}x")).collect();
                let ms = median(&mut peer_ms);
                println!(
                    "             PyTorch {}, alternated with facemtl in {} rounds: {ms:.1} ms/step \
                     ({:.0} images/s); facemtl / PyTorch by round {}: median {:.2}x",
                    peer_device().to_uppercase(),
                    pairs.len(),
                    batch as f64 / ms * 1e3,
                    each.join(", "),
                    median(&mut ratios)
                );
            }
            Err(e) => println!("             PyTorch peer: {e}"),
        }
    }
    for (kernel, t) in gpu.profile() {
        println!(
            "    {kernel:<48} {:>6.1} dispatches/step {:>8.2} ms/step",
            t.dispatches as f64 / steps as f64,
            t.seconds * 1e3 / steps as f64
        );
    }
}

fn main() {
    let gpu = Gpu::new(&GpuOptions {
        quiet: true,
        ..GpuOptions::default()
    })
    .expect("an adapter");
    let steps: usize = std::env::var("FACEMTL_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let cases = std::env::var("FACEMTL_BENCH_CASES").ok();
    let peers = std::env::var_os("FACEMTL_BENCH_PEERS").is_some();
    let blocks = match peers {
        true => format!("{} rounds of {steps} steps", peer_rounds()),
        false => format!("{steps} steps"),
    };
    println!(
        "adapter: {} ({:?}, {:?}); median of {blocks}",
        gpu.adapter_info().name,
        gpu.adapter_info().backend,
        gpu.adapter_info().device_type
    );
    println!(
        "{:<12} {:>5} {:>10} {:>10} {:>8} {:>10} {:>9} {:>10} {:>8} {:>8}",
        "preset",
        "batch",
        "step ms",
        "forward",
        "host",
        "backward",
        "images/s",
        "dispatch",
        "submits",
        "MiB"
    );
    for (preset, batch) in [
        (Preset::Small, 32),
        (Preset::Small, 64),
        (Preset::Medium, 32),
        (Preset::PaperSmall, 32),
        (Preset::Paper, 16),
    ] {
        let name = format!("{}/{batch}", preset.name());
        if cases
            .as_deref()
            .is_some_and(|c| !c.split(',').any(|c| c == name))
        {
            continue;
        }
        bench(&gpu, preset, batch, steps, peers);
    }
}
