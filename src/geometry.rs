//! Shapes of convolution and pooling, validated once and shared by the GPU launchers and
//! the CPU reference (so both always agree on output sizes).

use std::fmt;

/// Why a shape or a spec was refused (the engine reports it as its own shape or argument
/// error; the CPU reference gets it without depending on the device layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// Shapes that do not fit together.
    Shape { op: &'static str, detail: String },
    /// A spec that no shape could satisfy (a zero stride, too much padding).
    Invalid { op: &'static str, detail: String },
}

impl GeometryError {
    fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        GeometryError::Shape {
            op,
            detail: detail.into(),
        }
    }
    fn invalid(op: &'static str, detail: impl Into<String>) -> Self {
        GeometryError::Invalid {
            op,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeometryError::Shape { op, detail } => write!(f, "{op}: shape mismatch: {detail}"),
            GeometryError::Invalid { op, detail } => write!(f, "{op}: {detail}"),
        }
    }
}

impl std::error::Error for GeometryError {}

type Result<T> = std::result::Result<T, GeometryError>;

fn shape_text(shape: &[usize]) -> String {
    format!("{shape:?}")
}

/// Zero padding on each side of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Padding {
    /// The same padding on all four sides.
    pub fn uniform(p: usize) -> Padding {
        Padding {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }
}

/// A 2-D convolution's hyper-parameters (the kernel size comes from the weight's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dSpec {
    /// (vertical, horizontal) stride, each >= 1.
    pub stride: (usize, usize),
    pub padding: Padding,
}

impl Conv2dSpec {
    pub fn new(stride: usize, padding: usize) -> Conv2dSpec {
        Conv2dSpec {
            stride: (stride, stride),
            padding: Padding::uniform(padding),
        }
    }
}

/// Every size of one convolution: input [batch, in_c, in_h, in_w], weight
/// [out_c, in_c, kernel_h, kernel_w], output [batch, out_c, out_h, out_w], stored as
/// `out_stacks` equal groups of output channels one after the other (see
/// [`Conv2dGeometry::with_output_stacks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
    /// 1, or the number of equal groups of output channels stored apart.
    pub out_stacks: usize,
}

/// Output channels a convolution in stacks may have: the kernels find a channel's stack by
/// a float division, exact below this (`stack_of` in shaders/common.wgsl).
pub const MAX_STACKED_CHANNELS: usize = 1 << 20;

/// The longest padded image side a convolution or pool takes: the kernels divide
/// positions by the stride in f32 (`stack_of` in shaders/common.wgsl), exact below this.
pub const MAX_PADDED_SIDE: usize = 1 << 20;

/// Fails when a side, padded, reaches [`MAX_PADDED_SIDE`].
fn check_side(op: &'static str, input: &[usize], padded: [usize; 2]) -> Result<()> {
    if padded.iter().all(|&s| s < MAX_PADDED_SIDE) {
        return Ok(());
    }
    Err(GeometryError::invalid(
        op,
        format!(
            "input {} is {}x{} padded; image sides must stay under {MAX_PADDED_SIDE}",
            shape_text(input),
            padded[0],
            padded[1]
        ),
    ))
}

/// Output length along one axis, or None when the window does not fit.
fn output_len(
    input: usize,
    pad_before: usize,
    pad_after: usize,
    kernel: usize,
    stride: usize,
) -> Option<usize> {
    let padded = input + pad_before + pad_after;
    (stride > 0 && kernel > 0 && padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

impl Conv2dGeometry {
    /// Validates `input` and `weight` shapes against each other and the spec.
    pub fn new(input: &[usize], weight: &[usize], spec: Conv2dSpec) -> Result<Conv2dGeometry> {
        const OP: &str = "conv2d";
        let ([batch, in_c, in_h, in_w], [out_c, w_in_c, kernel_h, kernel_w]) = (
            <[usize; 4]>::try_from(input).map_err(|_| {
                GeometryError::shape(
                    OP,
                    format!(
                        "input must be [batch, channels, height, width], got {}",
                        shape_text(input)
                    ),
                )
            })?,
            <[usize; 4]>::try_from(weight).map_err(|_| {
                GeometryError::shape(
                    OP,
                    format!(
                        "weight must be [out_c, in_c, kh, kw], got {}",
                        shape_text(weight)
                    ),
                )
            })?,
        );
        if w_in_c != in_c {
            return Err(GeometryError::shape(
                OP,
                format!(
                    "input {} has {in_c} channels but weight {} expects {w_in_c}",
                    shape_text(input),
                    shape_text(weight)
                ),
            ));
        }
        if [batch, in_c, in_h, in_w, out_c, kernel_h, kernel_w].contains(&0) {
            return Err(GeometryError::shape(
                OP,
                format!(
                    "zero-sized input {} or weight {}",
                    shape_text(input),
                    shape_text(weight)
                ),
            ));
        }
        let (stride_h, stride_w) = spec.stride;
        let pad = spec.padding;
        let too_small = || {
            GeometryError::shape(
                OP,
                format!(
                    "a {kernel_h}x{kernel_w} kernel with stride {stride_h}x{stride_w} and padding {pad:?} does not fit input {}",
                    shape_text(input)
                ),
            )
        };
        if stride_h == 0 || stride_w == 0 {
            return Err(GeometryError::invalid(
                OP,
                format!("stride must be >= 1, got {stride_h}x{stride_w}"),
            ));
        }
        check_side(
            OP,
            input,
            [in_h + pad.top + pad.bottom, in_w + pad.left + pad.right],
        )?;
        let out_h =
            output_len(in_h, pad.top, pad.bottom, kernel_h, stride_h).ok_or_else(too_small)?;
        let out_w =
            output_len(in_w, pad.left, pad.right, kernel_w, stride_w).ok_or_else(too_small)?;
        Ok(Conv2dGeometry {
            batch,
            in_c,
            in_h,
            in_w,
            out_c,
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_top: pad.top,
            pad_left: pad.left,
            out_h,
            out_w,
            out_stacks: 1,
        })
    }

    /// The same convolution with its output channels in `stacks` equal groups, each stored
    /// as a whole [batch, out_c / stacks, out_h, out_w] tensor after the one before: the
    /// output is [stacks, batch, out_c / stacks, out_h, out_w]. Several convolutions of one
    /// input (the two branches' first layers) so run as one GEMM, and each reads its own
    /// output as a plain tensor.
    pub fn with_output_stacks(self, stacks: usize) -> Result<Conv2dGeometry> {
        if stacks == 0 || self.out_c % stacks != 0 || self.out_c >= MAX_STACKED_CHANNELS {
            return Err(GeometryError::invalid(
                "conv2d",
                format!(
                    "{} output channels do not split into {stacks} equal stacks (of under \
                     {MAX_STACKED_CHANNELS} channels in all)",
                    self.out_c
                ),
            ));
        }
        Ok(Conv2dGeometry {
            out_stacks: stacks,
            ..self
        })
    }

    /// Output channels per stack.
    pub fn stack_channels(&self) -> usize {
        self.out_c / self.out_stacks
    }

    /// One stack of the output: [batch, out_c / stacks, out_h, out_w].
    pub fn stack_shape(&self) -> [usize; 4] {
        [self.batch, self.stack_channels(), self.out_h, self.out_w]
    }

    /// The output as stored: `[batch, out_c, out_h, out_w]` for one stack, else `[stacks]`
    /// followed by [`stack_shape`](Self::stack_shape).
    pub fn stored_output_shape(&self) -> Vec<usize> {
        match self.out_stacks {
            1 => self.output_shape().to_vec(),
            s => [&[s][..], &self.stack_shape()].concat(),
        }
    }

    pub fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.in_c, self.in_h, self.in_w]
    }

    pub fn weight_shape(&self) -> [usize; 4] {
        [self.out_c, self.in_c, self.kernel_h, self.kernel_w]
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.out_c, self.out_h, self.out_w]
    }
}

/// A pooling window: size, stride and symmetric padding per axis, as (vertical, horizontal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dSpec {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Pool2dSpec {
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Pool2dSpec {
        Pool2dSpec {
            kernel: (kernel, kernel),
            stride: (stride, stride),
            padding: (padding, padding),
        }
    }
}

/// Every size of one pooling op over input [batch, channels, in_h, in_w].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dGeometry {
    pub batch: usize,
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Pool2dGeometry {
    /// Validates the input shape against the spec. Padding may be at most half the window
    /// (as in PyTorch), so every window holds at least one real input.
    pub fn new(op: &'static str, input: &[usize], spec: Pool2dSpec) -> Result<Pool2dGeometry> {
        let [batch, channels, in_h, in_w] = <[usize; 4]>::try_from(input).map_err(|_| {
            GeometryError::shape(
                op,
                format!(
                    "input must be [batch, channels, height, width], got {}",
                    shape_text(input)
                ),
            )
        })?;
        let (kernel_h, kernel_w) = spec.kernel;
        let (stride_h, stride_w) = spec.stride;
        let (pad_h, pad_w) = spec.padding;
        if kernel_h == 0 || kernel_w == 0 || stride_h == 0 || stride_w == 0 {
            return Err(GeometryError::invalid(
                op,
                format!("kernel and stride must be >= 1, got {spec:?}"),
            ));
        }
        if 2 * pad_h > kernel_h || 2 * pad_w > kernel_w {
            return Err(GeometryError::invalid(
                op,
                format!("padding must be at most half the kernel, got {spec:?}"),
            ));
        }
        if input.contains(&0) {
            return Err(GeometryError::shape(
                op,
                format!("zero-sized input {}", shape_text(input)),
            ));
        }
        let too_small = || {
            GeometryError::shape(
                op,
                format!("window {spec:?} does not fit input {}", shape_text(input)),
            )
        };
        check_side(op, input, [in_h + 2 * pad_h, in_w + 2 * pad_w])?;
        let out_h = output_len(in_h, pad_h, pad_h, kernel_h, stride_h).ok_or_else(too_small)?;
        let out_w = output_len(in_w, pad_w, pad_w, kernel_w, stride_w).ok_or_else(too_small)?;
        Ok(Pool2dGeometry {
            batch,
            channels,
            in_h,
            in_w,
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_h,
            pad_w,
            out_h,
            out_w,
        })
    }

    pub fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.in_h, self.in_w]
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.out_h, self.out_w]
    }
}
