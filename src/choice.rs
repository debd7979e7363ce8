//! Enums a user picks by name: on the command line (`--preset`, `--color`, ...) and in run
//! files (serde writes the same names). Each lists its values once, with the name, the
//! other spellings it accepts and a line of help, so the command layer can offer them
//! without the library knowing about the command line.

/// One value of a [`Choice`] enum and how a user names it.
#[derive(Debug, Clone, Copy)]
pub struct Named<T: 'static> {
    pub value: T,
    /// The name serde writes and help shows.
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    pub help: &'static str,
}

/// An enum whose values a user picks by name.
pub trait Choice: Copy + PartialEq + Send + Sync + 'static {
    /// Every value, in the order help lists them.
    const VALUES: &'static [Named<Self>];

    /// The value's name.
    fn name(self) -> &'static str {
        Self::VALUES
            .iter()
            .find(|v| v.value == self)
            .map(|v| v.name)
            .expect("every value of a Choice is listed")
    }

    /// The value named `text` (its name or an alias, any case).
    fn from_name(text: &str) -> Option<Self> {
        Self::VALUES
            .iter()
            .find(|v| {
                v.name.eq_ignore_ascii_case(text)
                    || v.aliases.iter().any(|a| a.eq_ignore_ascii_case(text))
            })
            .map(|v| v.value)
    }
}

/// `Display` by name for [`Choice`] enums.
macro_rules! display_by_name {
    ($($t:ty),+) => {
        $(impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::choice::Choice::name(*self))
            }
        })+
    };
}
pub(crate) use display_by_name;

/// A [`Named`] value without aliases.
pub(crate) const fn named<T>(value: T, name: &'static str, help: &'static str) -> Named<T> {
    Named {
        value,
        name,
        aliases: &[],
        help,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::augment::AugmentLevel;
    use crate::data::formats::Format;
    use crate::data::image::Color;
    use crate::model::Preset;
    use crate::train::config::{OptimizerName, Tasks};

    /// Every value's name is the one serde writes and reads back, and every alias parses.
    fn names_match_serde<
        T: Choice + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    >() {
        for v in T::VALUES {
            let written = serde_json::to_string(&v.value).unwrap();
            assert_eq!(written, format!("\"{}\"", v.name), "{:?}", v.value);
            assert_eq!(T::from_name(v.name), Some(v.value));
            assert_eq!(T::from_name(&v.name.to_uppercase()), Some(v.value));
            for alias in v.aliases {
                assert_eq!(T::from_name(alias), Some(v.value), "alias {alias}");
                let read: T = serde_json::from_str(&format!("\"{alias}\"")).unwrap();
                assert_eq!(read, v.value, "serde alias {alias}");
            }
        }
        assert_eq!(T::from_name("no-such-name"), None);
    }

    #[test]
    fn every_choice_is_named_as_serde_names_it() {
        names_match_serde::<Preset>();
        names_match_serde::<Format>();
        names_match_serde::<Color>();
        names_match_serde::<AugmentLevel>();
        names_match_serde::<Tasks>();
        names_match_serde::<OptimizerName>();
    }
}
