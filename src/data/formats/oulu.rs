//! The Oulu-CASIA VIS layout: `.../P001/Anger/000.jpeg`: subject and expression from the
//! two folders above each frame (any folders may come before them, e.g.
//! `OriginalImg/VL/Strong`). A sequence's first frame is taken as neutral (the
//! verification reference) and its last `PEAK_FRAMES` frames carry the expression.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{file_name, is_image, walk_files};
use crate::data::error::{DataError, Result, Skipped};
use crate::data::{Dataset, Expression, Frame, Pixels, Sample};

/// Frames at the end of a sequence that carry its expression.
pub const PEAK_FRAMES: usize = 3;

/// (subject, expression) of a frame's sequence folder `.../P001/Anger`.
fn sequence_labels(sequence: &Path) -> std::result::Result<(String, Expression), String> {
    let expression_name = file_name(sequence);
    let subject = sequence.parent().map(file_name).unwrap_or_default();
    if !(subject.len() > 1
        && subject.starts_with(['P', 'p'])
        && subject[1..].chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "expected a subject folder such as P001 above the expression folder, found {subject:?}"
        ));
    }
    let expression = Expression::parse(&expression_name)
        .ok_or_else(|| format!("unknown expression folder {expression_name:?} (Anger, Disgust, Fear, Happiness, Sadness, Surprise)"))?;
    Ok((subject, expression))
}

pub fn load(path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
    let mut sequences: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for file in walk_files(path)?.into_iter().filter(|p| is_image(p)) {
        let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
        sequences.entry(folder).or_default().push(file);
    }
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    let mut skipped = Skipped::default();
    for (folder, mut frames) in sequences {
        let labels = sequence_labels(&folder).map_err(|e| DataError::layout(&folder, e));
        let Some((subject_name, expression)) = skipped.handle(skip_bad, labels)? else {
            continue;
        };
        frames.sort();
        let subject = dataset.subject_index(&subject_name);
        let count = frames.len();
        for (index, frame) in frames.into_iter().enumerate() {
            let label = if index == 0 {
                Expression::Neutral
            } else if index + PEAK_FRAMES >= count {
                expression
            } else {
                continue;
            };
            dataset.samples.push(Sample {
                origin: frame.display().to_string(),
                usage: None,
                pixels: Pixels::File(frame),
                subject: Some(subject),
                expression: Some(label),
                frame: Some(Frame { index, count }),
                reference: index == 0,
                region: crate::data::align::FaceRegion::Centre,
            });
        }
    }
    dataset.skipped = skipped.problems;
    Ok(dataset)
}
