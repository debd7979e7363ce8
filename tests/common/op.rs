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
    let inputs: Vec<Input> = shapes
        .iter()
        .map(|s| Input::random(r, s, 1.0, 0.0))
        .collect();
    check_op_on(name, r, &inputs, tol, op, reference)
}

/// One input of an op under test: its shape and values.
pub struct Input {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Input {
    /// Values drawn from `r` as `check_op` draws them, times `scale` plus `shift` (e.g. to
    /// move a batch norm's input off zero mean and unit spread).
    pub fn random(r: &mut StdRng, shape: &[usize], scale: f32, shift: f32) -> Input {
        let values = random(r, shape.iter().product());
        Input {
            shape: shape.to_vec(),
            values: values.iter().map(|v| scale * v + shift).collect(),
        }
    }
}

/// As [`check_op`], on the given inputs; the output gradient is drawn from `r`.
pub fn check_op_on<O>(
    name: &str,
    r: &mut StdRng,
    inputs: &[Input],
    tol: Tolerance,
    op: &GpuOp<O>,
    reference: impl FnOnce(&[Vec<f64>], &[f64]) -> Expected,
) -> O {
    let tensors: Vec<Tensor> = inputs.iter().map(|i| upload(&i.shape, &i.values)).collect();
    let result = (op.forward)(&tensors);
    let y = (op.output)(&result);
    let dy = random(r, y.len());
    let grads = (op.backward)(&tensors, &result, &upload(y.shape(), &dy));
    let wide: Vec<Vec<f64>> = inputs.iter().map(|i| widen(&i.values)).collect();
    let want = reference(&wide, &widen(&dy));
    assert_tensor(name, (op.output)(&result), &want.output, tol);
    assert_eq!(grads.len(), want.grads.len(), "{name}: gradients");
    for (i, (got, want)) in grads.iter().zip(&want.grads).enumerate() {
        assert_eq!(got.shape(), inputs[i].shape, "{name}: gradient {i}'s shape");
        assert_tensor(&format!("{name} gradient {i}"), got, want, tol);
    }
    result
}
