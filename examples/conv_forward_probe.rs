//! Probe: a 3x3 training convolution's forward pass (as a training tape runs it: packing
//! its operands, writing the batch norm's moments) at batch 32 for several input channel
//! counts, median and best of `REPS` (default 31) timed calls. The time against the
//! channel count (K) separates the per-K cost from the fixed cost of the dispatches and
//! their workgroups (BENCHMARKS.md, "GEMM stores without runtime branches"). `CHANNELS` (default 4,16,64), `SIZE`
//! (the input's height and width, default 24) and `OUT` (output channels, default 32) set
//! the shapes; with `FACEMTL_PROFILE=wall` each kernel's own time is printed too.

use std::time::Instant;

use facemtl::geometry::{Conv2dGeometry, Conv2dSpec};
use facemtl::gpu::{Gpu, GpuOptions, Tensor};
use facemtl::kernels::conv;

fn setting(name: &str, default: &str) -> Vec<usize> {
    let text = std::env::var(name).unwrap_or_else(|_| default.to_string());
    text.split(',')
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}={text}: expected numbers separated by commas"))
        })
        .collect()
}

fn main() {
    let gpu = Gpu::new(&GpuOptions {
        quiet: true,
        ..Default::default()
    })
    .expect("an adapter");
    let reps = setting("REPS", "31")[0].max(1);
    let (size, out_c) = (setting("SIZE", "24")[0], setting("OUT", "32")[0]);
    for in_c in setting("CHANNELS", "4,16,64") {
        let (input, weight) = ([32, in_c, size, size], [out_c, in_c, 3, 3]);
        let g = Conv2dGeometry::new(&input, &weight, Conv2dSpec::new(1, 1)).expect("shape");
        // Constant operands: the kernels' time does not depend on the values.
        let (x, w) = (
            Tensor::full(&gpu, &input, 0.25).expect("upload"),
            Tensor::full(&gpu, &weight, -0.5).expect("upload"),
        );
        let flops = 2.0 * (g.batch * g.out_c * g.out_h * g.out_w * g.in_c * 9) as f64;
        let mut times = Vec::new();
        // Two untimed calls first (pipelines compiled, buffers pooled).
        for i in 0..reps + 2 {
            let start = Instant::now();
            drop(conv::conv2d_stacked(&gpu, &x, &w, &g, true).expect("conv"));
            gpu.synchronize().expect("device");
            match i {
                0 | 1 => gpu.reset_profile(),
                _ => times.push(start.elapsed().as_secs_f64()),
            }
        }
        for (kernel, t) in gpu.profile() {
            let ms = t.seconds * 1e3 / t.dispatches as f64;
            println!("    {kernel:<48} {ms:>8.3} ms a dispatch");
        }
        gpu.reset_profile();
        times.sort_by(f64::total_cmp);
        let (median, best) = (times[reps / 2], times[0]);
        println!(
            "{input:?} * {weight:?} forward in a step: median {:.2} ms ({:.2} GFLOP/s), best {:.2} ms",
            median * 1e3,
            flops / median / 1e9,
            best * 1e3
        );
    }
}
