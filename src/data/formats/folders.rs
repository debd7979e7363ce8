//! One folder per person: `PERSON/IMAGE` (any names), identity labels only; each person's
//! first image (in name order) is their verification reference. The layout people keep
//! their own photos in, and what `identify --gallery DIR` enrols.

use std::path::Path;

use super::{file_name, is_image, list_dir, push_person};
use crate::data::error::Result;
use crate::data::Dataset;

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
        push_person(&mut dataset, &file_name(&folder), images);
    }
    Ok(dataset)
}
