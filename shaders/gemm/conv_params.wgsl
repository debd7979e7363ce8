// Geometry shared by the three implicit-GEMM convolution variants.
struct Params {
    m: u32,
    n: u32,
    k: u32,
    in_c: u32,
    in_h: u32,
    in_w: u32,
    out_c: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    // Backward-weight only: the full K that the split slices share.
    k_total: u32,
    // The output (dy) as stored: output channels per stack, and the distance between
    // stacks in Values (one stack: out_c, and the whole output's length).
    out_stack: u32,
    stack_stride: u32,
    // The data gradient by stride phase only (conv_backward_data_phase.wgsl): the phase's
    // input rows and columns, its first input row and column, their dy positions for its
    // first taps, its first taps and its taps per axis.
    phase_rows: u32,
    phase_cols: u32,
    first_y: u32,
    first_x: u32,
    base_oh: u32,
    base_ow: u32,
    tap0_h: u32,
    tap0_w: u32,
    taps_h: u32,
    taps_w: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// Input row and column that output (oh, ow) sees through kernel tap (kh, kw); negative or
// past the edge means zero padding.
fn input_y(oh: u32, kh: u32) -> i32 {
    return i32(oh * p.stride_h + kh) - i32(p.pad_top);
}

fn input_x(ow: u32, kw: u32) -> i32 {
    return i32(ow * p.stride_w + kw) - i32(p.pad_left);
}

fn inside(y: i32, x: i32) -> bool {
    return y >= 0 && y < i32(p.in_h) && x >= 0 && x < i32(p.in_w);
}

// The kernel tap after (kh, kw) in row-major order; `wrapped` when it went past the last tap
// back to (0, 0), i.e. when the K walk moves on to the next channel.
struct Tap {
    kh: i32,
    kw: i32,
    wrapped: bool,
}

fn next_tap(kh: i32, kw: i32) -> Tap {
    if (kw + 1 < i32(p.kernel_w)) {
        return Tap(kh, kw + 1, false);
    }
    if (kh + 1 < i32(p.kernel_h)) {
        return Tap(kh + 1, 0, false);
    }
    return Tap(0, 0, true);
}

// Where output channel `channel` (one stored per Value) of image 0 starts: its stack's
// offset plus its plane within the stack.
fn output_channel_offset(channel: u32) -> u32 {
    let stack = stack_of(channel, p.out_stack);
    return stack * p.stack_stride + (channel - stack * p.out_stack) * p.out_h * p.out_w;
}

// The data gradients' walk over dy's output channels: from the channel at offset
// `channel`, with `left` Values of its stack from it on, to the next one: the next plane,
// or the next stack's first.
struct NextChannel {
    channel: u32,
    left: u32,
}

fn next_output_channel(channel: u32, left: u32) -> NextChannel {
    let plane = p.out_h * p.out_w;
    let per = stored_channels(p.out_stack);
    if (left == 1u) {
        return NextChannel(channel + p.stack_stride - (per - 1u) * plane, per);
    }
    return NextChannel(channel + plane, left - 1u);
}

// Channels of `c` as the operands store them: one per Value, or groups of four.
fn stored_channels(c: u32) -> u32 {
    return (c + CHANNELS_PER_VALUE - 1u) / CHANNELS_PER_VALUE;
}
