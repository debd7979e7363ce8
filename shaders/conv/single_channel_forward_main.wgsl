// The first layer's forward convolution (conv/single_channel_forward.wgsl): one invocation
// per four output pixels of every channel.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let quads = p.w / 4u;
    let i = flat_group(wg, groups) * 64u + local;
    if (i >= quad_count()) {
        return;
    }
    let at = quad(i, quads);
    let t = window(at.n, at.oh, at.q, quads);
    for (var co = 0u; co < p.out_c; co = co + 1u) {
        y4[at.out_row + co * p.h * quads] = output(t, co);
    }
}
