// Packs filters [co, ci, kh, kw] four channels deep both ways in one pass, for a training
// convolution whose forward and backward-data GEMMs both read them from texels
// (texels/pack_c4.wgsl packs one way; this spares the backward pass a second dispatch):
// - by input channel, as the forward loaders read them: texel (o * ci4 + qi) * taps + t
//   holds input channels 4qi .. 4qi + 3 of output channel o at tap t;
// - by output channel, as the backward-data loaders read them: texel
//   qo * ci * taps + i * taps + t holds output channels 4qo .. 4qo + 3 of input channel i
//   at tap t;
// zero past the last channel. One invocation per block of four output by four input
// channels at one tap: sixteen loads, then four texels each way. The grid is (input
// channel groups over the lanes, taps, output channel groups), so nothing is divided.
struct Params {
    co: u32,
    ci: u32,
    ci4: u32,
    taps: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var by_input: texture_storage_2d<rgba32float, write>;
@group(0) @binding(3) var by_output: texture_storage_2d<rgba32float, write>;

// Filter (o, i) at tap t, zero past the last channel (the load clamped in bounds).
fn tap_of(o: u32, i: u32, t: u32) -> f32 {
    let v = src[(min(o, p.co - 1u) * p.ci + min(i, p.ci - 1u)) * p.taps + t];
    return select(0.0, v, o < p.co && i < p.ci);
}

// Where texel i of a texel array lies (TEXEL_ROW, 4096, texels per row: src/gpu/texels.rs).
fn at(i: u32) -> vec2<u32> {
    return vec2<u32>(i & 4095u, i >> 12u);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let qi = wg.x * 8u + lid.x;
    if (qi >= p.ci4) {
        return;
    }
    let t = wg.y;
    let o0 = 4u * wg.z;
    let i0 = 4u * qi;
    var block: array<vec4<f32>, 4>;
    // Row a: output channel o0 + a, its four input channels.
    block[0] = vec4<f32>(tap_of(o0, i0, t), tap_of(o0, i0 + 1u, t), tap_of(o0, i0 + 2u, t), tap_of(o0, i0 + 3u, t));
    block[1] = vec4<f32>(tap_of(o0 + 1u, i0, t), tap_of(o0 + 1u, i0 + 1u, t), tap_of(o0 + 1u, i0 + 2u, t), tap_of(o0 + 1u, i0 + 3u, t));
    block[2] = vec4<f32>(tap_of(o0 + 2u, i0, t), tap_of(o0 + 2u, i0 + 1u, t), tap_of(o0 + 2u, i0 + 2u, t), tap_of(o0 + 2u, i0 + 3u, t));
    block[3] = vec4<f32>(tap_of(o0 + 3u, i0, t), tap_of(o0 + 3u, i0 + 1u, t), tap_of(o0 + 3u, i0 + 2u, t), tap_of(o0 + 3u, i0 + 3u, t));
    let columns = transpose(mat4x4<f32>(block[0], block[1], block[2], block[3]));
    for (var a = 0u; a < 4u; a = a + 1u) {
        if (o0 + a < p.co) {
            textureStore(by_input, at(((o0 + a) * p.ci4 + qi) * p.taps + t), block[a]);
        }
        if (i0 + a < p.ci) {
            textureStore(by_output, at(wg.z * p.ci * p.taps + (i0 + a) * p.taps + t), columns[a]);
        }
    }
}
