//! Reverse-mode automatic differentiation: a [`Tape`] records each op of the forward pass
//! (with what its backward needs) and replays the tape backwards.

mod backward;
mod params;
mod tape;

pub use backward::Gradients;
pub(crate) use params::already_grouped;
pub use params::{ParamId, ParamStore};
pub use tape::{Tape, Var};
