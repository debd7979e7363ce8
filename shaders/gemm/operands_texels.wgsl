// The convolution GEMMs' A and B gathered from texel arrays packed four channels deep by
// texels/pack_c4.wgsl (the texel cores in src/kernels/texel_gemm.rs): an index counts
// texels, each four channels at one position.
@group(0) @binding(1) var a_src: texture_2d<f32>;
@group(0) @binding(2) var b_src: texture_2d<f32>;

alias Value = vec4<f32>;

const CHANNELS_PER_VALUE: u32 = 4u;

// Texel i of a texel array: TEXEL_ROW (4096) texels per texture row (src/gpu/texels.rs).
fn texel(t: texture_2d<f32>, i: u32) -> Value {
    return textureLoad(t, vec2<u32>(i & 4095u, i >> 12u), 0);
}

fn load_a(i: u32) -> Value {
    return texel(a_src, i);
}

fn load_b(i: u32) -> Value {
    return texel(b_src, i);
}
