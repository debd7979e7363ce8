//! `facemtl compare`: several weighting methods trained on the same folds, seeds and data
//! order (each a cross-validation in `DIR/<method>/`), and one table: mean ± sd over folds x
//! seeds of every test metric per method, the best per column marked, and each method's
//! paired per-run difference from static 0.5/0.5 with an exact two-sided sign-flip
//! (permutation) test across the runs. A method that fails (e.g. its losses diverge) is
//! recorded as failed and the others go on; an interrupted compare resumes with
//! `--resume DIR` where it stopped (`compare.json` holds the plan).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{Tasks, TrainConfig};
use super::cv::{self, CvOptions, CvSummary, FoldRow, Spread};
use super::error::TrainError;
use super::lock::RunLock;
use super::plots;
use super::report::write_json;
use crate::gpu::Gpu;
use crate::weighting::WeightingSpec;

/// The plan's file name.
pub use super::files::COMPARE_PLAN as PLAN;

/// Every method `--methods` takes by name (besides `static:W_FR,W_FER`).
pub const METHOD_NAMES: &str = "static, fr, fer, dynamic, balanced, naive-dynamic, uncertainty, gradnorm, dwa, rlw, dtp, famo, pcgrad, mgda";

/// One method to compare, as `--methods` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Method {
    pub name: String,
    pub weighting: WeightingSpec,
    pub tasks: Tasks,
}

impl Method {
    /// `static` is static 0.5/0.5, `fr` / `fer` single-task training, any other name a
    /// `--weighting` value (e.g. `dynamic`, `uncertainty`, `static:0.7,0.3`).
    pub fn parse(name: &str) -> Result<Method, String> {
        let (weighting, tasks) = match name {
            "static" => (WeightingSpec::Static([0.5, 0.5]), Tasks::Both),
            "fr" => (WeightingSpec::Static([1.0, 0.0]), Tasks::Fr),
            "fer" => (WeightingSpec::Static([0.0, 1.0]), Tasks::Fer),
            other => (
                WeightingSpec::parse(other).map_err(|e| {
                    if other.starts_with("static:") {
                        format!("--methods: {e}")
                    } else {
                        format!("--methods: unknown method {other:?}; the methods are {METHOD_NAMES} and static:W_FR,W_FER")
                    }
                })?,
                Tasks::Both,
            ),
        };
        Ok(Method {
            name: name.to_string(),
            weighting,
            tasks,
        })
    }

    /// The methods of a `--methods` list (comma-separated; `static:a,b` is one method).
    pub fn parse_list(text: &str) -> Result<Vec<Method>, String> {
        let mut names: Vec<String> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match names.last_mut() {
                // The second weight of `static:a,b`.
                Some(last) if last.starts_with("static:") && !last.contains(',') => {
                    last.push(',');
                    last.push_str(part);
                }
                _ => names.push(part.to_string()),
            }
        }
        if names.is_empty() {
            return Err("--methods names no method".into());
        }
        let methods = names
            .iter()
            .map(|n| Method::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, m) in methods.iter().enumerate() {
            if methods[..i].iter().any(|o| o.name == m.name) {
                return Err(format!("--methods lists {} twice", m.name));
            }
        }
        Ok(methods)
    }

    /// The folder name of the method's runs.
    fn dir_name(&self) -> String {
        self.name.replace([':', ','], "_")
    }
}

/// What a compare runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparePlan {
    /// The recipe (its weighting and tasks are set per method, its fold per run).
    pub config: TrainConfig,
    pub folds: usize,
    pub seeds: Vec<u64>,
    pub methods: Vec<Method>,
}

/// A metric's paired difference from static 0.5/0.5 over the runs both have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    pub mean_difference: f64,
    pub runs: usize,
    /// Exact two-sided sign-flip test of a zero mean difference.
    pub p_value: f64,
}

/// One method's line of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodResult {
    pub method: String,
    /// Why it has no figures (None when it ran).
    pub failed: Option<String>,
    pub fer_accuracy: Option<Spread>,
    pub fr_identification_accuracy: Option<Spread>,
    pub fr_verification_accuracy: Option<Spread>,
    pub fr_verification_auc: Option<Spread>,
    pub train_seconds: f64,
    /// Against static 0.5/0.5, per metric (when static is compared too).
    pub versus_static: [Option<Paired>; 4],
    pub runs: Vec<FoldRow>,
}

const METRICS: [&str; 4] = [
    "FER accuracy",
    "FR identification",
    "FR verification accuracy",
    "FR verification AUC",
];

fn metric(row: &FoldRow, k: usize) -> Option<f32> {
    [
        row.fer_accuracy,
        row.fr_identification_accuracy,
        row.fr_verification_accuracy,
        row.fr_verification_auc,
    ][k]
}

impl MethodResult {
    fn spreads(&self) -> [&Option<Spread>; 4] {
        [
            &self.fer_accuracy,
            &self.fr_identification_accuracy,
            &self.fr_verification_accuracy,
            &self.fr_verification_auc,
        ]
    }
}

/// The exact two-sided p-value of a sign-flip test on paired `differences`: the share of
/// the 2^n sign assignments whose |mean| is at least the observed one (n up to 20; beyond,
/// the first 20 differences).
pub fn sign_flip_p(differences: &[f64]) -> f64 {
    let d = &differences[..differences.len().min(20)];
    let n = d.len();
    if n == 0 {
        return 1.0;
    }
    let observed = d.iter().sum::<f64>().abs();
    let mut extreme = 0u64;
    for signs in 0..1u64 << n {
        let total: f64 = d
            .iter()
            .enumerate()
            .map(|(i, v)| if signs >> i & 1 == 1 { -v } else { *v })
            .sum();
        if total.abs() >= observed - 1e-12 {
            extreme += 1;
        }
    }
    extreme as f64 / (1u64 << n) as f64
}

fn paired(method: &[FoldRow], baseline: &[FoldRow], k: usize) -> Option<Paired> {
    let differences: Vec<f64> = method
        .iter()
        .filter_map(|r| {
            let base = baseline
                .iter()
                .find(|b| b.seed == r.seed && b.fold == r.fold)?;
            Some(metric(r, k)? as f64 - metric(base, k)? as f64)
        })
        .collect();
    (!differences.is_empty()).then(|| Paired {
        mean_difference: differences.iter().sum::<f64>() / differences.len() as f64,
        runs: differences.len(),
        p_value: sign_flip_p(&differences),
    })
}

/// The aggregate of a compare.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareSummary {
    pub plan: ComparePlan,
    pub methods: Vec<MethodResult>,
}

/// Runs (or continues) `plan` in `options.out`.
pub fn compare(
    gpu: &Gpu,
    plan: &ComparePlan,
    options: &CvOptions,
) -> Result<CompareSummary, TrainError> {
    let out = &options.out;
    let _lock = RunLock::acquire(out)?;
    cv::keep_plan(out, PLAN, plan, "comparison")?;
    let mut results = Vec::new();
    for (k, method) in plan.methods.iter().enumerate() {
        crate::say!(
            "compare: method {}/{} ({})",
            k + 1,
            plan.methods.len(),
            method.name
        );
        let cv_plan = cv::Plan {
            config: TrainConfig {
                weighting: method.weighting.clone(),
                tasks: method.tasks,
                ..plan.config.clone()
            },
            folds: plan.folds,
            seeds: plan.seeds.clone(),
        };
        let method_options = CvOptions {
            out: out.join(method.dir_name()),
            progress: options.progress,
            stop: options.stop.clone(),
        };
        let outcome = cv::cross_validate(gpu, &cv_plan, &method_options);
        results.push(match outcome {
            Ok(summary) => result_of(method, &summary),
            Err(TrainError::Interrupted { epoch, batch, .. }) => {
                return Err(TrainError::Interrupted {
                    epoch,
                    batch,
                    dir: out.display().to_string(),
                    command: "compare",
                })
            }
            Err(e) => {
                crate::note!(
                    "facemtl: {} failed: {e}; the other methods go on",
                    method.name
                );
                MethodResult {
                    method: method.name.clone(),
                    failed: Some(e.to_string()),
                    fer_accuracy: None,
                    fr_identification_accuracy: None,
                    fr_verification_accuracy: None,
                    fr_verification_auc: None,
                    train_seconds: 0.0,
                    versus_static: [None, None, None, None],
                    runs: Vec::new(),
                }
            }
        });
    }
    if let Some(base) = results
        .iter()
        .find(|r| r.method == "static")
        .map(|r| r.runs.clone())
    {
        for r in results.iter_mut().filter(|r| r.method != "static") {
            r.versus_static = [0, 1, 2, 3].map(|k| paired(&r.runs, &base, k));
        }
    }
    let summary = CompareSummary {
        plan: plan.clone(),
        methods: results,
    };
    write_report(out, &summary)?;
    Ok(summary)
}

/// A method's line; a single-task method has no figures for the task it did not train
/// (its untrained head would score at chance).
fn result_of(method: &Method, s: &CvSummary) -> MethodResult {
    let (fr, fer) = (method.tasks != Tasks::Fer, method.tasks != Tasks::Fr);
    let runs = s
        .runs
        .iter()
        .map(|r| FoldRow {
            fer_accuracy: r.fer_accuracy.filter(|_| fer),
            fr_identification_accuracy: r.fr_identification_accuracy.filter(|_| fr),
            fr_verification_accuracy: r.fr_verification_accuracy.filter(|_| fr),
            fr_verification_auc: r.fr_verification_auc.filter(|_| fr),
            ..r.clone()
        })
        .collect();
    MethodResult {
        method: method.name.clone(),
        failed: None,
        fer_accuracy: s.fer_accuracy.clone().filter(|_| fer),
        fr_identification_accuracy: s.fr_identification_accuracy.clone().filter(|_| fr),
        fr_verification_accuracy: s.fr_verification_accuracy.clone().filter(|_| fr),
        fr_verification_auc: s.fr_verification_auc.clone().filter(|_| fr),
        train_seconds: s.runs.iter().map(|r| r.train_seconds).sum(),
        versus_static: [None, None, None, None],
        runs,
    }
}

/// The table as Markdown: the best mean per column in bold, and the paired differences.
pub fn markdown(summary: &CompareSummary) -> String {
    let best: Vec<Option<f64>> = (0..4)
        .map(|k| {
            summary
                .methods
                .iter()
                .filter_map(|m| m.spreads()[k].as_ref().map(|s| s.mean))
                .reduce(f64::max)
        })
        .collect();
    let mut text = format!(
        "| method | {} | train time (s) |\n|{}\n",
        METRICS.join(" | "),
        " --- |".repeat(6)
    );
    for m in &summary.methods {
        let cells: Vec<String> = (0..4)
            .map(|k| match (&m.failed, m.spreads()[k]) {
                (Some(_), _) => "failed".to_string(),
                (None, None) => "n/a".to_string(),
                (None, Some(s)) => {
                    let cell = format!("{:.3} ± {:.3}", s.mean, s.sd);
                    if best[k].is_some_and(|b| (b - s.mean).abs() < 1e-12) {
                        format!("**{cell}**")
                    } else {
                        cell
                    }
                }
            })
            .collect();
        text += &format!(
            "| {} | {} | {:.0} |\n",
            m.method,
            cells.join(" | "),
            m.train_seconds
        );
    }
    if summary
        .methods
        .iter()
        .any(|m| m.versus_static.iter().any(Option::is_some))
    {
        text += &format!(
            "\nDifference from static 0.5/0.5, paired by fold and seed (mean; exact two-sided sign-flip test p):\n\n| method | {} |\n|{}\n",
            METRICS.join(" | "),
            " --- |".repeat(5)
        );
        for m in summary.methods.iter().filter(|m| m.method != "static") {
            let cells: Vec<String> = m
                .versus_static
                .iter()
                .map(|p| match p {
                    Some(p) => format!(
                        "{:+.3} (p {:.2}, n {})",
                        p.mean_difference, p.p_value, p.runs
                    ),
                    None => "n/a".into(),
                })
                .collect();
            text += &format!("| {} | {} |\n", m.method, cells.join(" | "));
        }
    }
    for m in summary.methods.iter().filter(|m| m.failed.is_some()) {
        text += &format!(
            "\n{} failed: {}\n",
            m.method,
            m.failed.as_deref().unwrap_or("")
        );
    }
    text
}

/// `compare.md`, `compare.csv`, `summary.json`, `plots/metrics.png` and `plots/weights.png`.
fn write_report(out: &Path, summary: &CompareSummary) -> Result<(), TrainError> {
    let io = |path: &Path, e: &dyn std::fmt::Display| {
        TrainError::Output(format!("{}: {e}", path.display()))
    };
    write_json(&out.join("summary.json"), summary)?;
    let md = out.join("compare.md");
    std::fs::write(&md, markdown(summary)).map_err(|e| io(&md, &e))?;
    #[derive(Serialize)]
    struct Row<'a> {
        method: &'a str,
        metric: &'a str,
        mean: Option<f64>,
        sd: Option<f64>,
        runs: Option<usize>,
        difference_from_static: Option<f64>,
        p_value: Option<f64>,
        failed: Option<&'a str>,
    }
    let csv_path = out.join("compare.csv");
    let mut writer = csv::Writer::from_path(&csv_path).map_err(|e| io(&csv_path, &e))?;
    for m in &summary.methods {
        for (k, name) in METRICS.iter().enumerate() {
            let spread = m.spreads()[k].as_ref();
            let versus = m.versus_static[k].as_ref();
            writer
                .serialize(Row {
                    method: &m.method,
                    metric: name,
                    mean: spread.map(|s| s.mean),
                    sd: spread.map(|s| s.sd),
                    runs: spread.map(|s| s.n),
                    difference_from_static: versus.map(|p| p.mean_difference),
                    p_value: versus.map(|p| p.p_value),
                    failed: m.failed.as_deref(),
                })
                .map_err(|e| io(&csv_path, &e))?;
        }
    }
    writer.flush().map_err(|e| io(&csv_path, &e))?;
    let plots_dir = out.join("plots");
    std::fs::create_dir_all(&plots_dir).map_err(|e| io(&plots_dir, &e))?;
    let names: Vec<String> = summary.methods.iter().map(|m| m.method.clone()).collect();
    let series: Vec<(&str, Vec<plots::MeanSd>)> = METRICS
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let points = summary
                .methods
                .iter()
                .map(|m| m.spreads()[k].as_ref().map(|s| (s.mean, s.sd)))
                .collect();
            (*name, points)
        })
        .collect();
    plots::error_bars(
        &plots_dir.join("metrics.png"),
        "Test figures per method (mean ± sd over folds x seeds)",
        &names,
        &series,
    )
    .map_err(TrainError::Output)?;
    // The task weights over training of each method's first run (the paper's Figure 2).
    let mut weights = Vec::new();
    for (m, method) in summary.methods.iter().zip(&summary.plan.methods) {
        let (Some(seed), true) = (summary.plan.seeds.first(), m.failed.is_none()) else {
            continue;
        };
        let log = out
            .join(method.dir_name())
            .join(format!("seed-{seed}"))
            .join("fold-0")
            .join("metrics.csv");
        let Ok(mut reader) = csv::Reader::from_path(&log) else {
            continue;
        };
        let points: Vec<(f64, f64)> = reader
            .deserialize::<super::logs::StepRow>()
            .filter_map(Result::ok)
            .map(|r| (r.step as f64, r.w_fr as f64))
            .collect();
        weights.push((m.method.as_str(), points));
    }
    plots::line_chart(
        &plots_dir.join("weights.png"),
        "w_FR over training, per method (fold 0; w_FER = 1 - w_FR)",
        "step",
        "w_FR",
        &weights,
    )
    .map_err(TrainError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_lists_keep_static_weights_together() {
        let m = Method::parse_list("dynamic, static,static:0.7,0.3,fr,uncertainty").unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["dynamic", "static", "static:0.7,0.3", "fr", "uncertainty"]
        );
        assert_eq!(m[2].weighting, WeightingSpec::Static([0.7, 0.3]));
        assert_eq!((m[3].tasks, m[1].tasks), (Tasks::Fr, Tasks::Both));
        assert!(Method::parse_list("dynamic,dynamic").is_err());
        assert!(Method::parse_list("magic").is_err());
        assert!(Method::parse_list(",").is_err());
        assert_eq!(m[2].dir_name(), "static_0.7_0.3");
    }

    #[test]
    fn sign_flip_p_values_by_hand() {
        // Three positive differences: of the 8 sign patterns only all-plus and all-minus
        // reach |sum| = 6, so p = 2/8.
        assert_eq!(sign_flip_p(&[1.0, 2.0, 3.0]), 0.25);
        // (1, -1): every pattern's |sum| is 0 or 2, all >= 0: p = 1.
        assert_eq!(sign_flip_p(&[1.0, -1.0]), 1.0);
        // (3, 1): |sum| = 4 for ++ and --, 2 for the others: p = 2/4.
        assert_eq!(sign_flip_p(&[3.0, 1.0]), 0.5);
        assert_eq!(sign_flip_p(&[]), 1.0);
    }
}
