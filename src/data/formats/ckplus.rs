//! The CK+ layout: `cohn-kanade-images/S005/001/S005_001_00000011.png`, with the label of a
//! labelled sequence in `Emotion/S005/001/S005_001_00000011_emotion.txt` (CK+ codes 0-7).
//! As is usual for CK+, a sequence's first frame is taken as neutral (and is the
//! verification reference) and its last `PEAK_FRAMES` frames carry the sequence's label;
//! the frames between are left out. Unlabelled sequences give their first frame only.

use std::path::{Path, PathBuf};

use super::{file_name, is_image, list_dir};
use crate::data::error::{DataError, Result, Skipped};
use crate::data::{Dataset, Expression, Frame, Pixels, Sample};

/// Frames at the end of a sequence that carry its expression.
pub const PEAK_FRAMES: usize = 3;

/// Parses the number in an `_emotion.txt` file (e.g. `   3.0000000e+00`).
pub fn parse_emotion(text: &str) -> std::result::Result<Expression, String> {
    let value: f64 = text.trim().parse().map_err(|_| {
        format!(
            "expected one number (a CK+ emotion code 0-7), found {:?}",
            text.trim()
        )
    })?;
    if value.fract() != 0.0 || value < 0.0 {
        return Err(format!("emotion code {value} is not a whole number 0-7"));
    }
    Expression::from_ck_code(value as u32)
        .ok_or_else(|| format!("emotion code {value} is outside 0-7"))
}

fn find_images_root(path: &Path) -> PathBuf {
    let nested = path.join("cohn-kanade-images");
    if nested.is_dir() {
        nested
    } else {
        path.to_path_buf()
    }
}

/// The label of a sequence, if its Emotion folder has one.
fn sequence_label(emotion_dir: &Path) -> Result<Option<Expression>> {
    if !emotion_dir.is_dir() {
        return Ok(None);
    }
    let Some(file) = list_dir(emotion_dir)?
        .into_iter()
        .find(|p| file_name(p).ends_with("_emotion.txt"))
    else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&file).map_err(|e| DataError::io(&file, e))?;
    parse_emotion(&text)
        .map(Some)
        .map_err(|e| DataError::parse(&file, 1, e))
}

pub fn load(path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
    let images_root = find_images_root(path);
    let emotion_root = path.join("Emotion");
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    let mut skipped = Skipped::default();
    for subject_dir in list_dir(&images_root)?.into_iter().filter(|p| p.is_dir()) {
        let subject_name = file_name(&subject_dir);
        for sequence_dir in list_dir(&subject_dir)?.into_iter().filter(|p| p.is_dir()) {
            let frames: Vec<_> = list_dir(&sequence_dir)?
                .into_iter()
                .filter(|p| is_image(p))
                .collect();
            if frames.is_empty() {
                continue;
            }
            let label = sequence_label(
                &emotion_root
                    .join(&subject_name)
                    .join(file_name(&sequence_dir)),
            );
            let Some(label) = skipped.handle(skip_bad, label)? else {
                continue;
            };
            let subject = dataset.subject_index(&subject_name);
            let count = frames.len();
            for (index, frame) in frames.into_iter().enumerate() {
                let expression = if index == 0 {
                    Some(Expression::Neutral)
                } else if index + PEAK_FRAMES >= count && label.is_some() {
                    label
                } else {
                    continue;
                };
                dataset.samples.push(Sample {
                    origin: frame.display().to_string(),
                    usage: None,
                    pixels: Pixels::File(frame),
                    subject: Some(subject),
                    expression,
                    frame: Some(Frame { index, count }),
                    reference: index == 0,
                    region: crate::data::align::FaceRegion::Centre,
                });
            }
        }
    }
    dataset.skipped = skipped.problems;
    Ok(dataset)
}
