//! The built-in synthetic faces: procedural grayscale faces with a stable identity per
//! subject (head shape, eyes, brows, nose, mouth, hair, skin, marks, glasses, beard) and the
//! seven basic expressions as deformations of it (mouth curve and opening, brow raise and
//! tilt, eye openness, nose wrinkle) at a per-image intensity, under per-image nuisance
//! (shift, scale, rotation, lighting gradient, noise, blur). Deterministic from a seed.
//!
//! Difficulty is tunable: `identity_spread` below 1 makes subjects alike (harder face
//! recognition), `expression_strength` below 1 makes expressions subtle (harder expression
//! recognition), `nuisance` scales pose, lighting and noise.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{image, Dataset, Expression, Pixels, Sample};

/// What to generate: one set of settings, used by `gen-data`, by `train` (as its data
/// source, stored in the run's config) and by the tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    /// Synthetic subjects (at least 2).
    pub subjects: usize,
    /// Synthetic images per subject and expression (at least 1).
    pub images_per_expression: usize,
    /// Side of the square images (for `train`, the network's input).
    #[serde(skip, default = "default_size")]
    pub size: usize,
    /// Seed of the synthetic faces.
    pub seed: u64,
    /// Variety between synthetic subjects, in [0, 10] (smaller: harder face recognition).
    pub identity_spread: f32,
    /// Strength of synthetic expressions, in [0, 10] (smaller: harder expression
    /// recognition).
    pub expression_strength: f32,
    /// Pose, lighting and noise of synthetic images, in [0, 10] (0: none).
    pub nuisance: f32,
}

/// The memory the built-in faces may take.
pub const MEMORY_BUDGET: usize = 8 << 30;

impl SyntheticConfig {
    /// Fails when its images, `size` x `size`, would take more than [`MEMORY_BUDGET`]
    /// (the error says how much they would take; the caller adds which flags to change).
    pub fn check_memory(&self, size: usize) -> std::result::Result<(), String> {
        let count = self
            .subjects
            .saturating_mul(7)
            .saturating_mul(self.images_per_expression);
        let bytes = (count as u128) * (size as u128).pow(2) * 4;
        if bytes > MEMORY_BUDGET as u128 {
            return Err(format!(
                "{count} images of {size}x{size} would need {:.1} GiB of memory (limit {:.0} GiB)",
                bytes as f64 / (1u64 << 30) as f64,
                MEMORY_BUDGET as f64 / (1u64 << 30) as f64
            ));
        }
        Ok(())
    }
}

fn default_size() -> usize {
    SyntheticConfig::default().size
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            subjects: 40,
            images_per_expression: 4,
            size: 48,
            seed: 1,
            identity_spread: 1.0,
            expression_strength: 1.5,
            nuisance: 0.5,
        }
    }
}

/// A subject's stable appearance, in face coordinates (x right, y down, head ~[-0.75, 0.9]).
#[derive(Debug, Clone)]
struct Identity {
    head_w: f32,
    head_h: f32,
    chin: f32,
    skin: f32,
    eye_y: f32,
    eye_dx: f32,
    eye_w: f32,
    eye_h: f32,
    iris: f32,
    brow_gap: f32,
    brow_len: f32,
    brow_thick: f32,
    brow_arch: f32,
    brow_dark: f32,
    nose_len: f32,
    nose_w: f32,
    mouth_y: f32,
    mouth_w: f32,
    lip_t: f32,
    lip_dark: f32,
    hairline: f32,
    hair_curve: f32,
    hair_tone: f32,
    long_hair: bool,
    glasses: bool,
    beard: f32,
    moles: Vec<(f32, f32, f32)>,
    texture: [(f32, f32, f32); 3],
}

/// Draws around `mean` with half-width `half * spread`.
fn around(rng: &mut StdRng, mean: f32, half: f32, spread: f32) -> f32 {
    mean + rng.random_range(-1.0f32..=1.0) * half * spread
}

impl Identity {
    fn random(rng: &mut StdRng, spread: f32) -> Identity {
        let s = spread;
        Identity {
            head_w: around(rng, 0.66, 0.08, s),
            head_h: around(rng, 0.86, 0.06, s),
            chin: around(rng, 0.35, 0.2, s),
            skin: around(rng, 0.62, 0.16, s),
            eye_y: around(rng, -0.12, 0.06, s),
            eye_dx: around(rng, 0.27, 0.05, s),
            eye_w: around(rng, 0.105, 0.025, s),
            eye_h: around(rng, 0.055, 0.015, s),
            iris: around(rng, 0.25, 0.15, s),
            brow_gap: around(rng, 0.13, 0.03, s),
            brow_len: around(rng, 0.14, 0.03, s),
            brow_thick: around(rng, 0.035, 0.015, s),
            brow_arch: around(rng, 0.03, 0.025, s),
            brow_dark: around(rng, 0.22, 0.12, s),
            nose_len: around(rng, 0.24, 0.06, s),
            nose_w: around(rng, 0.09, 0.025, s),
            mouth_y: around(rng, 0.43, 0.05, s),
            mouth_w: around(rng, 0.22, 0.05, s),
            lip_t: around(rng, 0.03, 0.012, s),
            lip_dark: around(rng, 0.7, 0.1, s),
            hairline: around(rng, -0.5, 0.14, s),
            hair_curve: around(rng, 0.0, 0.3, s),
            hair_tone: around(rng, 0.3, 0.25, s),
            long_hair: rng.random_bool((0.35 * s as f64).clamp(0.0, 1.0)),
            glasses: rng.random_bool((0.25 * s as f64).clamp(0.0, 1.0)),
            beard: if rng.random_bool((0.2 * s as f64).clamp(0.0, 1.0)) {
                rng.random_range(0.3..0.8)
            } else {
                0.0
            },
            moles: (0..rng.random_range(0..=(3.0 * s).round() as u32))
                .map(|_| {
                    (
                        rng.random_range(-0.45..0.45),
                        rng.random_range(-0.2..0.6),
                        rng.random_range(0.012..0.025),
                    )
                })
                .collect(),
            texture: [0; 3].map(|_| {
                (
                    rng.random_range(2.0..6.0),
                    rng.random_range(2.0..6.0),
                    rng.random_range(0.0..std::f32::consts::TAU),
                )
            }),
        }
    }
}

/// How an expression deforms the face, at intensity 1.
#[derive(Debug, Clone, Copy, Default)]
struct Deformation {
    /// Corners up (> 0, smile) or down (< 0).
    mouth_curve: f32,
    mouth_open: f32,
    mouth_width: f32,
    teeth: f32,
    /// One-sided upper-lip raise (disgust).
    lip_raise: f32,
    brow_raise: f32,
    /// Inner brow ends up (> 0: sadness, fear) or down (< 0: anger).
    brow_tilt: f32,
    /// Eye openness change: > 0 wide, < 0 narrowed.
    eye_open: f32,
    nose_wrinkle: f32,
}

fn deformation(expression: Expression) -> Deformation {
    let d = Deformation::default();
    match expression {
        Expression::Neutral | Expression::Contempt => d,
        Expression::Happiness => Deformation {
            mouth_curve: 1.0,
            mouth_open: 0.35,
            mouth_width: 0.25,
            teeth: 1.0,
            eye_open: -0.35,
            ..d
        },
        Expression::Sadness => Deformation {
            mouth_curve: -0.8,
            mouth_width: -0.1,
            brow_tilt: 0.9,
            brow_raise: 0.1,
            eye_open: -0.2,
            ..d
        },
        Expression::Surprise => Deformation {
            mouth_open: 1.0,
            mouth_width: -0.3,
            brow_raise: 1.0,
            eye_open: 0.7,
            ..d
        },
        Expression::Anger => Deformation {
            mouth_curve: -0.35,
            mouth_width: -0.15,
            brow_tilt: -1.0,
            brow_raise: -0.45,
            eye_open: -0.15,
            ..d
        },
        Expression::Disgust => Deformation {
            mouth_curve: -0.45,
            lip_raise: 1.0,
            brow_tilt: -0.4,
            brow_raise: -0.25,
            eye_open: -0.45,
            nose_wrinkle: 1.0,
            ..d
        },
        Expression::Fear => Deformation {
            mouth_curve: -0.2,
            mouth_open: 0.55,
            mouth_width: 0.2,
            brow_raise: 0.7,
            brow_tilt: 0.7,
            eye_open: 0.55,
            ..d
        },
    }
}

/// Per-image pose, lighting and noise.
#[derive(Debug, Clone, Copy)]
struct Nuisance {
    dx: f32,
    dy: f32,
    scale: f32,
    angle: f32,
    light: (f32, f32),
    background: f32,
    noise: f32,
    blur: bool,
}

impl Nuisance {
    fn random(rng: &mut StdRng, amount: f32) -> Nuisance {
        let a = amount;
        let light_angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let light = rng.random_range(0.0..0.25) * a;
        Nuisance {
            dx: rng.random_range(-0.05..=0.05) * a,
            dy: rng.random_range(-0.05..=0.05) * a,
            scale: 1.0 + rng.random_range(-0.08..=0.08) * a,
            angle: rng.random_range(-0.1..=0.1) * a,
            light: (light * light_angle.cos(), light * light_angle.sin()),
            background: 0.5 + rng.random_range(-0.4..=0.4) * a,
            noise: 0.035 * a,
            blur: rng.random_bool((0.2 * a as f64).clamp(0.0, 1.0)),
        }
    }
}

/// Coverage of a shape with signed distance `d` (negative inside), edge `edge` wide.
fn coverage(d: f32, edge: f32) -> f32 {
    (0.5 - d / edge).clamp(0.0, 1.0)
}

/// Approximate signed distance to an axis-aligned ellipse.
fn ellipse(x: f32, y: f32, cx: f32, cy: f32, a: f32, b: f32) -> f32 {
    let (dx, dy) = ((x - cx) / a, (y - cy) / b);
    ((dx * dx + dy * dy).sqrt() - 1.0) * a.min(b)
}

fn mix(base: f32, layer: f32, alpha: f32) -> f32 {
    base + (layer - base) * alpha
}

/// The value of one face point as layers are painted over it, back to front.
struct Canvas {
    value: Option<f32>,
    /// The width of a shape's soft edge.
    edge: f32,
}

impl Canvas {
    /// Paints `value` with coverage `alpha` over what is there (nothing: `value` itself).
    fn paint(&mut self, value: f32, alpha: f32) {
        if alpha > 0.0 {
            self.value = Some(mix(self.value.unwrap_or(value), value, alpha));
        }
    }

    /// Paints `value` over the shape of signed distance `d`.
    fn fill(&mut self, value: f32, d: f32) {
        self.paint(value, coverage(d, self.edge));
    }
}

/// Intensity in [0, 1] of face point (x, y) for one identity and expression.
fn shade(id: &Identity, d: &Deformation, x: f32, y: f32, edge: f32) -> Option<f32> {
    let mut canvas = Canvas { value: None, edge };
    let Some((skin, on_face)) = paint_head(&mut canvas, id, x, y) else {
        return canvas.value;
    };
    for side in [-1.0f32, 1.0] {
        paint_eye(&mut canvas, id, d, side, x, y, skin);
    }
    if id.glasses {
        let bridge =
            (x.abs() - (id.eye_dx - id.eye_w - 0.06)).max((y - id.eye_y + 0.02).abs() - 0.008);
        canvas.fill(0.08, bridge);
    }
    paint_nose(&mut canvas, id, d, x, y, skin);
    paint_mouth(&mut canvas, id, d, x, y, skin);
    for &(mx, my, mr) in &id.moles {
        canvas.paint(
            skin * 0.4,
            coverage(ellipse(x, y, mx, my, mr, mr), edge) * on_face,
        );
    }
    canvas.value
}

/// Hair behind the head, the neck, the head with its chin, the hair above the hairline and
/// the beard: the face's skin tone at (x, y) and how much of the point is face, or None
/// off the face.
fn paint_head(canvas: &mut Canvas, id: &Identity, x: f32, y: f32) -> Option<(f32, f32)> {
    let edge = canvas.edge;
    if id.long_hair {
        let d_hair = ellipse(x, y, 0.0, 0.12, id.head_w + 0.13, id.head_h + 0.1).max(y - 0.75);
        canvas.fill(id.hair_tone, d_hair);
    }
    canvas.fill(id.skin * 0.8, (x.abs() - 0.24).max(0.55 - y));
    let narrowing = if y > 0.0 {
        1.0 - id.chin * (y / id.head_h).powi(2)
    } else {
        1.0
    };
    let d_head = ellipse(x, y, 0.0, 0.0, id.head_w * narrowing.max(0.2), id.head_h);
    let texture: f32 = id
        .texture
        .iter()
        .map(|&(fx, fy, ph)| (fx * x + fy * y + ph).sin())
        .sum::<f32>()
        * 0.015;
    let skin = id.skin * (1.0 - 0.18 * (x / id.head_w).powi(2)) + texture;
    canvas.fill(skin, d_head);
    let on_face = coverage(d_head, edge);
    if on_face <= 0.0 {
        return None;
    }
    let hairline = id.hairline + id.hair_curve * x * x;
    canvas.paint(id.hair_tone, on_face * coverage(y - hairline, edge * 2.0));
    if id.beard > 0.0 {
        let region = coverage(id.mouth_y - 0.06 - y, edge * 3.0);
        canvas.paint(skin * (1.0 - 0.5 * id.beard), on_face * region * id.beard);
    }
    Some((skin, on_face))
}

/// One side's eyebrow (an arched stroke, inner end up or down with the tilt), eye (white,
/// iris, upper lid), glasses ring and nostril; `side` -1 is the image's left.
fn paint_eye(
    canvas: &mut Canvas,
    id: &Identity,
    d: &Deformation,
    side: f32,
    x: f32,
    y: f32,
    skin: f32,
) {
    let edge = canvas.edge;
    let cx = side * id.eye_dx;
    let t = side * (x - cx) / id.brow_len;
    if t.abs() <= 1.0 {
        let cy = id.eye_y - id.brow_gap - 0.09 * d.brow_raise;
        let curve = cy - id.brow_arch * (1.0 - t * t) + 0.08 * d.brow_tilt * (-t);
        canvas.fill(id.brow_dark, (y - curve).abs() - id.brow_thick / 2.0);
    }
    let open = (1.0 + 0.6 * d.eye_open).max(0.15);
    let eh = id.eye_h * open;
    let d_eye = ellipse(x, y, cx, id.eye_y, id.eye_w, eh);
    canvas.fill(0.88, d_eye);
    let r = (eh * 0.95).min(id.eye_w * 0.5);
    canvas.fill(id.iris * 0.5, ellipse(x, y, cx, id.eye_y, r, r).max(d_eye));
    canvas.paint(
        0.1,
        coverage(d_eye.abs() - 0.008, edge) * coverage(y - id.eye_y, edge),
    );
    if id.glasses {
        let ring = ellipse(x, y, cx, id.eye_y, id.eye_w + 0.06, id.eye_h + 0.06).abs() - 0.012;
        canvas.fill(0.08, ring);
    }
    let nostril = ellipse(
        x,
        y,
        side * id.nose_w * 0.55,
        id.eye_y + id.nose_len,
        0.025,
        0.014,
    );
    canvas.fill(skin * 0.45, nostril);
}

/// The nose's two soft side lines from the bridge to the tip, and the wrinkle's creases.
fn paint_nose(canvas: &mut Canvas, id: &Identity, d: &Deformation, x: f32, y: f32, skin: f32) {
    let edge = canvas.edge;
    let nose_top = id.eye_y + 0.05;
    let tip = id.eye_y + id.nose_len;
    if y > nose_top && y < tip {
        let f = (y - nose_top) / (tip - nose_top);
        let half = id.nose_w * (0.35 + 0.65 * f);
        canvas.paint(
            skin * 0.78,
            coverage((x.abs() - half).abs() - 0.01, edge) * f,
        );
    }
    if d.nose_wrinkle > 0.0 {
        for k in 0..3 {
            let cy = nose_top + 0.015 + 0.03 * k as f32;
            let crease = ((y - cy).abs() - 0.006).max(x.abs() - 0.07);
            canvas.paint(
                skin * 0.55,
                coverage(crease, edge) * d.nose_wrinkle.min(1.0),
            );
        }
    }
}

/// The mouth: a curved line whose corners rise or fall, lips around it, an opening, teeth.
fn paint_mouth(canvas: &mut Canvas, id: &Identity, d: &Deformation, x: f32, y: f32, skin: f32) {
    let edge = canvas.edge;
    let half = id.mouth_w * (1.0 + 0.5 * d.mouth_width);
    let u = x / half;
    if u.abs() > 1.15 {
        return;
    }
    let raise = 0.05 * d.lip_raise * (0.5 + 0.5 * u.clamp(-1.0, 1.0));
    let center = id.mouth_y - 0.14 * d.mouth_curve * u * u - raise;
    let opening = 0.16 * d.mouth_open * (1.0 - u * u).max(0.0) + raise * 0.6;
    let lips = (y - (center + opening / 2.0)).abs() - (id.lip_t + opening / 2.0);
    let fade = coverage(u.abs() - 1.0, 0.15);
    canvas.paint(skin * id.lip_dark, coverage(lips, edge) * fade);
    if opening > 0.002 {
        let inside = (y - (center + opening / 2.0)).abs() - opening / 2.0;
        canvas.paint(0.08, coverage(inside, edge) * fade);
        if d.teeth > 0.0 {
            let teeth = (y - (center + opening * 0.25)).abs() - opening * 0.22;
            canvas.paint(
                0.85,
                coverage(teeth.max(inside), edge) * fade * d.teeth.min(1.0),
            );
        }
    }
    canvas.paint(
        skin * id.lip_dark * 0.6,
        coverage((y - center - opening / 2.0).abs() - 0.006, edge) * fade,
    );
}

/// Renders one face at `size` x `size` in [0, 1].
fn render(
    id: &Identity,
    d: &Deformation,
    nuisance: &Nuisance,
    size: usize,
    rng: &mut StdRng,
) -> Vec<f32> {
    let mut pixels = Vec::with_capacity(size * size);
    let (sin, cos) = nuisance.angle.sin_cos();
    let span = 1.12 / nuisance.scale;
    let edge = 2.2 * span / size as f32;
    for py in 0..size {
        for px in 0..size {
            let ix = (px as f32 + 0.5) / size as f32 * 2.0 - 1.0;
            let iy = (py as f32 + 0.5) / size as f32 * 2.0 - 1.0;
            let (tx, ty) = (ix - nuisance.dx, iy - nuisance.dy);
            let x = (cos * tx + sin * ty) * span;
            let y = (-sin * tx + cos * ty) * span - 0.04;
            let background = nuisance.background + 0.1 * ix;
            let face = shade(id, d, x, y, edge).unwrap_or(background);
            let lit = face * (1.0 + nuisance.light.0 * ix + nuisance.light.1 * iy);
            pixels.push(lit);
        }
    }
    if nuisance.blur {
        pixels = box_blur(&pixels, size);
    }
    for p in pixels.iter_mut() {
        let noise: f32 =
            (0..3).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() / 3.0_f32.sqrt();
        *p = (*p + nuisance.noise * noise).clamp(0.0, 1.0);
    }
    pixels
}

/// Where `render` draws the face point (`x`, `y`) (face coordinates) in the image, in
/// pixels with pixel centres at whole numbers: the inverse of its pixel-to-face map.
fn to_pixels(nuisance: &Nuisance, size: usize, x: f32, y: f32) -> [f32; 2] {
    let (sin, cos) = nuisance.angle.sin_cos();
    let span = 1.12 / nuisance.scale;
    let (u, v) = (x / span, (y + 0.04) / span);
    // (u, v) = R (tx, ty) with R = [cos sin; -sin cos], so (tx, ty) = R^T (u, v).
    let (tx, ty) = (cos * u - sin * v, sin * u + cos * v);
    let (ix, iy) = (tx + nuisance.dx, ty + nuisance.dy);
    [
        (ix + 1.0) / 2.0 * size as f32 - 0.5,
        (iy + 1.0) / 2.0 * size as f32 - 0.5,
    ]
}

/// The five landmarks of a rendered face (left eye, right eye, nose tip, left and right
/// mouth corner as seen in the image), in pixels: where its eyes' centres, the tip of its
/// nose and its mouth's corners land under the image's pose.
fn landmarks(id: &Identity, d: &Deformation, nuisance: &Nuisance, size: usize) -> [[f32; 2]; 5] {
    let half = id.mouth_w * (1.0 + 0.5 * d.mouth_width);
    let corner = |u: f32| {
        let raise = 0.05 * d.lip_raise * (0.5 + 0.5 * u);
        id.mouth_y - 0.14 * d.mouth_curve * u * u - raise
    };
    let at = |x: f32, y: f32| to_pixels(nuisance, size, x, y);
    [
        at(-id.eye_dx, id.eye_y),
        at(id.eye_dx, id.eye_y),
        at(0.0, id.eye_y + id.nose_len),
        at(-half, corner(-1.0)),
        at(half, corner(1.0)),
    ]
}

fn box_blur(pixels: &[f32], size: usize) -> Vec<f32> {
    let at = |x: isize, y: isize| {
        pixels[(y.clamp(0, size as isize - 1) as usize) * size
            + x.clamp(0, size as isize - 1) as usize]
    };
    (0..size * size)
        .map(|i| {
            let (x, y) = ((i % size) as isize, (i / size) as isize);
            (-1..=1)
                .flat_map(|dy| (-1..=1).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| at(x + dx, y + dy))
                .sum::<f32>()
                / 9.0
        })
        .collect()
}

/// One rendered image, in [0, 1], with its labels.
pub struct SyntheticImage {
    pub pixels: Vec<f32>,
    pub subject: usize,
    pub expression: Expression,
    /// Left eye, right eye, nose tip, left and right mouth corner, in pixels.
    pub landmarks: [[f32; 2]; 5],
}

/// Generates every image of `config` (subject-major, then expression, then repeat).
pub fn generate_images(config: &SyntheticConfig) -> Vec<SyntheticImage> {
    let identities: Vec<Identity> = (0..config.subjects)
        .map(|s| {
            Identity::random(
                &mut StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003) ^ s as u64),
                config.identity_spread,
            )
        })
        .collect();
    let mut images = Vec::with_capacity(config.subjects * 7 * config.images_per_expression);
    for (subject, identity) in identities.iter().enumerate() {
        for (e, expression) in Expression::SEVEN.into_iter().enumerate() {
            for k in 0..config.images_per_expression {
                let image_seed =
                    config.seed ^ ((subject as u64) << 32) ^ ((e as u64) << 20) ^ (k as u64 + 1);
                let mut rng = StdRng::seed_from_u64(image_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let intensity = if expression == Expression::Neutral {
                    0.0
                } else {
                    rng.random_range(0.6..=1.0)
                };
                let base = deformation(expression);
                let strength = intensity * config.expression_strength;
                let scaled = Deformation {
                    mouth_curve: base.mouth_curve * strength,
                    mouth_open: base.mouth_open * strength,
                    mouth_width: base.mouth_width * strength,
                    teeth: base.teeth * strength,
                    lip_raise: base.lip_raise * strength,
                    brow_raise: base.brow_raise * strength,
                    brow_tilt: base.brow_tilt * strength,
                    eye_open: base.eye_open * strength,
                    nose_wrinkle: base.nose_wrinkle * strength,
                };
                let nuisance = Nuisance::random(&mut rng, config.nuisance);
                let pixels = render(identity, &scaled, &nuisance, config.size, &mut rng);
                images.push(SyntheticImage {
                    pixels,
                    subject,
                    expression,
                    landmarks: landmarks(identity, &scaled, &nuisance, config.size),
                });
            }
        }
    }
    images
}

/// The synthetic faces as a dataset (standardised pixels, both labels on every image;
/// neutral images are the verification references).
pub fn generate(config: &SyntheticConfig) -> Dataset {
    let subjects = (0..config.subjects)
        .map(|s| format!("synthetic{:03}", s + 1))
        .collect();
    let samples = generate_images(config)
        .into_iter()
        .enumerate()
        .map(|(i, mut img)| {
            image::standardize(&mut img.pixels);
            Sample {
                pixels: Pixels::Ready(Arc::from(img.pixels)),
                subject: Some(img.subject),
                expression: Some(img.expression),
                frame: None,
                reference: img.expression == Expression::Neutral,
                region: crate::data::align::FaceRegion::Centre,
                origin: format!("synthetic image {i}"),
                usage: None,
            }
        })
        .collect();
    Dataset {
        samples,
        subjects,
        image_size: config.size,
        ..Dataset::default()
    }
}

/// A grid of faces: one row per subject (the first `rows`), one column per expression,
/// with a 2-pixel gap; returns (pixels in [0, 1], width, height).
pub fn montage(config: &SyntheticConfig, rows: usize) -> (Vec<f32>, usize, usize) {
    let rows = rows.min(config.subjects);
    let preview = SyntheticConfig {
        subjects: rows,
        images_per_expression: 1,
        ..config.clone()
    };
    let images = generate_images(&preview);
    let (s, gap) = (config.size, 2);
    let (width, height) = (7 * (s + gap) + gap, rows * (s + gap) + gap);
    let mut canvas = vec![1.0f32; width * height];
    for img in &images {
        let col = Expression::SEVEN
            .iter()
            .position(|e| *e == img.expression)
            .unwrap_or(0);
        let (x0, y0) = (gap + col * (s + gap), gap + img.subject * (s + gap));
        for y in 0..s {
            canvas[(y0 + y) * width + x0..][..s].copy_from_slice(&img.pixels[y * s..][..s]);
        }
    }
    (canvas, width, height)
}

#[cfg(test)]
mod memory_tests {
    #[test]
    fn the_memory_check_names_the_size_and_the_limit() {
        let small = super::SyntheticConfig::default();
        assert!(small.check_memory(48).is_ok());
        let huge = super::SyntheticConfig {
            subjects: 100_000,
            images_per_expression: 10,
            ..super::SyntheticConfig::default()
        };
        let e = huge.check_memory(1024).unwrap_err();
        assert!(
            e.contains("7000000 images of 1024x1024") && e.contains("limit 8 GiB"),
            "{e}"
        );
    }
}
