//! Centre loss on the FR embedding (Wen et al. 2016, as in the authors' code): each
//! identity keeps a centre in embedding space; the loss pulls embeddings toward their
//! centre, and after each step every centre moves toward its batch's embeddings. The
//! centres are a buffer (`fr.centers`), updated by rule, not by the optimiser.

use crate::autodiff::{ParamId, ParamStore, Tape, Var};
use crate::gpu::{Gpu, Result, Tensor};
use crate::kernels::{elementwise, matmul};

/// The paper's weight of the centre loss in the FR loss.
pub const CENTER_LOSS_WEIGHT: f32 = 0.1;
/// The paper's centre update rate: c_j -= (1 - rate) * sum_i (c_j - e_i) / (1 + n_j).
pub const CENTER_UPDATE_RATE: f32 = 0.5;

pub struct CenterLoss {
    pub centers: ParamId,
    pub rate: f32,
}

/// What one step's centre loss needs again for the centre update.
pub struct CenterTerm {
    /// 0.5 * mean over labelled samples of ||e - c_y||^2, `[1]`.
    pub loss: Var,
    /// [batch, classes]: 1 / (1 + n_j) where sample i is a labelled sample of class j
    /// (n_j of them in the batch), else 0.
    update_weights: Tensor,
    /// Masked e - c_y, [batch, dim] (on the tape).
    diff: Var,
}

impl CenterLoss {
    /// Zero centres for `classes` identities of `dim`-d embeddings.
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        classes: usize,
        dim: usize,
    ) -> Result<CenterLoss> {
        let centers =
            store.add_buffer("fr.centers", Tensor::zeros(gpu, &[classes.max(1), dim])?)?;
        Ok(CenterLoss {
            centers,
            rate: CENTER_UPDATE_RATE,
        })
    }

    /// Records the loss of `embedding` [batch, dim] for FR `labels` where `mask` is set.
    pub fn loss(
        &self,
        tape: &mut Tape,
        embedding: Var,
        labels: &[u32],
        mask: &[f32],
    ) -> Result<CenterTerm> {
        let gpu = tape.gpu().clone();
        let centers = tape.store().get(self.centers).clone();
        let (classes, dim) = (centers.shape()[0], centers.shape()[1]);
        let batch = labels.len();
        let mut onehot = vec![0.0f32; batch * classes];
        let mut counts = vec![0usize; classes];
        for (i, (&label, &m)) in labels.iter().zip(mask).enumerate() {
            if m > 0.0 && (label as usize) < classes {
                onehot[i * classes + label as usize] = 1.0;
                counts[label as usize] += 1;
            }
        }
        let update_weights: Vec<f32> = onehot
            .iter()
            .enumerate()
            .map(|(k, &v)| v / (1 + counts[k % classes]) as f32)
            .collect();
        let update_weights = Tensor::from_slice(&gpu, &[batch, classes], &update_weights)?;
        let onehot = Tensor::from_slice(&gpu, &[batch, classes], &onehot)?;
        let gathered = matmul::matmul(&gpu, &onehot, &centers, false, false)?;
        let negated = tape.input(elementwise::scale(&gpu, &gathered, -1.0)?);
        let raw = tape.add(embedding, negated)?;
        let row_mask: Vec<f32> = mask
            .iter()
            .flat_map(|&m| std::iter::repeat_n(if m > 0.0 { 1.0 } else { 0.0 }, dim))
            .collect();
        let row_mask = tape.input(Tensor::from_slice(&gpu, &[batch, dim], &row_mask)?);
        let diff = tape.mul(raw, row_mask)?;
        let squares = tape.mul(diff, diff)?;
        let total = tape.sum(squares)?;
        let labelled = mask.iter().filter(|&&m| m > 0.0).count().max(1);
        let loss = tape.scale(total, 0.5 / labelled as f32)?;
        Ok(CenterTerm {
            loss,
            update_weights,
            diff,
        })
    }

    /// Moves each centre toward its samples in this batch (Wen et al.'s rule): c_j +=
    /// (1 - rate) * sum over the n_j samples of class j of (e_i - c_j) / (1 + n_j).
    pub fn update(&self, tape: &Tape, term: &CenterTerm) -> Result<()> {
        let gpu = tape.gpu();
        let step = matmul::matmul(
            gpu,
            &term.update_weights,
            tape.value(term.diff),
            true,
            false,
        )?;
        elementwise::accumulate(gpu, tape.store().get(self.centers), &step, 1.0 - self.rate)
    }
}
