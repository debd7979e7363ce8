// Prepended to the fused batch norm + ReLU + 2x2 max pool kernels. A workgroup of
// WINDOW_LANES invocations takes the steps (one 2x2 window, or two neighbouring ones: see
// norm/window_step_*.wgsl) of one channel in a run of whole images, as one flat list
// (image, row, step): small planes thus fill every lane, and a workgroup has enough steps
// to pay for its start. The list is cut into one contiguous chunk per row of WINDOW_ROW
// lanes, which walks its chunk WINDOW_ROW steps at a time: on a CPU adapter a row is one
// SIMD vector run to the end before the next, so each vector streams through consecutive
// memory; on a GPU, neighbouring lanes still read neighbouring windows. Positions are
// advanced without dividing (integer division is scalarised on SIMD CPUs). The functions
// take the plane's height and its width in steps.
const WINDOW_LANES: u32 = 64u;
const WINDOW_ROW: u32 = 8u;

struct WindowWalk {
    // Flat index of the window in the workgroup's list, and the end of this lane's chunk.
    j: u32,
    end: u32,
    n: u32,
    oh: u32,
    ow: u32,
    step_oh: u32,
    step_ow: u32,
}

// The first window of invocation `local` in the windows of images [first, last).
fn window_walk(first: u32, last: u32, local: u32, out_h: u32, out_w: u32) -> WindowWalk {
    let per_image = out_h * out_w;
    let total = (last - first) * per_image;
    let chunk = (total + WINDOW_LANES - 1u) / WINDOW_LANES * WINDOW_ROW;
    let row = local / WINDOW_ROW;
    let j = row * chunk + local % WINDOW_ROW;
    let end = min((row + 1u) * chunk, total);
    let n = j / per_image;
    let r = j - n * per_image;
    let oh = r / out_w;
    // WINDOW_ROW windows on: never a whole image when planes have at least that many.
    let step_oh = WINDOW_ROW / out_w;
    return WindowWalk(j, end, first + n, oh, r - oh * out_w, step_oh,
                      WINDOW_ROW - step_oh * out_w);
}

fn advance_window(w: ptr<function, WindowWalk>, out_h: u32, out_w: u32) {
    (*w).j = (*w).j + WINDOW_ROW;
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
