//! Flags that take a [`Choice`] enum's names: the names, their aliases and a line of help
//! each, as the library lists them.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use facemtl::choice::Choice;

/// A value parser of `T`'s names (any case where the flag sets `ignore_case`).
pub fn parser<T: Choice>() -> impl TypedValueParser<Value = T> {
    let values = T::VALUES.iter().map(|v| {
        PossibleValue::new(v.name)
            .aliases(v.aliases.iter().copied())
            .help(v.help)
    });
    PossibleValuesParser::new(values)
        .map(|text: String| T::from_name(&text).expect("clap accepts only the listed names"))
}
