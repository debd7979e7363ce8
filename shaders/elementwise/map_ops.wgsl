// The elementwise maps' parameters and op codes: the constant OP (prepended by the
// launcher: one of the op constants below) picks the formula of map.wgsl (every op, one
// f32 per invocation) or map4.wgsl (the ops whose formula is the same for every element,
// one vec4 per invocation), one kernel per op.
struct Params {
    len: u32,
    alpha: f32,
    beta: f32,
    seed: u32,
}

const AXPBY: u32 = 0u;          // out = alpha * a + beta * b
const MUL: u32 = 1u;            // out = alpha * a * b
const RELU: u32 = 2u;           // out = max(a, 0)
const RELU_BACKWARD: u32 = 3u;  // out = b where a > 0, else 0   (a: forward input, b: dy)
const ACCUMULATE: u32 = 4u;     // out = out + alpha * a
const DROPOUT: u32 = 5u;        // out = a / alpha where kept(seed, i) (probability alpha), else 0
const CLIP_SCALE: u32 = 6u;     // out = min(1, alpha / (sqrt(a) + 1e-6))   (a: squared norm)
const RELU_DROPOUT: u32 = 7u;   // out = DROPOUT of max(a, 0)
const RELU_DROPOUT_BACKWARD: u32 = 8u;  // out = b / alpha where kept(seed, i) and a > 0, else 0

