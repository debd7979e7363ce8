// Softmax cross-entropy of at most LANES rows in one workgroup: the rows one after the
// other (loss/softmax_ce_row.wgsl), lane r keeping row r's loss, then the masked mean
// loss = sum(row loss) / max(sum(mask), 1) and valid = sum(mask) by the same tree as
// loss/softmax_ce_finish.wgsl (whose lanes past the rows add zeros): the same bits as
// the two-kernel path.
// Params and bindings 0-4: loss/softmax_ce_row.wgsl.
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> valid: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) local: u32) {
    var own_loss = 0.0;
    var own_mask = 0.0;
    for (var row = 0u; row < p.rows; row = row + 1u) {
        let row_loss = softmax_ce_row(row, local);
        if (local == row) {
            own_loss = row_loss;
            own_mask = mask[row];
        }
    }
    let loss_sum = row_reduce(local, own_loss, SUM);
    let mask_sum = row_reduce(local, own_mask, SUM);
    if (local == 0u) {
        loss[0] = loss_sum / max(mask_sum, 1.0);
        valid[0] = mask_sum;
    }
}
