//! Face images in, embeddings out: what `embed`, `verify` and `identify` share. Images are
//! read as the checkpoint's network reads them (grayscale, centre square, its input size,
//! standardised); every image that cannot be read is named in one error.

use std::path::PathBuf;

use facemtl::data::align::FaceRegion;
use facemtl::data::image::Preprocess;
use facemtl::data::synthetic::SyntheticConfig;
use facemtl::train::evaluate::predict;

use super::{DataArgs, Loaded};

/// One face to embed: where it came from, its person if the data names one, its pixels.
pub struct Face {
    pub origin: String,
    pub person: Option<String>,
    pub pixels: Vec<f32>,
}

/// The faces of image files given on the command line (each its centre square), and one
/// message for each file that could not be read.
pub fn read(paths: &[PathBuf], how: &Preprocess) -> (Vec<Face>, Vec<String>) {
    read_regions(
        paths.iter().map(|p| (p.clone(), FaceRegion::Centre, None)),
        how,
    )
}

/// The faces of image files, each cut out where its region says and with its person if
/// known, and one message for each file that could not be read.
pub fn read_regions(
    images: impl IntoIterator<Item = (PathBuf, FaceRegion, Option<String>)>,
    how: &Preprocess,
) -> (Vec<Face>, Vec<String>) {
    let mut faces = Vec::new();
    let mut failed = Vec::new();
    for (path, region, person) in images {
        match facemtl::data::image::load_face(&path, &region, how) {
            Ok(pixels) => faces.push(Face {
                origin: path.display().to_string(),
                person,
                pixels,
            }),
            Err(e) => failed.push(e.to_string()),
        }
    }
    (faces, failed)
}

/// The error naming every image in `failed` (None when there is none).
pub fn unreadable(failed: &[String]) -> Option<String> {
    (!failed.is_empty()).then(|| {
        format!(
            "{} image(s) could not be read: {}",
            failed.len(),
            failed.join("; ")
        )
    })
}

/// The faces of image files given on the command line, or an error naming every one that
/// could not be read.
pub fn from_paths(paths: &[PathBuf], how: &Preprocess) -> Result<Vec<Face>, String> {
    let (faces, failed) = read(paths, how);
    unreadable(&failed).map_or(Ok(faces), Err)
}

/// The faces of a data set (`--data` / `--format`, `--skip-bad`; a manifest's face
/// boxes and landmarks cut them out).
pub fn from_data(data: &DataArgs, how: &Preprocess) -> Result<Vec<Face>, String> {
    let dataset = data
        .source(&SyntheticConfig::default())
        .load(how)
        .map_err(|e| e.to_string())?;
    let mut faces = Vec::with_capacity(dataset.samples.len());
    for (i, sample) in dataset.samples.iter().enumerate() {
        let origin = sample
            .pixels
            .file()
            .map_or_else(|| sample.origin.clone(), |p| p.display().to_string());
        faces.push(Face {
            origin,
            person: sample.subject.map(|s| dataset.subjects[s].clone()),
            pixels: dataset.pixels(i).map_err(|e| e.to_string())?.to_vec(),
        });
    }
    dataset.warn_skipped();
    Ok(faces)
}

/// Refuses a checkpoint whose FR branch was never trained (`--tasks fer`): its embeddings
/// are the initial weights' and mean nothing.
pub fn require_face_recognition(loaded: &Loaded, command: &str) -> Result<(), String> {
    if loaded.checkpoint.sidecar.trains_fr() {
        return Ok(());
    }
    Err(format!(
        "the checkpoint was trained with --tasks fer: its face-recognition branch was never trained, so `facemtl {command}` has no embedding to use; train with --tasks both or fr"
    ))
}

/// The L2-normalised FR embedding of every face, 64 at a time, with a progress bar on
/// long inputs.
pub fn embed(loaded: &Loaded, faces: &[Face], quiet: bool) -> Result<Vec<Vec<f32>>, String> {
    const CHUNK: usize = 64;
    let bar = if quiet || faces.len() <= CHUNK {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(faces.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "embedding [{bar:30}] {pos}/{len} images {per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    };
    let mut out = Vec::with_capacity(faces.len());
    for chunk in faces.chunks(CHUNK) {
        let images: Vec<Vec<f32>> = chunk.iter().map(|f| f.pixels.clone()).collect();
        let p = predict(&loaded.gpu, &loaded.net, &loaded.store, &images, CHUNK)?;
        out.extend(p.embeddings);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}
