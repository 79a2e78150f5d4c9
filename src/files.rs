//! Reading files with a size bound known before the first byte is read.

use std::io::Read;
use std::path::Path;

/// Reads `path` whole if it is a regular file of at most `max` bytes. Refuses anything else
/// (a directory, a device such as `/dev/zero`, a pipe, a larger file) before reading it, so
/// that a wrong path cannot make a run read without end or hold gigabytes; the read itself
/// stops after `max + 1` bytes in case the file grows meanwhile.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    if meta.len() > max {
        return Err(invalid(format!(
            "{} bytes, more than the {max} this file can be",
            meta.len()
        )));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(invalid(format!(
            "more than the {max} bytes this file can be"
        )));
    }
    Ok(out)
}
