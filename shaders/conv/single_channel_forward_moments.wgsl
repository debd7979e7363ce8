// The first layer's forward convolution (conv/single_channel_forward.wgsl) that also writes,
// for each workgroup of 8 invocations (one subgroup: the host takes this kernel only where
// subgroups have 8 lanes) and each output channel, the mean of the workgroup's 32 outputs
// of that channel and their sum of squared deviations from it, to
// moments[workgroup * out_c + co]: the chunks that norm/batch_norm_merge_stats.wgsl merges
// into the batch statistics. Every lane runs to the end (the last workgroup's surplus
// lanes compute a clamped quad and store nothing), so the subgroup sums see all 8.
@group(0) @binding(5) var<storage, read_write> moments: array<vec2<f32>>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let quads = p.w / 4u;
    let total = quad_count();
    let chunk = flat_group(wg, groups);
    let i = chunk * 8u + local;
    let inside = i < total;
    let at = quad(min(i, total - 1u), quads);
    let t = window(at.n, at.oh, at.q, quads);
    // Workgroups past the last chunk (where the grid is two-dimensional) store nothing.
    let first = min(chunk * 8u, total);
    let per_output = 1.0 / f32(4u * min(8u, total - first));
    for (var co = 0u; co < p.out_c; co = co + 1u) {
        let v = output(t, co);
        if (inside) {
            y4[at.out_row + co * p.h * quads] = v;
        }
        let mean = subgroupAdd(select(0.0, v.x + v.y + v.z + v.w, inside)) * per_output;
        let d = select(vec4<f32>(0.0), v - mean, inside);
        let deviations = subgroupAdd(dot(d, d));
        if (local == 0u && first < total) {
            moments[chunk * p.out_c + co] = vec2<f32>(mean, deviations);
        }
    }
}
