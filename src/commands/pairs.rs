//! `facemtl eval --pairs pairs.txt --root DIR`: LFW's verification protocol for a
//! checkpoint. Every image of the pairs is embedded once (its centre square, or its face by
//! a manifest's boxes or landmarks with `--faces`), every pair scored by cosine similarity,
//! and each set (fold) scored at the threshold chosen on the other sets
//! (`train::pairs_protocol`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use facemtl::data::align::FaceRegion;
use facemtl::data::formats::Format;
use facemtl::data::pairs_file::{self, PairImage};
use facemtl::train::open_set::similarity;
use facemtl::train::pairs_protocol::evaluate_pairs;

use super::faces;
use super::Loaded;

/// Where each listed image's face is: from `--faces` (a manifest of the images, with boxes
/// and/or landmarks), by the image's canonical path; the centre square without it.
fn face_regions(manifest: Option<&Path>) -> Result<HashMap<PathBuf, FaceRegion>, String> {
    let Some(manifest) = manifest else {
        return Ok(HashMap::new());
    };
    // The size does not matter here: only the samples' files and regions are read.
    let dataset = Format::Manifest
        .load(manifest, 8, false)
        .map_err(|e| format!("--faces: {e}"))?;
    Ok(dataset
        .samples
        .iter()
        .filter_map(|s| {
            let file = s.pixels.file()?;
            Some((
                std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()),
                s.region,
            ))
        })
        .collect())
}

/// Runs the protocol for `loaded` and prints its figures.
pub fn run(
    loaded: &Loaded,
    pairs: &Path,
    root: &Path,
    manifest: Option<&Path>,
) -> Result<(), String> {
    faces::require_face_recognition(loaded, "eval --pairs")?;
    if !root.is_dir() {
        return Err(format!(
            "--root {}: not a directory (give the folder that holds NAME/NAME_0001.jpg)",
            root.display()
        ));
    }
    let listed = pairs_file::read(pairs).map_err(|e| e.to_string())?;
    let regions = face_regions(manifest)?;
    let images: BTreeSet<&PairImage> = listed.iter().flat_map(|p| [&p.a, &p.b]).collect();
    let how = loaded.checkpoint.sidecar.config.preprocess();
    let mut not_listed = Vec::new();
    let mut located = Vec::with_capacity(images.len());
    for image in &images {
        let path = image.path(root);
        let region = match manifest {
            None => Some(FaceRegion::Centre),
            Some(_) => {
                let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                regions.get(&canonical).copied()
            }
        };
        match region {
            Some(region) => located.push((path, region, Some(image.name.clone()))),
            None => not_listed.push(path.display().to_string()),
        }
    }
    if !not_listed.is_empty() {
        return Err(format!(
            "{} image(s) of the pairs are not in --faces {} (first: {}); list every one, or leave --faces out for centre squares",
            not_listed.len(),
            manifest.map_or(String::new(), |m| m.display().to_string()),
            not_listed[0]
        ));
    }
    let (read, failed) = faces::read_regions(located, &how);
    if let Some(e) = faces::unreadable(&failed) {
        return Err(e);
    }
    let embeddings = faces::embed(loaded, &read, false)?;
    let index: HashMap<&PairImage, usize> = images.iter().copied().zip(0..).collect();
    let scores: Vec<(f32, bool)> = listed
        .iter()
        .map(|p| {
            (
                similarity(&embeddings[index[&p.a]], &embeddings[index[&p.b]]),
                p.same,
            )
        })
        .collect();
    let folds: Vec<usize> = listed.iter().map(|p| p.set).collect();
    let figures = evaluate_pairs(&scores, &folds)
        .ok_or("the pairs give no fold with pairs of both kinds to choose a threshold on")?;
    let sets = figures.folds.len();
    println!(
        "pairs: {} ({} sets, {} images{})",
        listed.len(),
        sets,
        images.len(),
        if manifest.is_some() {
            ", faces from --faces"
        } else {
            ", centre squares"
        }
    );
    let how_chosen = match sets {
        1 => "threshold chosen on the same pairs: one set gives no held-out choice, so this accuracy is optimistic",
        _ => "each set at the threshold most accurate on the other sets",
    };
    println!(
        "verification accuracy:       {:.4} ± {:.4} ({how_chosen})",
        figures.accuracy_mean, figures.accuracy_sd
    );
    let show = |v: Option<f32>, needed: usize| {
        v.map_or(format!("n/a (fewer than {needed} mismatched pairs)"), |v| {
            format!("{v:.4}")
        })
    };
    println!(
        "ROC AUC:                     {}",
        figures.auc.map_or("n/a".into(), |v| format!("{v:.4}"))
    );
    println!(
        "TAR at FAR 1%:               {}",
        show(figures.tar_at_far_1_percent, 100)
    );
    println!(
        "TAR at FAR 0.1%:             {}",
        show(figures.tar_at_far_01_percent, 1000)
    );
    println!("set  pairs  threshold  accuracy");
    for (k, f) in figures.folds.iter().enumerate() {
        println!(
            "{:>3}  {:>5}  {:>9.4}  {:>8.4}",
            k + 1,
            f.pairs,
            f.threshold,
            f.accuracy
        );
    }
    Ok(())
}
