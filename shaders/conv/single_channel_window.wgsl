// The 3 x 3 input window of four neighbouring output pixels of a one-channel image, for
// the single-channel kernels (conv/single_channel_*.wgsl, whose Params have h and w and
// which bind x and x4 to the same buffer). Stride 1, zero padding 1, w a multiple of 4.

// Input row oh + kh - 1 of image n under the four pixels of quad q and their two
// neighbours: 0 above or below the image and beyond its left and right edges.
struct WindowRow {
    left: f32,
    centre: vec4<f32>,
    right: f32,
}

fn window_row(n: u32, oh: u32, kh: u32, q: u32, quads: u32) -> WindowRow {
    let iy = i32(oh + kh) - 1;
    let inside = iy >= 0 && iy < i32(p.h);
    let plane = n * p.h * p.w;
    let start = plane + u32(clamp(iy, 0, i32(p.h) - 1)) * p.w + 4u * q;
    let centre = select(vec4<f32>(0.0), x4[start / 4u], inside);
    let left = select(0.0, x[max(start, 1u) - 1u], inside && q > 0u);
    let right = select(0.0, x[min(start + 4u, plane + p.h * p.w - 1u)], inside && q + 1u < quads);
    return WindowRow(left, centre, right);
}

// The input under each tap (kh, kw) of the four pixels of quad q of row oh of image n,
// 0 outside: tap kh * 3 + kw.
struct Window {
    tap0: vec4<f32>,
    tap1: vec4<f32>,
    tap2: vec4<f32>,
    tap3: vec4<f32>,
    tap4: vec4<f32>,
    tap5: vec4<f32>,
    tap6: vec4<f32>,
    tap7: vec4<f32>,
    tap8: vec4<f32>,
}

fn window(n: u32, oh: u32, q: u32, quads: u32) -> Window {
    let top = window_row(n, oh, 0u, q, quads);
    let middle = window_row(n, oh, 1u, q, quads);
    let bottom = window_row(n, oh, 2u, q, quads);
    return Window(
        vec4<f32>(top.left, top.centre.xyz), top.centre, vec4<f32>(top.centre.yzw, top.right),
        vec4<f32>(middle.left, middle.centre.xyz), middle.centre,
        vec4<f32>(middle.centre.yzw, middle.right),
        vec4<f32>(bottom.left, bottom.centre.xyz), bottom.centre,
        vec4<f32>(bottom.centre.yzw, bottom.right));
}
