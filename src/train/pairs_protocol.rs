//! LFW's standard verification protocol over scored pairs in sets (folds): each fold's
//! accuracy at the threshold that is most accurate on the other folds' pairs (never on its
//! own), their mean and standard deviation; ROC AUC over all pairs; and the true accept rate
//! at false accept rates of 1% and 0.1% over all pairs.

use serde::Serialize;

use super::evaluate::{accuracy_at, auc, best_threshold};
use super::open_set::tar_at_far;

/// One fold's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldResult {
    pub pairs: usize,
    /// Chosen on the other folds' pairs.
    pub threshold: f32,
    pub accuracy: f32,
}

/// The protocol's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairsFigures {
    pub folds: Vec<FoldResult>,
    pub accuracy_mean: f32,
    /// Sample standard deviation over the folds (0 for one fold).
    pub accuracy_sd: f32,
    pub auc: Option<f32>,
    pub tar_at_far_1_percent: Option<f32>,
    pub tar_at_far_01_percent: Option<f32>,
}

/// The figures of `scores` (similarity, same person) whose folds are `fold_of`, one per
/// score; with one fold, its threshold is chosen on its own pairs (and said to be, by the
/// caller). None when a fold has no pairs or no other fold has pairs to choose on.
pub fn evaluate_pairs(scores: &[(f32, bool)], fold_of: &[usize]) -> Option<PairsFigures> {
    let folds = fold_of.iter().max().map_or(0, |&f| f + 1);
    if folds == 0 || scores.len() != fold_of.len() {
        return None;
    }
    let mut results = Vec::with_capacity(folds);
    for fold in 0..folds {
        let (own, others): (Vec<_>, Vec<_>) =
            scores.iter().zip(fold_of).partition(|(_, &f)| f == fold);
        let own: Vec<(f32, bool)> = own.into_iter().map(|(s, _)| *s).collect();
        let others: Vec<(f32, bool)> = others.into_iter().map(|(s, _)| *s).collect();
        if own.is_empty() {
            return None;
        }
        let fit_on = if folds == 1 { &own } else { &others };
        let threshold = best_threshold(fit_on)?;
        results.push(FoldResult {
            pairs: own.len(),
            threshold,
            accuracy: accuracy_at(&own, threshold),
        });
    }
    let n = results.len() as f64;
    let mean = results.iter().map(|r| r.accuracy as f64).sum::<f64>() / n;
    let sd = if results.len() > 1 {
        (results
            .iter()
            .map(|r| (r.accuracy as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0))
            .sqrt()
    } else {
        0.0
    };
    let genuine: Vec<f32> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let impostor: Vec<f32> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    Some(PairsFigures {
        folds: results,
        accuracy_mean: mean as f32,
        accuracy_sd: sd as f32,
        auc: auc(scores),
        tar_at_far_1_percent: tar_at_far(&genuine, &impostor, 0.01),
        tar_at_far_01_percent: tar_at_far(&genuine, &impostor, 0.001),
    })
}

#[cfg(test)]
mod tests {
    use super::evaluate_pairs;

    #[test]
    fn each_fold_is_scored_at_the_threshold_of_the_other_folds() {
        // Fold 0's genuine pairs score 0.6 and its impostors 0.5: on its own pairs any
        // threshold in (0.5, 0.6] is perfect. Folds 1 and 2 separate at 0.8 (genuine 0.9,
        // impostor 0.7), so the threshold fold 0 gets is 0.9 (the highest of the equally
        // accurate ones) and fold 0 scores 1/2: its genuine pairs fall below it.
        let scores = [
            (0.6, true),
            (0.6, true),
            (0.5, false),
            (0.5, false),
            (0.9, true),
            (0.9, true),
            (0.7, false),
            (0.7, false),
            (0.9, true),
            (0.9, true),
            (0.7, false),
            (0.7, false),
        ];
        let folds = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        let f = evaluate_pairs(&scores, &folds).unwrap();
        assert_eq!(f.folds[0].threshold, 0.9);
        assert_eq!(
            f.folds[0].accuracy, 0.5,
            "chosen on its own pairs it would be 1"
        );
        // Folds 1 and 2 are chosen on fold 0 with the other: 0.9 again, all right.
        assert_eq!(f.folds[1].accuracy, 1.0);
        assert_eq!(f.folds[2].accuracy, 1.0);
        assert!((f.accuracy_mean - 5.0 / 6.0).abs() < 1e-6);
        let sd = ((2.0 * (1.0f64 / 6.0).powi(2) + (1.0f64 / 3.0).powi(2)) / 2.0).sqrt();
        assert!(
            (f.accuracy_sd as f64 - sd).abs() < 1e-6,
            "{}",
            f.accuracy_sd
        );
        // AUC: of 6 x 6 genuine-impostor pairs, the 0.6s lose to the 0.7s (2 x 4 = 8).
        assert!((f.auc.unwrap() - 28.0 / 36.0).abs() < 1e-6);
        // Too few impostors for a FAR of 1%.
        assert_eq!(f.tar_at_far_1_percent, None);
        assert!(evaluate_pairs(&scores, &folds[..3]).is_none());
    }
}
