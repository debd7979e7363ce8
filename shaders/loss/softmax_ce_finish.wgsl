// loss = sum(row_loss) / max(sum(mask), 1) and valid = sum(mask), in one workgroup.
struct Params {
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> valid: array<f32>;

var<workgroup> loss_sum: array<f32, GROUP>;
var<workgroup> mask_sum: array<f32, GROUP>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) local: u32) {
    var l = 0.0;
    var m = 0.0;
    for (var r = local; r < p.rows; r = r + GROUP) {
        l = l + row_loss[r];
        m = m + mask[r];
    }
    loss_sum[local] = l;
    mask_sum[local] = m;
    workgroupBarrier();
    for (var stride = GROUP / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            loss_sum[local] = loss_sum[local] + loss_sum[local + stride];
            mask_sum[local] = mask_sum[local] + mask_sum[local + stride];
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        loss[0] = loss_sum[0] / max(mask_sum[0], 1.0);
        valid[0] = mask_sum[0];
    }
}
