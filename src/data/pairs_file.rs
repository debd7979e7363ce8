//! LFW's pairs file (`pairs.txt`, and any file in its layout): a header giving the number
//! of sets and the pairs of each kind per set (`10\t300`; a single number means one set),
//! then, set after set, that many matched pairs `name n1 n2` followed by as many
//! mismatched pairs `name1 n1 name2 n2`, fields separated by tabs or spaces. An image is
//! `ROOT/name/name_NNNN.jpg` (four digits).

use std::path::{Path, PathBuf};

use super::error::{DataError, Result};

/// One image of a pair: a person's name and the image's number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairImage {
    pub name: String,
    pub number: u32,
}

impl PairImage {
    /// Where LFW keeps it under `root`.
    pub fn path(&self, root: &Path) -> PathBuf {
        root.join(&self.name)
            .join(format!("{}_{:04}.jpg", self.name, self.number))
    }
}

/// One pair and whether it shows the same person, with the set (fold) it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedPair {
    pub a: PairImage,
    pub b: PairImage,
    pub same: bool,
    pub set: usize,
}

fn number(path: &Path, line: usize, text: &str, what: &str) -> Result<u32> {
    text.parse::<u32>()
        .map_err(|_| DataError::parse(path, line, format!("{what} {text:?} is not a whole number")))
}

/// Reads a pairs file: every pair, in file order, with its set.
pub fn read(path: &Path) -> Result<Vec<ListedPair>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>()))
        .filter(|(_, f)| !f.is_empty());
    let Some((line, header)) = lines.next() else {
        return Err(DataError::parse(
            path,
            1,
            "empty: expected a header such as \"10 300\" (sets, pairs of each kind per set)",
        ));
    };
    let (sets, per_kind) = match header[..] {
        [n] => (1, number(path, line, n, "the pairs per kind")?),
        [s, n] => (
            number(path, line, s, "the number of sets")?,
            number(path, line, n, "the pairs per kind")?,
        ),
        _ => {
            return Err(DataError::parse(
                path,
                line,
                format!("expected a header such as \"10 300\" (sets, pairs of each kind per set), found {:?}", header.join(" ")),
            ))
        }
    };
    if sets == 0 || per_kind == 0 {
        return Err(DataError::parse(path, line, "the header promises no pairs"));
    }
    let (sets, per_kind) = (sets as usize, per_kind as usize);
    let mut pairs = Vec::with_capacity(sets * 2 * per_kind);
    for set in 0..sets {
        for same in [true, false] {
            for _ in 0..per_kind {
                let Some((line, f)) = lines.next() else {
                    return Err(DataError::parse(
                        path,
                        text.lines().count(),
                        format!(
                            "ends early: the header promises {sets} sets of {per_kind} matched and {per_kind} mismatched pairs; set {} has {} of its {}",
                            set + 1,
                            pairs.len() - set * 2 * per_kind,
                            2 * per_kind
                        ),
                    ));
                };
                let image = |name: &str, n: &str| -> Result<PairImage> {
                    Ok(PairImage {
                        name: name.to_string(),
                        number: number(path, line, n, "the image number")?,
                    })
                };
                let pair = match (same, &f[..]) {
                    (true, [name, n1, n2]) => ListedPair {
                        a: image(name, n1)?,
                        b: image(name, n2)?,
                        same,
                        set,
                    },
                    (false, [name1, n1, name2, n2]) => ListedPair {
                        a: image(name1, n1)?,
                        b: image(name2, n2)?,
                        same,
                        set,
                    },
                    _ => {
                        let expected = match same {
                            true => "a matched pair \"name n1 n2\"",
                            false => "a mismatched pair \"name1 n1 name2 n2\"",
                        };
                        return Err(DataError::parse(
                            path,
                            line,
                            format!(
                                "expected {expected} (set {}), found {:?}",
                                set + 1,
                                f.join(" ")
                            ),
                        ));
                    }
                };
                pairs.push(pair);
            }
        }
    }
    if let Some((line, f)) = lines.next() {
        return Err(DataError::parse(
            path,
            line,
            format!(
                "more lines than the header's {sets} sets of {per_kind} + {per_kind} pairs: {:?}",
                f.join(" ")
            ),
        ));
    }
    Ok(pairs)
}
