//! Where spektr puts the files it makes (snapshots, recordings), and their unique names.

use std::path::{Path, PathBuf};

/// `<base>/spektr`, where base is the first of the given folders that exists, or home, or `.`.
pub fn app_dir(base: Option<PathBuf>) -> PathBuf {
    base.or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("spektr")
}

/// A file stem in `dir` that no existing file with any of `exts` uses:
/// `spektr-YYYYMMDD-HHMMSS`, then `-2`, `-3`...
pub fn unique_stem(dir: &Path, now: chrono::DateTime<chrono::Local>, exts: &[&str]) -> PathBuf {
    let base = format!("spektr-{}", now.format("%Y%m%d-%H%M%S"));
    let taken = |stem: &str| {
        exts.iter()
            .any(|ext| dir.join(format!("{stem}.{ext}")).exists())
    };
    let mut stem = base.clone();
    let mut n = 2;
    while taken(&stem) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    dir.join(stem)
}

/// What went wrong with a file, for a one-line message: the usual cases in plain words,
/// others as the system says them.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a folder, not a file".into(),
        _ => e.to_string(),
    }
}

/// Why a small file (a correction file, a reference) could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmallFileError {
    /// It could not be read at all: why, in words.
    Unreadable(String),
    /// It is larger than the limit.
    TooLarge,
}

/// The whole of a file that must not be larger than `max` bytes (a larger one is not read
/// past the limit).
pub fn read_small(path: &Path, max: u64) -> Result<Vec<u8>, SmallFileError> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| SmallFileError::Unreadable(io_reason(&e));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(SmallFileError::Unreadable("is a folder, not a file".into()));
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max {
        return Err(SmallFileError::TooLarge);
    }
    Ok(bytes)
}
