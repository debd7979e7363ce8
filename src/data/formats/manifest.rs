//! A manifest CSV: `path,subject,expression` with a header line; either label may be
//! empty; paths are relative to the CSV's folder; expressions by name or code.

use std::path::Path;

use crate::data::csv::rows;
use crate::data::error::{DataError, Result, Skipped};
use crate::data::{Dataset, Expression, Pixels, Sample};

pub const HEADER: &str = "path,subject,expression";

pub fn load(path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    let mut skipped = Skipped::default();
    let mut records = rows(path)?;
    match records.next().transpose()? {
        Some((_, header)) if header_matches(&header) => {}
        Some((line, header)) => {
            return Err(DataError::parse(
                path,
                line,
                format!(
                    "expected the header {HEADER:?}, found {:?}",
                    header.join(",")
                ),
            ))
        }
        None => {
            return Err(DataError::Unusable(format!(
                "{}: the manifest is empty",
                path.display()
            )))
        }
    }
    for record in records {
        let row = record
            .and_then(|(line, fields)| parse_row(path, line, fields).map(|parsed| (line, parsed)));
        let Some((line, (image, subject, expression))) = skipped.handle(skip_bad, row)? else {
            continue;
        };
        let subject = (!subject.is_empty()).then(|| dataset.subject_index(&subject));
        let file = base.join(&image);
        dataset.samples.push(Sample {
            pixels: Pixels::File(file),
            subject,
            expression,
            frame: None,
            reference: expression == Some(Expression::Neutral),
            origin: format!("{}:{line}", path.display()),
        });
    }
    // Identity-only manifests: each subject's first image is its verification reference.
    if dataset.samples.iter().all(|s| s.expression.is_none()) {
        let mut seen = std::collections::HashSet::new();
        for s in dataset.samples.iter_mut() {
            s.reference = s.subject.is_some_and(|id| seen.insert(id));
        }
    }
    dataset.skipped = skipped.problems;
    Ok(dataset)
}

fn header_matches(fields: &[String]) -> bool {
    fields.len() == 3
        && fields
            .iter()
            .zip(HEADER.split(','))
            .all(|(f, h)| f.trim().eq_ignore_ascii_case(h))
}

fn parse_row(
    path: &Path,
    line_no: usize,
    fields: Vec<String>,
) -> Result<(String, String, Option<Expression>)> {
    let [image, subject, expression] = <[String; 3]>::try_from(fields).map_err(|f| {
        DataError::parse(
            path,
            line_no,
            format!(
                "expected 3 fields (path,subject,expression), found {}",
                f.len()
            ),
        )
    })?;
    if image.trim().is_empty() {
        return Err(DataError::parse(path, line_no, "the image path is empty"));
    }
    let expression = match expression.trim() {
        "" => None,
        text => Some(Expression::parse(text).ok_or_else(|| {
            DataError::parse(path, line_no, format!("unknown expression {text:?} (use a name such as happiness, or a code such as HA)"))
        })?),
    };
    Ok((
        image.trim().to_string(),
        subject.trim().to_string(),
        expression,
    ))
}
