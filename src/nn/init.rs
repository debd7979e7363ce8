//! Seeded weight initialisation.

use rand::rngs::StdRng;
use rand::Rng;

/// How a weight tensor is initialised from its fan-in and fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// He / Kaiming normal, std = sqrt(2 / fan_in): for layers followed by ReLU.
    He,
    /// Xavier / Glorot uniform, limit = sqrt(6 / (fan_in + fan_out)): for the rest.
    Xavier,
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

impl Init {
    /// `len` initial values for a weight with the given fans.
    pub fn sample(self, rng: &mut StdRng, len: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        match self {
            Init::He => {
                let std = (2.0 / fan_in.max(1) as f32).sqrt();
                (0..len).map(|_| std * standard_normal(rng)).collect()
            }
            Init::Xavier => {
                let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
                (0..len).map(|_| rng.random_range(-limit..=limit)).collect()
            }
        }
    }
}
