//! Probe: what a storage load under a branch that no lane takes costs on this adapter,
//! against the same loop without it (BENCHMARKS.md, "GEMM stores without runtime branches"). llvmpipe runs both sides of
//! a branch with the lanes masked, so `if (flag != 0u) { s += src[i]; }` with the flag 0
//! still runs the load's loop over the lanes: why the GEMM stores take their bias from a
//! compile-time variant (`gemm/*_bias.wgsl`) instead of testing a flag.

mod probe;

const GROUPS: u32 = 4096;
const STEPS: u32 = 64;

fn shader(guarded_load: bool) -> String {
    let body = match guarded_load {
        true => "if (flag[0] != 0u) { s = s + src[i]; }",
        false => "",
    };
    format!(
        "@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> flag: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
    var s = 0.0;
    for (var k = 0u; k < {STEPS}u; k = k + 1u) {{
        let i = (k * {GROUPS}u * 8u + g.x) & 1048575u;
        s = s * 0.5 + f32(i);
        {body}
    }}
    // Both variants bind (and read once) both buffers.
    out[g.x] = s + src[g.x] + f32(flag[0]);
}}
"
    )
}

fn main() {
    let probe = probe::Probe::new();
    let device = &probe.device;
    let buffer = |size: u64| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    };
    // Fresh buffers read as zeros: the flag is 0, so no lane ever takes the branch.
    let (src, flag, out) = (buffer(4 << 20), buffer(16), buffer(GROUPS as u64 * 8 * 4));
    let lanes = (GROUPS * 8 * STEPS) as f64;
    let mut times = Vec::new();
    for guarded_load in [false, true] {
        let resources = [
            src.as_entire_binding(),
            flag.as_entire_binding(),
            out.as_entire_binding(),
        ];
        let (pipeline, bind) = probe.pipeline(&shader(guarded_load), &resources);
        let best = probe.time_dispatch(&pipeline, &bind, GROUPS);
        let what = match guarded_load {
            true => "with a load under a branch never taken",
            false => "loop alone",
        };
        println!(
            "{what:>40}: {:7.2} ms, {:5.2} ns per lane step",
            best * 1e3,
            best * 1e9 / lanes
        );
        times.push(best);
    }
    println!(
        "the untaken branch's load: {:.2} ns per lane step",
        (times[1] - times[0]) * 1e9 / lanes
    );
}
