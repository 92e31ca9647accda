//! Splitting input into records: one per line (or per custom delimiter), optionally
//! `key<delimiter>value`.

use std::io::{self, BufRead};

/// Reads delimiter-terminated records from a reader. The last record may lack the
/// delimiter. With the default `\n` delimiter a trailing `\r` is dropped as well, so files
/// with Windows line ends produce the same records.
#[derive(Debug)]
pub struct LineReader<R> {
    input: R,
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    /// 1-based number of the record last returned.
    pub line: u64,
}

impl<R: BufRead> LineReader<R> {
    /// A reader splitting at `delimiter` (must not be empty).
    pub fn new(input: R, delimiter: &[u8]) -> io::Result<Self> {
        if delimiter.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the delimiter must not be empty",
            ));
        }
        Ok(LineReader {
            input,
            delimiter: delimiter.to_vec(),
            buf: Vec::new(),
            line: 0,
        })
    }

    /// The next record, without its delimiter; `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        self.buf.clear();
        let last = *self.delimiter.last().expect("not empty");
        loop {
            let n = self.input.read_until(last, &mut self.buf)?;
            if n == 0 || self.buf.ends_with(&self.delimiter) {
                break;
            }
            if *self.buf.last().expect("read something") != last {
                break; // end of input without a delimiter
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        self.line += 1;
        let mut end = self.buf.len();
        if self.buf.ends_with(&self.delimiter) {
            end -= self.delimiter.len();
            if self.delimiter == b"\n" && end > 0 && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
        }
        Ok(Some(&self.buf[..end]))
    }
}

/// Splits a line into key and value at the first `key_delimiter`; without a delimiter (or
/// when the line does not contain it) the key is `None` and the whole line is the value.
pub fn split_key<'a>(line: &'a [u8], key_delimiter: Option<&[u8]>) -> (Option<&'a [u8]>, &'a [u8]) {
    match key_delimiter {
        Some(d) if !d.is_empty() => match line.windows(d.len()).position(|w| w == d) {
            Some(at) => (Some(&line[..at]), &line[at + d.len()..]),
            None => (None, line),
        },
        _ => (None, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &str, delimiter: &str) -> Vec<String> {
        let mut r = LineReader::new(input.as_bytes(), delimiter.as_bytes()).unwrap();
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(String::from_utf8(l.to_vec()).unwrap());
        }
        assert_eq!(r.line as usize, out.len());
        out
    }

    #[test]
    fn lines_with_and_without_final_newline() {
        assert_eq!(all("a\nb\n", "\n"), ["a", "b"]);
        assert_eq!(all("a\nb", "\n"), ["a", "b"]);
        assert_eq!(all("a\r\n\nb\r\n", "\n"), ["a", "", "b"]);
        assert_eq!(all("", "\n"), Vec::<String>::new());
        assert_eq!(all("\n", "\n"), [""]);
    }

    #[test]
    fn custom_delimiters() {
        assert_eq!(all("a;b;;c", ";"), ["a", "b", "", "c"]);
        // Multi-byte: a lone first byte or last byte is data.
        assert_eq!(all("a|b||c|x|", "||"), ["a|b", "c|x|"]);
        assert_eq!(all("one\r\ntwo\r\n", "\r\n"), ["one", "two"]);
        // With a delimiter other than \n, a \r is data.
        assert_eq!(all("a\r;b", ";"), ["a\r", "b"]);
        assert!(LineReader::new(&b""[..], b"").is_err());
    }

    #[test]
    fn keys_split_at_the_first_delimiter() {
        assert_eq!(
            split_key(b"k:v:w", Some(b":")),
            (Some(&b"k"[..]), &b"v:w"[..])
        );
        assert_eq!(split_key(b"novalue", Some(b":")), (None, &b"novalue"[..]));
        assert_eq!(split_key(b":v", Some(b":")), (Some(&b""[..]), &b"v"[..]));
        assert_eq!(
            split_key(b"k::v", Some(b"::")),
            (Some(&b"k"[..]), &b"v"[..])
        );
        assert_eq!(split_key(b"k:v", None), (None, &b"k:v"[..]));
    }
}
