//! The process-count and memory limits of one command, set by the daemon itself.
//!
//! A command starts as `sh` waiting on its standard input (the gate). While it waits, the
//! daemon moves it into a pids cgroup of its own, whose `pids.max` holds the command and
//! everything it starts to the process limit, for root too and apart from every other
//! command, and puts `RLIMIT_AS` on it (`prlimit(2)`); then it lets the gate `exec` the
//! command, which inherits both. Nothing forks before the limits are in place, and no
//! external program is needed. Where no pids cgroup can be made, the process limit falls
//! back to `RLIMIT_NPROC`, which counts all of the daemon user's processes together and
//! does not apply to root; [`Limits::detect`] says so for the operator.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rustix::process::{Resource, Rlimit, prlimit};
use tokio::io::AsyncWriteExt;
use tokio::process::Child;

use super::SandboxSettings;

/// The gate: waits for the daemon's go-ahead line, then becomes the command (standard input
/// back to nothing). End of input without it (the daemon gave up) ends the gate.
pub(super) const GATE: [&str; 4] = [
    "/bin/sh",
    "-c",
    "read -r _ || exit 125; exec \"$@\" </dev/null",
    "squadron-limits",
];

/// Processes a runner itself adds to a command's cgroup: bubblewrap's monitor and its
/// PID namespace's init, or `unshare` and its forked child.
const RUNNER_PROCESSES: u64 = 2;

/// How the limits of a sandbox's settings are enforced on this host.
#[derive(Clone, Debug)]
pub(super) struct Limits {
    /// Where each command's pids cgroup is made; `None`: the `RLIMIT_NPROC` fallback.
    cgroups: Option<PathBuf>,
}

impl Limits {
    /// Finds the daemon's pids cgroup and checks that a command's cgroup can be made in it.
    /// The warning, if any, says what is weaker than asked.
    pub(super) fn detect(settings: &SandboxSettings) -> (Limits, Option<String>) {
        if settings.max_processes.is_none() {
            return (Limits { cgroups: None }, None);
        }
        match own_pids_cgroup().and_then(|parent| {
            CommandCgroup::create(&parent, 1)?.remove_now()?;
            sweep_orphans(&parent);
            Ok(parent)
        }) {
            Ok(parent) => (
                Limits {
                    cgroups: Some(parent),
                },
                None,
            ),
            Err(why) => {
                let warning = fallback_warning(&why, is_root());
                tracing::warn!("{warning}");
                (Limits { cgroups: None }, Some(warning))
            }
        }
    }

    /// What a command about to start needs to be limited (its cgroup made, when the host
    /// gives pids cgroups); `None` when `settings` set no limit.
    pub(super) fn gate(&self, settings: &SandboxSettings) -> io::Result<Option<Gate>> {
        if settings.max_processes.is_none() && settings.max_memory_bytes.is_none() {
            return Ok(None);
        }
        let cgroup = match (&self.cgroups, settings.max_processes) {
            (Some(parent), Some(max)) => Some(CommandCgroup::create(
                parent,
                max.saturating_add(RUNNER_PROCESSES),
            )?),
            _ => None,
        };
        Ok(Some(Gate { cgroup }))
    }
}

/// The limits of one command started through [`GATE`].
#[derive(Debug)]
pub(super) struct Gate {
    cgroup: Option<CommandCgroup>,
}

impl Gate {
    /// Puts the limits of `settings` on the waiting gate `child` and lets it start the
    /// command.
    pub(super) async fn open(
        &self,
        child: &mut Child,
        settings: &SandboxSettings,
    ) -> io::Result<()> {
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the command ended before its limits were set"))?;
        let target = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| io::Error::other(format!("process id {pid} out of range")))?;
        match &self.cgroup {
            Some(cgroup) => cgroup.admit(pid)?,
            None => {
                if let Some(max) = settings.max_processes {
                    prlimit(Some(target), Resource::Nproc, both(max))?;
                }
            }
        }
        if let Some(max) = settings.max_memory_bytes {
            prlimit(Some(target), Resource::As, both(max))?;
        }
        let mut go_ahead = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("the gate has no standard input"))?;
        go_ahead.write_all(b"\n").await?;
        go_ahead.flush().await
    }

    /// Ends what is left of the command and removes its cgroup.
    pub(super) async fn close(self) {
        if let Some(cgroup) = self.cgroup {
            cgroup.remove().await;
        }
    }
}

/// What the process-count limit becomes without a pids cgroup (`why`), for a daemon
/// running as root or not.
fn fallback_warning(why: &io::Error, root: bool) -> String {
    let consequence = if root {
        "the daemon runs as root, so commands run without a process-count limit"
    } else {
        "the process-count limit (RLIMIT_NPROC) counts all of the daemon user's processes together, so one command's fork bomb stops the others"
    };
    format!(
        "no pids cgroup could be made for commands ({why}): {consequence}; give the daemon a cgroup it may create children in (a systemd unit with `Delegate=pids`, a container with a writable cgroup filesystem)"
    )
}

fn both(limit: u64) -> Rlimit {
    Rlimit {
        current: Some(limit),
        maximum: Some(limit),
    }
}

/// Whether the daemon runs as root (`/proc/self` belongs to the effective user).
pub(super) fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .is_ok_and(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
}

/// The directory of the daemon's own pids cgroup, from `/proc/self/cgroup` and the
/// mounts: a cgroup v1 `pids` hierarchy, or cgroup v2 with the `pids` controller (enabled
/// for children here if it is not yet).
fn own_pids_cgroup() -> io::Result<PathBuf> {
    let membership = std::fs::read_to_string("/proc/self/cgroup")?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    let v1 = membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|controller| controller == "pids")
            .then_some(path)
    });
    if let Some(path) = v1 {
        let (root, mount) = cgroup_mount(&mounts, |fstype, options| {
            fstype == "cgroup" && options.split(',').any(|option| option == "pids")
        })
        .ok_or_else(|| io::Error::other("the cgroup v1 `pids` hierarchy is not mounted"))?;
        return Ok(join_cgroup(&mount, &root, path));
    }
    let path = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| io::Error::other("the daemon is in no pids cgroup"))?;
    let (root, mount) = cgroup_mount(&mounts, |fstype, _| fstype == "cgroup2")
        .ok_or_else(|| io::Error::other("cgroup v2 is not mounted"))?;
    let dir = join_cgroup(&mount, &root, path);
    let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control"))?;
    if !enabled
        .split_whitespace()
        .any(|controller| controller == "pids")
    {
        std::fs::write(dir.join("cgroup.subtree_control"), "+pids").map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("enable the `pids` controller in {}: {error}", dir.display()),
            )
        })?;
    }
    Ok(dir)
}

/// The root and mount point of the first cgroup mount `matches` accepts, from
/// `/proc/self/mountinfo` (`id parent dev root mountpoint options… - fstype source super`).
fn cgroup_mount(
    mountinfo: &str,
    matches: impl Fn(&str, &str) -> bool,
) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        let mut mount = mount.split(' ');
        let root = mount.nth(3)?;
        let point = mount.next()?;
        let mut filesystem = filesystem.split(' ');
        let (fstype, _source, options) =
            (filesystem.next()?, filesystem.next()?, filesystem.next()?);
        matches(fstype, options).then(|| (root.to_owned(), PathBuf::from(point)))
    })
}

/// Where the cgroup `path` (as `/proc/self/cgroup` names it) is under a mount of the
/// hierarchy's `root`.
fn join_cgroup(mount: &Path, root: &str, path: &str) -> PathBuf {
    let relative = path.strip_prefix(root).unwrap_or(path);
    mount.join(relative.trim_start_matches('/'))
}

/// Removes the command cgroups of daemons that are gone (a crash, or a process that ended
/// while a command of its ran), killing what is left in them; one whose processes are still
/// dying goes at the next sweep.
fn sweep_orphans(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner = name
            .to_str()
            .and_then(|name| name.strip_prefix("squadron-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let Some(owner) = owner else {
            continue;
        };
        if owner == std::process::id() || Path::new("/proc").join(owner.to_string()).exists() {
            continue;
        }
        let orphan = CommandCgroup {
            dir: entry.path(),
            removed: true,
        };
        orphan.kill_members();
        let _ = std::fs::remove_dir(&orphan.dir);
    }
}

/// Tells one command's cgroup from another's, within this daemon.
static NEXT_CGROUP: AtomicU64 = AtomicU64::new(0);

/// One command's pids cgroup. Removing it ends every process left in it, those that left
/// the command's process group included.
#[derive(Debug)]
pub(super) struct CommandCgroup {
    dir: PathBuf,
    removed: bool,
}

impl CommandCgroup {
    fn create(parent: &Path, max: u64) -> io::Result<CommandCgroup> {
        let name = format!(
            "squadron-{}-{}",
            std::process::id(),
            NEXT_CGROUP.fetch_add(1, Ordering::Relaxed)
        );
        let dir = parent.join(name);
        // A daemon that died left it behind (process ids are reused): empty, it can go.
        if dir.exists() {
            let _ = std::fs::remove_dir(&dir);
        }
        std::fs::create_dir(&dir).map_err(|error| {
            io::Error::new(error.kind(), format!("create {}: {error}", dir.display()))
        })?;
        let cgroup = CommandCgroup {
            dir,
            removed: false,
        };
        std::fs::write(cgroup.dir.join("pids.max"), max.to_string())?;
        Ok(cgroup)
    }

    fn admit(&self, pid: u32) -> io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }

    /// Kills what is left in the cgroup.
    fn kill_members(&self) {
        let members = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in members
            .lines()
            .filter_map(|line| line.trim().parse::<i32>().ok())
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn remove_now(mut self) -> io::Result<()> {
        self.removed = true;
        std::fs::remove_dir(&self.dir)
    }

    /// Ends what is left in the cgroup and removes it, waiting up to about a second for
    /// killed processes to go. They usually go within a millisecond or two (bubblewrap's
    /// init exits just after the command), so the waits start short.
    pub(super) async fn remove(mut self) {
        let mut wait = Duration::from_millis(1);
        let mut waited = Duration::ZERO;
        while waited < Duration::from_secs(1) {
            self.kill_members();
            if std::fs::remove_dir(&self.dir).is_ok() {
                self.removed = true;
                return;
            }
            tokio::time::sleep(wait).await;
            waited += wait;
            wait = (wait * 2).min(Duration::from_millis(50));
        }
    }
}

impl Drop for CommandCgroup {
    /// A run that was abandoned (its future dropped): its processes are killed all the same,
    /// and the cgroup goes once they are gone, without holding up the runtime (or, if the
    /// process ends first, at the next [`Limits::detect`] on the host).
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        self.kill_members();
        if std::fs::remove_dir(&self.dir).is_ok() {
            return;
        }
        let dir = self.dir.clone();
        std::thread::spawn(move || {
            for _ in 0..50 {
                std::thread::sleep(Duration::from_millis(20));
                if std::fs::remove_dir(&dir).is_ok() {
                    return;
                }
            }
            tracing::warn!(cgroup = %dir.display(), "a command's pids cgroup was left behind");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_pids_cgroup_the_warning_says_what_the_process_limit_becomes() {
        let why =
            io::Error::other("create /sys/fs/cgroup/pids/squadron-1-0: Read-only file system");
        assert_eq!(
            fallback_warning(&why, true),
            "no pids cgroup could be made for commands (create /sys/fs/cgroup/pids/squadron-1-0: Read-only file system): the daemon runs as root, so commands run without a process-count limit; give the daemon a cgroup it may create children in (a systemd unit with `Delegate=pids`, a container with a writable cgroup filesystem)"
        );
        assert!(
            fallback_warning(&why, false).contains(
                "RLIMIT_NPROC) counts all of the daemon user's processes together, so one command's fork bomb stops the others"
            )
        );
    }

    #[test]
    fn the_cgroups_a_gone_daemon_left_are_emptied_and_removed() {
        let parent = own_pids_cgroup().expect("this host gives the daemon a pids cgroup");
        // Above the kernel's largest process id: no such daemon can be running.
        let orphan = parent.join("squadron-4194305-7");
        std::fs::create_dir(&orphan).unwrap();
        let mut left_running = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        std::fs::write(orphan.join("cgroup.procs"), left_running.id().to_string()).unwrap();
        sweep_orphans(&parent);
        let status = left_running.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "the command it left is killed"
        );
        sweep_orphans(&parent);
        assert!(!orphan.exists(), "the cgroup is removed");
        assert!(parent.exists());
    }

    #[test]
    fn finds_the_pids_hierarchy_of_cgroup_v1_and_v2_mounts() {
        let mountinfo = "\
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
32 25 0:28 /daemon.slice /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let v1 = cgroup_mount(mountinfo, |fstype, options| {
            fstype == "cgroup" && options.split(',').any(|option| option == "pids")
        })
        .unwrap();
        assert_eq!(v1, ("/".to_owned(), PathBuf::from("/sys/fs/cgroup/pids")));
        assert_eq!(
            join_cgroup(&v1.1, &v1.0, "/squads"),
            Path::new("/sys/fs/cgroup/pids/squads")
        );
        let v2 = cgroup_mount(mountinfo, |fstype, _| fstype == "cgroup2").unwrap();
        assert_eq!(
            join_cgroup(&v2.1, &v2.0, "/daemon.slice/squadron.service"),
            Path::new("/sys/fs/cgroup/unified/squadron.service")
        );
    }
}
