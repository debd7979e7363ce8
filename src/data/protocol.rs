//! The paper's protocol: k-fold cross-validation with folds split by subject (test subjects
//! are never seen in training), FR identification on held-out images of the training
//! subjects, and FR verification pairs from the test subjects (a neutral / first-frame
//! reference against an expressive probe, same and different subject, balanced).
//! Samples without a subject label are their own group, so they still fall in one fold.
//!
//! Inside the training side of a fold, a validation split shaped like the test: some
//! training subjects held out entirely (FER and verification on unseen subjects) and a share
//! of the other training subjects' images (identification). Everything a run chooses (the
//! per-epoch curves, the verification threshold, the defaults) is chosen on it; the test
//! fold is evaluated once, at the end.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::SeedableRng;

use super::error::{DataError, Result};
use super::{Dataset, Expression};

/// The subject groups of each fold: `folds[i]` holds the groups tested in fold i.
fn group_folds(groups: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..groups).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut folds = vec![Vec::new(); k];
    for (i, g) in order.into_iter().enumerate() {
        folds[i % k].push(g);
    }
    folds
}

/// Which samples train, which test, and how labels map to the two heads' classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The number of folds actually used (fewer than asked when there are fewer subjects).
    pub folds: usize,
    pub fold: usize,
    /// Training samples.
    pub train: Vec<usize>,
    /// Held-out images of training subjects: FR identification test.
    pub identification: Vec<usize>,
    /// Every sample of the test fold's subjects: FER test and FR verification pairs.
    pub test: Vec<usize>,
    /// Every sample of the validation subjects: FER validation and verification pairs.
    pub validation: Vec<usize>,
    /// Held-out images of training subjects: FR identification validation.
    pub validation_identification: Vec<usize>,
    /// Training subjects; FR class c is subject `train_subjects[c]`.
    pub train_subjects: Vec<usize>,
    pub test_subjects: Vec<usize>,
    pub validation_subjects: Vec<usize>,
    /// FER class c is `expressions[c]`.
    pub expressions: Vec<Expression>,
}

impl Split {
    /// `dataset` as test data for a model trained elsewhere, with labels mapped to its
    /// classes by name: `identification` holds the images of subjects the model trained on
    /// (the only ones it can identify), `test` every other image (FER and verification on
    /// subjects it never saw; images without a subject label count as unseen).
    pub fn all_test(dataset: &Dataset, fr_classes: &[String], fer_classes: &[String]) -> Split {
        let train_subjects: Vec<usize> = fr_classes
            .iter()
            .map(|name| {
                dataset
                    .subjects
                    .iter()
                    .position(|s| s == name)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        let known = |i: &usize| {
            dataset.samples[*i]
                .subject
                .is_some_and(|s| train_subjects.contains(&s))
        };
        let (identification, test): (Vec<usize>, Vec<usize>) =
            (0..dataset.samples.len()).partition(known);
        let test_subjects = (0..dataset.subjects.len())
            .filter(|s| !train_subjects.contains(s))
            .collect();
        Split {
            folds: 1,
            fold: 0,
            train: Vec::new(),
            identification,
            test,
            validation: Vec::new(),
            validation_identification: Vec::new(),
            train_subjects,
            test_subjects,
            validation_subjects: Vec::new(),
            expressions: fer_classes
                .iter()
                .filter_map(|name| Expression::parse(name))
                .collect(),
        }
    }

    /// The test fold's images for each measure.
    pub fn test_set(&self) -> HeldOut<'_> {
        HeldOut {
            fer: &self.test,
            identification: &self.identification,
            verification: &self.test,
        }
    }

    /// The validation split's images for each measure (all empty without one).
    pub fn validation_set(&self) -> HeldOut<'_> {
        HeldOut {
            fer: &self.validation,
            identification: &self.validation_identification,
            verification: &self.validation,
        }
    }

    /// The FR class of sample `i` (None: no subject, or a test subject).
    pub fn fr_label(&self, dataset: &Dataset, i: usize) -> Option<u32> {
        let subject = dataset.samples[i].subject?;
        self.train_subjects
            .iter()
            .position(|&s| s == subject)
            .map(|c| c as u32)
    }

    /// The FER class of sample `i`.
    pub fn fer_label(&self, dataset: &Dataset, i: usize) -> Option<u32> {
        let e = dataset.samples[i].expression?;
        self.expressions
            .iter()
            .position(|&x| x == e)
            .map(|c| c as u32)
    }
}

/// One held-out set's images for each measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldOut<'a> {
    /// Images scored for FER.
    pub fer: &'a [usize],
    /// Images of training subjects scored for FR identification.
    pub identification: &'a [usize],
    /// Images among which FR verification pairs are drawn.
    pub verification: &'a [usize],
}

/// Shares of the training side held out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shares {
    /// Of each training subject's images, for the test's FR identification.
    pub identification: f32,
    /// Of the training subjects (entirely), and then of each remaining training subject's
    /// images, for validation; 0: no validation split.
    pub validation: f32,
}

/// `share` of `n` items, rounded, at least one when the share is above 0, and at most
/// `n - keep` (none when that is below 1).
fn share_of(n: usize, share: f32, keep: usize) -> usize {
    if share <= 0.0 || n <= keep {
        return 0;
    }
    ((n as f32 * share).round() as usize).clamp(1, n - keep)
}

/// Fold `fold` of `k` subject-independent folds (k shrinks to the number of subjects).
/// `shares.validation` of the training subjects are held out as validation subjects
/// (at least one, never all); of each remaining training subject's images,
/// `shares.identification` are held out for the test's FR identification and
/// `shares.validation` for validation identification (at least one each when above 0,
/// never all).
///
/// Data with an official split ([`Sample::usage`](super::Sample::usage), FER2013's Usage
/// column) is split as it says instead, in one fold.
pub fn split(dataset: &Dataset, k: usize, fold: usize, seed: u64, shares: Shares) -> Result<Split> {
    if dataset.samples.iter().any(|s| s.usage.is_some()) {
        return official_split(dataset, fold);
    }
    // Group key: the subject, or a group of one for a sample without subject.
    let subjects = dataset.subjects.len();
    let group_of = |i: usize| dataset.samples[i].subject.unwrap_or(subjects + i);
    let (keys, folds) = fold_groups(dataset, k, fold)?;
    let test_groups: Vec<usize> = group_folds(keys.len(), folds, seed)[fold]
        .iter()
        .map(|&g| keys[g])
        .collect();
    let is_test = |i: usize| test_groups.contains(&group_of(i));
    let test: Vec<usize> = (0..dataset.samples.len()).filter(|&i| is_test(i)).collect();
    if test.is_empty() {
        return Err(DataError::Unusable(format!(
            "fold {fold} has no test subjects"
        )));
    }
    // Validation groups: a share of the training side's groups, held out entirely.
    let mut train_groups: Vec<usize> = keys
        .iter()
        .copied()
        .filter(|g| !test_groups.contains(g))
        .collect();
    train_groups.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x7A11_DA7E));
    let validation_groups = train_groups
        .split_off(train_groups.len() - share_of(train_groups.len(), shares.validation, 1));
    let is_validation = |i: usize| validation_groups.contains(&group_of(i));
    let validation: Vec<usize> = (0..dataset.samples.len())
        .filter(|&i| is_validation(i))
        .collect();
    let subjects_of = |groups: &[usize]| {
        let mut found: Vec<usize> = groups.iter().copied().filter(|&g| g < subjects).collect();
        found.sort_unstable();
        found
    };
    let validation_subjects = subjects_of(&validation_groups);
    let train_subjects = subjects_of(&train_groups);
    let test_subjects: Vec<usize> = test_groups
        .iter()
        .copied()
        .filter(|&g| g < subjects)
        .collect();
    let (mut train, identification, validation_identification) =
        hold_out_images(dataset, &train_subjects, shares, seed);
    train.extend(
        (0..dataset.samples.len())
            .filter(|&i| !is_test(i) && !is_validation(i) && dataset.samples[i].subject.is_none()),
    );
    train.sort_unstable();
    let expressions = dataset.expression_classes();
    check_trainable(dataset, &train, &expressions, fold)?;
    Ok(Split {
        folds,
        fold,
        train,
        identification,
        test,
        validation,
        validation_identification,
        train_subjects,
        test_subjects,
        validation_subjects,
        expressions,
    })
}

/// The data set's own split: its training rows train, its validation rows validate (FER
/// only: such data has no subjects) and its test rows are the test, as fold 0 of 1. Every
/// sample must say its side.
fn official_split(dataset: &Dataset, fold: usize) -> Result<Split> {
    use super::Usage;
    if let Some(s) = dataset.samples.iter().find(|s| s.usage.is_none()) {
        return Err(DataError::Unusable(format!(
            "{} has no side of the data set's official split while others do",
            s.origin
        )));
    }
    if fold != 0 {
        return Err(DataError::Unusable(format!(
            "--fold {fold} does not exist: the data keeps its official split (Training / PublicTest / PrivateTest), which is one fold, fold 0"
        )));
    }
    let side = |usage: Usage| -> Vec<usize> {
        (0..dataset.samples.len())
            .filter(|&i| dataset.samples[i].usage == Some(usage))
            .collect()
    };
    let (train, validation, test) = (
        side(Usage::Train),
        side(Usage::Validation),
        side(Usage::Test),
    );
    if test.is_empty() {
        return Err(DataError::Unusable(
            "the data's official split has no test rows (PrivateTest)".into(),
        ));
    }
    let expressions = dataset.expression_classes();
    check_trainable(dataset, &train, &expressions, fold)?;
    Ok(Split {
        folds: 1,
        fold: 0,
        train,
        identification: Vec::new(),
        test,
        validation,
        validation_identification: Vec::new(),
        train_subjects: Vec::new(),
        test_subjects: Vec::new(),
        validation_subjects: Vec::new(),
        expressions,
    })
}

/// The groups the folds are made of (subjects, and a group of one for each sample
/// without a subject), sorted, and the number of folds they give; an error when there is
/// no fold `fold` to make.
fn fold_groups(dataset: &Dataset, k: usize, fold: usize) -> Result<(Vec<usize>, usize)> {
    if dataset.samples.is_empty() {
        return Err(DataError::Unusable("the dataset is empty".into()));
    }
    let subjects = dataset.subjects.len();
    let group_of = |i: usize| dataset.samples[i].subject.unwrap_or(subjects + i);
    let mut keys: Vec<usize> = (0..dataset.samples.len()).map(group_of).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() < 2 {
        return Err(DataError::Unusable(format!(
            "subject-independent folds need at least 2 subjects; the data has {}",
            keys.len()
        )));
    }
    if k < 2 {
        return Err(DataError::Unusable(format!(
            "--folds must be at least 2, got {k}"
        )));
    }
    let folds = k.min(keys.len());
    if fold >= folds {
        return Err(DataError::Unusable(format!(
            "--fold {fold} does not exist: the data gives {folds} folds (0 to {}){}",
            folds - 1,
            if folds < k {
                format!(
                    ", fewer than the {k} asked because there are only {} subjects",
                    keys.len()
                )
            } else {
                String::new()
            }
        )));
    }
    Ok((keys, folds))
}

/// Of each training subject's images (shuffled), `shares.identification` held out for the
/// test's FR identification, then `shares.validation` for validation identification (at
/// least one each when above 0, never all): (train, identification, validation
/// identification), each sorted but train, which the caller completes.
fn hold_out_images(
    dataset: &Dataset,
    train_subjects: &[usize],
    shares: Shares,
    seed: u64,
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1D_E471_F1CA);
    let mut train = Vec::new();
    let mut identification = Vec::new();
    let mut validation_identification = Vec::new();
    for &subject in train_subjects {
        let mut own: Vec<usize> = (0..dataset.samples.len())
            .filter(|&i| dataset.samples[i].subject == Some(subject))
            .collect();
        own.shuffle(&mut rng);
        let tested = share_of(own.len(), shares.identification, 1);
        let validated = share_of(own.len() - tested, shares.validation, 1);
        identification.extend_from_slice(&own[..tested]);
        validation_identification.extend_from_slice(&own[tested..tested + validated]);
        train.extend_from_slice(&own[tested + validated..]);
    }
    identification.sort_unstable();
    validation_identification.sort_unstable();
    (train, identification, validation_identification)
}

/// Every expression class has training images, and there are training images at all.
fn check_trainable(
    dataset: &Dataset,
    train: &[usize],
    expressions: &[Expression],
    fold: usize,
) -> Result<()> {
    for e in expressions {
        if !train
            .iter()
            .any(|&i| dataset.samples[i].expression == Some(*e))
        {
            return Err(DataError::Unusable(format!(
                "expression class {e} has no training images in fold {fold}; use fewer folds or more subjects"
            )));
        }
    }
    if train.is_empty() {
        return Err(DataError::Unusable(format!(
            "fold {fold} leaves no training images"
        )));
    }
    Ok(())
}

/// A verification pair: a reference image and a probe, of the same subject or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub reference: usize,
    pub probe: usize,
    pub same: bool,
}

/// Balanced verification pairs among `samples`: each reference (neutral / first frame)
/// against probes (the other images) of the same subject, and as many pairs with probes of
/// other subjects; at most `max_same` same-subject pairs, subsampled with `seed`.
pub fn verification_pairs(
    dataset: &Dataset,
    samples: &[usize],
    seed: u64,
    max_same: usize,
) -> Vec<Pair> {
    let mut rng = StdRng::seed_from_u64(seed);
    let subject = |i: usize| dataset.samples[i].subject;
    let references: Vec<usize> = samples
        .iter()
        .copied()
        .filter(|&i| dataset.samples[i].reference && subject(i).is_some())
        .collect();
    let probes: Vec<usize> = samples
        .iter()
        .copied()
        .filter(|&i| !dataset.samples[i].reference && subject(i).is_some())
        .collect();
    let mut same: Vec<Pair> = references
        .iter()
        .flat_map(|&r| {
            probes
                .iter()
                .filter(move |&&p| subject(p) == subject(r))
                .map(move |&p| Pair {
                    reference: r,
                    probe: p,
                    same: true,
                })
        })
        .collect();
    same.shuffle(&mut rng);
    same.truncate(max_same);
    let mut pairs = same.clone();
    for pair in &same {
        let others: Vec<usize> = probes
            .iter()
            .copied()
            .filter(|&p| subject(p) != subject(pair.reference))
            .collect();
        if let Some(&probe) = others.choose(&mut rng) {
            pairs.push(Pair {
                reference: pair.reference,
                probe,
                same: false,
            });
        }
    }
    let different = pairs.len() - same.len();
    // Keep the two kinds balanced even when few different-subject probes exist.
    if different < same.len() {
        pairs.retain(|p| !p.same);
        pairs.extend(same.into_iter().take(different));
    }
    pairs.sort_by_key(|p| (p.reference, p.probe, p.same));
    pairs
}
