//! Dense layers on the register-blocked GEMM core: strided (so transposes are free),
//! batched, with a fused bias (a kernel of its own: see gemm/matmul.wgsl).

use super::gemm::{self, gemm_kernel, GemmKernel};
use super::plan;
use super::texel_gemm::{self, texel_gemm_kernel, Core, PackLayout, TexelGemmKernel};
use super::{expect_matrix, expect_shape, to_u32};
use crate::gpu::{kernel_params, shape_text, Gpu, GpuError, Result, Tensor};

static MATMUL: GemmKernel = gemm_kernel!(
    "gemm/matmul",
    "gemm/operands_storage.wgsl",
    "gemm/matmul.wgsl",
    "gemm/matmul_no_bias.wgsl"
);
static MATMUL_BIAS: GemmKernel = gemm_kernel!(
    "gemm/matmul_bias",
    "gemm/operands_storage.wgsl",
    "gemm/matmul.wgsl",
    "gemm/matmul_bias.wgsl"
);
static TEXEL_MATMUL: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/matmul",
    Core::PackedK,
    "gemm/matmul.wgsl",
    "gemm/matmul_no_bias.wgsl"
);
static TEXEL_MATMUL_BIAS: TexelGemmKernel = texel_gemm_kernel!(
    "gemm/matmul_bias",
    Core::PackedK,
    "gemm/matmul.wgsl",
    "gemm/matmul_bias.wgsl"
);

static LINEAR_BACKWARD_PARAMETERS: GemmKernel = gemm_kernel!(
    "gemm/linear_backward_parameters",
    "gemm/linear_backward_parameters.wgsl"
);

kernel_params! {
    struct Params {
        m: u32,
        n: u32,
        k: u32,
        a_row: u32,
        a_col: u32,
        a_batch: u32,
        b_row: u32,
        b_col: u32,
        b_batch: u32,
    }
}

kernel_params! {
    struct ParameterGradParams {
        m: u32,
        n: u32,
        k: u32,
        features: u32,
        outputs: u32,
    }
}

/// A matrix operand: its buffer read as element (r, c) at `batch*batch_stride + r*row + c*col`.
struct Operand<'a> {
    tensor: &'a Tensor,
    row: usize,
    col: usize,
    batch_stride: usize,
}

impl<'a> Operand<'a> {
    /// A row-major [rows, cols] matrix (batches `rows*cols` apart), optionally transposed.
    fn dense(tensor: &'a Tensor, rows: usize, cols: usize, transposed: bool) -> Operand<'a> {
        let (row, col) = if transposed { (1, cols) } else { (cols, 1) };
        Operand {
            tensor,
            row,
            col,
            batch_stride: rows * cols,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn gemm(
    gpu: &Gpu,
    op: &'static str,
    a: Operand,
    b: Operand,
    [m, n, k, batch]: [usize; 4],
    bias: Option<&Tensor>,
    out: &Tensor,
) -> Result<()> {
    let (a_texels, b_texels) = (
        PackLayout::matrix(m, k, a.row, a.col),
        PackLayout::matrix(n, k, b.col, b.row),
    );
    let plan = plan::matmul(gpu, [m, n, k, batch], [a_texels, b_texels], bias.is_some());
    if plan.texels() {
        // Strides in texels: texel k4 * m + row of A, k4 * n + col of B.
        let params = Params {
            m: to_u32(op, m)?,
            n: to_u32(op, n)?,
            k: to_u32(op, plan.k)?,
            a_row: 1,
            a_col: to_u32(op, m)?,
            a_batch: 0,
            b_row: to_u32(op, n)?,
            b_col: 1,
            b_batch: 0,
        };
        let packed_a = texel_gemm::pack(gpu, "matmul a", a.tensor, a_texels)?;
        let packed_b = texel_gemm::pack(gpu, "matmul b", b.tensor, b_texels)?;
        let variant = match bias {
            Some(_) => &TEXEL_MATMUL_BIAS,
            None => &TEXEL_MATMUL,
        };
        let grid = gemm::grid(gpu, op, plan.tile(), m, n, 1)?;
        let kernel = variant.for_plan(&plan);
        let mut resources = vec![packed_a.resource(), packed_b.resource(), out.resource()];
        resources.extend(bias.map(Tensor::resource));
        return gpu.dispatch_resources(&kernel, &params, &resources, grid);
    }
    let params = Params {
        m: to_u32(op, m)?,
        n: to_u32(op, n)?,
        k: to_u32(op, k)?,
        a_row: to_u32(op, a.row)?,
        a_col: to_u32(op, a.col)?,
        a_batch: to_u32(op, a.batch_stride)?,
        b_row: to_u32(op, b.row)?,
        b_col: to_u32(op, b.col)?,
        b_batch: to_u32(op, b.batch_stride)?,
    };
    let variant = match bias {
        Some(_) => &MATMUL_BIAS,
        None => &MATMUL,
    };
    let grid = gemm::grid(gpu, op, plan.tile(), m, n, batch)?;
    let kernel = variant.for_plan(&plan);
    let mut bindings = vec![a.tensor.buffer(), b.tensor.buffer(), out.buffer()];
    bindings.extend(bias.map(Tensor::buffer));
    gpu.dispatch(&kernel, &params, &bindings, grid)?;
    Ok(())
}

/// Splits a 2-D [r, c] or batched 3-D [batch, r, c] shape.
fn batched_matrix(op: &'static str, what: &str, t: &Tensor) -> Result<(usize, usize, usize)> {
    match *t.shape() {
        [r, c] => Ok((1, r, c)),
        [b, r, c] => Ok((b, r, c)),
        _ => Err(GpuError::shape(
            op,
            format!(
                "{what} must be [rows, cols] or [batch, rows, cols], got {}",
                shape_text(t.shape())
            ),
        )),
    }
}

/// `op(a) * op(b)`, where op transposes the last two axes when asked. Operands are 2-D, or
/// 3-D with equal batch sizes (the output is then 3-D too).
pub fn matmul(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    transpose_a: bool,
    transpose_b: bool,
) -> Result<Tensor> {
    const OP: &str = "matmul";
    let (batch_a, ra, ca) = batched_matrix(OP, "a", a)?;
    let (batch_b, rb, cb) = batched_matrix(OP, "b", b)?;
    let (m, k) = if transpose_a { (ca, ra) } else { (ra, ca) };
    let (k_b, n) = if transpose_b { (cb, rb) } else { (rb, cb) };
    if k != k_b || batch_a != batch_b || a.shape().len() != b.shape().len() {
        return Err(GpuError::shape(
            OP,
            format!(
                "cannot multiply a {}{} by b {}{}",
                shape_text(a.shape()),
                if transpose_a { "^T" } else { "" },
                shape_text(b.shape()),
                if transpose_b { "^T" } else { "" },
            ),
        ));
    }
    let out_shape: Vec<usize> = if a.shape().len() == 3 {
        vec![batch_a, m, n]
    } else {
        vec![m, n]
    };
    let out = Tensor::uninit(gpu, OP, &out_shape)?;
    gemm(
        gpu,
        OP,
        Operand::dense(a, ra, ca, transpose_a),
        Operand::dense(b, rb, cb, transpose_b),
        [m, n, k, batch_a],
        None,
        &out,
    )?;
    Ok(out)
}

/// A fully connected layer: `x [batch, in] * w^T + bias`, with `w [out, in]` (PyTorch's
/// layout) and `bias [out]`.
pub fn linear(gpu: &Gpu, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    const OP: &str = "linear";
    let (batch, features) = expect_matrix(OP, "input", x)?;
    let (outputs, w_in) = expect_matrix(OP, "weight", w)?;
    if w_in != features {
        return Err(GpuError::shape(
            OP,
            format!(
                "input {} has {features} features but weight {} expects {w_in}",
                shape_text(x.shape()),
                shape_text(w.shape())
            ),
        ));
    }
    if let Some(bias) = bias {
        expect_shape(OP, "bias", bias, &[outputs])?;
    }
    let out = Tensor::uninit(gpu, OP, &[batch, outputs])?;
    gemm(
        gpu,
        OP,
        Operand::dense(x, batch, features, false),
        Operand::dense(w, outputs, features, true),
        [batch, outputs, features, 1],
        bias,
        &out,
    )?;
    Ok(out)
}

/// Gradients of [`linear`].
pub struct LinearGrads {
    pub input: Tensor,
    pub weight: Tensor,
    pub bias: Tensor,
}

/// Gradient of [`linear`] w.r.t. its input: dx [batch, in] = dy [batch, out] * w [out, in].
pub fn linear_backward_input(gpu: &Gpu, dy: &Tensor, w: &Tensor) -> Result<Tensor> {
    const OP: &str = "linear_backward_input";
    let (batch, outputs) = expect_matrix(OP, "dy", dy)?;
    let (w_out, features) = expect_matrix(OP, "weight", w)?;
    if w_out != outputs {
        return Err(GpuError::shape(
            OP,
            format!(
                "dy {} does not match weight {}",
                shape_text(dy.shape()),
                shape_text(w.shape())
            ),
        ));
    }
    let input = Tensor::uninit(gpu, OP, &[batch, features])?;
    let a = Operand::dense(dy, batch, outputs, false);
    let b = Operand::dense(w, outputs, features, false);
    gemm(gpu, OP, a, b, [batch, features, outputs, 1], None, &input)?;
    Ok(input)
}

/// Checks dy [batch, out] against the input x [batch, in]; returns (batch, out, in).
fn parameter_grad_shapes(op: &'static str, dy: &Tensor, x: &Tensor) -> Result<[usize; 3]> {
    let (batch, outputs) = expect_matrix(op, "dy", dy)?;
    let (x_batch, features) = expect_matrix(op, "input", x)?;
    if x_batch != batch {
        return Err(GpuError::shape(
            op,
            format!(
                "dy {} and input {} differ in batch",
                shape_text(dy.shape()),
                shape_text(x.shape())
            ),
        ));
    }
    Ok([batch, outputs, features])
}

/// Gradient of [`linear`] w.r.t. its weight: dw [out, in] = dy^T [out, batch] * x [batch, in].
pub fn linear_backward_weight(gpu: &Gpu, dy: &Tensor, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "linear_backward_weight";
    let [batch, outputs, features] = parameter_grad_shapes(OP, dy, x)?;
    let weight = Tensor::uninit(gpu, OP, &[outputs, features])?;
    let a = Operand::dense(dy, batch, outputs, true);
    let b = Operand::dense(x, batch, features, false);
    gemm(gpu, OP, a, b, [outputs, features, batch, 1], None, &weight)?;
    Ok(weight)
}

/// Gradients of [`linear`] w.r.t. its weight and bias in one GEMM: (dw [out, in] = dy^T x,
/// db `[out]` = column sums of dy), the bias as the weight of a column of ones.
pub fn linear_backward_weight_and_bias(
    gpu: &Gpu,
    dy: &Tensor,
    x: &Tensor,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "linear_backward_weight_and_bias";
    let [batch, outputs, features] = parameter_grad_shapes(OP, dy, x)?;
    let weight = Tensor::uninit(gpu, OP, &[outputs, features])?;
    let bias = Tensor::uninit(gpu, OP, &[outputs])?;
    let (m, n) = (outputs, features + 1);
    let params = ParameterGradParams {
        m: to_u32(OP, m)?,
        n: to_u32(OP, n)?,
        k: to_u32(OP, batch)?,
        features: to_u32(OP, features)?,
        outputs: to_u32(OP, outputs)?,
    };
    let plan = plan::linear_parameters(gpu, [m, n, batch]);
    let grid = gemm::grid(gpu, OP, plan.tile(), m, n, 1)?;
    let kernel = LINEAR_BACKWARD_PARAMETERS.for_plan(&plan);
    gpu.dispatch(
        &kernel,
        &params,
        &[dy.buffer(), x.buffer(), weight.buffer(), bias.buffer()],
        grid,
    )?;
    Ok((weight, bias))
}

/// Backward of [`linear`]: dx = dy w, dw = dy^T x, db = column sums of dy (dw and db in
/// one GEMM).
pub fn linear_backward(gpu: &Gpu, x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<LinearGrads> {
    const OP: &str = "linear_backward";
    let (batch, features) = expect_matrix(OP, "input", x)?;
    let (outputs, _) = expect_matrix(OP, "weight", w)?;
    expect_shape(OP, "weight", w, &[outputs, features])?;
    expect_shape(OP, "dy", dy, &[batch, outputs])?;
    let (weight, bias) = linear_backward_weight_and_bias(gpu, dy, x)?;
    Ok(LinearGrads {
        input: linear_backward_input(gpu, dy, w)?,
        weight,
        bias,
    })
}
