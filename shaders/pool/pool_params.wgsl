// Geometry shared by the pooling kernels: planes = batch * channels, each pooled alone.
struct Params {
    planes: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// First and last output index along one axis whose window covers input index i
// (last < first when none does). The quotients are stack_of's f32 divisions (llvmpipe
// runs an integer division lane by lane), exact as padded sides stay under 2^20.
fn first_window(i: u32, pad: u32, kernel: u32, stride: u32) -> u32 {
    let t = i32(i + pad) - i32(kernel) + 1;
    if (t <= 0) {
        return 0u;
    }
    return stack_of(u32(t) + stride - 1u, stride);
}

fn last_window(i: u32, pad: u32, stride: u32, out_len: u32) -> i32 {
    return min(i32(stack_of(i + pad, stride)), i32(out_len) - 1);
}
