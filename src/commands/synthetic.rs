//! The flags of the built-in synthetic faces, shared by `train` and `gen-data`.

use clap::Args;
use facemtl::data::synthetic::SyntheticConfig;

use super::flags;

fn defaults() -> SyntheticConfig {
    SyntheticConfig::default()
}

#[derive(Args, Debug, Clone)]
pub struct SyntheticArgs {
    /// Synthetic subjects (at least 2).
    #[arg(long, value_parser = flags::at_least::<2>, allow_negative_numbers = true, default_value_t = defaults().subjects)]
    pub subjects: usize,
    /// Synthetic images per subject and expression (at least 1).
    #[arg(
        long = "per-expression",
        value_name = "N",
        value_parser = flags::at_least::<1>, allow_negative_numbers = true,
        default_value_t = defaults().images_per_expression
    )]
    pub images_per_expression: usize,
    /// Seed of the synthetic faces.
    #[arg(id = "data_seed", long = "data-seed", value_name = "SEED", value_parser = flags::seed, allow_negative_numbers = true, default_value_t = defaults().seed)]
    pub seed: u64,
    /// Variety between synthetic subjects, in [0, 10] (smaller: harder face recognition).
    #[arg(long, value_parser = flags::strength, allow_negative_numbers = true, default_value_t = defaults().identity_spread)]
    pub identity_spread: f32,
    /// Strength of synthetic expressions, in [0, 10] (smaller: harder expression
    /// recognition).
    #[arg(long, value_parser = flags::strength, allow_negative_numbers = true, default_value_t = defaults().expression_strength)]
    pub expression_strength: f32,
    /// Pose, lighting and noise of synthetic images, in [0, 10] (0: none).
    #[arg(long, value_parser = flags::strength, allow_negative_numbers = true, default_value_t = defaults().nuisance)]
    pub nuisance: f32,
}

impl SyntheticArgs {
    /// The faces these flags ask for, at the default size (train sets the network's).
    pub fn config(&self) -> SyntheticConfig {
        SyntheticConfig {
            subjects: self.subjects,
            images_per_expression: self.images_per_expression,
            seed: self.seed,
            identity_spread: self.identity_spread,
            expression_strength: self.expression_strength,
            nuisance: self.nuisance,
            ..SyntheticConfig::default()
        }
    }
}
