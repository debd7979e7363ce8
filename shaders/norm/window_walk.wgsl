// Prepended to the fused batch norm + ReLU + 2x2 max pool kernels. A workgroup of
// WALK_LANES invocations takes the steps (one 2x2 window, or two neighbouring ones: see
// norm/window_step_*.wgsl) of one channel in a run of whole images, as one flat list
// (image, row, step): small planes thus fill every lane, and a workgroup has enough steps
// to pay for its start. The list is cut into one contiguous chunk per row of WALK_ROW
// lanes, which walks its chunk WALK_ROW steps at a time: on a CPU adapter a row is one
// SIMD vector run to the end before the next, so each vector streams through consecutive
// memory; on a GPU, neighbouring lanes still read neighbouring windows. Positions are
// advanced without dividing (integer division is scalarised on SIMD CPUs). The functions
// take the plane's height and its width in steps. The chunks follow channel_walk.wgsl's
// rule (`lane_chunk`, WALK_ROW), which is prepended with this file.

struct WindowWalk {
    // Flat index of the step in the workgroup's list, and the end of this lane's chunk.
    j: u32,
    end: u32,
    n: u32,
    oh: u32,
    ow: u32,
    step_oh: u32,
    step_ow: u32,
}

// The first step of invocation `local` in the steps of images [first, last).
fn window_walk(first: u32, last: u32, local: u32, out_h: u32, out_w: u32) -> WindowWalk {
    let per_image = out_h * out_w;
    let part = lane_chunk((last - first) * per_image, local);
    let j = part.x;
    let n = j / per_image;
    let r = j - n * per_image;
    let oh = r / out_w;
    // WALK_ROW steps on: never a whole image when planes have at least that many.
    let step_oh = WALK_ROW / out_w;
    return WindowWalk(j, part.y, first + n, oh, r - oh * out_w, step_oh,
                      WALK_ROW - step_oh * out_w);
}

fn advance_window(w: ptr<function, WindowWalk>, out_h: u32, out_w: u32) {
    (*w).j = (*w).j + WALK_ROW;
    (*w).ow = (*w).ow + (*w).step_ow;
    if ((*w).ow >= out_w) {
        (*w).ow = (*w).ow - out_w;
        (*w).oh = (*w).oh + 1u;
    }
    (*w).oh = (*w).oh + (*w).step_oh;
    while ((*w).oh >= out_h) {
        (*w).oh = (*w).oh - out_h;
        (*w).n = (*w).n + 1u;
    }
}

// Where the walk's step lies, for the (image, channel) `plane` it is in: its index in the
// pooled output viewed as Values (one per step), and the offset of its top-left input
// within the plane (in floats).
fn step_output(w: WindowWalk, plane: u32, out_h: u32, steps: u32) -> u32 {
    return (plane * out_h + w.oh) * steps + w.ow;
}

fn step_top(w: WindowWalk, in_w: u32) -> u32 {
    return (2u * w.oh) * in_w + 2u * STEP * w.ow;
}

// The index, in the input viewed as RowParts, of the input row part starting at float
// `at` (a multiple of 2 * STEP: planes and steps' left columns are).
fn row_part_at(at: u32) -> u32 {
    return at / (2u * STEP);
}
