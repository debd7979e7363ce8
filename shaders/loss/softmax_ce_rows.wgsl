// Softmax cross-entropy, one workgroup per row: probs = softmax(logits[row]) and
// row_loss = mask[row] * (logsumexp(logits[row]) - logits[row, label]).
// A label past the last class is clamped (the data layer validates labels).
struct Params {
    rows: u32,
    classes: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let row = flat_group(wg, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.classes;
    var local_max = -3.0e38;
    for (var c = local; c < p.classes; c = c + LANES) {
        local_max = max(local_max, logits[base + c]);
    }
    let row_max = row_reduce(local, local_max, MAX);
    var local_sum = 0.0;
    for (var c = local; c < p.classes; c = c + LANES) {
        local_sum = local_sum + exp(logits[base + c] - row_max);
    }
    let total = row_reduce(local, local_sum, SUM);
    for (var c = local; c < p.classes; c = c + LANES) {
        probs[base + c] = exp(logits[base + c] - row_max) / total;
    }
    if (local == 0u) {
        let label = min(labels[row], p.classes - 1u);
        let loss = log(total) + row_max - logits[base + label];
        row_loss[row] = select(0.0, mask[row] * loss, mask[row] != 0.0);
    }
}
