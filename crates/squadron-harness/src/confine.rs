//! Confinement of agent paths to the squad's worktree.
//!
//! Every path an agent names is judged by its text first ([`lexical_parts`]): absolute
//! paths, `~`, `..` and anything inside `.git` are refused. File contents are then read and
//! written only through the worktree's directory handle ([`crate::confined_io`]), never by
//! name, so a symlink swapped in between a check and a use cannot lead outside.
//! [`Worktree::resolve`] answers where a path leads today (symlinks resolved, refusing those
//! that lead outside), for uses that hand a path to another program, such as a pathspec for
//! the harness's own git.

use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::Dir;

/// The root of a squad's git worktree, canonicalized once, a directory handle on it through
/// which every file is read and written (see [`crate::confined_io`]), and its git directory
/// as the daemon recorded it.
#[derive(Clone, Debug)]
pub struct Worktree {
    root: PathBuf,
    git_dir: PathBuf,
    dir: Arc<Dir>,
}

/// A path known to lie inside the worktree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfinedPath {
    relative: String,
    absolute: PathBuf,
}

impl ConfinedPath {
    /// The path relative to the worktree root, `/`-separated, symlinks resolved; empty for
    /// the root itself.
    pub fn relative(&self) -> &str {
        &self.relative
    }

    /// The absolute path on disk.
    pub fn absolute(&self) -> &Path {
        &self.absolute
    }
}

/// Why a path was refused. Messages are written for the model: they say what was wrong and
/// what is allowed instead.
#[derive(Debug, thiserror::Error)]
pub enum PathRefusal {
    /// An empty path.
    #[error("resolve an empty path: name a file relative to the repository root")]
    Empty,
    /// An absolute path.
    #[error(
        "resolve `{path}`: absolute paths are refused; use a path relative to the repository root"
    )]
    Absolute {
        /// The path as requested.
        path: String,
    },
    /// A path with a `..` component.
    #[error("resolve `{path}`: `..` is refused; paths must stay inside the repository")]
    ParentComponent {
        /// The path as requested.
        path: String,
    },
    /// A path inside `.git`.
    #[error(
        "resolve `{path}`: the `.git` directory is off limits; use git_diff and git_log instead"
    )]
    GitDirectory {
        /// The path as requested.
        path: String,
    },
    /// A path that a symlink leads outside the worktree.
    #[error("resolve `{path}`: it leads outside the repository through a symlink")]
    EscapesThroughSymlink {
        /// The path as requested.
        path: String,
    },
    /// The file system could not be inspected.
    #[error("inspect `{path}`")]
    Io {
        /// The path as requested.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Worktree {
    /// A worktree rooted at `root` whose git directory is `git_dir` (both must exist): for a
    /// linked worktree the directory its mirror keeps for it, never one read from the
    /// worktree's `.git` file, which commands run in the worktree can rewrite.
    pub fn open(root: impl AsRef<Path>, git_dir: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref().canonicalize()?;
        let git_dir = git_dir.as_ref().canonicalize()?;
        let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority())?;
        Ok(Self {
            root,
            git_dir,
            dir: Arc::new(dir),
        })
    }

    /// The git directory every git command the harness runs here is pointed at.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The handle every confined read and write starts from.
    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `requested` (relative to the root) to a path inside the worktree, or says
    /// why it is refused.
    pub fn resolve(&self, requested: &str) -> Result<ConfinedPath, PathRefusal> {
        let owned = || requested.to_owned();
        let parts = lexical_parts(requested)?;

        // Find the longest prefix that exists (a symlink counts as existing, even dangling),
        // canonicalize it, and append the parts that do not exist yet.
        let mut existing = self.root.clone();
        let mut consumed = 0;
        for part in &parts {
            let candidate = existing.join(part);
            match candidate.symlink_metadata() {
                Ok(_) => {
                    existing = candidate;
                    consumed += 1;
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                Err(source) => {
                    return Err(PathRefusal::Io {
                        path: owned(),
                        source,
                    });
                }
            }
        }
        let canonical = match existing.canonicalize() {
            Ok(canonical) => canonical,
            // A dangling symlink: its target cannot be checked, so it cannot be trusted.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(PathRefusal::EscapesThroughSymlink { path: owned() });
            }
            Err(source) => {
                return Err(PathRefusal::Io {
                    path: owned(),
                    source,
                });
            }
        };
        let Ok(inside) = canonical.strip_prefix(&self.root) else {
            return Err(PathRefusal::EscapesThroughSymlink { path: owned() });
        };
        let mut relative = inside.to_path_buf();
        for part in &parts[consumed..] {
            relative.push(part);
        }
        if relative
            .components()
            .next()
            .is_some_and(|first| first.as_os_str() == ".git")
        {
            return Err(PathRefusal::GitDirectory { path: owned() });
        }
        let relative_text = relative
            .components()
            .map(|component| component.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        Ok(ConfinedPath {
            absolute: self.root.join(&relative),
            relative: relative_text,
        })
    }
}

/// The normal components of `requested`, refusing what can never name a file inside the
/// worktree: an empty path, an absolute one, `~`, `..`, and any `.git` component. Only the
/// text is judged; the file system is not looked at. `.` yields no component.
pub(crate) fn lexical_parts(requested: &str) -> Result<Vec<&OsStr>, PathRefusal> {
    let owned = || requested.to_owned();
    if requested.trim().is_empty() {
        return Err(PathRefusal::Empty);
    }
    let path = Path::new(requested);
    if path.is_absolute() || requested.starts_with('~') {
        return Err(PathRefusal::Absolute { path: owned() });
    }
    let mut parts: Vec<&OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                if part == ".git" {
                    return Err(PathRefusal::GitDirectory { path: owned() });
                }
                parts.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(PathRefusal::ParentComponent { path: owned() }),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathRefusal::Absolute { path: owned() });
            }
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worktree() -> (tempfile::TempDir, Worktree) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        let worktree = Worktree::open(dir.path(), dir.path().join(".git")).unwrap();
        (dir, worktree)
    }

    #[test]
    fn plain_and_new_paths_resolve_inside() {
        let (_dir, worktree) = worktree();
        assert_eq!(
            worktree.resolve("./src/lib.rs").unwrap().relative(),
            "src/lib.rs"
        );
        let new = worktree.resolve("src/new/deep.rs").unwrap();
        assert_eq!(new.relative(), "src/new/deep.rs");
        assert!(new.absolute().starts_with(worktree.root()));
        assert_eq!(worktree.resolve(".").unwrap().relative(), "");
    }

    #[test]
    fn symlink_inside_resolves_to_its_target() {
        let (dir, worktree) = worktree();
        std::os::unix::fs::symlink("src", dir.path().join("alias")).unwrap();
        assert_eq!(
            worktree.resolve("alias/lib.rs").unwrap().relative(),
            "src/lib.rs"
        );
    }

    #[test]
    fn symlink_to_git_directory_is_refused() {
        let (dir, worktree) = worktree();
        std::os::unix::fs::symlink(".git", dir.path().join("sneaky")).unwrap();
        assert!(matches!(
            worktree.resolve("sneaky/config"),
            Err(PathRefusal::GitDirectory { .. })
        ));
    }

    #[test]
    fn dangling_symlink_is_refused() {
        let (dir, worktree) = worktree();
        std::os::unix::fs::symlink("/nonexistent/squadron", dir.path().join("dangling")).unwrap();
        assert!(matches!(
            worktree.resolve("dangling"),
            Err(PathRefusal::EscapesThroughSymlink { .. })
        ));
    }
}
