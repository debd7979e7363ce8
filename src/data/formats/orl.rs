//! The ORL / AT&T layout: `sN/M.pgm`, subject `sN`, identity labels only; each subject's
//! first image (`1.pgm`) is its verification reference.

use std::path::Path;

use super::{file_name, is_image, list_dir, push_person};
use crate::data::error::{DataError, Result, Skipped};
use crate::data::Dataset;

pub fn load(path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
    let mut dataset = Dataset {
        image_size: size,
        ..Dataset::default()
    };
    let mut skipped = Skipped::default();
    let mut folders: Vec<_> = list_dir(path)?.into_iter().filter(|p| p.is_dir()).collect();
    // s1, s2, ..., s10 in numeric order.
    folders.sort_by_key(|p| (subject_number(&file_name(p)), file_name(p)));
    for folder in folders {
        let name = file_name(&folder);
        if skipped
            .handle(skip_bad, check_subject_folder(&folder, &name))?
            .is_none()
        {
            continue;
        }
        let mut images: Vec<_> = list_dir(&folder)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect();
        images.sort_by_key(|p| (image_number(p), file_name(p)));
        push_person(&mut dataset, &name, images);
    }
    dataset.skipped = skipped.problems;
    Ok(dataset)
}

fn subject_number(name: &str) -> Option<u32> {
    name.strip_prefix('s').and_then(|n| n.parse().ok())
}

fn image_number(path: &Path) -> Option<u32> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
}

fn check_subject_folder(folder: &Path, name: &str) -> Result<()> {
    match subject_number(name) {
        Some(_) => Ok(()),
        None => Err(DataError::layout(
            folder,
            "ORL subject folders are named s1, s2, ... (sN)",
        )),
    }
}
