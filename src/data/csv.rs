//! Splitting one CSV line into fields (RFC 4180 quoting: `"a, b"`, `""` for a quote).

/// The fields of `line`, or a description of why it is malformed.
pub fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            (false, '"') => return Err("a quote in the middle of an unquoted field".into()),
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            (false, c) => {
                field.push(c);
                at_field_start = false;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                match chars.peek() {
                    None | Some(',') => {}
                    Some(_) => return Err("text after a closing quote".into()),
                }
            }
            (true, c) => field.push(c),
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::split_line;
    use rand::{Rng, SeedableRng};

    #[test]
    fn plain_quoted_and_empty_fields() {
        assert_eq!(split_line("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_line("a,,c\r\n").unwrap(), ["a", "", "c"]);
        assert_eq!(
            split_line(r#""x, y",2,"say ""hi""""#).unwrap(),
            ["x, y", "2", r#"say "hi""#]
        );
        assert_eq!(split_line("").unwrap(), [""]);
        assert!(split_line(r#""open"#).is_err());
        assert!(split_line(r#"a"b,c"#).is_err());
        assert!(split_line(r#""a"b,c"#).is_err());
    }

    #[test]
    fn random_lines_never_panic_and_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let alphabet = ['a', 'b', ',', '"', ' ', '\r', 'é', '0'];
        for _ in 0..20_000 {
            let len = rng.random_range(0..24);
            let line: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let _ = split_line(&line);
        }
        // Quoting any fields and splitting gives them back.
        for _ in 0..2_000 {
            let fields: Vec<String> = (0..rng.random_range(1..5))
                .map(|_| {
                    (0..rng.random_range(0..6))
                        .map(|_| alphabet[rng.random_range(0..alphabet.len() - 2)])
                        .collect()
                })
                .collect();
            let line = fields
                .iter()
                .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(",");
            assert_eq!(split_line(&line).unwrap(), fields, "line {line:?}");
        }
    }
}
