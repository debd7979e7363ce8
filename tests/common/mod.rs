//! Shared by the integration tests: one device per test binary (with output poisoning on),
//! seeded random data, and the one tolerance check every kernel test uses.
#![allow(dead_code)]

pub mod cli;
pub mod op;
pub mod toy;

use std::path::PathBuf;
use std::sync::OnceLock;

use facemtl::geometry::{Conv2dSpec, Padding};
use facemtl::gpu::{Gpu, GpuOptions, Tensor};
use facemtl::kernels::norm::BatchStats;
use facemtl::reference;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The device for this test binary. Every kernel output is filled with NaN before the
/// kernel runs, so an element a kernel forgets to write fails the comparison.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = own_gpu();
        gpu.set_poison_outputs(true);
        gpu
    })
}

/// A path `name` for this test binary with nothing at it (a folder or file of the last
/// run is removed), under cargo's scratch space for tests (`target/tmp`), so that nothing
/// is left in the system's temporary folder and a rerun replaces the last run's files
/// (which stay for a look after a failure) instead of adding to them.
pub fn scratch_dir(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}-{name}", env!("CARGO_CRATE_NAME")));
    let _ = match path.is_dir() {
        true => std::fs::remove_dir_all(&path),
        false => std::fs::remove_file(&path),
    };
    path
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` values uniform in [-1, 1).
pub fn random(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

pub fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// A device of the caller's own, without output poisoning: no other test's tensors show in
/// its byte and submission counts.
pub fn own_gpu() -> Gpu {
    Gpu::new(&GpuOptions {
        adapter: None,
        quiet: true,
        ..Default::default()
    })
    .expect("tests need a GPU adapter (lavapipe is enough)")
}

/// Runs `step(0)`, ..., `step(steps - 1)` on `gpu` and checks that device memory (every
/// pooled byte, and the live ones) does not grow from the second step on, and that each
/// step goes to the device in one submission: the loss readback, which also sends the
/// previous step's backward and update (the last ones go with the final flush).
pub fn assert_flat_memory_and_one_submission(gpu: &Gpu, steps: u64, mut step: impl FnMut(u64)) {
    step(0);
    step(1);
    gpu.flush();
    let after_two = gpu.memory();
    let (submits_before, _) = gpu.counters();
    for s in 2..steps {
        step(s);
    }
    gpu.flush();
    let after_all = gpu.memory();
    let (submits_after, _) = gpu.counters();
    assert_eq!(
        after_all.allocated_bytes, after_two.allocated_bytes,
        "device memory grew between step 2 and step {steps}"
    );
    assert_eq!(
        after_all.in_use_bytes, after_two.in_use_bytes,
        "live bytes grew between step 2 and step {steps}"
    );
    assert_eq!(submits_after - submits_before, steps - 2 + 1, "submissions");
}

/// Uploads `data`; panics with the shape on failure (a test setup error).
pub fn upload(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(gpu(), shape, data).unwrap_or_else(|e| panic!("upload {shape:?}: {e}"))
}

/// Every parameter and buffer of `store` by name, downloaded.
pub fn snapshot(
    store: &facemtl::autodiff::ParamStore,
) -> std::collections::HashMap<String, Vec<f32>> {
    store
        .ids()
        .map(|id| {
            (
                store.name(id).to_string(),
                store.get(id).to_vec(gpu()).unwrap(),
            )
        })
        .collect()
}

pub fn download(t: &Tensor) -> Vec<f32> {
    t.to_vec(gpu()).expect("download")
}

/// |got - want| <= abs + rel * |want|, elementwise.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

impl Tolerance {
    /// One f32 rounding or a few: elementwise maps, copies, pooling.
    pub const ELEMENTWISE: Tolerance = Tolerance {
        abs: 1e-6,
        rel: 1e-5,
    };
    /// f32 sums of up to a few thousand terms of magnitude ~1 (GEMM, conv, reductions). A
    /// missing or doubled term (~0.1 or more) is far outside it.
    pub const ACCUMULATED: Tolerance = Tolerance {
        abs: 2e-4,
        rel: 1e-4,
    };
    /// Transcendentals (exp, log, sqrt) on top of short sums.
    pub const TRANSCENDENTAL: Tolerance = Tolerance {
        abs: 1e-5,
        rel: 1e-4,
    };
}

/// Whether `got` is within `tol` of `want` (never for NaN).
pub fn within(got: f32, want: f64, tol: Tolerance) -> bool {
    (got as f64 - want).abs() <= tol.abs + tol.rel * want.abs()
}

/// Downloads `got` and compares it with the reference `want` (as [`assert_close`]).
pub fn assert_tensor(what: &str, got: &Tensor, want: &[f64], tol: Tolerance) {
    assert_close(what, &download(got), want, tol);
}

/// Fails, naming `what` and the worst element, unless every element is within `tol`
/// (NaN never is).
pub fn assert_close(what: &str, got: &[f32], want: &[f64], tol: Tolerance) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs reference {}",
        got.len(),
        want.len()
    );
    let bad: Vec<usize> = (0..got.len())
        .filter(|&i| !within(got[i], want[i], tol))
        .collect();
    let error = |i: usize| {
        let e = (got[i] as f64 - want[i]).abs();
        if e.is_nan() {
            f64::INFINITY
        } else {
            e
        }
    };
    if let Some(&worst) = bad.iter().max_by(|&&a, &&b| error(a).total_cmp(&error(b))) {
        panic!(
            "{what}: {} of {} elements out of tolerance {tol:?}; worst at {worst}: gpu {} vs reference {}",
            bad.len(),
            got.len(),
            got[worst],
            want[worst]
        );
    }
}

const H: f64 = 1e-6;

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Compares `analytic` (a gradient) with the central difference of `objective` at every element of `x`.
pub fn check_gradient(what: &str, x: &[f64], analytic: &[f64], objective: impl Fn(&[f64]) -> f64) {
    assert_eq!(x.len(), analytic.len(), "{what}: gradient length");
    let mut probe = x.to_vec();
    for i in 0..x.len() {
        probe[i] = x[i] + H;
        let up = objective(&probe);
        probe[i] = x[i] - H;
        let down = objective(&probe);
        probe[i] = x[i];
        let numeric = (up - down) / (2.0 * H);
        let err = (numeric - analytic[i]).abs();
        assert!(
            err <= 1e-6 + 1e-5 * numeric.abs(),
            "{what}: element {i}: analytic {} vs finite difference {numeric}",
            analytic[i]
        );
    }
}

/// Running statistics as they were before a training-mode batch norm with momentum 0.1
/// moved them, and the tensors it moved.
pub struct RunningBefore<'a> {
    pub mean: &'a Tensor,
    pub var: &'a Tensor,
    pub mean_before: &'a [f32],
    pub var_before: &'a [f32],
}

/// Checks batch statistics, and the running statistics they moved, against the reference
/// statistics of `x` [n, c, inner]; returns those (mean, biased variance).
pub fn assert_batch_statistics(
    case: &str,
    stats: &BatchStats,
    running: RunningBefore,
    x: &[f64],
    [n, c, inner]: [usize; 3],
) -> (Vec<f64>, Vec<f64>) {
    let (mean, var) = reference::batch_norm::batch_stats(x, n, c, inner);
    let tol = Tolerance::ACCUMULATED;
    assert_tensor(&format!("{case} mean"), &stats.mean, &mean, tol);
    assert_tensor(&format!("{case} var"), &stats.var, &var, tol);
    let count = (n * inner) as f64;
    let unbiased = |v: f64| {
        if count > 1.0 {
            v * count / (count - 1.0)
        } else {
            v
        }
    };
    let moved = |before: &[f32], batch: &[f64], f: &dyn Fn(f64) -> f64| -> Vec<f64> {
        before
            .iter()
            .zip(batch)
            .map(|(&a, &b)| 0.9 * a as f64 + 0.1 * f(b))
            .collect()
    };
    let want_mean = moved(running.mean_before, &mean, &|m| m);
    let want_var = moved(running.var_before, &var, &unbiased);
    assert_tensor(
        &format!("{case} running mean"),
        running.mean,
        &want_mean,
        tol,
    );
    assert_tensor(&format!("{case} running var"), running.var, &want_var, tol);
    (mean, var)
}

/// Stride 2 x 1 with padding on every side different: the strided loaders' awkward case.
pub fn uneven_strided() -> Conv2dSpec {
    Conv2dSpec {
        stride: (2, 1),
        padding: Padding {
            top: 1,
            bottom: 0,
            left: 2,
            right: 1,
        },
    }
}
