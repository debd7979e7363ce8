// Walks the elements (n, i) of one channel of x [batch, channels, inner] in images
// [first, last), as a flat list that a workgroup of WALK_LANES invocations shares: the list
// is cut into one contiguous chunk per row of WALK_ROW lanes, which walks its chunk
// WALK_ROW elements at a time. On a CPU adapter a row is one SIMD vector run to the end
// before the next, so each vector streams through consecutive memory (a stride of the
// whole workgroup instead makes every vector jump, and is about twice as slow on
// llvmpipe); on a GPU neighbouring lanes still read neighbouring elements. Planes smaller
// than the workgroup still fill every lane. (n, i) advance without dividing (integer
// division is scalarised on SIMD CPUs).
const WALK_LANES: u32 = 64u;
const WALK_ROW: u32 = 8u;

struct ChannelWalk {
    // Flat index in the list, and the end of this lane's chunk.
    j: u32,
    end: u32,
    n: u32,
    i: u32,
    step_n: u32,
    step_i: u32,
}

// Invocation `local`'s part of a list of `total` items: its first index, and the end of
// its row's chunk (it takes every WALK_ROW-th index from the first up to that end).
fn lane_chunk(total: u32, local: u32) -> vec2<u32> {
    let chunk = (total + WALK_LANES - 1u) / WALK_LANES * WALK_ROW;
    let row = local / WALK_ROW;
    return vec2<u32>(row * chunk + local % WALK_ROW, min((row + 1u) * chunk, total));
}

fn channel_walk(first: u32, last: u32, local: u32, inner: u32) -> ChannelWalk {
    let part = lane_chunk((last - first) * inner, local);
    let j = part.x;
    let n = j / inner;
    let step_n = WALK_ROW / inner;
    return ChannelWalk(j, part.y, first + n, j - n * inner, step_n, WALK_ROW - step_n * inner);
}

fn advance(w: ptr<function, ChannelWalk>, inner: u32) {
    (*w).j = (*w).j + WALK_ROW;
    (*w).n = (*w).n + (*w).step_n;
    (*w).i = (*w).i + (*w).step_i;
    if ((*w).i >= inner) {
        (*w).i = (*w).i - inner;
        (*w).n = (*w).n + 1u;
    }
}
