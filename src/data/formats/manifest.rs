//! A manifest CSV: a header line, then `path,subject,expression` per image; either label
//! may be empty; paths are relative to the CSV's folder; expressions by name or code.
//!
//! Optional columns after those three (by name, in any order) say where the face is
//! (`align`): a face box `x,y,w,h` (pixels: left, top, width, height) and/or five landmarks
//! `lex,ley,rex,rey,nx,ny,lmx,lmy,rmx,rmy` (left eye, right eye, nose tip, left and right
//! mouth corner, "left" as seen in the image, pixels with pixel centres at whole numbers).
//! A row may leave a group empty (the next way applies: landmarks, then the box, then
//! the centre square); a group given in part, a value that is not a finite number, or a
//! box without a size is an error naming the line.

use std::path::Path;

use crate::data::align::FaceRegion;
use crate::data::csv::rows;
use crate::data::error::{DataError, Result, Skipped};
use crate::data::{Dataset, Expression, Pixels, Sample};

pub const HEADER: &str = "path,subject,expression";
/// The face box's columns.
pub const BOX_COLUMNS: [&str; 4] = ["x", "y", "w", "h"];
/// The five landmarks' columns.
pub const LANDMARK_COLUMNS: [&str; 10] = [
    "lex", "ley", "rex", "rey", "nx", "ny", "lmx", "lmy", "rmx", "rmy",
];

/// Where each optional group's columns are in a row.
#[derive(Default)]
struct Columns {
    face_box: Option<[usize; 4]>,
    landmarks: Option<[usize; 10]>,
    width: usize,
}

fn columns(path: &Path, line: usize, header: &[String]) -> Result<Columns> {
    let names: Vec<String> = header
        .iter()
        .map(|f| f.trim().to_ascii_lowercase())
        .collect();
    let expected: Vec<&str> = HEADER.split(',').collect();
    if names.len() < 3 || names[..3] != expected[..] {
        return Err(DataError::parse(
            path,
            line,
            format!(
                "expected the header {HEADER:?} (then optionally {} and/or {}), found {:?}",
                BOX_COLUMNS.join(","),
                LANDMARK_COLUMNS.join(","),
                header.join(",")
            ),
        ));
    }
    let find = |column: &str| names.iter().position(|n| n == column);
    if let Some(unknown) = names[3..]
        .iter()
        .find(|n| !BOX_COLUMNS.contains(&n.as_str()) && !LANDMARK_COLUMNS.contains(&n.as_str()))
    {
        return Err(DataError::parse(
            path,
            line,
            format!("unknown column {unknown:?}: after path,subject,expression a manifest takes {} and {}", BOX_COLUMNS.join(","), LANDMARK_COLUMNS.join(",")),
        ));
    }
    let group = |group: &[&str]| -> Result<Option<Vec<usize>>> {
        let found: Vec<Option<usize>> = group.iter().map(|c| find(c)).collect();
        match found.iter().filter(|f| f.is_some()).count() {
            0 => Ok(None),
            n if n == group.len() => Ok(Some(found.into_iter().flatten().collect())),
            _ => Err(DataError::parse(
                path,
                line,
                format!(
                    "the header names only some of the columns {}: give all of them or none",
                    group.join(",")
                ),
            )),
        }
    };
    Ok(Columns {
        face_box: group(&BOX_COLUMNS)?.map(|v| v.try_into().expect("4 columns")),
        landmarks: group(&LANDMARK_COLUMNS)?.map(|v| v.try_into().expect("10 columns")),
        width: names.len(),
    })
}

pub fn load(path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    let mut skipped = Skipped::default();
    let mut records = rows(path)?;
    let columns = match records.next().transpose()? {
        Some((line, header)) => columns(path, line, &header)?,
        None => {
            return Err(DataError::Unusable(format!(
                "{}: the manifest is empty",
                path.display()
            )))
        }
    };
    for record in records {
        let row = record.and_then(|(line, fields)| {
            parse_row(path, line, &columns, fields).map(|parsed| (line, parsed))
        });
        let Some((line, row)) = skipped.handle(skip_bad, row)? else {
            continue;
        };
        let subject = (!row.subject.is_empty()).then(|| dataset.subject_index(&row.subject));
        let file = base.join(&row.image);
        dataset.samples.push(Sample {
            pixels: Pixels::File(file),
            subject,
            expression: row.expression,
            frame: None,
            reference: row.expression == Some(Expression::Neutral),
            region: row.region,
            origin: format!("{}:{line}", path.display()),
            usage: None,
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

/// One row of a manifest.
struct Row {
    image: String,
    subject: String,
    expression: Option<Expression>,
    region: FaceRegion,
}

/// The numbers of one optional group of `fields` (None when every one is empty).
fn numbers<const N: usize>(
    path: &Path,
    line: usize,
    fields: &[String],
    at: &[usize; N],
    names: &[&str; N],
) -> Result<Option<[f32; N]>> {
    let texts: Vec<&str> = at.iter().map(|&k| fields[k].trim()).collect();
    if texts.iter().all(|t| t.is_empty()) {
        return Ok(None);
    }
    let mut values = [0.0f32; N];
    for (k, text) in texts.iter().enumerate() {
        let value: Option<f32> = text.parse().ok().filter(|v: &f32| v.is_finite());
        values[k] = value.ok_or_else(|| {
            let what = if text.is_empty() {
                format!(
                    "{} is empty while others of {} are given",
                    names[k],
                    names.join(",")
                )
            } else {
                format!("{} is {text:?}, not a finite number", names[k])
            };
            DataError::parse(path, line, what)
        })?;
    }
    Ok(Some(values))
}

fn parse_row(path: &Path, line_no: usize, columns: &Columns, fields: Vec<String>) -> Result<Row> {
    if fields.len() != columns.width {
        return Err(DataError::parse(
            path,
            line_no,
            format!(
                "expected {} fields, as the header names, found {}",
                columns.width,
                fields.len()
            ),
        ));
    }
    let (image, subject, expression) = (&fields[0], &fields[1], &fields[2]);
    if image.trim().is_empty() {
        return Err(DataError::parse(path, line_no, "the image path is empty"));
    }
    let expression = match expression.trim() {
        "" => None,
        text => Some(Expression::parse(text).ok_or_else(|| {
            DataError::parse(path, line_no, format!("unknown expression {text:?} (use a name such as happiness, or a code such as HA)"))
        })?),
    };
    let face_box = match &columns.face_box {
        Some(at) => numbers(path, line_no, &fields, at, &BOX_COLUMNS)?,
        None => None,
    };
    if let Some([_, _, w, h]) = face_box {
        if !(w > 0.0 && h > 0.0) {
            return Err(DataError::parse(
                path,
                line_no,
                format!("the face box is {w} x {h}: w and h must be above 0"),
            ));
        }
    }
    let landmarks = match &columns.landmarks {
        Some(at) => numbers(path, line_no, &fields, at, &LANDMARK_COLUMNS)?,
        None => None,
    };
    let points = landmarks.map(|l| {
        [
            [l[0], l[1]],
            [l[2], l[3]],
            [l[4], l[5]],
            [l[6], l[7]],
            [l[8], l[9]],
        ]
    });
    let region = match (points, face_box) {
        (Some(points), Some(face_box)) => FaceRegion::LandmarksAndBox { points, face_box },
        (Some(points), None) => FaceRegion::Landmarks(points),
        (None, Some([x, y, w, h])) => FaceRegion::Box { x, y, w, h },
        (None, None) => FaceRegion::Centre,
    };
    Ok(Row {
        image: image.trim().to_string(),
        subject: subject.trim().to_string(),
        expression,
        region,
    })
}
