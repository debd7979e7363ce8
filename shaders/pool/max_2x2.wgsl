// The 2x2 stride-2 max pool over x [planes, 1, h, w] (h and w even), by
// norm/window_max_pool.wgsl's walk with no activation: every plane is an image of one
// channel, so runs of planes fill the workgroups however many there are.
struct Params {
    batch: u32,
    channels: u32,
    in_h: u32,
    in_w: u32,
    images_per_group: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<RowPart>;
@group(0) @binding(2) var<storage, read_write> pooled: array<Values>;
@group(0) @binding(3) var<storage, read_write> argmax: array<Positions>;

struct Activation {
    none: u32,
}

fn channel_activation(c: u32) -> Activation {
    return Activation(0u);
}

fn activate(row: RowPart, a: Activation) -> RowPart {
    return row;
}
