//! Open-set face recognition end to end: `embed`, `verify` and `identify` with a tiny
//! trained checkpoint, `eval`'s open-set figures, and the errors a user can act on.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::cli::{facemtl, gen_faces, temp_dir, train_on};

/// gen-data faces (8 subjects x 7 expressions x 2) and a run trained on them, shared by the
/// tests of this file: (faces folder, run folder).
fn trained() -> &'static (PathBuf, PathBuf) {
    static RUN: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let faces = gen_faces("open-set-faces", "8", "2", &[]);
        let run = temp_dir("open-set-run");
        let (ok, out, err) = train_on(&faces, &run, "16", &[]);
        assert!(ok, "{out}{err}");
        (faces, run)
    })
}

/// The manifest rows (path, subject) of `faces`.
fn rows(faces: &Path) -> Vec<(String, String)> {
    csv::Reader::from_path(faces.join("manifest.csv"))
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (faces.join(&r[0]).display().to_string(), r[1].to_string())
        })
        .collect()
}

/// The subjects the run trained on.
fn training_subjects(run: &Path) -> Vec<String> {
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("checkpoint.json")).unwrap())
            .unwrap();
    sidecar["fr_classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn identify_enrols_a_gallery_and_names_its_people_far_above_chance() {
    let (faces, run) = trained();
    let people = training_subjects(run);
    assert!(people.len() >= 3, "{people:?}");
    // Enrol 4 images of each training subject; probe with 4 others of each.
    let gallery = temp_dir("gallery.csv");
    let mut text = String::from("path,subject,expression\n");
    let mut probes: Vec<(String, String)> = Vec::new();
    for person in &people {
        let theirs: Vec<(String, String)> =
            rows(faces).into_iter().filter(|r| &r.1 == person).collect();
        // Alternate images (each expression on both sides): enrolled, probe, enrolled, ...
        for (k, (path, _)) in theirs.iter().enumerate().take(8) {
            if k % 2 == 0 {
                text += &format!("{path},{person},\n");
            } else {
                probes.push((path.clone(), person.clone()));
            }
        }
    }
    std::fs::write(&gallery, text).unwrap();
    let mut args = vec![
        "identify",
        "--checkpoint",
        run.to_str().unwrap(),
        "--gallery",
        gallery.to_str().unwrap(),
        "--threshold",
        "-1",
        "--quiet",
    ];
    args.extend(probes.iter().map(|p| p.0.as_str()));
    let (ok, out, err) = facemtl(&args);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "gallery: {} people from {} images",
            people.len(),
            4 * people.len()
        )),
        "{out}"
    );
    let right = probes
        .iter()
        .filter(|(path, person)| {
            out.lines()
                .any(|l| l.starts_with(&format!("{path}: {person} ")))
        })
        .count();
    let chance = probes.len() as f64 / people.len() as f64;
    assert!(
        right as f64 >= 3.0 * chance && right * 10 >= probes.len() * 7,
        "{right} of {} right (chance {chance}):\n{out}",
        probes.len()
    );
    // With the threshold at the top no one is known.
    args[6] = "1";
    let (ok, out, _) = facemtl(&args);
    assert!(
        ok && out.lines().skip(1).all(|l| l.contains(": unknown")),
        "{out}"
    );
    // A folder of one folder per person works as a gallery too.
    let folders = temp_dir("gallery-folders");
    for person in &people[..2] {
        std::fs::create_dir_all(folders.join(person)).unwrap();
        for (k, (path, _)) in rows(faces)
            .iter()
            .filter(|r| &r.1 == person)
            .take(3)
            .enumerate()
        {
            std::fs::copy(path, folders.join(person).join(format!("{k}.png"))).unwrap();
        }
    }
    let (ok, out, err) = facemtl(&[
        "identify",
        "--checkpoint",
        run.to_str().unwrap(),
        "--gallery",
        folders.to_str().unwrap(),
        &probes[0].0,
    ]);
    assert!(
        ok && out.contains("gallery: 2 people from 6 images"),
        "{out}{err}"
    );
}

#[test]
fn verify_scores_pairs_and_embed_writes_unit_vectors() {
    let (faces, run) = trained();
    let all = rows(faces);
    let same = all
        .iter()
        .filter(|r| r.1 == all[0].1)
        .nth(5)
        .unwrap()
        .0
        .clone();
    let other = all.iter().find(|r| r.1 != all[0].1).unwrap().0.clone();
    let (ok, out, err) = facemtl(&[
        "verify",
        "--checkpoint",
        run.to_str().unwrap(),
        &all[0].0,
        &same,
        &all[0].0,
        &other,
    ]);
    assert!(ok, "{err}");
    let scores: Vec<f32> = out
        .lines()
        .filter_map(|l| l.split("similarity ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(scores.len(), 2, "{out}");
    assert!(
        scores[0] > scores[1],
        "the same person scores higher: {out}"
    );
    assert!(
        out.starts_with("threshold ") && out.contains("validation split"),
        "{out}"
    );
    // Pairs only; unreadable images named.
    let (ok, _, err) = facemtl(&[
        "verify",
        "--checkpoint",
        run.to_str().unwrap(),
        &all[0].0,
        &same,
        &other,
    ]);
    assert!(!ok && err.contains("in pairs"), "{err}");
    let (ok, _, err) = facemtl(&[
        "verify",
        "--checkpoint",
        run.to_str().unwrap(),
        &all[0].0,
        "/no/such.png",
    ]);
    assert!(!ok && err.contains("/no/such.png"), "{err}");

    let csv_out = temp_dir("embeddings.csv");
    let (ok, _, err) = facemtl(&[
        "embed",
        "--checkpoint",
        run.to_str().unwrap(),
        "--data",
        faces.to_str().unwrap(),
        "--out",
        csv_out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(ok, "{err}");
    let records: Vec<csv::StringRecord> = csv::Reader::from_path(&csv_out)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len(), all.len());
    for r in &records {
        assert_eq!(r.len(), 2 + 128);
        let norm: f32 = r
            .iter()
            .skip(2)
            .map(|v| v.parse::<f32>().unwrap().powi(2))
            .sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    assert_eq!(&records[0][1], all[0].1.as_str());
    // Not over an existing file; a .safetensors of the images given.
    let (ok, _, err) = facemtl(&[
        "embed",
        "--checkpoint",
        run.to_str().unwrap(),
        &all[0].0,
        "--out",
        csv_out.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--overwrite"), "{err}");
    let st = temp_dir("embeddings.safetensors");
    let (ok, _, err) = facemtl(&[
        "embed",
        "--checkpoint",
        run.to_str().unwrap(),
        &all[0].0,
        &other,
        "--out",
        st.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let bytes = std::fs::read(&st).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(tensors.tensor("embeddings").unwrap().shape(), [2, 128]);
}

#[test]
fn eval_reports_open_set_identification_on_the_unseen_subjects() {
    let (_, run) = trained();
    let (ok, out, err) = facemtl(&["eval", "--checkpoint", run.to_str().unwrap()]);
    assert!(ok, "{err}");
    // 2 folds of 8 subjects: 4 unseen test subjects, 14 images each, one enrolled.
    assert!(
        out.contains("rank-1 ") && out.contains("over 52 probes of 4 people"),
        "{out}"
    );
    assert!(
        out.contains("TAR at FAR 1%:             0.")
            || out.contains("TAR at FAR 1%:             1."),
        "{out}"
    );
    assert!(out.contains("156 impostor pairs, 1000 needed"), "{out}");
}

#[test]
fn open_set_commands_refuse_what_they_cannot_answer() {
    let (faces, run) = trained();
    let image = rows(faces)[0].0.clone();
    // A checkpoint whose FR branch never trained.
    let fer_only = temp_dir("open-set-fer-only");
    let (ok, out, err) = train_on(faces, &fer_only, "1", &["--tasks", "fer"]);
    assert!(ok, "{out}{err}");
    let out_file = temp_dir("never.csv");
    for args in [
        vec![
            "embed",
            "--checkpoint",
            fer_only.to_str().unwrap(),
            &image,
            "--out",
            out_file.to_str().unwrap(),
        ],
        vec![
            "verify",
            "--checkpoint",
            fer_only.to_str().unwrap(),
            &image,
            &image,
        ],
        vec![
            "identify",
            "--checkpoint",
            fer_only.to_str().unwrap(),
            "--gallery",
            faces.to_str().unwrap(),
            &image,
        ],
    ] {
        let (ok, out, err) = facemtl(&args);
        assert!(
            !ok && err.contains("--tasks fer") && out.is_empty(),
            "{args:?}: {out}{err}"
        );
    }
    // A gallery that names nobody, and one that is not there.
    let nobody = temp_dir("nobody.csv");
    std::fs::write(
        &nobody,
        format!("path,subject,expression\n{image},,happiness\n"),
    )
    .unwrap();
    let (ok, _, err) = facemtl(&[
        "identify",
        "--checkpoint",
        run.to_str().unwrap(),
        "--gallery",
        nobody.to_str().unwrap(),
        &image,
    ]);
    assert!(!ok && err.contains("names its person"), "{err}");
    let (ok, _, err) = facemtl(&[
        "identify",
        "--checkpoint",
        run.to_str().unwrap(),
        "--gallery",
        "/no/gallery",
        &image,
    ]);
    assert!(!ok && err.contains("--gallery /no/gallery"), "{err}");
}
