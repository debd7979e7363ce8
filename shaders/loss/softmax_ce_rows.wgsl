// Softmax cross-entropy, one workgroup per row (loss/softmax_ce_row.wgsl): probs and each
// row's masked loss; loss/softmax_ce_finish.wgsl then takes the masked mean.
// Params and bindings 0-4: loss/softmax_ce_row.wgsl.
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let row = flat_group(wg, groups);
    if (row >= p.rows) {
        return;
    }
    let loss = softmax_ce_row(row, local);
    if (local == 0u) {
        row_loss[row] = loss;
    }
}
