//! `cargo bench`: throughput of the GEMM-based kernels on this machine's adapter, for each
//! GEMM tile class, at square matmul sizes and at the small preset's convolution shapes
//! (GFLOP/s, 2 flops per multiply-add), then of the memory-bound passes of a training step
//! at the small preset's first-layer activation (GB/s moved, next to a host memcpy of the
//! same bytes). Each figure is the median of timed repeats; each timing includes one
//! submit-and-wait, so small problems understate the kernel's own speed.

use std::time::Instant;

#[path = "peers/mod.rs"]
mod peers;

use facemtl::geometry::Pool2dSpec;
use facemtl::geometry::{Conv2dGeometry, Conv2dSpec};
use facemtl::gpu::{Gpu, GpuOptions, Tensor};
use facemtl::kernels::{conv, elementwise, matmul, norm, pool};

fn median_seconds(gpu: &Gpu, repeats: usize, mut run: impl FnMut()) -> f64 {
    run();
    gpu.synchronize().expect("device");
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            run();
            gpu.synchronize().expect("device");
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[repeats / 2]
}

fn filled(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    Tensor::from_slice(gpu, shape, &data).expect("upload")
}

/// With FACEMTL_BENCH_PEERS set: OpenBLAS sgemm through numpy (benches/peers/numpy_sgemm.py)
/// at the same sizes, as (n, GFLOP/s), run right before facemtl's matmuls.
fn peer_sgemm() -> Vec<(usize, f64)> {
    if std::env::var_os("FACEMTL_BENCH_PEERS").is_none() {
        return Vec::new();
    }
    match peers::run("numpy_sgemm.py", &[]) {
        // Fields: "sgemm", n, ms, GFLOP/s.
        Ok(rows) => rows
            .iter()
            .filter_map(|f| Some((f.get(1)?.parse().ok()?, f.get(3)?.parse().ok()?)))
            .collect(),
        Err(e) => {
            println!("numpy peer: {e}");
            Vec::new()
        }
    }
}

fn main() {
    let gpu = Gpu::new(&GpuOptions::default()).expect("an adapter");
    println!(
        "adapter: {} ({:?})",
        gpu.adapter_info().name,
        gpu.adapter_info().device_type
    );
    let shapes: &[bool] = if std::env::var_os("FACEMTL_BENCH_MEMORY_ONLY").is_some() {
        &[]
    } else if std::env::var_os("FACEMTL_BENCH_SOFTWARE_ONLY").is_some() {
        &[true]
    } else {
        &[true, false]
    };
    for &software in shapes {
        facemtl::kernels::GemmSwitches {
            software_tiles: software,
            ..facemtl::kernels::GemmSwitches::of(&gpu)
        }
        .apply(&gpu);
        println!("\nGEMM: {}", facemtl::kernels::describe_tiles(&gpu));
        println!("{:<48} {:>10} {:>10}", "problem", "ms", "GFLOP/s");
        let blas = peer_sgemm();
        for n in [256usize, 512, 1024] {
            let (a, b) = (filled(&gpu, &[n, n]), filled(&gpu, &[n, n]));
            let s = median_seconds(&gpu, 5, || {
                drop(matmul::matmul(&gpu, &a, &b, false, false).expect("matmul"))
            });
            let flops = 2.0 * (n * n * n) as f64;
            let gflops = flops / s / 1e9;
            let versus =
                blas.iter()
                    .find(|(size, _)| *size == n)
                    .map_or(String::new(), |(_, peer)| {
                        format!(
                            "   OpenBLAS {peer:.1} GFLOP/s: {:.1}% of it",
                            100.0 * gflops / peer
                        )
                    });
            println!(
                "{:<48} {:>10.2} {:>10.2}{versus}",
                format!("matmul {n}x{n}x{n}"),
                s * 1e3,
                gflops
            );
        }
        // The small preset's convolutions at batch 32: the trunk blocks, then the two
        // branches' first layers as one GEMM, its output in two stacks. Each pass alone
        // packs its own operands; "in a step" runs the passes as a training tape does: the
        // forward pass writes the batch norm's moments and keeps its packings for the
        // backward passes, which share dy's packing; a step runs no input gradient for the
        // first layer, whose input is the image.
        for (input, weight, stacks, input_gradient) in [
            ([32usize, 1, 48, 48], [16usize, 1, 3, 3], 1usize, false),
            ([32, 16, 24, 24], [32, 16, 3, 3], 1, true),
            ([32, 32, 12, 12], [64, 32, 3, 3], 1, true),
            ([32, 64, 6, 6], [128, 64, 3, 3], 2, true),
        ] {
            let g = Conv2dGeometry::new(&input, &weight, Conv2dSpec::new(1, 1))
                .and_then(|g| g.with_output_stacks(stacks))
                .expect("shape");
            let (x, w, dy) = (
                filled(&gpu, &input),
                filled(&gpu, &weight),
                filled(&gpu, &g.stored_output_shape()),
            );
            let flops = 2.0
                * (g.batch * g.out_c * g.out_h * g.out_w * g.in_c * g.kernel_h * g.kernel_w) as f64;
            let name = match stacks {
                1 => format!("conv {input:?} * {weight:?}"),
                _ => format!("conv {input:?} * {weight:?} in {stacks} stacks"),
            };
            let forward = median_seconds(&gpu, 5, || {
                drop(conv::conv2d_stacked(&gpu, &x, &w, &g, false).expect("conv"))
            });
            let data = median_seconds(&gpu, 5, || {
                drop(conv::conv2d_backward_input(&gpu, &dy, &w, &g).expect("conv"))
            });
            let weight_grad = median_seconds(&gpu, 5, || {
                drop(conv::conv2d_backward_weight(&gpu, &dy, &x, &g).expect("conv"))
            });
            let step_forward = median_seconds(&gpu, 5, || {
                drop(conv::conv2d_stacked(&gpu, &x, &w, &g, true).expect("conv"))
            });
            let kept = conv::conv2d_stacked(&gpu, &x, &w, &g, true).expect("conv");
            let step_backward = median_seconds(&gpu, 5, || {
                drop(
                    conv::conv2d_backward_input_and_weight(
                        &gpu,
                        &dy,
                        &x,
                        kept.packed.as_ref(),
                        &w,
                        &g,
                        input_gradient,
                        true,
                    )
                    .expect("conv"),
                )
            });
            let backward_passes = if input_gradient { 2.0 } else { 1.0 };
            for (pass, s, flops) in [
                ("forward", forward, flops),
                ("backward-data", data, flops),
                ("backward-weight", weight_grad, flops),
                ("forward in a step", step_forward, flops),
                ("backward in a step", step_backward, backward_passes * flops),
            ] {
                println!(
                    "{:<48} {:>10.2} {:>10.2}",
                    format!("{name} {pass}"),
                    s * 1e3,
                    flops / s / 1e9
                );
            }
        }
    }
    memory_bound(&gpu);
}

/// GB/s of the memory-bound passes at the small preset's first-layer activation
/// [32, 16, 48, 48], and a host memcpy of the same size for scale.
fn memory_bound(gpu: &Gpu) {
    let shape = [32usize, 16, 48, 48];
    let len: usize = shape.iter().product();
    let bytes = 4.0 * len as f64;
    let source = vec![1.0f32; len];
    let mut target = vec![0.0f32; len];
    let mut copies = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        target.copy_from_slice(std::hint::black_box(&source));
        copies.push(start.elapsed().as_secs_f64());
        std::hint::black_box(&target);
    }
    copies.sort_by(f64::total_cmp);
    let memcpy = 2.0 * bytes / copies[2] / 1e9;
    println!(
        "\nmemory-bound passes over {shape:?} ({:.1} MB); host memcpy of it: {memcpy:.1} GB/s (read + write)",
        bytes / 1e6
    );
    println!("{:<48} {:>10} {:>10}", "pass", "ms", "GB/s");
    let (x, other) = (filled(gpu, &shape), filled(gpu, &shape));
    let c = shape[1];
    let (gamma, beta) = (filled(gpu, &[c]), filled(gpu, &[c]));
    let stats = norm::batch_norm_stats(gpu, &x, None).expect("stats");
    let spec = Pool2dSpec::new(2, 2, 0);
    let pooled =
        norm::batch_norm_relu_max_pool(gpu, &x, &stats, &gamma, &beta, 1e-5).expect("fused");
    let relu_output =
        norm::batch_norm_apply(gpu, &x, &stats, &gamma, &beta, 1e-5, true).expect("apply");
    let pooled_dy = filled(gpu, pooled.output.shape());
    // (name, tensors' worth of bytes read + written, run)
    type Pass<'a> = (&'static str, f64, Box<dyn Fn() + 'a>);
    let passes: Vec<Pass> = vec![
        (
            "axpby (read 2, write 1)",
            3.0,
            Box::new(|| drop(elementwise::axpby(gpu, 0.5, &x, 2.0, &other).expect("axpby"))),
        ),
        (
            "batch-norm statistics (read 1)",
            1.0,
            Box::new(|| drop(norm::batch_norm_stats(gpu, &x, None).expect("stats"))),
        ),
        (
            "batch norm + ReLU (read 1, write 1)",
            2.0,
            Box::new(|| {
                drop(
                    norm::batch_norm_apply(gpu, &x, &stats, &gamma, &beta, 1e-5, true)
                        .expect("apply"),
                )
            }),
        ),
        (
            "batch norm + ReLU + 2x2 max pool (read 1, write 0.5)",
            1.5,
            Box::new(|| {
                drop(
                    norm::batch_norm_relu_max_pool(gpu, &x, &stats, &gamma, &beta, 1e-5)
                        .expect("fused"),
                )
            }),
        ),
        (
            "2x2 max pool (read 1, write 0.5)",
            1.5,
            Box::new(|| drop(pool::max_pool2d(gpu, &x, spec).expect("pool"))),
        ),
        (
            "batch norm + ReLU backward (read 3 + 3, write 1)",
            7.0,
            Box::new(|| {
                drop(
                    norm::batch_norm_backward(
                        gpu,
                        &x,
                        &other,
                        &stats,
                        &gamma,
                        1e-5,
                        true,
                        Some(&relu_output),
                    )
                    .expect("backward"),
                )
            }),
        ),
        (
            "batch norm + ReLU + pool backward (read 1 + 1.75, write 1)",
            3.75,
            Box::new(|| {
                drop(
                    norm::batch_norm_relu_max_pool_backward(
                        gpu, &x, &pooled, &pooled_dy, &stats, &gamma, 1e-5, true,
                    )
                    .expect("fused backward"),
                )
            }),
        ),
    ];
    for (name, tensors, run) in passes {
        let s = median_seconds(gpu, 5, run);
        println!(
            "{name:<48} {:>10.2} {:>10.2}",
            s * 1e3,
            tensors * bytes / s / 1e9
        );
    }
    // The fused pass at each trunk layer of the small preset (its 2x2 pools), forward and
    // backward (reduce + input): the smaller planes cost more per element.
    println!(
        "\nbatch norm + ReLU + 2x2 max pool at each trunk layer\n{:<48} {:>10} {:>10}",
        "input", "forward ms", "backward ms"
    );
    for shape in [[32usize, 16, 48, 48], [32, 32, 24, 24], [32, 64, 12, 12]] {
        let x = filled(gpu, &shape);
        let c = shape[1];
        let (gamma, beta) = (filled(gpu, &[c]), filled(gpu, &[c]));
        let stats = norm::batch_norm_stats(gpu, &x, None).expect("stats");
        let pooled =
            norm::batch_norm_relu_max_pool(gpu, &x, &stats, &gamma, &beta, 1e-5).expect("fused");
        let dy = filled(gpu, pooled.output.shape());
        let f = median_seconds(gpu, 9, || {
            drop(
                norm::batch_norm_relu_max_pool(gpu, &x, &stats, &gamma, &beta, 1e-5)
                    .expect("fused"),
            )
        });
        let b = median_seconds(gpu, 9, || {
            drop(
                norm::batch_norm_relu_max_pool_backward(
                    gpu, &x, &pooled, &dy, &stats, &gamma, 1e-5, true,
                )
                .expect("fused backward"),
            )
        });
        println!(
            "{:<48} {:>10.2} {:>10.2}",
            format!("{shape:?}"),
            f * 1e3,
            b * 1e3
        );
    }
}
