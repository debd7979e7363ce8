//! Seeded training-time augmentation of standardised square images: random shift, mirror,
//! small rotation (one bilinear resampling pass), then brightness and contrast.

use rand::rngs::StdRng;
use rand::Rng;

use crate::choice::{display_by_name, named, Choice, Named};

/// The augmentation levels `--augment` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AugmentLevel {
    /// The images as they are.
    None,
    /// Mirror left-right half the time.
    Flips,
    /// Shift, mirror, rotation, brightness and contrast.
    Full,
}

impl Choice for AugmentLevel {
    const VALUES: &'static [Named<Self>] = &[
        named(AugmentLevel::None, "none", "the images as they are"),
        named(
            AugmentLevel::Flips,
            "flips",
            "mirror left-right half the time",
        ),
        named(
            AugmentLevel::Full,
            "full",
            "shift, mirror, rotation, brightness and contrast",
        ),
    ];
}
display_by_name!(AugmentLevel);

/// Augmentation strengths; zero turns a part off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// Largest shift, as a fraction of the image side.
    pub max_shift: f32,
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// Largest rotation, in degrees.
    pub max_rotation_deg: f32,
    /// Largest offset added (on the standardised scale).
    pub brightness: f32,
    /// Largest relative contrast change.
    pub contrast: f32,
}

impl Augmentation {
    pub const NONE: Augmentation = Augmentation {
        max_shift: 0.0,
        flip: false,
        max_rotation_deg: 0.0,
        brightness: 0.0,
        contrast: 0.0,
    };

    /// Mirroring only.
    pub const FLIPS: Augmentation = Augmentation {
        flip: true,
        ..Augmentation::NONE
    };

    /// Shift, mirror, rotation, brightness and contrast.
    pub const FULL: Augmentation = Augmentation {
        max_shift: 0.06,
        flip: true,
        max_rotation_deg: 8.0,
        brightness: 0.2,
        contrast: 0.15,
    };

    /// The strengths of a named level.
    pub fn of(level: AugmentLevel) -> Augmentation {
        match level {
            AugmentLevel::None => Augmentation::NONE,
            AugmentLevel::Flips => Augmentation::FLIPS,
            AugmentLevel::Full => Augmentation::FULL,
        }
    }

    /// A new augmented copy of `pixels` (planes of `size` x `size`, channel-major): one
    /// draw of the transform, the same for every plane.
    pub fn apply(&self, pixels: &[f32], size: usize, rng: &mut StdRng) -> Vec<f32> {
        let draw = |rng: &mut StdRng, limit: f32| {
            if limit > 0.0 {
                rng.random_range(-limit..=limit)
            } else {
                0.0
            }
        };
        let shift = (
            draw(rng, self.max_shift) * size as f32,
            draw(rng, self.max_shift) * size as f32,
        );
        let angle = draw(rng, self.max_rotation_deg).to_radians();
        let flip = self.flip && rng.random_bool(0.5);
        let offset = draw(rng, self.brightness);
        let gain = 1.0 + draw(rng, self.contrast);
        let (sin, cos) = angle.sin_cos();
        let c = (size as f32 - 1.0) / 2.0;
        let mut out = Vec::with_capacity(pixels.len());
        for plane in pixels.chunks(size * size) {
            let at = |x: isize, y: isize| {
                let clamp = |v: isize| v.clamp(0, size as isize - 1) as usize;
                plane[clamp(y) * size + clamp(x)]
            };
            for y in 0..size {
                for x in 0..size {
                    // Output pixel -> source position: undo the shift, the rotation, the mirror.
                    let (dx, dy) = (x as f32 - c - shift.0, y as f32 - c - shift.1);
                    let mut sx = cos * dx + sin * dy;
                    let sy = -sin * dx + cos * dy + c;
                    if flip {
                        sx = -sx;
                    }
                    let sx = sx + c;
                    let (x0, y0) = (sx.floor(), sy.floor());
                    let (fx, fy) = (sx - x0, sy - y0);
                    let (x0, y0) = (x0 as isize, y0 as isize);
                    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                    out.push((top * (1.0 - fy) + bottom * fy) * gain + offset);
                }
            }
        }
        out
    }
}
