//! Evaluation on one of the protocol's held-out sets (the validation split or the test
//! fold): FER accuracy and confusion matrix on its unseen subjects, FR identification
//! accuracy on held-out images of training subjects, FR verification ROC AUC on its
//! subjects' pairs, and verification accuracy at a threshold chosen elsewhere (on the
//! validation split; never on the pairs it scores, except when evaluating that split).

use serde::{Deserialize, Serialize};

use crate::autodiff::{ParamStore, Tape};
use crate::data::protocol::{verification_pairs, HeldOut, Pair, Split};
use crate::data::Dataset;
use crate::gpu::{Gpu, Tensor};
use crate::model::{ForwardOptions, MultiTaskNet};

/// Per-image outputs of the network in evaluation mode.
pub struct Predictions {
    /// Softmax over FR classes, one row per image.
    pub fr_probs: Vec<Vec<f32>>,
    /// Softmax over FER classes.
    pub fer_probs: Vec<Vec<f32>>,
    /// L2-normalised embeddings.
    pub embeddings: Vec<Vec<f32>>,
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.into_iter().map(|v| v / total).collect()
}

/// Runs the network (evaluation mode) on standardised images, `batch` at a time.
pub fn predict(
    gpu: &Gpu,
    net: &MultiTaskNet,
    store: &ParamStore,
    images: &[Vec<f32>],
    batch: usize,
) -> Result<Predictions, String> {
    let size = net.architecture.input;
    let mut out = Predictions {
        fr_probs: Vec::new(),
        fer_probs: Vec::new(),
        embeddings: Vec::new(),
    };
    for chunk in images.chunks(batch.max(1)) {
        let pixels: Vec<f32> = chunk.iter().flatten().copied().collect();
        let n = chunk.len();
        let run = || -> crate::gpu::Result<Vec<f32>> {
            let mut tape = Tape::new(gpu, store, false, 0);
            let x = Tensor::from_slice(gpu, &[n, net.channels, size, size], &pixels)?;
            let o = net.forward(
                &mut tape,
                x,
                ForwardOptions {
                    unit: false,
                    detach_unit_input: true,
                },
            )?;
            let embedding = MultiTaskNet::normalize_embedding(&mut tape, o.embedding)?;
            let all = Tensor::concat(
                gpu,
                &[
                    tape.value(o.fr_logits),
                    tape.value(o.fer_logits),
                    tape.value(embedding),
                ],
            )?;
            all.to_vec(gpu)
        };
        let values = run().map_err(|e| e.to_string())?;
        let (fr, rest) = values.split_at(n * net.fr_classes.max(1));
        let (fer, emb) = rest.split_at(n * net.fer_classes.max(1));
        out.fr_probs
            .extend(fr.chunks(net.fr_classes.max(1)).map(softmax));
        out.fer_probs
            .extend(fer.chunks(net.fer_classes.max(1)).map(softmax));
        out.embeddings
            .extend(emb.chunks(net.architecture.embedding).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// Index of the largest value.
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Test-fold results (None where the data has no labels for that measure).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub fer_accuracy: Option<f32>,
    /// `confusion[true][predicted]`, FER classes in logit order.
    pub fer_confusion: Vec<Vec<u32>>,
    pub fr_identification_accuracy: Option<f32>,
    pub fr_verification_accuracy: Option<f32>,
    pub fr_verification_auc: Option<f32>,
    /// Cosine-similarity threshold for "same person" behind the verification accuracy.
    pub fr_verification_threshold: Option<f32>,
    pub verification_pairs: usize,
}

impl Metrics {
    /// These figures with those of a task the run did not train removed (its head holds
    /// its initial weights, so a figure would be a number about nothing): the FER figures
    /// unless `tasks` has FER, the FR ones unless it has FR.
    pub fn of_trained(mut self, tasks: crate::train::config::Tasks) -> Metrics {
        use crate::train::config::Tasks;
        if tasks == Tasks::Fr {
            self.fer_accuracy = None;
            self.fer_confusion = Vec::new();
        }
        if tasks == Tasks::Fer {
            self.fr_identification_accuracy = None;
            self.fr_verification_accuracy = None;
            self.fr_verification_auc = None;
            self.fr_verification_threshold = None;
            self.verification_pairs = 0;
        }
        self
    }
}

fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// ROC AUC: the chance that a random same-subject pair scores above a different-subject
/// pair (ties count half).
pub fn auc(scores: &[(f32, bool)]) -> Option<f32> {
    let positives: Vec<f32> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let negatives: Vec<f32> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0f64;
    for p in &positives {
        for n in &negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some((wins / (positives.len() * negatives.len()) as f64) as f32)
}

/// The threshold with the best accuracy on `scores` (similarity >= threshold means same);
/// of equally accurate ones, the highest.
pub fn best_threshold(scores: &[(f32, bool)]) -> Option<f32> {
    let mut candidates: Vec<f32> = scores.iter().map(|s| s.0).collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    candidates
        .into_iter()
        .max_by_key(|&t| scores.iter().filter(|(s, same)| (*s >= t) == *same).count())
}

/// The share of `scores` that `threshold` classifies right.
pub fn accuracy_at(scores: &[(f32, bool)], threshold: f32) -> f32 {
    scores
        .iter()
        .filter(|(s, same)| (*s >= threshold) == *same)
        .count() as f32
        / scores.len().max(1) as f32
}

/// Same-subject pairs drawn at most for choosing a threshold, and for scoring.
pub const THRESHOLD_PAIRS: usize = 1000;
pub const SCORED_PAIRS: usize = 2000;

/// Where the verification threshold comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold<'a> {
    /// No threshold: verification AUC only (per-epoch monitoring).
    Skip,
    /// Chosen before, e.g. on the validation split and stored with the checkpoint.
    Given(f32),
    /// Chosen here, on the verification pairs among these images.
    FitOn(&'a [usize]),
}

/// Evaluates `net` on the held-out images `set` of `dataset` (labels mapped by `split`).
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    gpu: &Gpu,
    net: &MultiTaskNet,
    store: &ParamStore,
    dataset: &Dataset,
    split: &Split,
    set: HeldOut,
    threshold: Threshold,
    seed: u64,
) -> Result<Metrics, String> {
    let fit_pairs = match threshold {
        Threshold::FitOn(images) => verification_pairs(dataset, images, seed, THRESHOLD_PAIRS),
        _ => Vec::new(),
    };
    let scored_pairs = verification_pairs(dataset, set.verification, seed, SCORED_PAIRS);
    // Only images that some measure uses are run through the network.
    let mut used: Vec<usize> = set.fer.iter().chain(set.identification).copied().collect();
    used.extend(
        fit_pairs
            .iter()
            .chain(&scored_pairs)
            .flat_map(|p| [p.reference, p.probe]),
    );
    used.sort_unstable();
    used.dedup();
    let images = used
        .iter()
        .map(|&i| dataset.pixels(i).map(|p| p.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let predictions = predict(gpu, net, store, &images, 128)?;
    let slot = |i: usize| {
        used.binary_search(&i)
            .expect("every evaluated image was run")
    };

    let mut metrics = Metrics {
        fer_confusion: vec![vec![0; split.expressions.len()]; split.expressions.len()],
        ..Metrics::default()
    };
    let (mut correct, mut total) = (0usize, 0usize);
    for &i in set.fer {
        if let Some(label) = split.fer_label(dataset, i) {
            let predicted = argmax(&predictions.fer_probs[slot(i)]);
            metrics.fer_confusion[label as usize][predicted] += 1;
            correct += (predicted == label as usize) as usize;
            total += 1;
        }
    }
    metrics.fer_accuracy = (total > 0).then(|| correct as f32 / total as f32);
    let identified: Vec<bool> = set
        .identification
        .iter()
        .filter_map(|&i| {
            split
                .fr_label(dataset, i)
                .map(|label| argmax(&predictions.fr_probs[slot(i)]) == label as usize)
        })
        .collect();
    metrics.fr_identification_accuracy = (!identified.is_empty())
        .then(|| identified.iter().filter(|&&c| c).count() as f32 / identified.len() as f32);
    let score = |pairs: &[Pair]| -> Vec<(f32, bool)> {
        pairs
            .iter()
            .map(|p| {
                (
                    similarity(
                        &predictions.embeddings[slot(p.reference)],
                        &predictions.embeddings[slot(p.probe)],
                    ),
                    p.same,
                )
            })
            .collect()
    };
    let scores = score(&scored_pairs);
    metrics.verification_pairs = scores.len();
    metrics.fr_verification_auc = auc(&scores);
    metrics.fr_verification_threshold = match threshold {
        Threshold::Skip => None,
        Threshold::Given(t) => Some(t),
        Threshold::FitOn(_) => best_threshold(&score(&fit_pairs)),
    };
    if let (Some(t), false) = (metrics.fr_verification_threshold, scores.is_empty()) {
        metrics.fr_verification_accuracy = Some(accuracy_at(&scores, t));
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::{accuracy_at, auc, best_threshold};

    #[test]
    fn auc_counts_ties_half_and_needs_both_kinds() {
        // Positives 0.9, 0.5, 0.5; negatives 0.5, 0.1: of the 6 pairs, 0.9 beats both (2),
        // each 0.5 ties 0.5 (0.5 each) and beats 0.1 (1 each): 5 / 6.
        let scores = [
            (0.9, true),
            (0.5, true),
            (0.5, true),
            (0.5, false),
            (0.1, false),
        ];
        assert_eq!(auc(&scores), Some(5.0 / 6.0));
        assert_eq!(auc(&[(0.2, true), (0.8, false)]), Some(0.0));
        assert_eq!(auc(&[(0.3, true), (0.3, false)]), Some(0.5));
        assert_eq!(auc(&[(0.3, true)]), None);
        assert_eq!(auc(&[]), None);
    }

    #[test]
    fn best_threshold_picks_the_most_accurate_score() {
        // At 0.6: 0.9, 0.7 same (right), 0.6 different but above (wrong), 0.4, 0.2 different
        // (right): 4/5. At 0.7: all five right.
        let scores = [
            (0.9, true),
            (0.7, true),
            (0.6, false),
            (0.4, false),
            (0.2, false),
        ];
        assert_eq!(best_threshold(&scores), Some(0.7));
        assert_eq!(accuracy_at(&scores, 0.7), 1.0);
        assert_eq!(accuracy_at(&scores, 0.6), 0.8);
        assert_eq!(accuracy_at(&scores, 0.0), 0.4);
        assert_eq!(accuracy_at(&scores, 1.0), 0.6);
        // Overlapping scores: 0.5 gets 3 of 4 right, as does 0.8; of equals the highest wins.
        let mixed = [(0.8, true), (0.5, true), (0.6, false), (0.1, false)];
        assert_eq!(accuracy_at(&mixed, 0.5), 0.75);
        assert_eq!(accuracy_at(&mixed, 0.6), 0.5);
        assert_eq!(best_threshold(&mixed), Some(0.8));
        assert_eq!(accuracy_at(&mixed, 0.8), 0.75);
        assert_eq!(best_threshold(&[]), None);
        assert_eq!(accuracy_at(&[], 0.5), 0.0);
    }
}
