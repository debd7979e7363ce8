//! Assembling training batches, on a thread of their own so that the device never waits on
//! decoding or augmentation: the training loop takes ready batches from a bounded channel.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::augment::Augmentation;
use super::error::Result;
use super::protocol::Split;
use super::Dataset;

/// One batch, ready to upload: images [n, channels, size, size] and per-task labels with 0/1 masks
/// (a sample without a label for a task has mask 0 and label 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub indices: Vec<usize>,
    pub images: Vec<f32>,
    pub fr_labels: Vec<u32>,
    pub fr_mask: Vec<f32>,
    pub fer_labels: Vec<u32>,
    pub fer_mask: Vec<f32>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// `n` images of `pixels` values uniform in [-1, 1) and labels uniform over
    /// `[identities, expressions]`, every one labelled, drawn from `rng` in that order (for
    /// benchmarks and `facemtl info --plans`, which need a step's shapes, not faces).
    pub fn random(
        rng: &mut StdRng,
        n: usize,
        pixels: usize,
        [identities, expressions]: [usize; 2],
    ) -> Batch {
        let images = (0..n * pixels)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut labels = |classes: usize| -> Vec<u32> {
            (0..n)
                .map(|_| rng.random_range(0..classes as u32))
                .collect()
        };
        let fr_labels = labels(identities);
        let fer_labels = labels(expressions);
        Batch {
            indices: (0..n).collect(),
            images,
            fr_labels,
            fr_mask: vec![1.0; n],
            fer_labels,
            fer_mask: vec![1.0; n],
        }
    }
}

/// Builds the batch of `indices`, augmenting when `augment` is given.
pub fn assemble(
    dataset: &Dataset,
    split: &Split,
    indices: &[usize],
    augment: Option<(&Augmentation, &mut StdRng)>,
) -> Result<Batch> {
    let size = dataset.image_size;
    let mut batch = Batch {
        indices: indices.to_vec(),
        images: Vec::with_capacity(indices.len() * dataset.color.channels() * size * size),
        fr_labels: Vec::with_capacity(indices.len()),
        fr_mask: Vec::with_capacity(indices.len()),
        fer_labels: Vec::with_capacity(indices.len()),
        fer_mask: Vec::with_capacity(indices.len()),
    };
    let mut augment = augment;
    for &i in indices {
        let pixels = dataset.pixels(i)?;
        match augment.as_mut() {
            Some((aug, rng)) => batch.images.extend(aug.apply(&pixels, size, rng)),
            None => batch.images.extend_from_slice(&pixels),
        }
        let fr = split.fr_label(dataset, i);
        let fer = split.fer_label(dataset, i);
        batch.fr_labels.push(fr.unwrap_or(0));
        batch.fr_mask.push(if fr.is_some() { 1.0 } else { 0.0 });
        batch.fer_labels.push(fer.unwrap_or(0));
        batch.fer_mask.push(if fer.is_some() { 1.0 } else { 0.0 });
    }
    Ok(batch)
}

/// The augmentation RNG of batch `index` of a pass: derived from the pass's seed and the
/// batch's position, so a pass resumed part-way draws the same augmentations.
pub fn batch_rng(seed: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Batches of one pass over `order`, built ahead on a background thread.
pub struct Prefetcher {
    receiver: Receiver<Result<Batch>>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts assembling batches of `batch_size` over `order` (the last one may be
    /// smaller), from batch number `first_batch` on, keeping up to `ahead` ready.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        dataset: Arc<Dataset>,
        split: Arc<Split>,
        order: Vec<usize>,
        batch_size: usize,
        first_batch: usize,
        augmentation: Option<Augmentation>,
        seed: u64,
        ahead: usize,
    ) -> Prefetcher {
        let (sender, receiver) = sync_channel(ahead.max(1));
        let worker = std::thread::spawn(move || {
            for (index, chunk) in order
                .chunks(batch_size.max(1))
                .enumerate()
                .skip(first_batch)
            {
                let mut rng = batch_rng(seed, index);
                let batch = assemble(
                    &dataset,
                    &split,
                    chunk,
                    augmentation.as_ref().map(|a| (a, &mut rng)),
                );
                if sender.send(batch).is_err() {
                    return;
                }
            }
        });
        Prefetcher {
            receiver,
            worker: Some(worker),
        }
    }
}

impl Iterator for Prefetcher {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        self.receiver.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Unblock the worker (its sends now fail) and wait for it.
        let (_, empty) = sync_channel(0);
        self.receiver = empty;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
