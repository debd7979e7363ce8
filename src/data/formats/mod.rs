//! Loaders for data a user brings: one module per layout. Each returns a [`Dataset`] of
//! file-backed samples (FER2013's inline pixels are decoded at once) with subject and
//! expression labels where the layout has them.

pub mod ckplus;
pub mod fer2013;
pub mod jaffe;
pub mod manifest;
pub mod orl;
pub mod oulu;

use std::path::{Path, PathBuf};

use super::error::{DataError, Result};
use super::Dataset;

/// The layouts facemtl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Manifest,
    Orl,
    Jaffe,
    CkPlus,
    Oulu,
    Fer2013,
}

impl Format {
    pub const NAMES: &'static str = "manifest, orl, jaffe, ck+, oulu, fer2013";

    pub fn parse(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "manifest" | "csv" => Format::Manifest,
            "orl" | "att" => Format::Orl,
            "jaffe" => Format::Jaffe,
            "ck+" | "ckplus" | "ck" => Format::CkPlus,
            "oulu" | "oulu-casia" => Format::Oulu,
            "fer2013" => Format::Fer2013,
            _ => return None,
        })
    }

    /// Loads `path` in this layout, images resized to `size` x `size`. With `skip_bad`,
    /// unreadable entries become warnings in [`Dataset::skipped`].
    pub fn load(self, path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
        if !path.exists() {
            return Err(DataError::io(path, "no such file or folder"));
        }
        let dataset = match self {
            Format::Manifest => manifest::load(path, size, skip_bad),
            Format::Orl => orl::load(path, size, skip_bad),
            Format::Jaffe => jaffe::load(path, size, skip_bad),
            Format::CkPlus => ckplus::load(path, size, skip_bad),
            Format::Oulu => oulu::load(path, size, skip_bad),
            Format::Fer2013 => fer2013::load(path, size, skip_bad),
        }?;
        dataset.check_usable(&path.display().to_string())?;
        Ok(dataset)
    }
}

const IMAGE_EXTENSIONS: [&str; 11] = [
    "png", "jpg", "jpeg", "pgm", "pnm", "ppm", "pbm", "tif", "tiff", "gif", "bmp",
];

/// Whether `path` has an image file extension.
pub(crate) fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Entries of a folder, sorted by name.
pub(crate) fn list_dir(path: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(path)
        .map_err(|e| DataError::io(path, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| DataError::io(path, e)))
        .collect::<Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// Every file below `path`, depth first, sorted.
pub(crate) fn walk_files(path: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in list_dir(path)? {
        if entry.is_dir() {
            files.extend(walk_files(&entry)?);
        } else {
            files.push(entry);
        }
    }
    Ok(files)
}

/// The file name as text (lossy).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
