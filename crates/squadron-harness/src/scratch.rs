//! The squad's scratch area: whole tool outputs that were too long to show, kept where the
//! squad's agents can read them back with `read_file` (`path: "scratch:<name>"`) but no tool
//! can write. It lives beside the worktree, not in it, so nothing in it is ever committed,
//! and its names are made by the harness, never by an agent.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use squadron_core::Role;

use crate::context::KEEP_WHOLE_BELOW;
use crate::output_cap::{OutputLimits, cap, fits};

/// The prefix of a `read_file` path that names a scratch file.
pub const SCRATCH_PREFIX: &str = "scratch:";

/// Scratch files larger than this are not kept (the sandbox already caps command output
/// far below it).
const MAX_SCRATCH_BYTES: usize = 16 * 1024 * 1024;

/// One squad's scratch directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// The scratch area of the worktree at `root`: the hidden sibling directory
    /// `.<worktree name>.scratch`.
    pub fn beside(root: &Path) -> Scratch {
        let name = root.file_name().map_or_else(
            || "worktree".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let parent = root.parent().unwrap_or(root);
        Scratch {
            dir: parent.join(format!(".{name}.scratch")),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the scratch area and everything in it, as its worktree is removed; an area
    /// that was never made is fine.
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Keeps `text` as a new file and returns the path to give `read_file`
    /// (`scratch:<role>-<n>.txt`).
    pub fn save(&self, role: Role, text: &str) -> std::io::Result<String> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = &text.as_bytes()[..text.len().min(MAX_SCRATCH_BYTES)];
        for number in 1_u32.. {
            let name = format!("{role}-{number}.txt");
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.dir.join(&name));
            match created {
                Ok(mut file) => {
                    file.write_all(bytes)?;
                    return Ok(format!("{SCRATCH_PREFIX}{name}"));
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        Err(std::io::Error::other("no free scratch file name"))
    }

    /// `content` as an agent is shown it: capped to `limits` with the whole kept here when
    /// it is cut (or long enough that an elision note should point to a copy). Returns the
    /// text to show and the path of the copy, if one was kept.
    pub fn bound(
        &self,
        role: Role,
        content: String,
        limits: OutputLimits,
    ) -> (String, Option<String>) {
        if content.len() < KEEP_WHOLE_BELOW {
            return (content, None);
        }
        let whole_at = match self.save(role, &content) {
            Ok(path) => Some(path),
            Err(error) => {
                tracing::warn!(%error, dir = %self.dir.display(), "could not keep a tool output in scratch");
                None
            }
        };
        if fits(&content, limits) {
            return (content, whole_at);
        }
        (cap(&content, limits, whole_at.as_deref()), whole_at)
    }

    /// The text of the scratch file `path` names (`scratch:<name>`). Only names the harness
    /// makes are accepted, and the file is opened without following links.
    pub fn read(&self, path: &str) -> Result<String, String> {
        let name = path.strip_prefix(SCRATCH_PREFIX).unwrap_or(path);
        let well_formed = !name.is_empty()
            && name.ends_with(".txt")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && !name.contains("..");
        if !well_formed {
            return Err(format!(
                "`{path}` is not a scratch file name; use the path given in a cut tool output, like `scratch:developer-1.txt`"
            ));
        }
        let full = self.dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.custom_flags(nix::libc::O_NOFOLLOW);
        }
        let mut file = options
            .open(&full)
            .map_err(|error| format!("failed to open `{path}`: {error}"))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut file, MAX_SCRATCH_BYTES as u64),
            &mut bytes,
        )
        .map_err(|error| format!("failed to read `{path}`: {error}"))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_under_fresh_names_and_reads_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = Scratch::beside(&dir.path().join("wt"));
        let first = scratch.save(Role::Developer, "one").unwrap();
        let second = scratch.save(Role::Developer, "two").unwrap();
        assert_eq!(first, "scratch:developer-1.txt");
        assert_eq!(second, "scratch:developer-2.txt");
        assert_eq!(scratch.read(&second).unwrap(), "two");
        for bad in [
            "scratch:../x.txt",
            "scratch:/etc/passwd",
            "scratch:a/b.txt",
            "scratch:",
        ] {
            assert!(scratch.read(bad).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink("/etc/hostname", scratch.dir().join("link-1.txt")).unwrap();
        assert!(scratch.read("scratch:link-1.txt").is_err());
        scratch.remove().unwrap();
        assert!(!scratch.dir().exists());
        scratch.remove().expect("removing it again is fine");
    }
}
