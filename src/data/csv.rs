//! Reading the CSV files people bring (manifests, FER2013) through the `csv` crate: streamed
//! one record at a time (FER2013 is ~300 MB), RFC 4180 quoting (commas, quotes and newlines
//! inside quoted fields), a UTF-8 byte-order mark ignored, and every record tagged with the
//! line it starts on so that errors can name it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::data::error::{DataError, Result};

/// The records of a CSV file, header included, each as (line it starts on, fields).
/// Blank lines are skipped. A malformed record is an error naming its line; reading goes on
/// after it (so `--skip-bad` can skip it), except after an I/O error, which ends the rows.
pub struct Rows {
    path: PathBuf,
    reader: csv::Reader<NewlineCounter<File>>,
    newlines: Rc<RefCell<Newlines>>,
    record: csv::StringRecord,
    done: bool,
}

/// Opens `path` for reading its records.
pub fn rows(path: &Path) -> Result<Rows> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let newlines = Rc::new(RefCell::new(Newlines::default()));
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(NewlineCounter {
            inner: file,
            offset: 0,
            newlines: Rc::clone(&newlines),
        });
    Ok(Rows {
        path: path.to_path_buf(),
        reader,
        newlines,
        record: csv::StringRecord::new(),
        done: false,
    })
}

/// The offsets of the newlines read so far but not yet passed by a record (the `csv`
/// crate's own line numbers skip blank lines and CRLF endings, so facemtl counts them).
#[derive(Default)]
struct Newlines {
    pending: VecDeque<u64>,
    passed: usize,
    /// Newlines read in all.
    read: usize,
    /// The line of the last quote that left an odd number of quotes behind it (an open
    /// quoted field), or None when the quotes so far pair up.
    open_quote_line: Option<usize>,
    /// The end of the file was read.
    eof: bool,
}

impl Newlines {
    /// The 1-based line of the byte at `offset` (offsets asked never decrease).
    fn line_of(&mut self, offset: u64) -> usize {
        while self.pending.front().is_some_and(|&n| n < offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

/// A reader that notes where each newline is.
struct NewlineCounter<R> {
    inner: R,
    offset: u64,
    newlines: Rc<RefCell<Newlines>>,
}

impl<R: Read> Read for NewlineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut newlines = self.newlines.borrow_mut();
        newlines.eof |= n == 0 && !buf.is_empty();
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                newlines.pending.push_back(self.offset + i as u64);
                newlines.read += 1;
            } else if b == b'"' {
                newlines.open_quote_line = match newlines.open_quote_line {
                    Some(_) => None,
                    None => Some(newlines.read + 1),
                };
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl Rows {
    /// The line the record just read ends on: that of its last byte before the reader's
    /// position (which is past its terminator, or at the end of the file).
    fn end_line(&self) -> usize {
        let after = self.reader.position().byte();
        self.newlines.borrow_mut().line_of(after.saturating_sub(1))
    }
}

impl Iterator for Rows {
    type Item = Result<(usize, Vec<String>)>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    let end = self.end_line();
                    if self.record.iter().all(|f| f.trim().is_empty()) {
                        continue;
                    }
                    let inner: usize = self.record.iter().map(|f| f.matches('\n').count()).sum();
                    let unclosed = {
                        let n = self.newlines.borrow();
                        n.open_quote_line.filter(|_| n.eof && inner > 0)
                    };
                    if let Some(line) = unclosed {
                        // A quote that never closes swallows the rest of the file as one
                        // field: name the quote's line, not where the file ends.
                        self.done = true;
                        return Some(Err(DataError::parse(
                            &self.path,
                            line,
                            "a quote (\") opens a field here and is never closed, so the rest of the file was read as that field; close or remove the quote",
                        )));
                    }
                    let fields = self.record.iter().map(String::from).collect();
                    return Some(Ok((end - inner, fields)));
                }
                Err(e) => {
                    if let csv::ErrorKind::Io(io) = e.kind() {
                        self.done = true;
                        return Some(Err(DataError::io(&self.path, io)));
                    }
                    let message = match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8 text".into(),
                        _ => e.to_string(),
                    };
                    return Some(Err(DataError::parse(&self.path, self.end_line(), message)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::rows;

    fn read(text: &[u8]) -> Vec<Result<(usize, Vec<String>), String>> {
        let dir = std::env::temp_dir().join(format!("facemtl-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.csv"));
        std::fs::write(&path, text).unwrap();
        let out = rows(&path)
            .unwrap()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        std::fs::remove_file(&path).unwrap();
        // The last of the module's tests to finish takes the folder.
        let _ = std::fs::remove_dir(&dir);
        out
    }

    fn row(line: usize, fields: &[&str]) -> Result<(usize, Vec<String>), String> {
        Ok((line, fields.iter().map(|f| f.to_string()).collect()))
    }

    #[test]
    fn quoting_blank_lines_bom_and_line_numbers() {
        let text = "\u{feff}a,b\r\n\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",z\n   \nlast,,\n";
        assert_eq!(
            read(text.as_bytes()),
            [
                row(1, &["a", "b"]),
                row(3, &["x, y", "say \"hi\""]),
                row(4, &["two\nlines", "z"]),
                row(7, &["last", "", ""]),
            ]
        );
    }

    #[test]
    fn crlf_endings_and_a_last_line_without_newline() {
        assert_eq!(
            read(b"a\r\nb\r\n\r\nc\r\n\"d\r\ne\",f\r\ng"),
            [
                row(1, &["a"]),
                row(2, &["b"]),
                row(4, &["c"]),
                row(5, &["d\r\ne", "f"]),
                row(7, &["g"]),
            ]
        );
    }

    #[test]
    fn an_unterminated_quote_is_named_at_its_line() {
        let rows = read(b"path,subject\na.png,s1\n\"b.png,s2\nc.png,s3\nd.png,s4\n");
        assert_eq!(rows[1], row(2, &["a.png", "s1"]));
        let e = rows[2].clone().unwrap_err();
        assert!(e.contains(".csv:3") && e.contains("quote"), "{e}");
        // Quotes that pair up, across lines too, are no error.
        let rows = read(b"a,\"x\ny\"\nb,\"\"\"q\"\"\"\n");
        assert!(rows.iter().all(Result::is_ok), "{rows:?}");
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_its_line_and_reading_goes_on() {
        let rows = read(b"a,b\nc,\xff\xfe\nd,e\n");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], row(1, &["a", "b"]));
        let e = rows[1].clone().unwrap_err();
        assert!(e.contains(".csv:2") && e.contains("UTF-8"), "{e}");
        assert_eq!(rows[2], row(3, &["d", "e"]));
    }
}
