//! One folder per person: `PERSON/IMAGE` (any names), identity labels only; each person's
//! first image (in name order) is their verification reference. The layout people keep
//! their own photos in, and what `identify --gallery DIR` enrols.

use std::path::Path;

use super::{file_name, is_image, list_dir};
use crate::data::error::Result;
use crate::data::{Dataset, Pixels, Sample};

pub fn load(path: &Path, size: usize) -> Result<Dataset> {
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    for folder in list_dir(path)?.into_iter().filter(|p| p.is_dir()) {
        let images: Vec<_> = list_dir(&folder)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect();
        if images.is_empty() {
            continue;
        }
        let subject = dataset.subject_index(&file_name(&folder));
        for (k, image) in images.into_iter().enumerate() {
            dataset.samples.push(Sample {
                origin: image.display().to_string(),
                pixels: Pixels::File(image),
                subject: Some(subject),
                expression: None,
                frame: None,
                reference: k == 0,
                region: crate::data::align::FaceRegion::Centre,
            });
        }
    }
    Ok(dataset)
}
