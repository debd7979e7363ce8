//! Loaders for data a user brings: one module per layout. Each returns a [`Dataset`] of
//! file-backed samples (FER2013's inline pixels are decoded at once) with subject and
//! expression labels where the layout has them.

pub mod ckplus;
pub mod fer2013;
pub mod folders;
pub mod jaffe;
pub mod manifest;
pub mod orl;
pub mod oulu;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};
use super::Dataset;
use crate::choice::{display_by_name, named, Choice, Named};

/// The layouts facemtl reads (`--format`); saved by name in a run's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A CSV of path,subject,expression (what gen-data writes).
    #[serde(alias = "csv")]
    Manifest,
    /// AT&T/ORL: s1/1.pgm ... (subjects only).
    #[serde(alias = "att")]
    Orl,
    /// JAFFE: KA.HA1.29.tiff ... (subjects and expressions).
    Jaffe,
    /// CK+: cohn-kanade-images/ with Emotion/ labels.
    #[serde(rename = "ck+", alias = "ckplus", alias = "ck")]
    CkPlus,
    /// Oulu-CASIA: subject/expression folders of sequences.
    #[serde(alias = "oulu-casia")]
    Oulu,
    /// FER2013's CSV of emotion,pixels,Usage (expressions only).
    Fer2013,
    /// One folder per person: PERSON/IMAGE, any names (subjects only).
    #[serde(alias = "people")]
    Folders,
}

impl Choice for Format {
    const VALUES: &'static [Named<Self>] = &[
        Named {
            value: Format::Manifest,
            name: "manifest",
            aliases: &["csv"],
            help: "a CSV of path,subject,expression (what gen-data writes)",
        },
        Named {
            value: Format::Orl,
            name: "orl",
            aliases: &["att"],
            help: "AT&T/ORL: s1/1.pgm ... (subjects only)",
        },
        named(
            Format::Jaffe,
            "jaffe",
            "JAFFE: KA.HA1.29.tiff ... (subjects and expressions)",
        ),
        Named {
            value: Format::CkPlus,
            name: "ck+",
            aliases: &["ckplus", "ck"],
            help: "CK+: cohn-kanade-images/ with Emotion/ labels",
        },
        Named {
            value: Format::Oulu,
            name: "oulu",
            aliases: &["oulu-casia"],
            help: "Oulu-CASIA: subject/expression folders of sequences",
        },
        named(
            Format::Fer2013,
            "fer2013",
            "FER2013's CSV of emotion,pixels,Usage (expressions only)",
        ),
        Named {
            value: Format::Folders,
            name: "folders",
            aliases: &["people"],
            help: "one folder per person: PERSON/IMAGE, any names (subjects only)",
        },
    ];
}
display_by_name!(Format);

impl Format {
    /// What this layout looks like, for messages.
    pub fn expected_layout(self) -> &'static str {
        match self {
            Format::Manifest => "a CSV file of path,subject,expression",
            Format::Orl => "subject folders of images, e.g. s1/1.pgm",
            Format::Jaffe => "images named SUBJECT.EXPRESSION<n>.<n>.tiff, e.g. KA.HA1.29.tiff",
            Format::CkPlus => {
                "cohn-kanade-images/S005/001/S005_001_00000001.png, labels in Emotion/S005/001/*_emotion.txt"
            }
            Format::Oulu => {
                "SUBJECT/EXPRESSION/frame folders, e.g. P001/Anger/000.jpeg (expressions: Anger, Disgust, Fear, Happiness, Sadness, Surprise)"
            }
            Format::Fer2013 => "a CSV file of emotion,pixels,Usage",
            Format::Folders => "one folder of images per person, e.g. alice/1.jpg",
        }
    }

    /// Loads `path` in this layout, images resized to `size` x `size`. With `skip_bad`,
    /// unreadable entries become warnings in [`Dataset::skipped`].
    pub fn load(self, path: &Path, size: usize, skip_bad: bool) -> Result<Dataset> {
        if !path.exists() {
            return Err(DataError::io(path, "no such file or folder"));
        }
        let reads_a_file = matches!(self, Format::Manifest | Format::Fer2013);
        let owned;
        let path = match (reads_a_file, path.is_dir()) {
            // A gen-data folder (or any folder with a manifest.csv): read its manifest.
            (true, true) if self == Format::Manifest && path.join("manifest.csv").is_file() => {
                owned = path.join("manifest.csv");
                owned.as_path()
            }
            (true, true) => {
                return Err(DataError::layout(
                    path,
                    format!(
                        "is a folder; --format {} reads a CSV file{}",
                        self.name(),
                        if self == Format::Manifest {
                            " (a folder works when it holds manifest.csv, as gen-data writes)"
                        } else {
                            ""
                        }
                    ),
                ))
            }
            (false, false) => {
                return Err(DataError::layout(
                    path,
                    format!(
                        "is a file; --format {} reads a folder{}",
                        self.name(),
                        if path
                            .extension()
                            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
                        {
                            " (for a CSV of path,subject,expression use --format manifest)"
                        } else {
                            ""
                        }
                    ),
                ))
            }
            _ => path,
        };
        let expected = || {
            format!(
                "--format {} expects {}",
                self.name(),
                self.expected_layout()
            )
        };
        let dataset = match self {
            Format::Manifest => manifest::load(path, size, skip_bad),
            Format::Orl => orl::load(path, size, skip_bad),
            Format::Jaffe => jaffe::load(path, size, skip_bad),
            Format::CkPlus => ckplus::load(path, size, skip_bad),
            Format::Oulu => oulu::load(path, size, skip_bad),
            Format::Fer2013 => fer2013::load(path, size, skip_bad),
            Format::Folders => folders::load(path, size),
        }
        .map_err(|e| match e {
            DataError::Layout { path, message } => DataError::Layout {
                path,
                message: format!("{message} ({})", expected()),
            },
            e => e,
        })?;
        if dataset.samples.is_empty() && path.is_dir() {
            let found = walk_files(path)?
                .into_iter()
                .find(|p| is_image(p))
                .map_or("no image file at all".to_string(), |p| {
                    format!("images such as {}, which do not fit it", p.display())
                });
            return Err(DataError::layout(
                path,
                format!(
                    "no images in the expected layout: {}; found {found}",
                    expected()
                ),
            ));
        }
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

/// Adds `images` of one person, `name`, to `dataset` as identity-only samples, the first
/// being the person's verification reference (the ORL and one-folder-per-person layouts).
pub(crate) fn push_person(dataset: &mut Dataset, name: &str, images: Vec<PathBuf>) {
    let subject = dataset.subject_index(name);
    for (k, image) in images.into_iter().enumerate() {
        dataset.samples.push(crate::data::Sample {
            origin: image.display().to_string(),
            usage: None,
            pixels: crate::data::Pixels::File(image),
            subject: Some(subject),
            expression: None,
            frame: None,
            reference: k == 0,
            region: crate::data::align::FaceRegion::Centre,
        });
    }
}

/// The file name as text (lossy).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
