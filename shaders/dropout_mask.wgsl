// Dropout's mask, shared by every kernel that drops: element i is kept when a uniform draw
// in [0, 1) from (seed, i) falls below keep_prob. facemtl::reference mirrors it.

// A 32-bit integer hash (PCG output permutation).
fn hash(x: u32) -> u32 {
    let state = x * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn kept(seed: u32, i: u32, keep_prob: f32) -> bool {
    return f32(hash(i ^ hash(seed)) >> 8u) * (1.0 / 16777216.0) < keep_prob;
}

// Inverted dropout of element i's value v: v / keep_prob if kept, else 0.
fn drop_out(v: f32, seed: u32, i: u32, keep_prob: f32) -> f32 {
    return select(0.0, v / keep_prob, kept(seed, i, keep_prob));
}
