//! The FER2013 CSV: `emotion,pixels,Usage` with 48x48 grayscale pixels as space-separated
//! numbers; expression labels only (FER2013 codes 0-6), no subjects.

use std::path::Path;
use std::sync::Arc;

use crate::data::csv::rows;
use crate::data::error::{DataError, Result, Skipped};
use crate::data::image::{standardize, to_square};
use crate::data::{Dataset, Expression, Pixels, Sample};

pub const SIDE: usize = 48;

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
    for record in rows(path)? {
        if let Ok((1, fields)) = &record {
            if fields[0].trim().eq_ignore_ascii_case("emotion") {
                continue;
            }
        }
        let row = record.and_then(|(line, fields)| {
            parse_row(&fields)
                .map(|parsed| (line, parsed))
                .map_err(|e| DataError::parse(path, line, e))
        });
        let Some((line, (expression, bytes))) = skipped.handle(skip_bad, row)? else {
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
        });
    }
    dataset.skipped = skipped.problems;
    Ok(dataset)
}
