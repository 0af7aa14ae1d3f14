//! Files that appear whole or not at all: written under a unique hidden name in the
//! destination's folder (`.NAME.PID-N.partial`), flushed to disk, then renamed into place.
//! A crash or an error leaves no file under the final name; two writers of the same
//! destination never share a temporary file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Suffix of every temporary file this project writes.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// A fresh hidden name beside `path`: `.NAME.PID-N.partial`, unique within this process and
/// across processes.
pub fn temporary_sibling(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(
        ".{name}.{}-{n}{PARTIAL_SUFFIX}",
        std::process::id()
    ))
}

/// True for a temporary sibling of `path` (any writer's).
pub fn is_temporary_of(candidate: &Path, path: &Path) -> bool {
    let (Some(name), Some(file)) = (path.file_name(), candidate.file_name()) else {
        return false;
    };
    let file = file.to_string_lossy();
    file.starts_with(&format!(".{}.", name.to_string_lossy())) && file.ends_with(PARTIAL_SUFFIX)
}

/// A destination being written by someone else (FFmpeg's muxer, libtorch): owns the temporary
/// name, removes it when dropped unless [`PendingFile::commit`] moved it into place.
#[derive(Debug)]
pub struct PendingFile {
    destination: PathBuf,
    temporary: PathBuf,
    committed: bool,
}

/// The temporary files of this process not yet committed or removed: what a forced exit
/// (a second Ctrl-C, which skips every destructor) must remove itself.
static UNFINISHED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn unfinished() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remove every temporary file of this process that is not finished yet: for a forced exit,
/// which runs no destructor. (A file being written may still be open; unlinking it is fine.)
pub fn remove_unfinished() {
    for path in unfinished().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

impl PendingFile {
    pub fn new(destination: &Path) -> Self {
        let temporary = temporary_sibling(destination);
        unfinished().push(temporary.clone());
        Self {
            destination: destination.to_path_buf(),
            temporary,
            committed: false,
        }
    }

    /// No longer this process's to remove (committed, kept or removed).
    fn settle(&self) {
        unfinished().retain(|p| p != &self.temporary);
    }

    /// Where the writer writes until the file is complete.
    pub fn temporary(&self) -> &Path {
        &self.temporary
    }

    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Flush the finished temporary file to disk and rename it to its destination.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        File::open(&self.temporary)?.sync_all()?;
        std::fs::rename(&self.temporary, &self.destination)?;
        self.committed = true;
        self.settle();
        sync_parent(&self.destination);
        Ok(self.destination.clone())
    }

    /// Leave the temporary file where it is (a crash-safe recording that could not be
    /// finished still plays up to its last fragment) and return its path.
    pub fn keep_partial(mut self) -> PathBuf {
        self.committed = true;
        self.settle();
        self.temporary.clone()
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temporary);
            self.settle();
        }
    }
}

/// Write `bytes` to `path` atomically (mode 0644, or `mode` where secrets are kept).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with_mode(path, bytes, 0o644)
}

pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let pending = PendingFile::new(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(pending.temporary())?;
    file.write_all(bytes)?;
    drop(file);
    pending.commit().map(|_| ())
}

/// Make the rename itself durable; best effort (some filesystems refuse to sync a folder).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// The names in a folder, sorted (tests check what a writer left behind).
#[cfg(test)]
pub(crate) fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn temporary_names_are_unique_hidden_siblings() {
        let path = Path::new("/videos/clip_x4.mp4");
        let (a, b) = (temporary_sibling(path), temporary_sibling(path));
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert_eq!(t.parent(), path.parent());
            assert!(is_temporary_of(t, path), "{}", t.display());
        }
        assert!(!is_temporary_of(path, path));
        assert!(!is_temporary_of(
            Path::new("/videos/.clip_x4.mp4x.1-1.partial"),
            path
        ));
    }

    #[test]
    fn write_replaces_whole_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairing.json");
        write_atomically_with_mode(&path, b"first", 0o600).unwrap();
        write_atomically_with_mode(&path, b"second", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(names_in(dir.path()), vec!["pairing.json"]);
    }

    #[test]
    fn parallel_writers_never_leave_a_torn_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 64 * 1024]).collect();
        std::thread::scope(|s| {
            for body in &bodies {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..10 {
                        write_atomically(path, body).unwrap();
                    }
                });
            }
        });
        let written = std::fs::read(&path).unwrap();
        assert!(
            bodies.contains(&written),
            "the file is one writer's whole body"
        );
        assert_eq!(names_in(dir.path()), vec!["card.json"]);
    }

    #[test]
    fn an_uncommitted_pending_file_is_removed_and_a_kept_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.mp4");
        let pending = PendingFile::new(&dest);
        std::fs::write(pending.temporary(), b"half").unwrap();
        drop(pending);
        assert!(names_in(dir.path()).is_empty());

        let pending = PendingFile::new(&dest);
        std::fs::write(pending.temporary(), b"fragments").unwrap();
        let kept = pending.keep_partial();
        assert!(kept.exists() && !dest.exists());
    }
}
