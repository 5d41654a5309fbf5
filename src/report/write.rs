//! Writing output files safely: every file is written to a temporary file in the same folder
//! and renamed into place (atomic on one filesystem), and an existing file is only replaced
//! with confirmation (`Overwrite::Force`, or a yes from the `confirm` callback the CLI backs with
//! an interactive y/N prompt on a TTY). Without either it is an error naming the file.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Replace existing files without asking (`--force`).
    Force,
    /// Ask through the confirm callback.
    Ask,
    /// Never replace: existing files are an error.
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{} already exists; not overwriting it (use --force{})", .path.display(), if *.interactive { " or answer y" } else { ", or run in a terminal to be asked" })]
    Exists { path: PathBuf, interactive: bool },
    #[error("cannot write {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Write `contents` to `path` atomically. With `replace == false` an existing file is never
/// touched (even if it appears between the check and the rename).
pub fn write_atomic(path: &Path, contents: &[u8], replace: bool) -> Result<(), WriteError> {
    let io_err = |source| WriteError::Io { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io_err)?;
    let mut tmp = tempfile::Builder::new().prefix(".kubeguard-").suffix(".tmp").tempfile_in(&dir).map_err(io_err)?;
    tmp.write_all(contents).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    if replace {
        tmp.persist(path).map_err(|e| io_err(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists { path: path.to_path_buf(), interactive: false }
            } else {
                io_err(e.error)
            }
        })?;
    }
    Ok(())
}

/// Write a set of files (`(path, contents)`). Existing files are checked first, all at once:
/// with `Ask` the `confirm` callback sees the whole list and decides for all; with `Refuse`
/// (or a "no") nothing at all is written and the first existing file is named in the error.
pub fn write_files(
    files: &[(PathBuf, String)],
    policy: Overwrite,
    confirm: &mut dyn FnMut(&[PathBuf]) -> bool,
) -> Result<Vec<PathBuf>, WriteError> {
    let existing: Vec<PathBuf> = files.iter().filter(|(p, _)| p.exists()).map(|(p, _)| p.clone()).collect();
    let replace = match (policy, existing.first()) {
        (_, None) => false,
        (Overwrite::Force, Some(_)) => true,
        (Overwrite::Ask, Some(first)) => {
            if confirm(&existing) {
                true
            } else {
                return Err(WriteError::Exists { path: first.clone(), interactive: true });
            }
        }
        (Overwrite::Refuse, Some(first)) => return Err(WriteError::Exists { path: first.clone(), interactive: false }),
    };
    let mut written = Vec::new();
    for (path, contents) in files {
        write_atomic(path, contents.as_bytes(), replace)?;
        written.push(path.clone());
    }
    Ok(written)
}

/// The policy for this process: `--force` wins; otherwise ask when both stdin and stderr are
/// terminals; otherwise refuse.
pub fn policy_for(force: bool) -> Overwrite {
    if force {
        Overwrite::Force
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Overwrite::Ask
    } else {
        Overwrite::Refuse
    }
}

/// Interactive y/N on stderr/stdin; anything but `y`/`yes` is no.
pub fn ask_on_terminal(existing: &[PathBuf]) -> bool {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "These files already exist:");
    for p in existing {
        let _ = writeln!(err, "  {}", p.display());
    }
    let _ = write!(err, "Overwrite them? [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_new_files_and_refuses_existing_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = dir.path().join("sub/a.yaml");
        let b = dir.path().join("b.yaml");
        let files = vec![(a.clone(), "one\n".to_string()), (b.clone(), "two\n".to_string())];
        let mut never = |_: &[PathBuf]| panic!("not asked when nothing exists");
        write_files(&files, Overwrite::Refuse, &mut never).expect("fresh write");
        assert_eq!(std::fs::read_to_string(&a).expect("a"), "one\n");

        let changed = vec![(a.clone(), "changed\n".to_string()), (b.clone(), "two\n".to_string())];
        let err = write_files(&changed, Overwrite::Refuse, &mut never).expect_err("refused");
        assert!(err.to_string().contains("a.yaml already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&a).expect("a"), "one\n", "untouched");

        let mut no = |existing: &[PathBuf]| {
            assert_eq!(existing.len(), 2);
            false
        };
        assert!(write_files(&changed, Overwrite::Ask, &mut no).is_err());
        assert_eq!(std::fs::read_to_string(&a).expect("a"), "one\n");
        let mut yes = |_: &[PathBuf]| true;
        write_files(&changed, Overwrite::Ask, &mut yes).expect("confirmed");
        assert_eq!(std::fs::read_to_string(&a).expect("a"), "changed\n");
        write_files(&files, Overwrite::Force, &mut never).expect("forced");
        assert_eq!(std::fs::read_to_string(&a).expect("a"), "one\n");
        // No temporary files left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn atomic_write_without_replace_never_clobbers() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x");
        std::fs::write(&p, "keep").expect("seed");
        assert!(matches!(write_atomic(&p, b"new", false), Err(WriteError::Exists { .. })));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "keep");
    }
}
