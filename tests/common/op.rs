//! One op checked both ways against the f64 reference: random inputs of the given shapes
//! and a random output gradient are uploaded (outputs NaN-poisoned by the test device),
//! the kernel's forward and backward run, and the output and every input gradient are
//! compared with the reference's.

use facemtl::gpu::Tensor;
use rand::rngs::StdRng;

use super::{assert_tensor, random, upload, widen, Tolerance};

/// What the reference says for one case: the output, and the gradient of every input for
/// the output gradient it was given.
pub struct Expected {
    pub output: Vec<f64>,
    pub grads: Vec<Vec<f64>>,
}

/// An op's forward: the inputs -> whatever its backward needs along with the output.
pub type Forward<O> = Box<dyn Fn(&[Tensor]) -> O>;

/// An op's backward: (inputs, the forward's result, dy) -> the input gradients in order.
pub type Backward<O> = Box<dyn Fn(&[Tensor], &O, &Tensor) -> Vec<Tensor>>;

/// The GPU side of an op: its forward (returning whatever its backward needs, e.g. the
/// argmax of a max pool, along with the output), where the output is in that result, and
/// its backward.
pub struct GpuOp<O> {
    pub forward: Forward<O>,
    pub output: fn(&O) -> &Tensor,
    pub backward: Backward<O>,
}

/// Checks `op` on inputs of `shapes` drawn from `r` against `reference` (given the inputs
/// and dy in f64); `name` labels the failures. Returns the forward's result for further
/// checks (e.g. an argmax against the reference's).
pub fn check_op<O>(
    name: &str,
    r: &mut StdRng,
    shapes: &[&[usize]],
    tol: Tolerance,
    op: &GpuOp<O>,
    reference: impl FnOnce(&[Vec<f64>], &[f64]) -> Expected,
) -> O {
    let values: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| random(r, s.iter().product()))
        .collect();
    let inputs: Vec<Tensor> = shapes
        .iter()
        .zip(&values)
        .map(|(s, v)| upload(s, v))
        .collect();
    let result = (op.forward)(&inputs);
    let y = (op.output)(&result);
    let dy = random(r, y.len());
    let grads = (op.backward)(&inputs, &result, &upload(y.shape(), &dy));
    let wide: Vec<Vec<f64>> = values.iter().map(|v| widen(v)).collect();
    let want = reference(&wide, &widen(&dy));
    assert_tensor(name, (op.output)(&result), &want.output, tol);
    assert_eq!(grads.len(), want.grads.len(), "{name}: gradients");
    for (i, (got, want)) in grads.iter().zip(&want.grads).enumerate() {
        assert_eq!(got.shape(), shapes[i], "{name}: gradient {i}'s shape");
        assert_tensor(&format!("{name} gradient {i}"), got, want, tol);
    }
    result
}
