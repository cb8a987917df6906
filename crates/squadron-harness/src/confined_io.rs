//! File I/O on agent-controlled paths, confined to the worktree by a directory handle.
//!
//! Agents, and the code they run, change the worktree while the daemon reads and writes it
//! (the Developer and QA work in one worktree at the same time), so nothing here checks a
//! path and then uses it by name:
//!
//! - **Reads** open the file relative to the worktree's directory handle, following
//!   symlinks only while they stay beneath it (the kernel's `RESOLVE_BENEATH` where it has
//!   one, a component-by-component walk otherwise, through `cap-std`), without blocking
//!   (`O_NONBLOCK`: a FIFO opens at once and is then refused), refuse anything but a regular
//!   file, take the size from the open file and never read more than the caller's cap.
//! - **Writes** follow no symlink at all: every parent directory is opened by handle, one
//!   component at a time, refusing a symlink; the content goes to a new temporary file in
//!   that directory, which is then renamed over the target. A symlink, FIFO or hard link
//!   swapped in at the last moment is replaced, never written through, and a reader never
//!   sees half a file.
//!
//! Everything blocking runs on tokio's blocking pool, never on the runtime's workers.

use std::ffi::{OsStr, OsString};
use std::fs::{File, FileType, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_fs_ext::{DirExt, MetadataExt as _};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt, PermissionsExt as _};
use nix::fcntl::OFlag;

use crate::confine::{PathRefusal, Worktree, lexical_parts};

/// Why a confined read or write did not happen. Messages are written for the model and
/// read well after "failed to".
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path itself was refused.
    #[error(transparent)]
    Path(#[from] PathRefusal),
    /// Nothing is there.
    #[error("{action} `{path}`: it does not exist")]
    NotFound {
        /// What was being done.
        action: &'static str,
        /// The path as requested.
        path: String,
    },
    /// A FIFO, socket, device or directory where a regular file was expected.
    #[error("{action} `{path}`: it is {kind}, not a regular file")]
    NotRegular {
        /// What was being done.
        action: &'static str,
        /// The path as requested.
        path: String,
        /// What it is instead, e.g. "a FIFO".
        kind: &'static str,
    },
    /// The file is larger than the read allows.
    #[error("read `{path}`: it is {size} bytes, more than the {cap} bytes one read takes")]
    TooLarge {
        /// The path as requested.
        path: String,
        /// Its size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// A write, removal or move would go through a symlink.
    #[error(
        "{action} `{path}`: `{link}` is a symlink, and files are only changed at their real path; use the path it points to"
    )]
    ThroughSymlink {
        /// What was being done.
        action: &'static str,
        /// The path as requested.
        path: String,
        /// The symlink on the way, worktree-relative.
        link: String,
    },
    /// A part of the path that must be a directory is a file.
    #[error("{action} `{path}`: `{file}` is a file, not a directory")]
    ParentNotDirectory {
        /// What was being done.
        action: &'static str,
        /// The path as requested.
        path: String,
        /// The part that is a file.
        file: String,
    },
    /// A move onto a path that exists.
    #[error("move to `{path}`: it exists already; remove it first or choose another name")]
    TargetExists {
        /// The destination as requested.
        path: String,
    },
    /// The file system failed.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path as requested.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The blocking task died.
    #[error("{action} `{path}`: the file task stopped unexpectedly")]
    TaskFailed {
        /// What was being done.
        action: &'static str,
        /// The path as requested.
        path: String,
    },
}

/// A regular file inside the worktree, open for reading.
#[derive(Debug)]
pub struct ConfinedFile {
    file: File,
    relative: String,
    requested: String,
    len: u64,
}

impl ConfinedFile {
    /// Its path relative to the worktree root, symlinks resolved.
    pub fn relative(&self) -> &str {
        &self.relative
    }

    /// Its size when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it was empty when opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole file, refused when it is (or grows) larger than `cap` bytes.
    pub fn read_all(mut self, cap: u64) -> Result<Vec<u8>, FileError> {
        let too_large = |size| FileError::TooLarge {
            path: self.requested.clone(),
            size,
            cap,
        };
        if self.len > cap {
            return Err(too_large(self.len));
        }
        let (bytes, more) = read_bounded(&mut self.file, cap)
            .map_err(|source| io_error("read", &self.requested, source))?;
        if more {
            let size = self.file.metadata().map_or(cap + 1, |meta| meta.len());
            return Err(too_large(size.max(cap + 1)));
        }
        Ok(bytes)
    }

    /// At most `max` bytes from byte `offset` on, and whether the file has more after them.
    pub fn read_range(mut self, offset: u64, max: u64) -> Result<(Vec<u8>, bool), FileError> {
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|source| io_error("read", &self.requested, source))?;
        read_bounded(&mut self.file, max)
            .map_err(|source| io_error("read", &self.requested, source))
    }
}

/// Reads at most `cap` bytes; says whether at least one more byte was there.
fn read_bounded(file: &mut File, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut bytes = Vec::new();
    file.by_ref()
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)?;
    let more = u64::try_from(bytes.len()).is_ok_and(|read| read > cap);
    if more {
        bytes.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    Ok((bytes, more))
}

/// A file read whole by [`Worktree::read_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileContents {
    /// Its path relative to the worktree root, symlinks resolved.
    pub relative: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The start of a file, read by [`Worktree::read_head`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHead {
    /// Its path relative to the worktree root, symlinks resolved.
    pub relative: String,
    /// Its first bytes, at most the cap.
    pub bytes: Vec<u8>,
    /// Its size when opened.
    pub len: u64,
    /// Whether the bytes are the whole file.
    pub complete: bool,
}

fn io_error(action: &'static str, path: &str, source: io::Error) -> FileError {
    if source.kind() == io::ErrorKind::NotFound {
        FileError::NotFound {
            action,
            path: path.to_owned(),
        }
    } else {
        FileError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// What a non-regular file is, in words.
fn kind_of(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else if file_type.is_symlink() {
        "a symlink"
    } else {
        "not a regular file"
    }
}

/// Flags every confined open carries: never wait on a FIFO or a device, never take a
/// controlling terminal.
fn nonblocking() -> i32 {
    (OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).bits()
}

/// Temporary names of files being written; unique within the process, and `create_new`
/// refuses any that happens to exist.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_name(name: &OsStr) -> OsString {
    let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".squadron-{}-{count}.tmp", std::process::id()));
    temp
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    action: &'static str,
    path: &str,
    work: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|_| {
        Err(FileError::TaskFailed {
            action,
            path: path.to_owned(),
        })
    })
}

impl Worktree {
    /// The worktree-relative, `/`-separated path a write, removal or move of `requested`
    /// changes: writes follow no symlink, so it is the requested path, normalised. Check
    /// write permissions against this before writing.
    pub fn normalize(&self, requested: &str) -> Result<String, PathRefusal> {
        let parts = lexical_parts(requested)?;
        if parts.is_empty() {
            return Err(PathRefusal::Empty);
        }
        Ok(join(&parts))
    }

    /// Opens the regular file at `requested` for reading (blocking; use it inside
    /// `spawn_blocking`): symlinks are followed only while they stay inside the worktree, a
    /// FIFO, socket, device or directory is refused without waiting, and nothing inside
    /// `.git` is opened.
    pub fn open_file(&self, requested: &str) -> Result<ConfinedFile, FileError> {
        let parts = lexical_parts(requested)?;
        if parts.is_empty() {
            return Err(PathRefusal::Empty.into());
        }
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(nonblocking());
        let file = match self.dir().open_with(parts_path(&parts), &options) {
            Ok(file) => file.into_std(),
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                // The kernel (or cap-std) refused to leave the worktree; say so in the words
                // of path confinement when that is why.
                return Err(match self.resolve(requested) {
                    Err(refusal) => refusal.into(),
                    Ok(_) => io_error("read", requested, error),
                });
            }
            Err(error) => return Err(io_error("read", requested, error)),
        };
        let metadata = file
            .metadata()
            .map_err(|source| io_error("read", requested, source))?;
        if !metadata.file_type().is_file() {
            return Err(FileError::NotRegular {
                action: "read",
                path: requested.to_owned(),
                kind: kind_of(metadata.file_type()),
            });
        }
        let relative = self.real_relative(&file, &metadata, &parts)?;
        if relative == ".git" || relative.starts_with(".git/") {
            return Err(PathRefusal::GitDirectory {
                path: requested.to_owned(),
            }
            .into());
        }
        Ok(ConfinedFile {
            file,
            relative,
            requested: requested.to_owned(),
            len: metadata.len(),
        })
    }

    /// Where the open `file` really is, relative to the root: from the kernel's record of
    /// the descriptor (`/proc/self/fd`), so a symlink swapped after the open changes
    /// nothing. Without `/proc`, the requested path stands, and the file is compared with
    /// the `.git` entry directly.
    fn real_relative(
        &self,
        file: &File,
        metadata: &Metadata,
        parts: &[&OsStr],
    ) -> Result<String, FileError> {
        let descriptor = PathBuf::from(format!("/proc/self/fd/{}", file.as_fd().as_raw_fd()));
        if let Ok(real) = std::fs::read_link(descriptor) {
            return real
                .strip_prefix(self.root())
                .map(|inside| {
                    inside
                        .components()
                        .map(|part| part.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .map_err(|_| PathRefusal::EscapesThroughSymlink { path: join(parts) }.into());
        }
        let git = self.dir().symlink_metadata(".git");
        if git.is_ok_and(|git| git.dev() == metadata.dev() && git.ino() == metadata.ino()) {
            return Ok(".git".to_owned());
        }
        Ok(join(parts))
    }

    /// The whole regular file at `requested`, refused when larger than `cap` bytes; see
    /// [`Worktree::open_file`] for what is refused.
    pub async fn read_file(&self, requested: &str, cap: u64) -> Result<FileContents, FileError> {
        let worktree = self.clone();
        let owned = requested.to_owned();
        blocking("read", requested, move || {
            let file = worktree.open_file(&owned)?;
            let relative = file.relative().to_owned();
            let bytes = file.read_all(cap)?;
            Ok(FileContents { relative, bytes })
        })
        .await
    }

    /// At most the first `cap` bytes of the regular file at `requested`.
    pub async fn read_head(&self, requested: &str, cap: u64) -> Result<FileHead, FileError> {
        let worktree = self.clone();
        let owned = requested.to_owned();
        blocking("read", requested, move || {
            let file = worktree.open_file(&owned)?;
            let relative = file.relative().to_owned();
            let len = file.len();
            let (bytes, more) = file.read_range(0, cap)?;
            Ok(FileHead {
                relative,
                bytes,
                len,
                complete: !more,
            })
        })
        .await
    }

    /// Opens the directory holding `parts`' last component, one component at a time and
    /// refusing symlinks; missing directories are created when `create` is set. Returns the
    /// directory and the last component.
    fn parent_dir<'p>(
        &self,
        action: &'static str,
        requested: &str,
        parts: &[&'p OsStr],
        create: bool,
    ) -> Result<(Dir, &'p OsStr), FileError> {
        let Some((name, parents)) = parts.split_last() else {
            return Err(PathRefusal::Empty.into());
        };
        let mut dir = self
            .dir()
            .try_clone()
            .map_err(|source| io_error(action, requested, source))?;
        for (index, part) in parents.iter().enumerate() {
            let opened = match dir.open_dir_nofollow(part) {
                Err(error) if create && error.kind() == io::ErrorKind::NotFound => {
                    match dir.create_dir(part) {
                        Ok(()) => {}
                        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(source) => return Err(io_error(action, requested, source)),
                    }
                    dir.open_dir_nofollow(part)
                }
                other => other,
            };
            dir = match opened {
                Ok(next) => next,
                Err(source) => {
                    let walked = join(&parts[..=index]);
                    return Err(match dir.symlink_metadata(part) {
                        Ok(meta) if meta.file_type().is_symlink() => FileError::ThroughSymlink {
                            action,
                            path: requested.to_owned(),
                            link: walked,
                        },
                        Ok(meta) if !meta.is_dir() => FileError::ParentNotDirectory {
                            action,
                            path: requested.to_owned(),
                            file: walked,
                        },
                        _ => io_error(action, requested, source),
                    });
                }
            };
        }
        Ok((dir, name))
    }

    /// Writes `content` to `requested` (blocking), creating missing directories, without
    /// following any symlink; an existing regular file is replaced atomically and keeps its
    /// permissions. Returns the worktree-relative path written, as [`Worktree::normalize`]
    /// gives it.
    pub fn write_file_blocking(
        &self,
        requested: &str,
        content: &[u8],
    ) -> Result<String, FileError> {
        const ACTION: &str = "write";
        let parts = lexical_parts(requested)?;
        let (dir, name) = self.parent_dir(ACTION, requested, &parts, true)?;
        let permissions = match dir.symlink_metadata(name) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(FileError::ThroughSymlink {
                    action: ACTION,
                    path: requested.to_owned(),
                    link: join(&parts),
                });
            }
            Ok(meta) if !meta.is_file() => {
                return Err(FileError::NotRegular {
                    action: ACTION,
                    path: requested.to_owned(),
                    kind: if meta.is_dir() {
                        "a directory"
                    } else {
                        "a FIFO, socket or device"
                    },
                });
            }
            Ok(meta) => Some(meta.permissions().mode()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(io_error(ACTION, requested, source)),
        };
        let temp = temp_name(name);
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(nonblocking());
        let written = dir.open_with(&temp, &options).and_then(|file| {
            let mut file = file.into_std();
            io::Write::write_all(&mut file, content)?;
            if let Some(mode) = permissions {
                file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        });
        let renamed = written.and_then(|()| dir.rename(&temp, &dir, name));
        if let Err(source) = renamed {
            let _ = dir.remove_file(&temp);
            return Err(io_error(ACTION, requested, source));
        }
        Ok(join(&parts))
    }

    /// [`Worktree::write_file_blocking`] on tokio's blocking pool.
    pub async fn write_file(&self, requested: &str, content: Vec<u8>) -> Result<String, FileError> {
        let worktree = self.clone();
        let owned = requested.to_owned();
        blocking("write", requested, move || {
            worktree.write_file_blocking(&owned, &content)
        })
        .await
    }

    /// The whole regular file at `requested` (blocking), following no symlink at all, the
    /// last component included (`O_NOFOLLOW`): what git would take from that path, never
    /// what a link points to. Refused when larger than `cap` bytes.
    pub fn read_nofollow_blocking(&self, requested: &str, cap: u64) -> Result<Vec<u8>, FileError> {
        const ACTION: &str = "read";
        let parts = lexical_parts(requested)?;
        let (dir, name) = self.parent_dir(ACTION, requested, &parts, false)?;
        let mut options = OpenOptions::new();
        options
            .read(true)
            .custom_flags(nonblocking() | OFlag::O_NOFOLLOW.bits());
        let file = match dir.open_with(name, &options) {
            Ok(file) => file.into_std(),
            Err(source) => {
                return Err(match dir.symlink_metadata(name) {
                    Ok(meta) if meta.file_type().is_symlink() => FileError::NotRegular {
                        action: ACTION,
                        path: requested.to_owned(),
                        kind: "a symlink",
                    },
                    _ => io_error(ACTION, requested, source),
                });
            }
        };
        let metadata = file
            .metadata()
            .map_err(|source| io_error(ACTION, requested, source))?;
        if !metadata.file_type().is_file() {
            return Err(FileError::NotRegular {
                action: ACTION,
                path: requested.to_owned(),
                kind: kind_of(metadata.file_type()),
            });
        }
        ConfinedFile {
            file,
            relative: join(&parts),
            requested: requested.to_owned(),
            len: metadata.len(),
        }
        .read_all(cap)
    }

    /// [`Worktree::read_nofollow_blocking`] on tokio's blocking pool.
    pub async fn read_nofollow(&self, requested: &str, cap: u64) -> Result<Vec<u8>, FileError> {
        let worktree = self.clone();
        let owned = requested.to_owned();
        blocking("read", requested, move || {
            worktree.read_nofollow_blocking(&owned, cap)
        })
        .await
    }

    /// Removes the file (or symlink: the link itself) at `requested`, following no symlink
    /// on the way; directories are refused. Returns the worktree-relative path removed.
    pub async fn remove_file(&self, requested: &str) -> Result<String, FileError> {
        const ACTION: &str = "remove";
        let worktree = self.clone();
        let owned = requested.to_owned();
        blocking(ACTION, requested, move || {
            let parts = lexical_parts(&owned)?;
            let (dir, name) = worktree.parent_dir(ACTION, &owned, &parts, false)?;
            not_a_directory(ACTION, &owned, &dir, name)?;
            dir.remove_file(name)
                .map_err(|source| io_error(ACTION, &owned, source))?;
            Ok(join(&parts))
        })
        .await
    }

    /// Moves the file (or symlink) at `from` to `to`, creating `to`'s missing directories,
    /// following no symlink on either side; refuses to replace an existing `to`. Returns both
    /// worktree-relative paths.
    pub async fn rename_file(&self, from: &str, to: &str) -> Result<(String, String), FileError> {
        const ACTION: &str = "move";
        let worktree = self.clone();
        let (from, to) = (from.to_owned(), to.to_owned());
        let shown = from.clone();
        blocking(ACTION, &shown, move || {
            let from_parts = lexical_parts(&from)?;
            let to_parts = lexical_parts(&to)?;
            let (from_dir, from_name) = worktree.parent_dir(ACTION, &from, &from_parts, false)?;
            not_a_directory(ACTION, &from, &from_dir, from_name)?;
            let (to_dir, to_name) = worktree.parent_dir(ACTION, &to, &to_parts, true)?;
            match to_dir.symlink_metadata(to_name) {
                Ok(_) => return Err(FileError::TargetExists { path: to }),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(io_error(ACTION, &to, source)),
            }
            from_dir
                .rename(from_name, &to_dir, to_name)
                .map_err(|source| io_error(ACTION, &from, source))?;
            Ok((join(&from_parts), join(&to_parts)))
        })
        .await
    }
}

/// Fails unless `name` in `dir` exists and is not a directory (it is not followed).
fn not_a_directory(
    action: &'static str,
    requested: &str,
    dir: &Dir,
    name: &OsStr,
) -> Result<(), FileError> {
    let meta = dir
        .symlink_metadata(name)
        .map_err(|source| io_error(action, requested, source))?;
    if meta.is_dir() {
        return Err(FileError::NotRegular {
            action,
            path: requested.to_owned(),
            kind: "a directory",
        });
    }
    Ok(())
}

fn parts_path(parts: &[&OsStr]) -> PathBuf {
    parts.iter().collect()
}

fn join(parts: &[&OsStr]) -> String {
    parts
        .iter()
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worktree() -> (tempfile::TempDir, Worktree) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "fn main() {}\n").unwrap();
        // No git runs in these tests: any existing directory does as the git directory.
        let worktree = Worktree::open(dir.path(), std::env::temp_dir()).unwrap();
        (dir, worktree)
    }

    fn root_path(dir: &tempfile::TempDir, relative: &str) -> PathBuf {
        dir.path().join(relative)
    }

    #[test]
    fn reads_follow_symlinks_that_stay_inside() {
        let (dir, worktree) = worktree();
        std::os::unix::fs::symlink("src/lib.rs", root_path(&dir, "alias.rs")).unwrap();
        let file = worktree.open_file("alias.rs").unwrap();
        assert_eq!(file.relative(), "src/lib.rs");
        assert_eq!(file.read_all(1024).unwrap(), b"fn main() {}\n");
    }

    #[test]
    fn reads_refuse_symlinks_leading_out_or_into_git() {
        let (dir, worktree) = worktree();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path(), root_path(&dir, "out")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/hostname", root_path(&dir, "up"))
            .unwrap();
        std::fs::write(root_path(&dir, ".git"), "gitdir: /elsewhere\n").unwrap();
        std::os::unix::fs::symlink(".git", root_path(&dir, "gitlink")).unwrap();
        for path in ["out", "up", "gitlink", ".git", "src/../.git"] {
            let error = worktree.open_file(path).expect_err(path);
            assert!(
                matches!(
                    error,
                    FileError::Path(_) | FileError::NotFound { .. } | FileError::Io { .. }
                ),
                "{path}: {error}"
            );
        }
    }

    #[test]
    fn reads_never_wait_on_a_fifo_and_refuse_it() {
        let (dir, worktree) = worktree();
        nix::unistd::mkfifo(
            &root_path(&dir, "pipe"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let error = worktree.open_file("pipe").unwrap_err();
        assert!(
            matches!(error, FileError::NotRegular { kind: "a FIFO", .. }),
            "{error}"
        );
    }

    #[test]
    fn nofollow_reads_take_only_the_regular_file_at_the_path_itself() {
        let (dir, worktree) = worktree();
        assert_eq!(
            worktree.read_nofollow_blocking("src/lib.rs", 1024).unwrap(),
            b"fn main() {}\n"
        );
        // A link to a file inside is not followed either: git would commit the link.
        std::os::unix::fs::symlink("lib.rs", root_path(&dir, "src/alias.rs")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root_path(&dir, "out.rs")).unwrap();
        std::os::unix::fs::symlink("/etc", root_path(&dir, "etc")).unwrap();
        nix::unistd::mkfifo(
            &root_path(&dir, "pipe"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        for (path, kind) in [
            ("src/alias.rs", "a symlink"),
            ("out.rs", "a symlink"),
            ("pipe", "a FIFO"),
        ] {
            let error = worktree.read_nofollow_blocking(path, 1024).unwrap_err();
            assert!(
                matches!(error, FileError::NotRegular { kind: found, .. } if found == kind),
                "{path}: {error}"
            );
        }
        let error = worktree
            .read_nofollow_blocking("etc/hostname", 1024)
            .unwrap_err();
        assert!(matches!(error, FileError::ThroughSymlink { .. }), "{error}");
    }

    #[test]
    fn a_file_larger_than_the_cap_is_refused_before_it_is_read() {
        let (dir, worktree) = worktree();
        let big = File::create(root_path(&dir, "big.bin")).unwrap();
        big.set_len(3 << 30).unwrap();
        let error = worktree.open_file("big.bin").unwrap().read_all(1 << 20);
        assert!(
            matches!(error, Err(FileError::TooLarge { size, .. }) if size == 3 << 30),
            "{error:?}"
        );
        let (head, more) = worktree
            .open_file("big.bin")
            .unwrap()
            .read_range(0, 16)
            .unwrap();
        assert_eq!((head.len(), more), (16, true));
    }

    #[test]
    fn writes_replace_a_symlink_instead_of_following_it() {
        let (dir, worktree) = worktree();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), "untouched").unwrap();
        std::os::unix::fs::symlink(outside.path(), root_path(&dir, "out")).unwrap();
        let refused = worktree.write_file_blocking("out", b"changed").unwrap_err();
        assert!(
            matches!(refused, FileError::ThroughSymlink { .. }),
            "{refused}"
        );
        std::os::unix::fs::symlink(dir.path().parent().unwrap(), root_path(&dir, "up")).unwrap();
        let refused = worktree
            .write_file_blocking("up/escaped.txt", b"changed")
            .unwrap_err();
        assert!(
            matches!(refused, FileError::ThroughSymlink { .. }),
            "{refused}"
        );
        assert_eq!(
            std::fs::read_to_string(outside.path()).unwrap(),
            "untouched"
        );
        assert!(!dir.path().parent().unwrap().join("escaped.txt").exists());
    }

    #[test]
    fn writes_create_directories_and_keep_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, worktree) = worktree();
        assert_eq!(
            worktree.write_file_blocking("a/b/c.txt", b"new").unwrap(),
            "a/b/c.txt"
        );
        assert_eq!(std::fs::read(root_path(&dir, "a/b/c.txt")).unwrap(), b"new");
        let script = root_path(&dir, "run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        worktree
            .write_file_blocking("run.sh", b"#!/bin/sh\ntrue\n")
            .unwrap();
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().contains("squadron-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn removes_and_moves_follow_no_symlink() {
        let (dir, worktree) = worktree();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep.txt"), "keep").unwrap();
        std::os::unix::fs::symlink(outside.path(), root_path(&dir, "out")).unwrap();
        let refused = worktree.remove_file("out/keep.txt").await.unwrap_err();
        assert!(
            matches!(refused, FileError::ThroughSymlink { .. }),
            "{refused}"
        );
        let refused = worktree.remove_file("src").await.unwrap_err();
        assert!(matches!(refused, FileError::NotRegular { .. }), "{refused}");
        // Removing the symlink removes the link, not what it points to.
        assert_eq!(worktree.remove_file("out").await.unwrap(), "out");
        assert!(outside.path().join("keep.txt").exists());

        std::fs::write(root_path(&dir, "a.txt"), "a").unwrap();
        let refused = worktree
            .rename_file("a.txt", "src/lib.rs")
            .await
            .unwrap_err();
        assert!(
            matches!(refused, FileError::TargetExists { .. }),
            "{refused}"
        );
        std::os::unix::fs::symlink(outside.path(), root_path(&dir, "out")).unwrap();
        let refused = worktree
            .rename_file("a.txt", "out/a.txt")
            .await
            .unwrap_err();
        assert!(
            matches!(refused, FileError::ThroughSymlink { .. }),
            "{refused}"
        );
        assert_eq!(
            worktree.rename_file("a.txt", "docs/a.txt").await.unwrap(),
            ("a.txt".to_owned(), "docs/a.txt".to_owned())
        );
        assert_eq!(std::fs::read(root_path(&dir, "docs/a.txt")).unwrap(), b"a");
        assert!(!outside.path().join("a.txt").exists());
    }
}
