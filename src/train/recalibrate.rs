//! Batch-norm statistics recomputed over clean images. Training moves each layer's running
//! statistics by a momentum over augmented batches, so at the end of a run they trail the
//! weights and describe augmented images; evaluation then normalises clean images with
//! them. A pass over the clean training images, in training mode with momentum
//! n_k / (n_1 + ... + n_k) on the k-th batch of n_k images, replaces them with the
//! size-weighted mean of the batches' statistics (the exact mean over the images, and the
//! mean of the batches' unbiased variances), as PyTorch's `update_bn` does with equal
//! weights.

use crate::autodiff::{ParamStore, Tape};
use crate::data::Dataset;
use crate::gpu::{Gpu, Tensor};
use crate::model::{ForwardOptions, MultiTaskNet};

/// Images per batch of the pass (the network's activations for them must fit the device).
pub const RECALIBRATION_BATCH: usize = 128;

/// Recomputes `net`'s batch-norm running statistics over `images` of `dataset`.
pub fn recalibrate_batch_norm(
    gpu: &Gpu,
    net: &MultiTaskNet,
    store: &ParamStore,
    dataset: &Dataset,
    images: &[usize],
) -> Result<(), String> {
    let size = net.architecture.input;
    // Batch norm needs two samples; a last batch of one is left out.
    let batches = images
        .chunks(RECALIBRATION_BATCH)
        .filter(|chunk| chunk.len() >= 2)
        .map(|chunk| {
            let mut pixels = Vec::with_capacity(chunk.len() * net.channels * size * size);
            for &i in chunk {
                pixels.extend_from_slice(&dataset.pixels(i).map_err(|e| e.to_string())?);
            }
            Tensor::from_slice(gpu, &[chunk.len(), net.channels, size, size], &pixels)
                .map_err(|e| e.to_string())
        });
    let options = ForwardOptions {
        unit: false,
        detach_unit_input: true,
    };
    recalibrate_with(gpu, store, batches, |tape, x| {
        net.forward(tape, x, options).map(|_| ())
    })
}

/// Runs `forward` in training mode on each of `batches` (each [n_k, ...]) with the
/// running-statistics momentum that makes every batch-norm layer's statistics the
/// size-weighted mean over the batches.
pub fn recalibrate_with(
    gpu: &Gpu,
    store: &ParamStore,
    batches: impl Iterator<Item = Result<Tensor, String>>,
    forward: impl Fn(&mut Tape, Tensor) -> crate::gpu::Result<()>,
) -> Result<(), String> {
    let mut seen = 0usize;
    for x in batches {
        let x = x?;
        let n = x.shape()[0];
        seen += n;
        let mut tape = Tape::new(gpu, store, true, 0);
        tape.set_batch_norm_momentum(n as f32 / seen as f32);
        forward(&mut tape, x).map_err(|e| e.to_string())?;
    }
    Ok(())
}
