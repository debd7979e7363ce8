//! Where the face is in an image, and how it is cut out for the network.
//!
//! - Five landmarks (left eye, right eye, nose tip, left and right mouth corner, "left" as
//!   seen in the image, in pixels with pixel centres at whole numbers, as MTCNN-style
//!   detectors give them): the image is warped by the similarity transform (scale,
//!   rotation, shift) that best maps the five points, in least squares, onto a canonical
//!   template, the common 112 x 112 five-point template scaled to the network's input.
//!   Bilinear sampling; outside the image the nearest edge pixel is repeated.
//! - A face box (x, y, w, h in pixels): a square around the box's centre, of side the box's
//!   larger side times 1 + 2 x margin (`--crop-margin`, 0.2 by default: a fifth of the side
//!   added on each side), moved inside the image where it overhangs (and shrunk to the
//!   image's shorter side if larger), then resized.
//! - Neither: the centre square of the image.

use serde::{Deserialize, Serialize};

/// Where the face is in an image.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum FaceRegion {
    /// The centre square.
    #[default]
    Centre,
    /// A face box: left, top, width, height in pixels.
    Box { x: f32, y: f32, w: f32, h: f32 },
    /// Left eye, right eye, nose tip, left and right mouth corner, (x, y) in pixels.
    Landmarks([[f32; 2]; 5]),
    /// Both: the landmarks align the face, except under `--crop facenet`, which cuts the
    /// box (`[x, y, w, h]`) as FaceNet's weights expect.
    LandmarksAndBox {
        points: [[f32; 2]; 5],
        face_box: [f32; 4],
    },
}

/// The five-point template in a 112 x 112 crop (pixels), as MTCNN- and ArcFace-style
/// pipelines align faces.
pub const TEMPLATE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// The template scaled to a `size` x `size` crop.
pub fn template(size: usize) -> [[f32; 2]; 5] {
    let k = size as f32 / 112.0;
    TEMPLATE_112.map(|[x, y]| [x * k, y * k])
}

/// q = [a -b; b a] p + t: scale, rotation and shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity taking each of `from` onto the matching `to` (None when
    /// the `from` points coincide).
    pub fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
        let n = from.len().min(to.len()) as f64;
        let mean = |pts: &[[f32; 2]]| {
            let (sx, sy) = pts
                .iter()
                .fold((0.0, 0.0), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
            (sx / n, sy / n)
        };
        let ((px, py), (qx, qy)) = (mean(from), mean(to));
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (p, q) in from.iter().zip(to) {
            let (ux, uy) = (p[0] as f64 - px, p[1] as f64 - py);
            let (vx, vy) = (q[0] as f64 - qx, q[1] as f64 - qy);
            dot += ux * vx + uy * vy;
            cross += ux * vy - uy * vx;
            norm += ux * ux + uy * uy;
        }
        if norm < 1e-9 {
            return None;
        }
        let (a, b) = (dot / norm, cross / norm);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: (qx - (a * px - b * py)) as f32,
            ty: (qy - (b * px + a * py)) as f32,
        })
    }

    pub fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        ]
    }

    /// The point that maps onto `q`.
    pub fn invert(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        let (u, v) = (x - self.tx, y - self.ty);
        let d = self.a * self.a + self.b * self.b;
        [
            (self.a * u + self.b * v) / d,
            (-self.b * u + self.a * v) / d,
        ]
    }
}

/// A `size` x `size` crop of `plane` (`width` x `height`) through `s` (image to crop):
/// each crop pixel samples the image bilinearly at the point `s` maps onto it, the
/// nearest edge pixel repeated outside the image.
pub fn warp(plane: &[f32], width: usize, height: usize, s: &Similarity, size: usize) -> Vec<f32> {
    let at = |x: isize, y: isize| {
        plane[y.clamp(0, height as isize - 1) as usize * width
            + x.clamp(0, width as isize - 1) as usize]
    };
    let mut out = Vec::with_capacity(size * size);
    for v in 0..size {
        for u in 0..size {
            let [x, y] = s.invert([u as f32, v as f32]);
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
            let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// The square (left, top, side in whole pixels) cut for a face box in a `width` x
/// `height` image, or why the box cannot be used.
pub fn box_square(
    [x, y, w, h]: [f32; 4],
    margin: f32,
    width: usize,
    height: usize,
) -> Result<(u32, u32, u32), String> {
    let (fw, fh) = (width as f32, height as f32);
    if ![x, y, w, h].iter().all(|v| v.is_finite()) {
        return Err("the face box has a coordinate that is not a number".into());
    }
    if !(w > 0.0 && h > 0.0) {
        return Err(format!("the face box is {w} x {h}: it must have a size"));
    }
    if x < 0.0 || y < 0.0 || x + w > fw + 0.5 || y + h > fh + 0.5 {
        return Err(format!(
            "the face box ({x}, {y}, {w} x {h}) leaves the {width} x {height} image"
        ));
    }
    let side = (w.max(h) * (1.0 + 2.0 * margin))
        .min(fw.min(fh))
        .round()
        .max(1.0);
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let left = (cx - side / 2.0).round().clamp(0.0, fw - side);
    let top = (cy - side / 2.0).round().clamp(0.0, fh - side);
    Ok((left as u32, top as u32, side as u32))
}

/// How far outside the image a landmark may lie, as a share of the image's larger side:
/// detectors place the points of a face the photo's border cuts beyond the border (on the
/// 2351 landmarked LFW-style crops of the real-face development set, 4.5% of the rows, up to
/// 26%), and the warp repeats edge pixels there.
pub const MAX_OUTSIDE_SHARE: f32 = 0.5;

/// The largest root-mean-square distance, in pixels of the 112 x 112 template, between the
/// template and five landmarks mapped onto it by their fitted similarity. Real faces fit
/// within 2.8 px (median), 7.7 px (99.9th percentile) and 10.5 px (worst) on the real-face
/// development set; the eyes swapped in one row give 19.7 px, every point mirrored 22.6,
/// five points on a line 14.9.
pub const MAX_FIT_RESIDUAL_112: f32 = 12.0;

/// The landmarks' names, in their order.
const LANDMARK_NAMES: [&str; 5] = [
    "left eye",
    "right eye",
    "nose",
    "left mouth corner",
    "right mouth corner",
];

/// The root-mean-square distance (template pixels) between the 112 x 112 template and
/// `points` mapped onto it by their least-squares similarity.
pub fn fit_residual(points: &[[f32; 2]; 5]) -> Option<f32> {
    let fit = Similarity::fit(points, &TEMPLATE_112)?;
    let sum: f32 = points
        .iter()
        .zip(&TEMPLATE_112)
        .map(|(p, t)| {
            let [x, y] = fit.apply(*p);
            (x - t[0]).powi(2) + (y - t[1]).powi(2)
        })
        .sum();
    Some((sum / 5.0).sqrt())
}

/// Whether the eyes-to-mouth turn of `points` is the template's: a face's left eye (as
/// seen) is on the left of the line from it to the right eye when looking towards the
/// mouth. Mirrored landmarks (left and right swapped) turn the other way, which no rotation
/// can undo.
fn same_handedness(points: &[[f32; 2]; 5]) -> bool {
    let turn = |p: &[[f32; 2]; 5]| {
        let eyes = [p[1][0] - p[0][0], p[1][1] - p[0][1]];
        let down = [
            (p[3][0] + p[4][0] - p[0][0] - p[1][0]) / 2.0,
            (p[3][1] + p[4][1] - p[0][1] - p[1][1]) / 2.0,
        ];
        eyes[0] * down[1] - eyes[1] * down[0]
    };
    turn(points) * turn(&TEMPLATE_112) >= 0.0
}

/// How a face box is cut out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoxCrop {
    /// A square of the box's larger side plus `--crop-margin` around its centre ([`box_square`]).
    #[default]
    Square,
    /// facenet-pytorch's `extract_face`: the box itself, widened by `margin` pixels of the
    /// output image (split between the sides), clipped to the image and resized to the
    /// input without keeping its aspect ([`facenet_box`]): the crop FaceNet's weights saw.
    Facenet { margin: u32 },
}

impl BoxCrop {
    /// `square`, or `facenet` / `facenet:M` (M pixels of margin in the output image).
    pub fn parse(text: &str) -> Result<BoxCrop, String> {
        match text.trim() {
            "square" => Ok(BoxCrop::Square),
            "facenet" => Ok(BoxCrop::Facenet { margin: 0 }),
            other => match other.strip_prefix("facenet:").map(str::parse::<u32>) {
                Some(Ok(margin)) => Ok(BoxCrop::Facenet { margin }),
                _ => Err(format!(
                    "{other:?}: use square, or facenet[:M] (M: margin in pixels of the network input, e.g. facenet:20)"
                )),
            },
        }
    }
}

impl std::fmt::Display for BoxCrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BoxCrop::Square => write!(f, "square"),
            BoxCrop::Facenet { margin } => write!(f, "facenet:{margin}"),
        }
    }
}

/// The rectangle (left, top, width, height in whole pixels) facenet-pytorch's
/// `extract_face` cuts for the face box `[x, y, w, h]` with `margin` pixels of an `size`-px
/// output: the box widened by `margin * w / (size - margin)` (and the same for the height),
/// half on each side, clipped to the `width` x `height` image, corners truncated to whole
/// pixels as it does.
pub fn facenet_box(
    [x, y, w, h]: [f32; 4],
    margin: u32,
    size: usize,
    width: usize,
    height: usize,
) -> Result<(u32, u32, u32, u32), String> {
    // The same checks as the square crop.
    box_square([x, y, w, h], 0.0, width, height)?;
    if margin as usize >= size {
        return Err(format!(
            "a FaceNet crop margin of {margin} px leaves nothing of a {size}-px input"
        ));
    }
    let scale = margin as f32 / (size as f32 - margin as f32);
    let (mw, mh) = (scale * w, scale * h);
    let left = (x - mw / 2.0).max(0.0) as u32;
    let top = (y - mh / 2.0).max(0.0) as u32;
    let right = ((x + w + mw / 2.0).min(width as f32) as u32).max(left + 1);
    let bottom = ((y + h + mh / 2.0).min(height as f32) as u32).max(top + 1);
    Ok((left, top, right - left, bottom - top))
}

/// Checks five landmarks against a `width` x `height` image: numbers, within
/// [`MAX_OUTSIDE_SHARE`] of the image's larger side of it, in the template's handedness,
/// and fitting the template within [`MAX_FIT_RESIDUAL_112`].
pub fn check_landmarks(points: &[[f32; 2]; 5], width: usize, height: usize) -> Result<(), String> {
    let slack = MAX_OUTSIDE_SHARE * width.max(height) as f32;
    for (name, [x, y]) in LANDMARK_NAMES.iter().zip(points) {
        if !(x.is_finite() && y.is_finite()) {
            return Err(format!("the {name} landmark is not a number"));
        }
        if *x < -slack
            || *y < -slack
            || *x > width as f32 - 0.5 + slack
            || *y > height as f32 - 0.5 + slack
        {
            return Err(format!(
                "the {name} landmark ({x}, {y}) is further outside the {width} x {height} image than {slack} px (half its larger side)"
            ));
        }
    }
    let Some(residual) = fit_residual(points) else {
        return Err("the five landmarks coincide".into());
    };
    if !same_handedness(points) {
        return Err(format!(
            "the landmarks are mirrored: left and right are swapped (the eyes, or every point), which no rotation of the template fits (residual {residual:.1} px on the 112-px template); the columns are left eye, right eye, nose, left and right mouth corner as seen in the image"
        ));
    }
    if residual > MAX_FIT_RESIDUAL_112 {
        return Err(format!(
            "the five landmarks fit the face template badly (residual {residual:.1} px on the 112-px template, over the {MAX_FIT_RESIDUAL_112} px that real faces stay within): check their order (left eye, right eye, nose, left and right mouth corner) and values"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_known_similarity_and_inverts() {
        let truth = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -2.0,
        };
        let from = [
            [10.0, 20.0],
            [40.0, 22.0],
            [25.0, 35.0],
            [12.0, 50.0],
            [38.0, 49.0],
        ];
        let to = from.map(|p| truth.apply(p));
        let fit = Similarity::fit(&from, &to).unwrap();
        for (got, want) in [(fit.a, 0.8), (fit.b, 0.3), (fit.tx, 5.0), (fit.ty, -2.0)] {
            assert!((got - want).abs() < 1e-4, "{fit:?}");
        }
        let p = [17.0, 31.0];
        let back = fit.invert(fit.apply(p));
        assert!((back[0] - p[0]).abs() < 1e-4 && (back[1] - p[1]).abs() < 1e-4);
        assert!(Similarity::fit(&[[1.0, 1.0]; 5], &to).is_none());
    }

    #[test]
    fn a_box_becomes_a_square_with_its_margin_inside_the_image() {
        // 40 x 20 box centred at (60, 50): side 40 * 1.4 = 56, from (32, 22).
        assert_eq!(
            box_square([40.0, 40.0, 40.0, 20.0], 0.2, 200, 100),
            Ok((32, 22, 56))
        );
        // Overhanging the left edge: moved inside.
        assert_eq!(
            box_square([0.0, 10.0, 30.0, 30.0], 0.5, 100, 100),
            Ok((0, 0, 60))
        );
        // Larger than the image: the shorter side, still around the box's centre (45, 30).
        assert_eq!(
            box_square([0.0, 0.0, 90.0, 60.0], 0.5, 90, 60),
            Ok((15, 0, 60))
        );
        assert!(box_square([0.0, 0.0, 0.0, 10.0], 0.2, 90, 60).is_err());
        assert!(box_square([80.0, 0.0, 20.0, 10.0], 0.2, 90, 60).is_err());
        assert!(box_square([f32::NAN, 0.0, 20.0, 10.0], 0.2, 90, 60).is_err());
    }

    /// A face's landmarks in a 200 x 200 photo: the template, scaled by 1.5, turned 10
    /// degrees and moved, with a pixel or two of detector noise.
    fn real_looking() -> [[f32; 2]; 5] {
        let (c, s) = (
            10f32.to_radians().cos() * 1.5,
            10f32.to_radians().sin() * 1.5,
        );
        let noise = [
            [1.0, -1.5],
            [-0.5, 1.0],
            [2.0, 0.5],
            [-1.0, -1.0],
            [0.5, 1.5],
        ];
        let mut points = TEMPLATE_112;
        for (p, n) in points.iter_mut().zip(noise) {
            *p = [
                c * p[0] - s * p[1] + 20.0 + n[0],
                s * p[0] + c * p[1] + 10.0 + n[1],
            ];
        }
        points
    }

    #[test]
    fn landmarks_that_cannot_be_a_face_are_refused_and_a_real_fit_is_not() {
        let good = real_looking();
        let residual = fit_residual(&good).unwrap();
        assert!(residual < 3.0, "{residual}");
        assert_eq!(check_landmarks(&good, 200, 200), Ok(()));
        assert!(fit_residual(&TEMPLATE_112).unwrap() < 1e-3);
        // The eyes swapped in one row: mirrored.
        let mut swapped = good;
        swapped.swap(0, 1);
        let e = check_landmarks(&swapped, 200, 200).unwrap_err();
        assert!(e.contains("mirrored"), "{e}");
        // Every point mirrored (x -> 199 - x): still the wrong hand.
        let mirrored = good.map(|[x, y]| [199.0 - x, y]);
        assert!(check_landmarks(&mirrored, 200, 200)
            .unwrap_err()
            .contains("mirrored"));
        // Five points on a line: a fit, but nothing like a face.
        let line = [
            [60.0, 60.0],
            [70.0, 70.0],
            [80.0, 80.0],
            [90.0, 90.0],
            [100.0, 100.0],
        ];
        let e = check_landmarks(&line, 200, 200).unwrap_err();
        assert!(e.contains("fit the face template badly"), "{e}");
        // The nose far off its place (60 px down), the rest right.
        let mut nose = good;
        nose[2][1] += 60.0;
        assert!(fit_residual(&nose).unwrap() > MAX_FIT_RESIDUAL_112);
        assert!(check_landmarks(&nose, 200, 200).is_err());
    }

    #[test]
    fn the_facenet_crop_is_extract_face_s_rectangle() {
        // extract_face(box=(40, 30, 140, 150), image_size=160, margin=32) on 200 x 180:
        // margin 32 * 100 / 128 = 25 wide, 32 * 120 / 128 = 30 high; (27, 15) to (152, 165).
        assert_eq!(
            facenet_box([40.0, 30.0, 100.0, 120.0], 32, 160, 200, 180),
            Ok((27, 15, 125, 150))
        );
        // No margin: the box, truncated; clipped at the image's edges.
        assert_eq!(
            facenet_box([10.7, 20.2, 50.5, 60.9], 0, 160, 200, 180),
            Ok((10, 20, 51, 61))
        );
        assert_eq!(
            facenet_box([0.0, 0.0, 100.0, 100.0], 40, 160, 110, 105),
            Ok((0, 0, 110, 105))
        );
        assert!(facenet_box([0.0, 0.0, 10.0, 10.0], 160, 160, 100, 100).is_err());
        assert_eq!(
            BoxCrop::parse("facenet:20"),
            Ok(BoxCrop::Facenet { margin: 20 })
        );
        assert_eq!(BoxCrop::parse("square"), Ok(BoxCrop::Square));
        assert!(BoxCrop::parse("facenet:-1").is_err());
        assert_eq!(BoxCrop::Facenet { margin: 7 }.to_string(), "facenet:7");
    }

    #[test]
    fn landmarks_a_little_outside_the_image_are_accepted() {
        // The face cut by the photo's left border: the left eye and mouth corner 30-odd px out.
        let cut = real_looking().map(|[x, y]| [x - 90.0, y]);
        assert!(cut[0][0] < -20.0 && cut[3][0] < -20.0, "{cut:?}");
        assert_eq!(check_landmarks(&cut, 200, 200), Ok(()));
        // Over half the larger side out: refused, naming the point.
        let far = real_looking().map(|[x, y]| [x + 250.0, y]);
        let e = check_landmarks(&far, 200, 200).unwrap_err();
        assert!(
            e.contains("further outside") && e.contains("left eye"),
            "{e}"
        );
        let mut nan = real_looking();
        nan[4][1] = f32::NAN;
        assert!(check_landmarks(&nan, 200, 200)
            .unwrap_err()
            .contains("right mouth corner"));
    }
}
