//! Evaluation on the protocol's held-out sets: FER accuracy and confusion matrix on the
//! test subjects, FR identification accuracy on held-out images of training subjects, FR
//! verification accuracy (threshold chosen on training subjects' pairs, never on the test
//! fold) and ROC AUC on the test subjects' pairs.

use serde::{Deserialize, Serialize};

use crate::autodiff::{ParamStore, Tape};
use crate::data::protocol::{verification_pairs, Pair, Split};
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
            let x = Tensor::from_slice(gpu, &[n, 1, size, size], &pixels)?;
            let o = net.forward(
                &mut tape,
                x,
                ForwardOptions {
                    unit: false,
                    detach_unit_input: true,
                },
            )?;
            let all = Tensor::concat(
                gpu,
                &[
                    tape.value(o.fr_logits),
                    tape.value(o.fer_logits),
                    tape.value(o.normalized_embedding),
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
    /// confusion[true][predicted], FER classes in logit order.
    pub fer_confusion: Vec<Vec<u32>>,
    pub fr_identification_accuracy: Option<f32>,
    pub fr_verification_accuracy: Option<f32>,
    pub fr_verification_auc: Option<f32>,
    /// Cosine-similarity threshold for "same person", chosen on training subjects' pairs.
    pub fr_verification_threshold: Option<f32>,
    pub verification_pairs: usize,
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

/// The threshold with the best accuracy on `scores` (similarity >= threshold means same).
pub fn best_threshold(scores: &[(f32, bool)]) -> Option<f32> {
    let mut candidates: Vec<f32> = scores.iter().map(|s| s.0).collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    candidates
        .into_iter()
        .max_by_key(|&t| scores.iter().filter(|(s, same)| (*s >= t) == *same).count())
}

fn accuracy_at(scores: &[(f32, bool)], threshold: f32) -> f32 {
    scores
        .iter()
        .filter(|(s, same)| (*s >= threshold) == *same)
        .count() as f32
        / scores.len().max(1) as f32
}

/// How much of the evaluation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything, including the verification threshold from training subjects' pairs
    /// (which needs their images run through the network too).
    Full,
    /// Skip the threshold and verification accuracy (per-epoch monitoring).
    WithoutThreshold,
}

/// Evaluates `net` on `split` of `dataset`.
pub fn evaluate(
    gpu: &Gpu,
    net: &MultiTaskNet,
    store: &ParamStore,
    dataset: &Dataset,
    split: &Split,
    seed: u64,
    scope: Scope,
) -> Result<Metrics, String> {
    let train_pairs = match scope {
        Scope::Full => verification_pairs(
            dataset,
            &[split.train.clone(), split.identification.clone()].concat(),
            seed,
            1000,
        ),
        Scope::WithoutThreshold => Vec::new(),
    };
    let test_pairs = verification_pairs(dataset, &split.test, seed, 2000);
    // Only images that some measure uses are run through the network.
    let mut used: Vec<usize> = split
        .test
        .iter()
        .chain(&split.identification)
        .copied()
        .collect();
    used.extend(train_pairs.iter().flat_map(|p| [p.reference, p.probe]));
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
    for &i in &split.test {
        if let Some(label) = split.fer_label(dataset, i) {
            let predicted = argmax(&predictions.fer_probs[slot(i)]);
            metrics.fer_confusion[label as usize][predicted] += 1;
            correct += (predicted == label as usize) as usize;
            total += 1;
        }
    }
    metrics.fer_accuracy = (total > 0).then(|| correct as f32 / total as f32);
    let identified: Vec<bool> = split
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
            .filter(|p| {
                used.binary_search(&p.reference).is_ok() && used.binary_search(&p.probe).is_ok()
            })
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
    let (train_scores, test_scores) = (score(&train_pairs), score(&test_pairs));
    metrics.verification_pairs = test_scores.len();
    metrics.fr_verification_auc = auc(&test_scores);
    metrics.fr_verification_threshold = best_threshold(&train_scores);
    if let (Some(t), false) = (metrics.fr_verification_threshold, test_scores.is_empty()) {
        metrics.fr_verification_accuracy = Some(accuracy_at(&test_scores, t));
    }
    Ok(metrics)
}
