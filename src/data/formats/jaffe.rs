//! JAFFE file naming: `KA.AN1.39.tiff` is subject `KA`, expression code `AN` (NE HA SA SU
//! AN DI FE) with a repeat digit, and an image number.

use std::path::Path;

use super::{file_name, is_image, list_dir};
use crate::data::error::{DataError, Result, Skipped};
use crate::data::{Dataset, Expression, Pixels, Sample};

/// (subject, expression) from a JAFFE file name.
pub fn parse_name(name: &str) -> std::result::Result<(String, Expression), String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() < 3 || parts[0].is_empty() {
        return Err(
            "JAFFE names look like KA.AN1.39.tiff (subject.expression+repeat.number.ext)".into(),
        );
    }
    let code: String = parts[1]
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let expression = match code.to_ascii_uppercase().as_str() {
        "NE" => Expression::Neutral,
        "HA" => Expression::Happiness,
        "SA" => Expression::Sadness,
        "SU" => Expression::Surprise,
        "AN" => Expression::Anger,
        "DI" => Expression::Disgust,
        "FE" => Expression::Fear,
        _ => {
            return Err(format!(
                "unknown JAFFE expression code {:?} (expected NE, HA, SA, SU, AN, DI or FE)",
                parts[1]
            ))
        }
    };
    Ok((parts[0].to_string(), expression))
}

pub fn load(path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    let mut skipped = Skipped::default();
    for file in list_dir(path)?
        .into_iter()
        .filter(|p| p.is_file() && is_image(p))
    {
        let parsed = parse_name(&file_name(&file)).map_err(|e| DataError::layout(&file, e));
        let Some((subject, expression)) = skipped.handle(skip_bad, parsed)? else {
            continue;
        };
        let subject = dataset.subject_index(&subject);
        dataset.samples.push(Sample {
            origin: file.display().to_string(),
            usage: None,
            pixels: Pixels::File(file),
            subject: Some(subject),
            expression: Some(expression),
            frame: None,
            reference: expression == Expression::Neutral,
            region: crate::data::align::FaceRegion::Centre,
        });
    }
    dataset.skipped = skipped.problems;
    Ok(dataset)
}
