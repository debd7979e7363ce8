// The convolution GEMMs' A and B read from storage buffers one float at a time (the
// storage core in src/kernels/gemm.rs).
@group(0) @binding(1) var<storage, read> a_src: array<f32>;
@group(0) @binding(2) var<storage, read> b_src: array<f32>;

alias Value = f32;

// Channels per Value: a float holds one.
const CHANNELS_PER_VALUE: u32 = 1u;

fn load_a(i: u32) -> Value {
    return a_src[i];
}

fn load_b(i: u32) -> Value {
    return b_src[i];
}
