//! The face data: synthetic generator, the shipped ORL faces, every loader on fixtures
//! written here in the right layout, bad input, the protocol's splits and pairs, batches.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use facemtl::data::augment::Augmentation;
use facemtl::data::batches::{assemble, batch_rng, Prefetcher};
use facemtl::data::formats::{ckplus, fer2013, jaffe, Format};
use facemtl::data::protocol::{split, verification_pairs, Shares};
use facemtl::data::synthetic::{self, SyntheticConfig};
use facemtl::data::{Dataset, Expression, Pixels};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A fresh, empty folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = common::scratch_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a small gray image (format from the extension) with a pattern from `seed`.
fn write_image(path: &Path, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::GrayImage::from_fn(20, 24, |x, y| {
        image::Luma([(x as u8 * 7 + y as u8 * 3).wrapping_add(seed.wrapping_mul(37))])
    });
    img.save(path).unwrap();
}

fn small_config() -> SyntheticConfig {
    SyntheticConfig {
        subjects: 6,
        images_per_expression: 2,
        size: 32,
        ..SyntheticConfig::default()
    }
}

fn pixels(d: &Dataset, i: usize) -> Vec<f32> {
    d.pixels(i).unwrap().to_vec()
}

#[test]
fn synthetic_faces_are_deterministic_labelled_and_standardised() {
    let config = small_config();
    let a = synthetic::generate(&config);
    let b = synthetic::generate(&config);
    assert_eq!(a.samples.len(), 6 * 7 * 2);
    assert_eq!(a.subjects.len(), 6);
    assert_eq!(a.expression_classes(), Expression::SEVEN.to_vec());
    for i in [0, 17, 83] {
        assert_eq!(pixels(&a, i), pixels(&b, i), "same seed, same image {i}");
        let p = pixels(&a, i);
        assert_eq!(p.len(), 32 * 32);
        let mean = p.iter().sum::<f32>() / p.len() as f32;
        assert!(mean.abs() < 1e-4, "standardised mean {mean}");
    }
    let other = synthetic::generate(&SyntheticConfig {
        seed: 2,
        ..config.clone()
    });
    assert_ne!(
        pixels(&a, 0),
        pixels(&other, 0),
        "another seed, other faces"
    );
    // Every subject has every expression, and neutral images are the references.
    for s in 0..6 {
        for e in Expression::SEVEN {
            assert_eq!(
                a.samples
                    .iter()
                    .filter(|x| x.subject == Some(s) && x.expression == Some(e))
                    .count(),
                2
            );
        }
    }
    assert!(a
        .samples
        .iter()
        .all(|s| s.reference == (s.expression == Some(Expression::Neutral))));
}

#[test]
fn synthetic_identity_spread_controls_how_alike_subjects_are() {
    // Mean distance between different subjects' neutral faces shrinks with the spread.
    let distance = |spread: f32| {
        let config = SyntheticConfig {
            subjects: 8,
            images_per_expression: 1,
            nuisance: 0.0,
            identity_spread: spread,
            ..small_config()
        };
        let images = synthetic::generate_images(&config);
        let neutral: Vec<&Vec<f32>> = images
            .iter()
            .filter(|i| i.expression == Expression::Neutral)
            .map(|i| &i.pixels)
            .collect();
        let mut total = 0.0;
        let mut n = 0;
        for i in 0..neutral.len() {
            for j in i + 1..neutral.len() {
                total += neutral[i]
                    .iter()
                    .zip(neutral[j])
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f32>();
                n += 1;
            }
        }
        total / n as f32
    };
    let (alike, varied) = (distance(0.2), distance(1.0));
    assert!(
        alike < 0.6 * varied,
        "mean L1 distance between subjects: spread 0.2 {alike}, spread 1 {varied}"
    );
}

#[test]
fn shipped_orl_faces_load_with_identity_labels_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/orl");
    let d = Format::Orl.load(&root, 32, false).unwrap();
    assert_eq!(d.samples.len(), 400);
    assert_eq!(d.subjects.len(), 40);
    assert_eq!(d.subjects[0], "s1");
    assert_eq!(d.subjects[9], "s10");
    assert!(d
        .samples
        .iter()
        .all(|s| s.expression.is_none() && s.subject.is_some()));
    assert_eq!(d.samples.iter().filter(|s| s.reference).count(), 40);
    assert_eq!(pixels(&d, 0).len(), 32 * 32);
}

#[test]
fn manifest_loader_reads_labels_and_reports_bad_rows() {
    let dir = temp_dir("manifest");
    write_image(&dir.join("a.png"), 1);
    write_image(&dir.join("sub dir/b.pgm"), 2);
    write_image(&dir.join("c.bmp"), 3);
    let csv = dir.join("faces.csv");
    std::fs::write(
        &csv,
        "path,subject,expression\na.png,alice,happiness\n\"sub dir/b.pgm\",bob,\nc.bmp,,SU\n",
    )
    .unwrap();
    let d = Format::Manifest.load(&csv, 16, false).unwrap();
    assert_eq!(d.samples.len(), 3);
    assert_eq!(d.subjects, ["alice", "bob"]);
    assert_eq!(d.samples[0].expression, Some(Expression::Happiness));
    assert_eq!(
        (d.samples[1].subject, d.samples[1].expression),
        (Some(1), None)
    );
    assert_eq!(
        (d.samples[2].subject, d.samples[2].expression),
        (None, Some(Expression::Surprise))
    );
    assert_eq!(pixels(&d, 1).len(), 256);

    std::fs::write(
        &csv,
        "path,subject,expression\na.png,alice,happiness\nb.png,bob,smirk\nc.bmp,carol\n",
    )
    .unwrap();
    let e = Format::Manifest
        .load(&csv, 16, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("faces.csv:3") && e.contains("smirk"), "{e}");
    let d = Format::Manifest.load(&csv, 16, true).unwrap();
    assert_eq!(d.samples.len(), 1);
    assert_eq!(d.skipped.len(), 2);
    assert!(
        d.skipped[1].contains("faces.csv:4") && d.skipped[1].contains("3 fields"),
        "{:?}",
        d.skipped
    );

    std::fs::write(&csv, "file,who\na.png,alice\n").unwrap();
    assert!(Format::Manifest
        .load(&csv, 16, false)
        .unwrap_err()
        .to_string()
        .contains("header"));
    std::fs::write(&csv, "path,subject,expression\n").unwrap();
    assert!(Format::Manifest
        .load(&csv, 16, false)
        .unwrap_err()
        .to_string()
        .contains("no images"));
    assert!(Format::Manifest
        .load(&dir.join("missing.csv"), 16, false)
        .unwrap_err()
        .to_string()
        .contains("missing.csv"));
}

#[test]
fn corrupt_images_are_errors_naming_the_file_or_skipped() {
    let dir = temp_dir("corrupt");
    write_image(&dir.join("good.png"), 1);
    std::fs::write(dir.join("bad.png"), b"not a png at all").unwrap();
    let csv = dir.join("m.csv");
    std::fs::write(
        &csv,
        "path,subject,expression\ngood.png,a,neutral\nbad.png,b,anger\n",
    )
    .unwrap();
    let mut d = Format::Manifest.load(&csv, 16, false).unwrap();
    let e = d
        .clone()
        .cache_if_fits(1 << 30, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.png"), "{e}");
    d.cache_if_fits(1 << 30, true).unwrap();
    assert_eq!(d.samples.len(), 1);
    assert_eq!(d.skipped.len(), 1);
    assert!(matches!(d.samples[0].pixels, Pixels::Cached(..)));
}

#[test]
fn jaffe_loader_and_name_parser() {
    assert_eq!(
        jaffe::parse_name("KA.AN1.39.tiff").unwrap(),
        ("KA".to_string(), Expression::Anger)
    );
    assert_eq!(
        jaffe::parse_name("YM.NE2.50.tiff").unwrap(),
        ("YM".to_string(), Expression::Neutral)
    );
    assert!(jaffe::parse_name("KA.XX1.39.tiff")
        .unwrap_err()
        .contains("XX1"));
    assert!(jaffe::parse_name("nonsense.tiff").is_err());
    let dir = temp_dir("jaffe");
    for (i, name) in [
        "KA.AN1.39.tiff",
        "KA.NE1.26.tiff",
        "YM.HA2.53.tiff",
        "YM.SU1.58.tiff",
    ]
    .iter()
    .enumerate()
    {
        write_image(&dir.join(name), i as u8);
    }
    let d = Format::Jaffe.load(&dir, 16, false).unwrap();
    assert_eq!(d.samples.len(), 4);
    assert_eq!(d.subjects, ["KA", "YM"]);
    assert_eq!(d.samples.iter().filter(|s| s.reference).count(), 1);
    write_image(&dir.join("KA.QQ1.40.tiff"), 9);
    assert!(Format::Jaffe
        .load(&dir, 16, false)
        .unwrap_err()
        .to_string()
        .contains("KA.QQ1.40.tiff"));
    assert_eq!(Format::Jaffe.load(&dir, 16, true).unwrap().skipped.len(), 1);
}

#[test]
fn ckplus_loader_takes_first_frame_neutral_and_last_frames_labelled() {
    let dir = temp_dir("ckplus");
    let images = dir.join("cohn-kanade-images");
    for frame in 1..=6 {
        write_image(
            &images.join(format!("S005/001/S005_001_{frame:08}.png")),
            frame as u8,
        );
    }
    for frame in 1..=4 {
        write_image(
            &images.join(format!("S010/002/S010_002_{frame:08}.png")),
            frame as u8,
        );
    }
    std::fs::create_dir_all(dir.join("Emotion/S005/001")).unwrap();
    std::fs::write(
        dir.join("Emotion/S005/001/S005_001_00000006_emotion.txt"),
        "   3.0000000e+00\n",
    )
    .unwrap();
    let d = Format::CkPlus.load(&dir, 16, false).unwrap();
    // S005: frame 1 neutral, frames 4-6 disgust; S010 (unlabelled): frame 1 only.
    assert_eq!(d.samples.len(), 5);
    let labels: Vec<_> = d
        .samples
        .iter()
        .map(|s| (s.subject, s.expression, s.frame.map(|f| f.index)))
        .collect();
    assert_eq!(labels[0], (Some(0), Some(Expression::Neutral), Some(0)));
    assert_eq!(labels[1], (Some(0), Some(Expression::Disgust), Some(3)));
    assert_eq!(labels[4], (Some(1), Some(Expression::Neutral), Some(0)));
    assert_eq!(
        ckplus::parse_emotion("7.0000000e+00").unwrap(),
        Expression::Surprise
    );
    assert!(
        ckplus::parse_emotion("8").is_err()
            && ckplus::parse_emotion("2.5").is_err()
            && ckplus::parse_emotion("x").is_err()
    );
    std::fs::write(
        dir.join("Emotion/S005/001/S005_001_00000006_emotion.txt"),
        "happy\n",
    )
    .unwrap();
    let e = Format::CkPlus
        .load(&dir, 16, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("S005_001_00000006_emotion.txt:1"), "{e}");
}

#[test]
fn oulu_loader_reads_subject_and_expression_from_folders() {
    let dir = temp_dir("oulu");
    for (subject, expression) in [
        ("P001", "Anger"),
        ("P001", "Happiness"),
        ("P002", "Surprise"),
    ] {
        for frame in 0..5 {
            write_image(
                &dir.join(format!("VL/Strong/{subject}/{expression}/{frame:03}.jpeg")),
                frame as u8,
            );
        }
    }
    let d = Format::Oulu.load(&dir, 16, false).unwrap();
    assert_eq!(d.subjects, ["P001", "P002"]);
    assert_eq!(d.samples.len(), 3 * 4); // first frame + last 3 of each sequence
    assert_eq!(
        d.samples
            .iter()
            .filter(|s| s.expression == Some(Expression::Neutral))
            .count(),
        3
    );
    assert_eq!(
        d.samples
            .iter()
            .filter(|s| s.expression == Some(Expression::Anger))
            .count(),
        3
    );
    write_image(&dir.join("VL/Strong/P003/Boredom/000.jpeg"), 1);
    assert!(Format::Oulu
        .load(&dir, 16, false)
        .unwrap_err()
        .to_string()
        .contains("Boredom"));
    write_image(&dir.join("VL/Strong/X9/Fear/000.jpeg"), 1);
    assert_eq!(Format::Oulu.load(&dir, 16, true).unwrap().skipped.len(), 2);
}

#[test]
fn fer2013_loader_reads_expressions_without_subjects() {
    let dir = temp_dir("fer2013");
    let row = |e: u32| format!("{e},\"{}\",Training", vec!["128"; 48 * 48].join(" "));
    let csv = dir.join("fer2013.csv");
    std::fs::write(
        &csv,
        format!(
            "emotion,pixels,Usage\n{}\n{}\n7,\"1 2\",Training\n",
            row(3),
            row(6)
        ),
    )
    .unwrap();
    let e = Format::Fer2013
        .load(&csv, 24, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fer2013.csv:4") && e.contains("outside 0-6"),
        "{e}"
    );
    let d = Format::Fer2013.load(&csv, 24, true).unwrap();
    assert_eq!(d.samples.len(), 2);
    assert_eq!(d.samples[0].expression, Some(Expression::Happiness));
    assert_eq!(d.samples[1].expression, Some(Expression::Neutral));
    assert!(d.samples.iter().all(|s| s.subject.is_none()));
    assert_eq!(pixels(&d, 0).len(), 24 * 24);
    assert!(fer2013::parse_row(&["3".into(), "1 2 3".into()])
        .unwrap_err()
        .contains("2304"));
}

#[test]
fn parsers_never_panic_on_random_text() {
    let mut rng = StdRng::seed_from_u64(11);
    let alphabet: Vec<char> = "KAN.E12ts,\" 0e+-9xé\n".chars().collect();
    let text = |n: usize, rng: &mut StdRng| -> String {
        (0..rng.random_range(0..n))
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect()
    };
    for _ in 0..20_000 {
        let _ = jaffe::parse_name(&text(20, &mut rng));
        let _ = ckplus::parse_emotion(&text(20, &mut rng));
        let _ = fer2013::parse_row(&[text(4, &mut rng), text(30, &mut rng)]);
        let _ = Expression::parse(&text(10, &mut rng));
    }
    // Whole manifests of random text: an error or a dataset, never a panic.
    let dir = temp_dir("fuzz");
    let csv = dir.join("m.csv");
    for _ in 0..200 {
        let body: String = (0..5).map(|_| text(30, &mut rng) + "\n").collect();
        std::fs::write(&csv, format!("path,subject,expression\n{body}")).unwrap();
        let _ = Format::Manifest.load(&csv, 8, false);
        let _ = Format::Manifest.load(&csv, 8, true);
    }
}

/// Test identification share `identification`, no validation split.
fn shares(identification: f32) -> Shares {
    Shares {
        identification,
        validation: 0.0,
    }
}

#[test]
fn folds_are_subject_independent_deterministic_and_cover_every_subject() {
    let d = synthetic::generate(&SyntheticConfig {
        subjects: 12,
        images_per_expression: 1,
        size: 16,
        ..SyntheticConfig::default()
    });
    let k = 5;
    let mut tested = vec![0; 12];
    for fold in 0..k {
        let with_validation = Shares {
            identification: 0.2,
            validation: 0.25,
        };
        let s = split(&d, k, fold, 3, with_validation).unwrap();
        assert_eq!(
            s,
            split(&d, k, fold, 3, with_validation).unwrap(),
            "same seed, same split"
        );
        // A quarter of the training-side subjects validate (9 -> 2.25 -> 2, 10 -> 2.5 -> 3);
        // none of them trains or is tested, and their every image is a validation image.
        let expected = match s.test_subjects.len() {
            3 => 2,
            2 => 3,
            n => panic!("12 subjects in 5 folds test 2 or 3, not {n}"),
        };
        assert_eq!(s.validation_subjects.len(), expected);
        for &i in &s.validation {
            let subject = d.samples[i].subject.unwrap();
            assert!(s.validation_subjects.contains(&subject));
            assert!(!s.train_subjects.contains(&subject) && !s.test_subjects.contains(&subject));
        }
        for &i in &s.validation_identification {
            assert!(s.train_subjects.contains(&d.samples[i].subject.unwrap()));
        }
        // Each training subject's 7 images: round(7 * 0.2) = 1 for the test's
        // identification, round(6 * 0.25) = 2 for validation identification, 4 train.
        for &subject in &s.train_subjects {
            let count = |set: &[usize]| {
                set.iter()
                    .filter(|&&i| d.samples[i].subject == Some(subject))
                    .count()
            };
            assert_eq!(
                [
                    count(&s.train),
                    count(&s.identification),
                    count(&s.validation_identification)
                ],
                [4, 1, 2]
            );
        }
        let mut all: Vec<usize> = [
            &s.train[..],
            &s.identification,
            &s.validation_identification,
            &s.validation,
            &s.test,
        ]
        .concat();
        all.sort_unstable();
        assert_eq!(all, (0..d.samples.len()).collect::<Vec<_>>(), "a partition");
        for &i in &s.test {
            let subject = d.samples[i].subject.unwrap();
            assert!(
                !s.train_subjects.contains(&subject),
                "test subject {subject} also trains"
            );
            assert!(s.test_subjects.contains(&subject));
        }
        for &i in s.train.iter().chain(&s.identification) {
            assert!(s.train_subjects.contains(&d.samples[i].subject.unwrap()));
        }
        assert!(s.train.iter().all(|i| !s.identification.contains(i)));
        for subject in &s.test_subjects {
            tested[*subject] += 1;
        }
        // Labels: FR classes are the training subjects, FER classes the seven expressions.
        let i = s.train[0];
        assert!((s.fr_label(&d, i).unwrap() as usize) < s.train_subjects.len());
        assert!(s.fr_label(&d, s.test[0]).is_none());
    }
    assert_eq!(
        tested,
        vec![1; 12],
        "each subject is tested in exactly one fold"
    );
    assert_ne!(
        split(&d, k, 0, 3, shares(0.2)).unwrap().test_subjects,
        split(&d, k, 0, 4, shares(0.2)).unwrap().test_subjects
    );
}

#[test]
fn protocol_errors_are_clear() {
    let one = synthetic::generate(&SyntheticConfig {
        subjects: 1,
        images_per_expression: 1,
        size: 8,
        ..SyntheticConfig::default()
    });
    assert!(split(&one, 10, 0, 0, shares(0.2))
        .unwrap_err()
        .to_string()
        .contains("at least 2 subjects"));
    let d = synthetic::generate(&SyntheticConfig {
        subjects: 3,
        images_per_expression: 1,
        size: 8,
        ..SyntheticConfig::default()
    });
    let e = split(&d, 10, 5, 0, shares(0.2)).unwrap_err().to_string();
    assert!(
        e.contains("--fold 5") && e.contains("only 3 subjects"),
        "{e}"
    );
    assert_eq!(split(&d, 10, 2, 0, shares(0.2)).unwrap().folds, 3);
    assert!(split(&Dataset::default(), 10, 0, 0, shares(0.2))
        .unwrap_err()
        .to_string()
        .contains("empty"));
}

#[test]
fn verification_pairs_are_balanced_and_correct() {
    let d = synthetic::generate(&SyntheticConfig {
        subjects: 10,
        images_per_expression: 2,
        size: 8,
        ..SyntheticConfig::default()
    });
    let s = split(&d, 2, 0, 1, shares(0.2)).unwrap();
    let pairs = verification_pairs(&d, &s.test, 9, 1000);
    let same = pairs.iter().filter(|p| p.same).count();
    assert!(same > 0);
    assert_eq!(same * 2, pairs.len(), "balanced");
    for p in &pairs {
        assert!(d.samples[p.reference].reference && !d.samples[p.probe].reference);
        assert_eq!(
            d.samples[p.reference].subject == d.samples[p.probe].subject,
            p.same
        );
        assert!(s.test.contains(&p.reference) && s.test.contains(&p.probe));
    }
    assert_eq!(pairs, verification_pairs(&d, &s.test, 9, 1000));
    assert_eq!(
        verification_pairs(&d, &s.test, 9, 7)
            .iter()
            .filter(|p| p.same)
            .count(),
        7
    );
}

#[test]
fn batches_carry_labels_masks_and_prefetch_matches_assembly() {
    let dir = temp_dir("batches");
    write_image(&dir.join("a.png"), 1);
    write_image(&dir.join("b.png"), 2);
    write_image(&dir.join("c.png"), 3);
    let csv = dir.join("m.csv");
    std::fs::write(&csv, "path,subject,expression\na.png,x,happiness\nb.png,x,\nc.png,y,anger\na.png,y,happiness\nb.png,x,anger\n").unwrap();
    let d = Format::Manifest.load(&csv, 8, false).unwrap();
    let s = split(&d, 2, 0, 0, shares(0.0)).unwrap();
    let batch = assemble(&d, &s, &s.train, None).unwrap();
    for (k, &i) in s.train.iter().enumerate() {
        assert_eq!(batch.fer_mask[k] == 1.0, d.samples[i].expression.is_some());
        assert_eq!(batch.fr_mask[k], 1.0);
    }
    let d = Arc::new(synthetic::generate(&small_config()));
    let s = Arc::new(split(&d, 3, 1, 0, shares(0.2)).unwrap());
    let order: Vec<usize> = s.train.iter().rev().copied().collect();
    let start = |first: usize| {
        Prefetcher::start(
            d.clone(),
            s.clone(),
            order.clone(),
            7,
            first,
            Some(Augmentation::FULL),
            5,
            2,
        )
    };
    let prefetched: Vec<_> = start(0).map(Result::unwrap).collect();
    let direct: Vec<_> = order
        .chunks(7)
        .enumerate()
        .map(|(b, c)| {
            assemble(&d, &s, c, Some((&Augmentation::FULL, &mut batch_rng(5, b)))).unwrap()
        })
        .collect();
    assert_eq!(prefetched, direct);
    assert_eq!(
        prefetched.iter().map(|b| b.len()).sum::<usize>(),
        order.len()
    );
    // A pass started at batch 2 yields exactly the later batches of a full pass.
    let resumed: Vec<_> = start(2).map(Result::unwrap).collect();
    assert_eq!(resumed, direct[2..].to_vec());
    // Dropping a prefetcher part-way stops its thread.
    let mut partial = Prefetcher::start(d, s, order, 1, 0, None, 0, 1);
    assert!(partial.next().is_some());
    drop(partial);
}

#[test]
fn augmentation_is_seeded_and_none_is_the_identity() {
    let size = 16;
    let mut rng = StdRng::seed_from_u64(1);
    let image: Vec<f32> = (0..size * size)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    assert_eq!(
        Augmentation::NONE.apply(&image, size, &mut StdRng::seed_from_u64(3)),
        image
    );
    let a = Augmentation::FULL.apply(&image, size, &mut StdRng::seed_from_u64(3));
    let b = Augmentation::FULL.apply(&image, size, &mut StdRng::seed_from_u64(3));
    let c = Augmentation::FULL.apply(&image, size, &mut StdRng::seed_from_u64(4));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mirror = Augmentation {
        flip: true,
        ..Augmentation::NONE
    };
    let flipped: Vec<Vec<f32>> = (0..8)
        .map(|seed| mirror.apply(&image, size, &mut StdRng::seed_from_u64(seed)))
        .collect();
    let expected: Vec<f32> = (0..size * size)
        .map(|i| image[(i / size) * size + size - 1 - i % size])
        .collect();
    assert!(flipped.contains(&expected), "a mirror is exact");
    // The flips' law: half the images of a run, drawn as the batch thread draws them.
    let mut rng = StdRng::seed_from_u64(11);
    let draws = 4000;
    let mirrored = (0..draws)
        .filter(|_| mirror.apply(&image, size, &mut rng) == expected)
        .count() as f64
        / draws as f64;
    assert!(
        (mirrored - 0.5).abs() < 4.0 * (0.25f64 / draws as f64).sqrt(),
        "{mirrored}"
    );
}
