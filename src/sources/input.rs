//! Opening inputs: files (plain or gzip, detected by magic bytes), `-` for stdin, and
//! directories expanded recursively in sorted order; a line reader with a hard cap per line so
//! a multi-megabyte `RequestResponse` event is fine and a runaway line cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::InputError;

/// Largest line we accept (longer lines are reported as malformed and skipped).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Open a path (or `-` for stdin) as a buffered reader, transparently gunzipping.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, InputError> {
    let io_err = |source| InputError::Io { path: path.display().to_string(), source };
    let raw: Box<dyn Read + Send> =
        if path == Path::new("-") { Box::new(io::stdin()) } else { Box::new(File::open(path).map_err(io_err)?) };
    let mut buffered = BufReader::with_capacity(1 << 20, raw);
    let is_gzip = {
        let head = buffered.fill_buf().map_err(io_err)?;
        head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b
    };
    if is_gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(buffered);
        Ok(Box::new(BufReader::with_capacity(1 << 20, decoder)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Expand paths: files as given, directories recursively (sorted, hidden entries skipped),
/// `-` kept. Errors name the path.
pub fn expand(paths: &[PathBuf], extensions: &[&str]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for p in paths {
        if p == Path::new("-") {
            out.push(p.clone());
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|source| InputError::Io { path: p.display().to_string(), source })?;
        if meta.is_dir() {
            walk(p, extensions, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io_err = |source| InputError::Io { path: dir.display().to_string(), source };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, extensions, out)?;
        } else if extensions.is_empty() || has_extension(&p, extensions) {
            out.push(p);
        }
    }
    Ok(())
}

/// True when the file name ends in one of the extensions (`json`, `log`, `gz` ...).
pub fn has_extension(p: &Path, extensions: &[&str]) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    extensions.iter().any(|ext| name.ends_with(&format!(".{ext}")))
}

/// Outcome of reading one line.
pub enum Line<'a> {
    Text(&'a [u8]),
    /// The line exceeded `MAX_LINE_BYTES`; it was consumed and skipped.
    TooLong(usize),
}

/// Call `f(line_number, line)` for each line (1-based; `\n` and `\r\n` stripped). Lines longer
/// than `MAX_LINE_BYTES` are reported as `Line::TooLong` without being held in memory.
pub fn for_each_line<R: BufRead + ?Sized>(reader: &mut R, mut f: impl FnMut(usize, Line<'_>)) -> io::Result<u64> {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut line_no = 0usize;
    let mut bytes = 0u64;
    loop {
        buf.clear();
        let mut too_long = 0usize;
        let mut done = false;
        loop {
            let available = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                done = true;
                break;
            }
            let (chunk_len, found) = match memchr::memchr(b'\n', available) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            if too_long > 0 || buf.len() + chunk_len > MAX_LINE_BYTES {
                too_long += buf.len() + chunk_len;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..chunk_len]);
            }
            reader.consume(chunk_len);
            bytes += chunk_len as u64;
            if found {
                break;
            }
        }
        if done && buf.is_empty() && too_long == 0 {
            return Ok(bytes);
        }
        line_no += 1;
        if too_long > 0 {
            f(line_no, Line::TooLong(too_long));
        } else {
            let mut end = buf.len();
            if end > 0 && buf[end - 1] == b'\n' {
                end -= 1;
            }
            if end > 0 && buf[end - 1] == b'\r' {
                end -= 1;
            }
            f(line_no, Line::Text(&buf[..end]));
        }
        if done {
            return Ok(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_with_and_without_final_newline() {
        let mut r = io::Cursor::new(b"a\r\nbb\n\nccc".to_vec());
        let mut seen = Vec::new();
        let bytes = for_each_line(&mut r, |n, l| {
            if let Line::Text(t) = l {
                seen.push((n, String::from_utf8_lossy(t).to_string()));
            }
        })
        .expect("read");
        assert_eq!(bytes, 10);
        assert_eq!(seen, vec![(1, "a".into()), (2, "bb".into()), (3, "".into()), (4, "ccc".into())]);
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.log.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&p).expect("create"), flate2::Compression::fast());
        enc.write_all(b"{\"a\":1}\n").expect("write");
        enc.finish().expect("finish");
        let mut r = open(&p).expect("open");
        let mut s = String::new();
        r.read_to_string(&mut s).expect("read");
        assert_eq!(s, "{\"a\":1}\n");
    }
}
