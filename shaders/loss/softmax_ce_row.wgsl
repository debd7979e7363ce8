// One row of softmax cross-entropy, by the workgroup's LANES invocations together (call
// from uniform control flow): writes probs = softmax(logits[row]) and returns, to every
// lane, mask[row] * (logsumexp(logits[row]) - logits[row, label]), 0 where the mask is.
// A label past the last class is clamped (the data layer validates labels). Both loss
// kernels bind these; each declares its outputs from binding 5 on.
struct Params {
    rows: u32,
    classes: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;

fn softmax_ce_row(row: u32, local: u32) -> f32 {
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
    let label = min(labels[row], p.classes - 1u);
    let loss = log(total) + row_max - logits[base + label];
    return select(0.0, mask[row] * loss, mask[row] != 0.0);
}
