//! Softmax + cross-entropy, fused, averaged over the samples whose mask is set. A sample
//! without a label for this task (mask 0) contributes neither loss nor gradient.

use super::{expect_matrix, expect_shape, kernel, to_u32};
use crate::gpu::{grid_1d, kernel_params, Gpu, GpuError, Indices, Kernel, Result, Tensor};

const ROWS: Kernel = kernel!(
    "loss/softmax_ce_rows",
    "row_reduce.wgsl",
    "loss/softmax_ce_row.wgsl",
    "loss/softmax_ce_rows.wgsl"
);
const ONE_GROUP: Kernel = kernel!(
    "loss/softmax_ce_one_group",
    "row_reduce.wgsl",
    "loss/softmax_ce_row.wgsl",
    "loss/softmax_ce_one_group.wgsl"
);
/// Rows the one-workgroup kernel takes (row_reduce.wgsl's LANES): up to this many, the
/// loss is one dispatch instead of two, with the same bits.
const ONE_GROUP_ROWS: usize = 64;
const FINISH: Kernel = kernel!("loss/softmax_ce_finish", "loss/softmax_ce_finish.wgsl");
const BACKWARD: Kernel = kernel!("loss/softmax_ce_backward", "loss/softmax_ce_backward.wgsl");
const SOFTMAX: Kernel = kernel!(
    "loss/softmax_rows",
    "row_reduce.wgsl",
    "loss/softmax_rows.wgsl"
);
const SOFTMAX_MEAN: Kernel = kernel!("loss/softmax_mean_rows", "loss/softmax_mean_rows.wgsl");
const SOFTMAX_BACKWARD: Kernel = kernel!(
    "loss/softmax_rows_backward",
    "row_reduce.wgsl",
    "loss/softmax_rows_backward.wgsl"
);

kernel_params! {
    struct Params {
        rows: u32,
        classes: u32,
    }
}

kernel_params! {
    struct FinishParams {
        rows: u32,
    }
}

kernel_params! {
    struct RowsParams {
        rows: u32,
        cols: u32,
    }
}

kernel_params! {
    struct MeanParams {
        rows: u32,
        cols: u32,
        inv_rows: f32,
    }
}

kernel_params! {
    struct RowsBackwardParams {
        rows: u32,
        cols: u32,
        dprobs_row: u32,
        dprobs_scale: f32,
    }
}

/// What the forward pass leaves: the loss and what its backward needs.
pub struct SoftmaxCrossEntropy {
    /// Mean loss over the masked-in samples, shape `[1]` (0 when none is).
    pub loss: Tensor,
    /// Softmax probabilities, [batch, classes].
    pub probs: Tensor,
    /// Sum of the mask (the number of labelled samples), shape `[1]`.
    pub valid: Tensor,
}

fn check_inputs(
    op: &'static str,
    logits_shape: (usize, usize),
    labels: &Indices,
    mask: &Tensor,
) -> Result<()> {
    let (rows, classes) = logits_shape;
    if classes == 0 {
        return Err(GpuError::shape(op, "logits have zero classes"));
    }
    if labels.len() != rows {
        return Err(GpuError::shape(
            op,
            format!("{} labels for {rows} rows of logits", labels.len()),
        ));
    }
    expect_shape(op, "mask", mask, &[rows])
}

/// Softmax cross-entropy of `logits` `[batch, classes]` against `labels` `[batch]`, averaged
/// over the samples with a non-zero `mask` `[batch]` (0/1; other values weight the sample).
pub fn softmax_cross_entropy(
    gpu: &Gpu,
    logits: &Tensor,
    labels: &Indices,
    mask: &Tensor,
) -> Result<SoftmaxCrossEntropy> {
    const OP: &str = "softmax_cross_entropy";
    let (rows, classes) = expect_matrix(OP, "logits", logits)?;
    check_inputs(OP, (rows, classes), labels, mask)?;
    let params = Params {
        rows: to_u32(OP, rows)?,
        classes: to_u32(OP, classes)?,
    };
    let probs = Tensor::uninit(gpu, OP, &[rows, classes])?;
    let loss = Tensor::uninit(gpu, OP, &[1])?;
    let valid = Tensor::uninit(gpu, OP, &[1])?;
    let inputs = [
        logits.buffer(),
        labels.buffer(),
        mask.buffer(),
        probs.buffer(),
    ];
    if rows <= ONE_GROUP_ROWS {
        let buffers = [&inputs[..], &[loss.buffer(), valid.buffer()]].concat();
        gpu.dispatch(&ONE_GROUP, &params, &buffers, [1, 1, 1])?;
        return Ok(SoftmaxCrossEntropy { loss, probs, valid });
    }
    let row_loss = Tensor::uninit(gpu, OP, &[rows])?;
    let buffers = [&inputs[..], &[row_loss.buffer()]].concat();
    gpu.dispatch(&ROWS, &params, &buffers, grid_1d(gpu, rows * 256, 256))?;
    gpu.dispatch(
        &FINISH,
        &FinishParams { rows: params.rows },
        &[
            row_loss.buffer(),
            mask.buffer(),
            loss.buffer(),
            valid.buffer(),
        ],
        [1, 1, 1],
    )?;
    Ok(SoftmaxCrossEntropy { loss, probs, valid })
}

/// Gradient w.r.t. the logits, `dloss * mask * (probs - onehot(label)) / max(valid, 1)`,
/// with the upstream gradient `dloss` `[1]` read on the device (e.g. a task weight).
pub fn softmax_cross_entropy_backward(
    gpu: &Gpu,
    forward: &SoftmaxCrossEntropy,
    labels: &Indices,
    mask: &Tensor,
    dloss: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "softmax_cross_entropy_backward";
    let (rows, classes) = expect_matrix(OP, "probs", &forward.probs)?;
    check_inputs(OP, (rows, classes), labels, mask)?;
    expect_shape(OP, "dloss", dloss, &[1])?;
    let params = Params {
        rows: to_u32(OP, rows)?,
        classes: to_u32(OP, classes)?,
    };
    let dlogits = Tensor::uninit(gpu, OP, &[rows, classes])?;
    gpu.dispatch(
        &BACKWARD,
        &params,
        &[
            forward.probs.buffer(),
            labels.buffer(),
            mask.buffer(),
            forward.valid.buffer(),
            dloss.buffer(),
            dlogits.buffer(),
        ],
        grid_1d(gpu, dlogits.len(), 256),
    )?;
    Ok(dlogits)
}

/// Softmax of each row of `z` [rows, cols].
pub fn softmax_rows(gpu: &Gpu, z: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax_rows";
    let (rows, cols) = expect_matrix(OP, "input", z)?;
    let params = RowsParams {
        rows: to_u32(OP, rows)?,
        cols: to_u32(OP, cols)?,
    };
    let probs = Tensor::uninit(gpu, OP, &[rows, cols])?;
    gpu.dispatch(
        &SOFTMAX,
        &params,
        &[z.buffer(), probs.buffer()],
        grid_1d(gpu, rows * 256, 256),
    )?;
    Ok(probs)
}

/// Backward of [`softmax_rows`] from its output `probs` and upstream gradient `dprobs`.
pub fn softmax_rows_backward(gpu: &Gpu, probs: &Tensor, dprobs: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax_rows_backward";
    let (rows, cols) = expect_matrix(OP, "probs", probs)?;
    expect_shape(OP, "dprobs", dprobs, &[rows, cols])?;
    rows_backward(gpu, OP, probs, (rows, cols), dprobs, cols, 1.0)
}

/// The rows' softmax and their mean, `[rows, cols]` -> (`[rows, cols]`, `[cols]`), in one
/// dispatch (one workgroup: for few rows and columns, such as task weights over a batch;
/// each column's sum recomputes the rows' softmax, O(rows x cols^2) in all).
/// Same values as [`softmax_rows`] then `reduce::mean_rows`.
pub fn softmax_mean_rows(gpu: &Gpu, z: &Tensor) -> Result<(Tensor, Tensor)> {
    const OP: &str = "softmax_mean_rows";
    let (rows, cols) = expect_matrix(OP, "input", z)?;
    let params = MeanParams {
        rows: to_u32(OP, rows)?,
        cols: to_u32(OP, cols)?,
        inv_rows: 1.0 / rows.max(1) as f32,
    };
    let probs = Tensor::uninit(gpu, OP, &[rows, cols])?;
    let mean = Tensor::uninit(gpu, OP, &[cols])?;
    gpu.dispatch(
        &SOFTMAX_MEAN,
        &params,
        &[z.buffer(), probs.buffer(), mean.buffer()],
        [1, 1, 1],
    )?;
    Ok((probs, mean))
}

/// Backward of [`softmax_mean_rows`] from the softmax `probs` and the mean's gradient
/// `dmean` `[cols]`, in one dispatch.
pub fn softmax_mean_rows_backward(gpu: &Gpu, probs: &Tensor, dmean: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax_mean_rows_backward";
    let (rows, cols) = expect_matrix(OP, "probs", probs)?;
    expect_shape(OP, "dmean", dmean, &[cols])?;
    rows_backward(
        gpu,
        OP,
        probs,
        (rows, cols),
        dmean,
        0,
        1.0 / rows.max(1) as f32,
    )
}

/// Softmax backward of `probs` [rows, cols] with the upstream gradient read at row stride
/// `dprobs_row`, scaled.
fn rows_backward(
    gpu: &Gpu,
    op: &'static str,
    probs: &Tensor,
    (rows, cols): (usize, usize),
    dprobs: &Tensor,
    dprobs_row: usize,
    dprobs_scale: f32,
) -> Result<Tensor> {
    let params = RowsBackwardParams {
        rows: to_u32(op, rows)?,
        cols: to_u32(op, cols)?,
        dprobs_row: to_u32(op, dprobs_row)?,
        dprobs_scale,
    };
    let dz = Tensor::uninit(gpu, op, &[rows, cols])?;
    gpu.dispatch(
        &SOFTMAX_BACKWARD,
        &params,
        &[probs.buffer(), dprobs.buffer(), dz.buffer()],
        grid_1d(gpu, rows * 256, 256),
    )?;
    Ok(dz)
}
