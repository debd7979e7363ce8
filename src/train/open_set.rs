//! Open-set face recognition on embeddings: people the model never saw in training are
//! enrolled in a gallery (the mean of their L2-normalised embeddings, normalised again),
//! and a probe is ranked against the gallery by cosine similarity, answered "unknown"
//! below a threshold. `identify` and `eval` use it; `verify` compares two images alone.
//!
//! The figures: rank-1 identification accuracy (the probe's best-scoring gallery person is
//! its own), and the true-accept rate at a false-accept rate (TAR at FAR): over every
//! (probe, gallery person) pair, the share of genuine pairs scoring at or above the lowest
//! threshold that accepts at most that share of impostor pairs. A FAR of 1% needs at least
//! 100 impostor pairs to mean anything, 0.1% at least 1000; with fewer it is not reported.

use serde::{Deserialize, Serialize};

/// Cosine similarity of two L2-normalised embeddings.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v` scaled to unit length (left as it is when it is zero).
pub fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// A gallery: one normalised mean embedding per enrolled person.
#[derive(Debug, Clone)]
pub struct Gallery {
    pub names: Vec<String>,
    pub centers: Vec<Vec<f32>>,
    /// Images enrolled per person.
    pub images: Vec<usize>,
}

impl Gallery {
    /// Enrols `embeddings`, each with the name of its person (in order of first
    /// appearance).
    pub fn enrol<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [f32])>) -> Gallery {
        let mut gallery = Gallery {
            names: Vec::new(),
            centers: Vec::new(),
            images: Vec::new(),
        };
        for (name, embedding) in entries {
            let k = match gallery.names.iter().position(|n| n == name) {
                Some(k) => k,
                None => {
                    gallery.names.push(name.to_string());
                    gallery.centers.push(vec![0.0; embedding.len()]);
                    gallery.images.push(0);
                    gallery.names.len() - 1
                }
            };
            gallery.centers[k]
                .iter_mut()
                .zip(embedding)
                .for_each(|(c, e)| *c += e);
            gallery.images[k] += 1;
        }
        gallery.centers = gallery.centers.into_iter().map(normalized).collect();
        gallery
    }

    /// The enrolled people ranked for `probe`, best first: (person index, similarity).
    pub fn rank(&self, probe: &[f32]) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> = self
            .centers
            .iter()
            .enumerate()
            .map(|(k, c)| (k, similarity(probe, c)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

/// Open-set identification figures of probes against a gallery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenSetFigures {
    pub gallery_people: usize,
    pub probes: usize,
    /// Share of probes whose best-ranked person is their own.
    pub rank1_accuracy: Option<f32>,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    /// TAR at FAR 1% and 0.1% (None where the impostor pairs are too few).
    pub tar_at_far_1_percent: Option<f32>,
    pub tar_at_far_01_percent: Option<f32>,
}

/// The share of genuine scores at or above the lowest threshold that accepts at most
/// `far` of the impostor scores; None with fewer than 1 / far impostor scores.
pub fn tar_at_far(genuine: &[f32], impostor: &[f32], far: f64) -> Option<f32> {
    if genuine.is_empty() || (impostor.len() as f64) < 1.0 / far {
        return None;
    }
    let mut sorted = impostor.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    // At most `allowed` impostors may score at or above the threshold: it sits just above
    // the (allowed + 1)-th highest impostor score.
    let allowed = (far * impostor.len() as f64).floor() as usize;
    let threshold = sorted[allowed];
    let accepted = genuine.iter().filter(|&&g| g > threshold).count();
    Some(accepted as f32 / genuine.len() as f32)
}

/// Scores `probes` (each with its true person's name) against `gallery`.
pub fn identify<'a>(
    gallery: &Gallery,
    probes: impl IntoIterator<Item = (&'a str, &'a [f32])>,
) -> OpenSetFigures {
    let (mut probes_seen, mut hits) = (0, 0);
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (name, embedding) in probes {
        let own = gallery.names.iter().position(|n| n == name);
        probes_seen += 1;
        let ranked = gallery.rank(embedding);
        if own.is_some() && ranked.first().map(|r| r.0) == own {
            hits += 1;
        }
        for &(k, score) in &ranked {
            if Some(k) == own {
                genuine.push(score);
            } else {
                impostor.push(score);
            }
        }
    }
    OpenSetFigures {
        gallery_people: gallery.names.len(),
        probes: probes_seen,
        rank1_accuracy: (probes_seen > 0 && gallery.names.len() > 1)
            .then(|| hits as f32 / probes_seen as f32),
        genuine_pairs: genuine.len(),
        impostor_pairs: impostor.len(),
        tar_at_far_1_percent: tar_at_far(&genuine, &impostor, 0.01),
        tar_at_far_01_percent: tar_at_far(&genuine, &impostor, 0.001),
    }
}

/// Open-set identification within one set of people: each person's first reference image
/// (`reference`: a neutral face, a sequence's first frame, an identity set's first image)
/// is enrolled, every other image of theirs probes. `faces`: (person, reference,
/// embedding). None with fewer than two people enrolled or no probe.
pub fn reference_gallery(faces: &[(usize, bool, &[f32])]) -> Option<OpenSetFigures> {
    let mut enrolled: Vec<usize> = Vec::new();
    let mut gallery_entries = Vec::new();
    let mut probes = Vec::new();
    for (k, &(person, reference, embedding)) in faces.iter().enumerate() {
        if reference && !enrolled.contains(&person) {
            enrolled.push(person);
            gallery_entries.push((person.to_string(), embedding));
        } else {
            probes.push(k);
        }
    }
    let gallery = Gallery::enrol(gallery_entries.iter().map(|(n, e)| (n.as_str(), *e)));
    let names: Vec<String> = probes.iter().map(|&k| faces[k].0.to_string()).collect();
    let probes: Vec<(&str, &[f32])> = probes
        .iter()
        .zip(&names)
        .filter(|(&k, _)| enrolled.contains(&faces[k].0))
        .map(|(&k, name)| (name.as_str(), faces[k].2))
        .collect();
    if gallery.names.len() < 2 || probes.is_empty() {
        return None;
    }
    Some(identify(&gallery, probes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gallery_ranks_by_cosine_and_counts_rank1_hits() {
        let e = |x: f32, y: f32| normalized(vec![x, y]);
        let (a1, a2, b1) = (e(1.0, 0.1), e(1.0, -0.1), e(0.0, 1.0));
        let gallery = Gallery::enrol([("a", &a1[..]), ("b", &b1[..]), ("a", &a2[..])]);
        assert_eq!(gallery.names, ["a", "b"]);
        assert_eq!(gallery.images, [2, 1]);
        // a's centre is the normalised mean: (1, 0).
        assert!((gallery.centers[0][0] - 1.0).abs() < 1e-6 && gallery.centers[0][1].abs() < 1e-6);
        let probe = e(0.2, 1.0);
        assert_eq!(gallery.rank(&probe)[0].0, 1);
        let figures = identify(
            &gallery,
            [
                ("a", &e(1.0, 0.3)[..]),
                ("b", &e(0.3, 1.0)[..]),
                ("b", &e(1.0, 0.2)[..]),
            ],
        );
        assert_eq!(figures.probes, 3);
        assert_eq!(figures.rank1_accuracy, Some(2.0 / 3.0));
        assert_eq!((figures.genuine_pairs, figures.impostor_pairs), (3, 3));
        assert_eq!(
            figures.tar_at_far_1_percent, None,
            "3 impostor pairs are too few"
        );
    }

    #[test]
    fn tar_at_far_accepts_at_most_the_far_share_of_impostors() {
        let impostor: Vec<f32> = (0..200).map(|i| i as f32 / 200.0).collect();
        // FAR 1% of 200: at most 2 impostors accepted, so the threshold is the 3rd highest.
        let genuine = [0.5, 0.985, 0.99, 0.999];
        assert_eq!(tar_at_far(&genuine, &impostor, 0.01), Some(0.5));
        assert_eq!(tar_at_far(&genuine, &impostor, 0.001), None);
        assert_eq!(tar_at_far(&[], &impostor, 0.01), None);
    }
}
