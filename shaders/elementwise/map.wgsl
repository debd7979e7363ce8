// Elementwise maps over flat tensors; the constant OP (prepended by the launcher: one of
// the op constants below) picks the formula, one kernel per op.
struct Params {
    len: u32,
    alpha: f32,
    beta: f32,
    seed: u32,
}

const AXPBY: u32 = 0u;          // out = alpha * a + beta * b
const MUL: u32 = 1u;            // out = alpha * a * b
const RELU: u32 = 2u;           // out = max(a, 0)
const RELU_BACKWARD: u32 = 3u;  // out = b where a > 0, else 0   (a: forward input, b: dy)
const ACCUMULATE: u32 = 4u;     // out = out + alpha * a
const DROPOUT: u32 = 5u;        // out = a / alpha where keep(seed, i) (probability alpha), else 0
const CLIP_SCALE: u32 = 6u;     // out = min(1, alpha / (sqrt(a) + 1e-6))   (a: squared norm)
const RELU_DROPOUT: u32 = 7u;   // out = DROPOUT of max(a, 0)
const RELU_DROPOUT_BACKWARD: u32 = 8u;  // out = b / alpha where keep(seed, i) and a > 0, else 0

// A 32-bit integer hash (PCG output permutation); facemtl::reference mirrors it.
fn hash(x: u32) -> u32 {
    let state = x * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Whether dropout keeps element i: a uniform draw in [0, 1) from (seed, i) below keep.
fn keep(seed: u32, i: u32, keep_prob: f32) -> bool {
    return f32(hash(i ^ hash(seed)) >> 8u) * (1.0 / 16777216.0) < keep_prob;
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    switch OP {
        case AXPBY: { out[i] = p.alpha * a[i] + p.beta * b[i]; }
        case MUL: { out[i] = p.alpha * a[i] * b[i]; }
        case RELU: { out[i] = max(a[i], 0.0); }
        case RELU_BACKWARD: { out[i] = select(0.0, b[i], a[i] > 0.0); }
        case ACCUMULATE: { out[i] = out[i] + p.alpha * a[i]; }
        case DROPOUT: { out[i] = select(0.0, a[i] / p.alpha, keep(p.seed, i, p.alpha)); }
        case CLIP_SCALE: { out[i] = min(1.0, p.alpha / (sqrt(a[i]) + 1e-6)); }
        case RELU_DROPOUT: { out[i] = select(0.0, max(a[i], 0.0) / p.alpha, keep(p.seed, i, p.alpha)); }
        case RELU_DROPOUT_BACKWARD: {
            out[i] = select(0.0, b[i] / p.alpha, keep(p.seed, i, p.alpha) && a[i] > 0.0);
        }
        default: { out[i] = bitcast<f32>(0x7fc00000u); }
    }
}
