//! Face data: the built-in synthetic faces, loaders for the standard datasets, image
//! preprocessing (`image`: decoding, colour, standardisation; `align`: the face cut out by
//! its landmarks or box) and augmentation, the paper's subject-independent protocol, and
//! batches assembled off the training thread.

pub mod align;
pub mod augment;
pub mod batches;
pub(crate) mod csv;
mod error;
pub mod expression;
pub mod formats;
pub mod image;
pub mod pairs_file;
pub mod protocol;
pub mod synthetic;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fnv::Fnv1a;

pub use error::{DataError, Result, Skipped};
pub use expression::Expression;

/// Where a sample's pixels come from.
#[derive(Debug, Clone)]
pub enum Pixels {
    /// Already decoded and standardised, `size * size` values.
    Ready(Arc<[f32]>),
    /// An image file, decoded when needed.
    File(PathBuf),
    /// An image file, decoded and standardised once and kept.
    Cached(PathBuf, Arc<[f32]>),
}

impl Pixels {
    /// The image file behind the pixels, if any.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Pixels::Ready(_) => None,
            Pixels::File(path) | Pixels::Cached(path, _) => Some(path),
        }
    }
}

/// A digest of the files behind `dataset` as they are on disk now: every image file's
/// name, size and modification time, and those of `source` (a manifest or CSV) when it is a
/// file; None for data made in memory. Cheap (no file is read): it tells that files were
/// changed, replaced, added or removed since a run recorded it, not what changed.
pub fn files_digest(dataset: &Dataset, source: Option<&Path>) -> Option<String> {
    let files: Vec<&Path> = source
        .filter(|p| p.is_file())
        .into_iter()
        .chain(dataset.samples.iter().filter_map(|s| s.pixels.file()))
        .collect();
    if files.is_empty() {
        return None;
    }
    let mut hash = Fnv1a::default();
    for file in files {
        hash.eat(file.as_os_str().as_encoded_bytes());
        let meta = std::fs::metadata(file).ok();
        hash.eat(&meta.as_ref().map_or(u64::MAX, |m| m.len()).to_le_bytes());
        let modified = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(u128::MAX, |d| d.as_nanos());
        hash.eat(&modified.to_le_bytes());
    }
    Some(hash.hex())
}

/// A 64-bit FNV-1a hash of an image's pixel bits.
fn pixel_hash(pixels: &[f32]) -> u64 {
    let mut hash = Fnv1a::default();
    for v in pixels {
        hash.eat(&v.to_bits().to_le_bytes());
    }
    hash.finish()
}

/// Position of a frame in a video sequence (CK+, Oulu-CASIA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub index: usize,
    pub count: usize,
}

/// One labelled image. Either label may be missing: a sample takes part only in the tasks
/// it is labelled for.
#[derive(Debug, Clone)]
pub struct Sample {
    pub pixels: Pixels,
    /// Index into [`Dataset::subjects`].
    pub subject: Option<usize>,
    pub expression: Option<Expression>,
    pub frame: Option<Frame>,
    /// A verification reference: a neutral face, a sequence's first frame, or (for
    /// identity-only sets) a subject's first image.
    pub reference: bool,
    /// Where the face is in the image (a manifest's landmarks or box; else the centre).
    pub region: align::FaceRegion,
    /// File (and line) it came from, for messages.
    pub origin: String,
    /// The data set's own split, where it has one (FER2013's Usage column): which side of
    /// it the sample is on. Data with one is split as it says, not into folds.
    pub usage: Option<Usage>,
}

/// A side of a data set's official split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Trained on (FER2013's "Training").
    Train,
    /// Validation (FER2013's "PublicTest").
    Validation,
    /// Tested once (FER2013's "PrivateTest").
    Test,
}

/// A loaded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub samples: Vec<Sample>,
    /// Subject names; samples refer to them by index.
    pub subjects: Vec<String>,
    /// Side of the square network input.
    pub image_size: usize,
    /// The network input's colour: a sample's pixels are `channels x size x size`.
    pub color: image::Color,
    /// Added on each side of a face box (a share of its larger side).
    pub crop_margin: f32,
    /// How image files' pixels are scaled (built-in and FER2013 pixels are always
    /// standardised per image).
    pub standardization: image::Standardization,
    /// How a face box is cut out.
    pub box_crop: align::BoxCrop,
    /// What `--skip-bad` skipped while loading.
    pub skipped: Vec<String>,
}

impl Default for Dataset {
    fn default() -> Dataset {
        Dataset {
            samples: Vec::new(),
            subjects: Vec::new(),
            image_size: 0,
            color: image::Color::Gray,
            crop_margin: image::DEFAULT_CROP_MARGIN,
            standardization: image::Standardization::PerImage,
            box_crop: align::BoxCrop::Square,
            skipped: Vec::new(),
        }
    }
}

impl Dataset {
    /// The expression classes present, in [`Expression::ALL`] order: label i of the FER
    /// head is `expression_classes()[i]`.
    pub fn expression_classes(&self) -> Vec<Expression> {
        Expression::ALL
            .into_iter()
            .filter(|e| self.samples.iter().any(|s| s.expression == Some(*e)))
            .collect()
    }

    /// Decoded, standardised pixels of sample `i`, `[channels, size, size]`: a grayscale
    /// image in memory given as many copies as the colour has channels.
    pub fn pixels(&self, i: usize) -> Result<Arc<[f32]>> {
        let plane = self.image_size * self.image_size;
        let sample = &self.samples[i];
        match &sample.pixels {
            Pixels::Ready(p) | Pixels::Cached(_, p) if p.len() == plane * self.color.channels() => {
                Ok(Arc::clone(p))
            }
            Pixels::Ready(p) | Pixels::Cached(_, p) => Ok(image::as_color(p, self.color).into()),
            Pixels::File(path) => {
                let how = image::Preprocess {
                    size: self.image_size,
                    color: self.color,
                    crop_margin: self.crop_margin,
                    standardization: self.standardization,
                    box_crop: self.box_crop,
                };
                image::load_face(path, &sample.region, &how)
                    .map(Into::into)
                    .map_err(|e| match e {
                        // A face region that does not fit the image: name the row too.
                        error::DataError::Layout { path, message } => error::DataError::Layout {
                            path,
                            message: format!("{message} (from {})", sample.origin),
                        },
                        e => e,
                    })
            }
        }
    }

    /// Decodes every file-backed sample now if all of them fit in `budget_bytes`, so
    /// training never waits on decoding; otherwise they stay on disk and the batch
    /// thread decodes them as needed.
    pub fn cache_if_fits(&mut self, budget_bytes: usize, skip_bad: bool) -> Result<()> {
        let bytes =
            self.samples.len() * self.color.channels() * self.image_size * self.image_size * 4;
        if bytes > budget_bytes {
            return Ok(());
        }
        let mut skipped = Skipped::default();
        let mut kept = Vec::with_capacity(self.samples.len());
        for (i, sample) in self.samples.iter().enumerate() {
            if let Some(p) = skipped.handle(skip_bad, self.pixels(i))? {
                let pixels = match &sample.pixels {
                    Pixels::File(path) => Pixels::Cached(path.clone(), p),
                    _ => Pixels::Ready(p),
                };
                kept.push(Sample {
                    pixels,
                    ..sample.clone()
                });
            }
        }
        self.samples = kept;
        self.skipped.extend(skipped.problems);
        Ok(())
    }

    /// Finds images listed twice: the same file (after resolving the path) or the same
    /// decoded pixels under another name. A copy can land on both sides of a split and be
    /// scored as unseen, so copies are an error naming the rows, or, with `skip_bad`,
    /// the later copies are dropped and counted in [`Dataset::skipped`].
    pub fn refuse_duplicates(&mut self, skip_bad: bool) -> Result<()> {
        let mut by_path: HashMap<PathBuf, usize> = HashMap::new();
        let mut by_pixels: HashMap<u64, usize> = HashMap::new();
        let mut copies: Vec<(usize, usize, &str)> = Vec::new();
        for i in 0..self.samples.len() {
            if let Some(file) = self.samples[i].pixels.file() {
                let key = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
                if let Some(&first) = by_path.get(&key) {
                    copies.push((i, first, "the same file"));
                    continue;
                }
                by_path.insert(key, i);
            }
            let hash = pixel_hash(&self.pixels(i)?);
            match by_pixels.get(&hash) {
                Some(&first) if self.pixels(first)? == self.pixels(i)? => {
                    copies.push((i, first, "the same pixels"))
                }
                Some(_) => {}
                None => {
                    by_pixels.insert(hash, i);
                }
            }
        }
        if copies.is_empty() {
            return Ok(());
        }
        let name = |i: usize| {
            let s = &self.samples[i];
            match s.pixels.file() {
                Some(file) if !s.origin.starts_with(&file.display().to_string()) => {
                    format!("{} ({})", s.origin, file.display())
                }
                _ => s.origin.clone(),
            }
        };
        let describe = |&(copy, first, how): &(usize, usize, &str)| {
            format!("{} repeats {} ({how})", name(copy), name(first))
        };
        if !skip_bad {
            let shown: Vec<String> = copies.iter().take(3).map(describe).collect();
            let more = copies.len().saturating_sub(3);
            return Err(DataError::Unusable(format!(
                "{} image(s) listed twice: {}{}; a copy can fall on both sides of a split and be scored as unseen. Remove the copies, or pass --skip-bad to drop the later ones",
                copies.len(),
                shown.join("; "),
                if more > 0 { format!("; and {more} more") } else { String::new() }
            )));
        }
        let dropped: Vec<usize> = copies.iter().map(|c| c.0).collect();
        let warnings: Vec<String> = copies
            .iter()
            .map(|c| format!("dropped: {}", describe(c)))
            .collect();
        let mut index = 0;
        self.samples.retain(|_| {
            index += 1;
            !dropped.contains(&(index - 1))
        });
        self.skipped.extend(warnings);
        Ok(())
    }

    /// Says on stderr how many entries `--skip-bad` skipped, and the first (nothing when
    /// none was).
    pub fn warn_skipped(&self) {
        if let Some(first) = self.skipped.first() {
            crate::note!(
                "facemtl: warning: skipped {} bad entries (--skip-bad); first: {first}",
                self.skipped.len()
            );
        }
    }

    /// Fails with a clear message when there is nothing to train on.
    pub fn check_usable(&self, source: &str) -> Result<()> {
        if self.samples.is_empty() {
            return Err(DataError::Unusable(format!("{source}: no images found")));
        }
        if self
            .samples
            .iter()
            .all(|s| s.subject.is_none() && s.expression.is_none())
        {
            return Err(DataError::Unusable(format!(
                "{source}: no image has a subject or an expression label"
            )));
        }
        Ok(())
    }

    /// Adds `name` to the subject list if new; returns its index.
    pub(crate) fn subject_index(&mut self, name: &str) -> usize {
        match self.subjects.iter().position(|s| s == name) {
            Some(i) => i,
            None => {
                self.subjects.push(name.to_string());
                self.subjects.len() - 1
            }
        }
    }
}
