//! A seeded, learnable two-head toy problem and a small network for it: which quadrant of a
//! 12x12 image holds a bright blob (4 classes), and whether the blob is small or large
//! (2 classes). Used by the learning, memory and submission-count tests.

use facemtl::autodiff::{ParamStore, Tape, Var};
use facemtl::geometry::{Conv2dSpec, Pool2dSpec};
use facemtl::gpu::{Gpu, Indices, Result, Tensor};
use facemtl::nn::{BatchNorm2d, Conv2d, Init, Linear, MaxPool2d};
use facemtl::optim::{AdamConfig, LrSchedule, Optimizer, OptimizerKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const SIZE: usize = 12;

/// A batch: images [n, 1, 12, 12], quadrant labels, size labels.
pub fn batch(rng: &mut StdRng, n: usize) -> (Vec<f32>, Vec<u32>, Vec<u32>) {
    let mut images = vec![0.0f32; n * SIZE * SIZE];
    let mut quadrants = Vec::with_capacity(n);
    let mut sizes = Vec::with_capacity(n);
    for image in images.chunks_mut(SIZE * SIZE) {
        for v in image.iter_mut() {
            *v = rng.random_range(-0.3..0.3);
        }
        let quadrant = rng.random_range(0..4u32);
        let large = rng.random_range(0..2u32);
        let side = if large == 1 { 4 } else { 2 };
        let half = SIZE / 2;
        let y0 = (quadrant as usize / 2) * half + rng.random_range(0..=half - side);
        let x0 = (quadrant as usize % 2) * half + rng.random_range(0..=half - side);
        for y in y0..y0 + side {
            for x in x0..x0 + side {
                image[y * SIZE + x] += 2.0;
            }
        }
        quadrants.push(quadrant);
        sizes.push(large);
    }
    (images, quadrants, sizes)
}

/// conv 3x3 (8) -> BN -> ReLU -> max-pool 2 -> conv 3x3 stride 2 (16) -> ReLU -> flatten
/// -> two linear heads.
pub struct ToyNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    pool: MaxPool2d,
    conv2: Conv2d,
    quadrant_head: Linear,
    size_head: Linear,
}

impl ToyNet {
    pub fn new(gpu: &Gpu, store: &mut ParamStore, seed: u64) -> Result<ToyNet> {
        let mut rng = StdRng::seed_from_u64(seed);
        Ok(ToyNet {
            conv1: Conv2d::new(
                gpu,
                store,
                &mut rng,
                "trunk.conv1",
                1,
                8,
                (3, 3),
                Conv2dSpec::new(1, 1),
                true,
                Init::He,
            )?,
            bn1: BatchNorm2d::new(gpu, store, "trunk.bn1", 8)?,
            pool: MaxPool2d(Pool2dSpec::new(2, 2, 0)),
            conv2: Conv2d::new(
                gpu,
                store,
                &mut rng,
                "trunk.conv2",
                8,
                16,
                (3, 3),
                Conv2dSpec::new(2, 1),
                true,
                Init::He,
            )?,
            quadrant_head: Linear::new(
                gpu,
                store,
                &mut rng,
                "quadrant.fc",
                144,
                4,
                true,
                Init::Xavier,
            )?,
            size_head: Linear::new(gpu, store, &mut rng, "size.fc", 144, 2, true, Init::Xavier)?,
        })
    }

    /// Logits of both heads.
    pub fn forward(&self, tape: &mut Tape, x: Var) -> Result<(Var, Var)> {
        let h = self.conv1.forward(tape, x)?;
        let h = self.bn1.forward(tape, h)?;
        let h = tape.relu(h)?;
        let h = self.pool.forward(tape, h)?;
        let h = self.conv2.forward(tape, h)?;
        let h = tape.relu(h)?;
        let h = tape.flatten(h)?;
        Ok((
            self.quadrant_head.forward(tape, h)?,
            self.size_head.forward(tape, h)?,
        ))
    }
}

/// Model, parameters and optimiser of one toy training run.
pub struct ToyRun {
    pub gpu: Gpu,
    pub store: ParamStore,
    pub net: ToyNet,
    pub optimizer: Optimizer,
    pub rng: StdRng,
}

impl ToyRun {
    pub fn new(gpu: &Gpu, seed: u64) -> ToyRun {
        let mut store = ParamStore::new();
        let net = ToyNet::new(gpu, &mut store, seed).unwrap();
        let adam = AdamConfig {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let params = store.trainable_with_prefix("");
        let optimizer = Optimizer::new(
            gpu,
            &mut store,
            params,
            OptimizerKind::Adam(adam),
            LrSchedule::Constant(0.01),
            Some(5.0),
        )
        .unwrap();
        ToyRun {
            gpu: gpu.clone(),
            store,
            net,
            optimizer,
            rng: StdRng::seed_from_u64(seed + 1),
        }
    }

    /// One training step (forward, one readback of both losses, backward, update);
    /// returns the two losses.
    pub fn step(&mut self, batch_size: usize, step: u32) -> [f32; 2] {
        let gpu = &self.gpu;
        let (images, quadrants, sizes) = batch(&mut self.rng, batch_size);
        let mut tape = Tape::new(gpu, &self.store, true, step);
        let x = tape.input(Tensor::from_slice(gpu, &[batch_size, 1, SIZE, SIZE], &images).unwrap());
        let (quadrant_logits, size_logits) = self.net.forward(&mut tape, x).unwrap();
        let mask = Tensor::full(gpu, &[batch_size], 1.0).unwrap();
        let quadrant_loss = tape
            .softmax_cross_entropy(
                quadrant_logits,
                &Indices::from_slice(gpu, &quadrants).unwrap(),
                &mask,
            )
            .unwrap();
        let size_loss = tape
            .softmax_cross_entropy(
                size_logits,
                &Indices::from_slice(gpu, &sizes).unwrap(),
                &mask,
            )
            .unwrap();
        let losses = Tensor::concat(gpu, &[tape.value(quadrant_loss), tape.value(size_loss)])
            .unwrap()
            .to_vec(gpu)
            .unwrap();
        let seeds = [
            (quadrant_loss, Tensor::full(gpu, &[1], 0.5).unwrap()),
            (size_loss, Tensor::full(gpu, &[1], 0.5).unwrap()),
        ];
        let grads = tape.backward(&seeds, self.optimizer.params()).unwrap();
        self.optimizer.step(gpu, &grads).unwrap();
        [losses[0], losses[1]]
    }

    /// Accuracy of both heads on `n` fresh samples, in evaluation mode.
    pub fn accuracy(&mut self, n: usize) -> [f32; 2] {
        let gpu = &self.gpu;
        let (images, quadrants, sizes) = batch(&mut self.rng, n);
        let mut tape = Tape::new(gpu, &self.store, false, 0);
        let x = tape.input(Tensor::from_slice(gpu, &[n, 1, SIZE, SIZE], &images).unwrap());
        let (q, s) = self.net.forward(&mut tape, x).unwrap();
        let hits = |logits: &Tensor, labels: &[u32]| {
            let values = logits.to_vec(gpu).unwrap();
            let classes = values.len() / n;
            let correct = values
                .chunks(classes)
                .zip(labels)
                .filter(|(row, &label)| {
                    let best = row
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .unwrap()
                        .0;
                    best as u32 == label
                })
                .count();
            correct as f32 / n as f32
        };
        [hits(tape.value(q), &quadrants), hits(tape.value(s), &sizes)]
    }
}
