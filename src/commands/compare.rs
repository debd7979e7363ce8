//! `facemtl compare`: every listed weighting method on the same folds, seeds and data
//! order, and one table (terminal, compare.md, compare.csv) with plots.

use std::path::PathBuf;

use super::flags;
use clap::Args;
use facemtl::train::compare::{self, ComparePlan, Method};
use facemtl::train::config::Tasks;
use facemtl::train::cv::{self, CvOptions};
use facemtl::weighting::WeightingSpec;

use super::train::{stop_on_ctrl_c, RecipeArgs};
use super::{open_gpu, refuse_changes};

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// The methods, comma-separated: static (0.5/0.5), fr, fer (single task), or any
    /// --weighting value (dynamic, balanced, naive-dynamic, uncertainty, gradnorm, dwa,
    /// rlw, dtp, famo, pcgrad, mgda, static:W_FR,W_FER).
    #[arg(
        long,
        default_value = "static,dynamic,balanced,uncertainty,gradnorm,dwa,rlw,dtp,famo,pcgrad,mgda,fr,fer"
    )]
    pub methods: String,
    /// Repeat every fold with this many seeds (--seed, --seed + 1, ...).
    #[arg(long, value_parser = flags::at_least::<1>, allow_negative_numbers = true, default_value_t = 1)]
    pub seeds: usize,
    /// Output folder: one cross-validation per method, and the table.
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the comparison saved in DIR with its own settings.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub gpu: super::AdapterArg,
}

pub fn run(args: CompareArgs, given: &[String]) -> Result<(), String> {
    let adapter = args.gpu.adapter.clone();
    if let Some(dir) = args.resume.as_ref().or(args.out.as_ref()) {
        super::check_run_dir(dir, args.resume.is_some())?;
    }
    let (out, plan) = match (&args.resume, &args.out) {
        (Some(dir), _) => {
            refuse_changes(given, &["--quiet", "--adapter"], dir)?;
            let plan: ComparePlan = cv::read_plan(dir, compare::PLAN, "comparison")
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!(
                        "{}: no comparison to resume here",
                        dir.join(compare::PLAN).display()
                    )
                })?;
            (dir.clone(), plan)
        }
        (None, Some(dir)) => {
            if dir.join(compare::PLAN).exists() {
                return Err(format!(
                    "{} already holds a comparison; continue it with --resume {0} or pick another --out",
                    dir.display()
                ));
            }
            let config = args.recipe.config(0, WeightingSpec::Dynamic, Tasks::Both)?;
            let plan = ComparePlan {
                folds: config.folds,
                seeds: (0..args.seeds as u64).map(|k| config.seed + k).collect(),
                methods: Method::parse_list(&args.methods)?,
                config,
            };
            (dir.clone(), plan)
        }
        (None, None) => unreachable!("clap requires --out or --resume"),
    };
    let gpu = open_gpu(adapter, true)?;
    let options = CvOptions {
        out: out.clone(),
        progress: !args.quiet,
        stop: stop_on_ctrl_c(),
    };
    let summary = compare::compare(&gpu, &plan, &options).map_err(|e| e.to_string())?;
    facemtl::say!(
        "\n{} method(s) x {} fold(s) x {} seed(s):\n",
        summary.methods.len(),
        plan.folds,
        plan.seeds.len()
    );
    print!("{}", compare::markdown(&summary));
    facemtl::say!(
        "\nresults in {}: compare.md, compare.csv, summary.json, plots/metrics.png, plots/weights.png, and one cross-validation per method",
        out.display()
    );
    let failed: Vec<&str> = summary
        .methods
        .iter()
        .filter(|m| m.failed.is_some())
        .map(|m| m.method.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} methods failed ({}); their reasons are listed under the table",
            failed.len(),
            summary.methods.len(),
            failed.join(", ")
        ))
    }
}
