//! The FER2013 CSV: `emotion,pixels,Usage` with 48x48 grayscale pixels as space-separated
//! numbers; expression labels only (FER2013 codes 0-6), no subjects. The Usage column is
//! the data set's official split (Training, PublicTest, PrivateTest), which a run keeps:
//! it trains on Training, validates on PublicTest and tests on PrivateTest, in one fold. A
//! file without the column is split into folds like any other data.

use std::path::Path;
use std::sync::Arc;

use crate::data::csv::rows;
use crate::data::error::{DataError, Result, Skipped};
use crate::data::image::{standardize, to_square};
use crate::data::{Dataset, Expression, Pixels, Sample, Usage};

pub const SIDE: usize = 48;

/// The side of the official split a Usage value names.
fn usage(text: &str) -> std::result::Result<Usage, String> {
    match text.trim() {
        "Training" => Ok(Usage::Train),
        "PublicTest" => Ok(Usage::Validation),
        "PrivateTest" => Ok(Usage::Test),
        other => Err(format!(
            "Usage {other:?} is not Training, PublicTest or PrivateTest"
        )),
    }
}

/// Parses one data row into (expression, 48*48 pixels).
pub fn parse_row(fields: &[String]) -> std::result::Result<(Expression, Vec<u8>), String> {
    if fields.len() < 2 {
        return Err(format!(
            "expected emotion,pixels[,Usage], found {} field(s)",
            fields.len()
        ));
    }
    let code: u32 = fields[0]
        .trim()
        .parse()
        .map_err(|_| format!("emotion {:?} is not a number 0-6", fields[0].trim()))?;
    let expression = Expression::from_fer2013_code(code)
        .ok_or_else(|| format!("emotion code {code} is outside 0-6"))?;
    let pixels = fields[1]
        .split_whitespace()
        .map(|p| {
            p.parse::<u8>()
                .map_err(|_| format!("pixel {p:?} is not a number 0-255"))
        })
        .collect::<std::result::Result<Vec<u8>, String>>()?;
    if pixels.len() != SIDE * SIDE {
        return Err(format!(
            "expected {} pixels (48x48), found {}",
            SIDE * SIDE,
            pixels.len()
        ));
    }
    Ok((expression, pixels))
}

pub fn load(path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    let mut skipped = Skipped::default();
    // The column of Usage, from the header (None without one, or without the column).
    let mut usage_column = None;
    for record in rows(path)? {
        if let Ok((1, fields)) = &record {
            if fields[0].trim().eq_ignore_ascii_case("emotion") {
                usage_column = fields
                    .iter()
                    .position(|f| f.trim().eq_ignore_ascii_case("usage"));
                continue;
            }
            if fields[0].trim().parse::<u32>().is_err() {
                return Err(DataError::parse(
                    path,
                    1,
                    format!(
                        "the header is {:?}, not FER2013's emotion,pixels,Usage; a manifest of image files (path,subject,expression) is --format manifest",
                        fields.join(",")
                    ),
                ));
            }
        }
        let row = record.and_then(|(line, fields)| {
            let parsed = parse_row(&fields).and_then(|parsed| {
                let side = match usage_column {
                    Some(c) => Some(usage(fields.get(c).map_or("", String::as_str))?),
                    None => None,
                };
                Ok((parsed, side))
            });
            parsed
                .map(|parsed| (line, parsed))
                .map_err(|e| DataError::parse(path, line, e))
        });
        let Some((line, ((expression, bytes), side))) = skipped.handle(skip_bad, row)? else {
            continue;
        };
        let image = image::GrayImage::from_raw(SIDE as u32, SIDE as u32, bytes)
            .expect("48x48 bytes make a 48x48 image");
        let mut pixels = to_square(&image, size);
        standardize(&mut pixels);
        dataset.samples.push(Sample {
            pixels: Pixels::Ready(Arc::from(pixels)),
            subject: None,
            expression: Some(expression),
            frame: None,
            reference: false,
            region: crate::data::align::FaceRegion::Centre,
            origin: format!("{}:{line}", path.display()),
            usage: side,
        });
    }
    dataset.skipped = skipped.problems;
    Ok(dataset)
}
