//! Value parsers for the command line's numeric flags, in one place: each checks that the
//! value is a finite number in the flag's range and says the range when it is not, so no
//! NaN, infinity or out-of-range value reaches a run. (TrainConfig::validate checks the
//! same ranges again for configs read from disk.)

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim()
        .parse::<T>()
        .map_err(|_| format!("{text:?} is not {what}"))
}

/// A whole number of type `T` of at least `min`: a negative value or one past `T`'s range
/// is named as such, with the flag's least value.
fn whole<T: std::str::FromStr + std::fmt::Display>(
    text: &str,
    min: usize,
    max: T,
) -> Result<T, String> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if let Some(magnitude) = digits.strip_prefix('-') {
        if !magnitude.is_empty() && magnitude.bytes().all(|b| b.is_ascii_digit()) {
            return Err(match min {
                0 => format!("{text} is negative; it must be 0 or more"),
                _ => format!("{text} is negative; it must be at least {min}"),
            });
        }
    }
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits
            .parse::<T>()
            .map_err(|_| format!("{text} is too large (at most {max})"));
    }
    Err(format!("{text:?} is not a whole number"))
}

/// Any whole number of 0 or more that fits in 64 bits (a seed).
pub fn seed(text: &str) -> Result<u64, String> {
    whole(text, 0, u64::MAX)
}

/// Any whole number of 0 or more (an index such as a fold).
pub fn index(text: &str) -> Result<usize, String> {
    whole(text, 0, usize::MAX)
}

/// A finite number; `range` (e.g. "in [0, 10]") says what the flag takes when the text is
/// a number past f32's range, an infinity or NaN.
fn finite(text: &str, range: &str) -> Result<f32, String> {
    let v: f32 = number(text, "a number")?;
    let spelled = text
        .trim()
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase();
    if v.is_finite() {
        Ok(v)
    } else if v.is_nan() || spelled.starts_with("inf") {
        Err(format!("{text} is not a finite number; it must be {range}"))
    } else {
        // A numeral past f32's range (1e308).
        Err(format!("{text} is out of range; it must be {range}"))
    }
}

/// A finite number > 0.
pub fn positive(text: &str) -> Result<f32, String> {
    let v = finite(text, "above 0")?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be above 0, got {v}"))
    }
}

/// A finite number >= 0.
pub fn non_negative(text: &str) -> Result<f32, String> {
    let v = finite(text, "0 or more")?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be 0 or more, got {v}"))
    }
}

/// A probability in (0, 1].
pub fn probability(text: &str) -> Result<f32, String> {
    let v = finite(text, "in (0, 1]")?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be in (0, 1], got {v}"))
    }
}

/// A share in [0, 0.5).
pub fn share(text: &str) -> Result<f32, String> {
    let v = finite(text, "in [0, 0.5)")?;
    if (0.0..0.5).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be in [0, 0.5), got {v}"))
    }
}

/// A cosine similarity in [-1, 1] (a verification threshold).
pub fn cosine(text: &str) -> Result<f32, String> {
    let v = finite(text, "a cosine similarity in [-1, 1]")?;
    if (-1.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be a cosine similarity in [-1, 1], got {v}"))
    }
}

/// A strength of the synthetic faces in [0, 10].
pub fn strength(text: &str) -> Result<f32, String> {
    let v = finite(text, "in [0, 10]")?;
    if (0.0..=10.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be in [0, 10], got {v}"))
    }
}

/// A crop margin around a face box, as a share of its larger side, in [0, 2].
pub fn margin(text: &str) -> Result<f32, String> {
    let v = finite(text, "in [0, 2]")?;
    if (0.0..=2.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be in [0, 2], got {v}"))
    }
}

/// A whole number of at least `MIN`.
pub fn at_least<const MIN: usize>(text: &str) -> Result<usize, String> {
    let v = whole(text, MIN, usize::MAX)?;
    if v >= MIN {
        Ok(v)
    } else {
        Err(format!("must be at least {MIN}, got {v}"))
    }
}

/// A whole number in [`MIN`, `MAX`].
pub fn between<const MIN: usize, const MAX: usize>(text: &str) -> Result<usize, String> {
    let v = whole(text, MIN, usize::MAX)?;
    if (MIN..=MAX).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be in [{MIN}, {MAX}], got {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_non_finite_values_are_errors_that_say_the_range() {
        assert_eq!(positive("0.5"), Ok(0.5));
        for bad in ["0", "-1", "nan", "NaN", "inf", "-inf", "x", ""] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert!(positive("-1").unwrap_err().contains("above 0"));
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-0.1").unwrap_err().contains("0 or more"));
        assert!(non_negative("nan").unwrap_err().contains("finite"));
        assert_eq!(probability("1"), Ok(1.0));
        assert!(probability("0").is_err() && probability("1.5").is_err());
        assert_eq!(share("0"), Ok(0.0));
        assert!(share("0.5").unwrap_err().contains("[0, 0.5)"));
        assert!(strength("11").is_err() && strength("inf").is_err() && strength("-1").is_err());
        assert_eq!(at_least::<2>("2"), Ok(2));
        assert!(at_least::<2>("1").unwrap_err().contains("at least 2"));
        let e = at_least::<1>("-3").unwrap_err();
        assert!(e.contains("negative") && e.contains("at least 1"), "{e}");
        assert!(!at_least::<2>("-1").unwrap_err().contains("0 or more"));
        assert!(between::<8, 1024>("-1").unwrap_err().contains("at least 8"));
        // A number past f32's range says the range, not only "not finite".
        let e = strength("1e308").unwrap_err();
        assert!(e.contains("out of range") && e.contains("[0, 10]"), "{e}");
        assert!(positive("nan").unwrap_err().contains("above 0"));
        assert!(strength("-inf")
            .unwrap_err()
            .contains("not a finite number"));
        assert_eq!(margin("2"), Ok(2.0));
        assert!(margin("-1").unwrap_err().contains("[0, 2]"));
        assert!(margin("2.5").unwrap_err().contains("[0, 2]"));
        assert!(at_least::<1>("1.5").unwrap_err().contains("whole number"));
        let e = at_least::<1>("18446744073709551616").unwrap_err();
        assert!(
            e.contains("too large") && e.contains(&usize::MAX.to_string()),
            "{e}"
        );
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(seed("-1").unwrap_err().contains("negative"));
        assert!(index("-0x1").unwrap_err().contains("whole number"));
        assert_eq!(between::<8, 1024>("48"), Ok(48));
        assert!(between::<8, 1024>("1000000")
            .unwrap_err()
            .contains("[8, 1024]"));
    }
}
