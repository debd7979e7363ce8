//! `eval --pairs`: LFW's protocol on generated faces laid out as LFW is (ROOT/NAME/
//! NAME_0001.jpg) with a generated pairs file. The figures are checked against ones computed
//! here from `embed`'s output: the AUC over all pairs, and each set's threshold chosen on the
//! other set's pairs (it would differ if chosen on its own).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::cli::{facemtl, gen_faces, temp_dir, tiny_run_args};

/// 10 generated people with 7 images each, copied into LFW's layout; (root, names).
fn lfw_layout() -> (PathBuf, Vec<String>) {
    let faces = gen_faces("lfw-source", "10", "1", &["--data-seed", "9"]);
    let root = temp_dir("lfw-root");
    let manifest = std::fs::read_to_string(faces.join("manifest.csv")).unwrap();
    let mut count: HashMap<String, u32> = HashMap::new();
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let name = f[1].to_string();
        let k = count.entry(name.clone()).or_insert(0);
        *k += 1;
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        // PNG bytes under LFW's .jpg names: the decoder reads the content.
        std::fs::copy(faces.join(f[0]), dir.join(format!("{name}_{:04}.jpg", k))).unwrap();
    }
    let mut names: Vec<String> = count.into_keys().collect();
    names.sort();
    (root, names)
}

/// Two sets of 6 matched and 6 mismatched pairs over `names`.
fn pairs_text(names: &[String]) -> String {
    let mut text = String::from("2\t6\n");
    for set in 0..2 {
        for k in 0..6 {
            let name = &names[(set * 5 + k) % names.len()];
            text += &format!("{name}\t{}\t{}\n", 1 + k % 3, 4 + k % 4);
        }
        for k in 0..6 {
            let (a, b) = (
                &names[(set + k) % names.len()],
                &names[(set + k + 3) % names.len()],
            );
            text += &format!("{a}\t{}\t{b}\t{}\n", 1 + k % 7, 7 - k % 7);
        }
    }
    text
}

/// The most accurate threshold on `scores` (similarity >= t: same), the highest of equals.
fn best(scores: &[(f32, bool)]) -> f32 {
    let mut best = (0usize, f32::NAN);
    let mut candidates: Vec<f32> = scores.iter().map(|s| s.0).collect();
    candidates.sort_by(f32::total_cmp);
    for t in candidates {
        let right = scores.iter().filter(|(s, same)| (*s >= t) == *same).count();
        if right >= best.0 {
            best = (right, t);
        }
    }
    best.1
}

fn embeddings(run: &Path, root: &Path) -> HashMap<String, Vec<f32>> {
    let csv = temp_dir("lfw-embed.csv");
    let images: Vec<String> = walk(root);
    let mut args = vec![
        "embed",
        "--checkpoint",
        run.to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
    ];
    args.extend(images.iter().map(String::as_str));
    let (ok, _, err) = facemtl(&args);
    assert!(ok, "{err}");
    std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (
                f[0].to_string(),
                f[2..].iter().map(|v| v.parse().unwrap()).collect(),
            )
        })
        .collect()
}

fn walk(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for person in std::fs::read_dir(root).unwrap() {
        for image in std::fs::read_dir(person.unwrap().path()).unwrap() {
            files.push(image.unwrap().path().display().to_string());
        }
    }
    files.sort();
    files
}

#[test]
fn lfw_pairs_are_scored_set_by_set_at_thresholds_from_the_other_sets() {
    let run = temp_dir("lfw-run");
    let (ok, _, err) = facemtl(
        &tiny_run_args(&run, "2", &["--tasks", "fr"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(ok, "{err}");
    let (root, names) = lfw_layout();
    let pairs = temp_dir("lfw-pairs.txt");
    let text = pairs_text(&names);
    std::fs::write(&pairs, &text).unwrap();
    let eval_pairs = || {
        facemtl(&[
            "eval",
            "--checkpoint",
            run.to_str().unwrap(),
            "--pairs",
            pairs.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
        ])
    };
    let (ok, out, err) = eval_pairs();
    assert!(ok, "{err}");
    assert!(out.contains("pairs: 24 (2 sets"), "{out}");

    // The same figures from embed's embeddings.
    let emb = embeddings(&run, &root);
    let path = |name: &str, n: &str| {
        root.join(name)
            .join(format!("{name}_{:04}.jpg", n.parse::<u32>().unwrap()))
            .display()
            .to_string()
    };
    let mut scores: Vec<Vec<(f32, bool)>> = vec![Vec::new(), Vec::new()];
    for (i, line) in text.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let (a, b, same) = match f[..] {
            [n, a, b] => (path(n, a), path(n, b), true),
            [n1, a, n2, b] => (path(n1, a), path(n2, b), false),
            _ => unreachable!(),
        };
        let s: f32 = emb[&a].iter().zip(&emb[&b]).map(|(x, y)| x * y).sum();
        scores[i / 12].push((s, same));
    }
    let all: Vec<(f32, bool)> = scores.concat();
    let (mut wins, mut total) = (0.0, 0.0);
    for g in all.iter().filter(|s| s.1) {
        for i in all.iter().filter(|s| !s.1) {
            wins += if g.0 > i.0 {
                1.0
            } else if g.0 == i.0 {
                0.5
            } else {
                0.0
            };
            total += 1.0;
        }
    }
    let auc_line = out.lines().find(|l| l.starts_with("ROC AUC")).unwrap();
    let printed: f64 = auc_line.split_whitespace().last().unwrap().parse().unwrap();
    assert!(
        (printed - wins / total).abs() < 1e-3,
        "{printed} against {}",
        wins / total
    );
    // Set 1 at the threshold of set 2's pairs, and the reverse.
    let rows: Vec<Vec<f64>> = out
        .lines()
        .skip_while(|l| !l.starts_with("set"))
        .skip(1)
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for (k, row) in rows.iter().enumerate() {
        let threshold = best(&scores[1 - k]);
        assert!(
            (row[2] - threshold as f64).abs() < 1e-3,
            "set {}: {row:?}, {threshold}",
            k + 1
        );
        let own = best(&scores[k]);
        let accuracy = scores[k]
            .iter()
            .filter(|(s, same)| (*s >= threshold) == *same)
            .count() as f64
            / 12.0;
        assert!(
            (row[3] - accuracy).abs() < 1e-3,
            "set {}: {row:?}, {accuracy}",
            k + 1
        );
        // A threshold chosen on the set itself would do at least as well.
        let own_accuracy = scores[k]
            .iter()
            .filter(|(s, same)| (*s >= own) == *same)
            .count();
        assert!(own_accuracy as f64 / 12.0 >= accuracy);
    }

    // Errors that say what is wrong: a short file, a missing image, a manifest without it.
    std::fs::write(&pairs, text.lines().take(20).collect::<Vec<_>>().join("\n")).unwrap();
    let (ok, _, err) = eval_pairs();
    assert!(
        !ok && err.contains("ends early") && err.contains("set 2"),
        "{err}"
    );
    std::fs::write(
        &pairs,
        text.replacen(&format!("{}\t1", names[0]), &format!("{}\t9", names[0]), 1),
    )
    .unwrap();
    let (ok, _, err) = eval_pairs();
    assert!(!ok && err.contains("_0009.jpg"), "{err}");
    let (ok, _, err) = facemtl(&[
        "eval",
        "--checkpoint",
        run.to_str().unwrap(),
        "--pairs",
        pairs.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--root"), "{err}");
}
