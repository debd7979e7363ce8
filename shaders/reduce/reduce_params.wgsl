// Shared by both reductions over axes: x viewed as [outer, mid, inner] is summed over
// outer and inner into out [mid], times `scale` (of x, or of x^2 when `square` is set),
// through `masked` (reduce/no_dropout.wgsl, or reduce/dropout.wgsl with keep and seed).
struct Params {
    outer: u32,
    mid: u32,
    inner: u32,
    square: u32,
    scale: f32,
    keep: f32,
    seed: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
