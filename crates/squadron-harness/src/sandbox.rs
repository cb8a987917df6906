//! Sandboxed execution of commands inside a worktree: bubblewrap when it works, otherwise a
//! restricted runner.
//!
//! With bubblewrap commands see only the system's programs, libraries and configuration
//! (read-only), the declared toolchains and caches, the worktree and a private `/tmp`
//! (writable); there is no network, no capability (a daemon running as root included), and
//! the command runs in its own PID namespace that dies with the harness. The restricted
//! runner gives the command a PID namespace of its own too where the host allows it. Both
//! runners clear the environment down to an allow-list (never a variable whose name looks
//! like a credential), confine the working directory, limit process count (per command,
//! through a pids cgroup of its own) and memory ([`limits`]), enforce a wall-clock limit
//! that kills the whole process tree, and cap the output kept.

mod limits;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Which runner the configuration asks for (`sandbox.mode`).
pub use squadron_config::SandboxMode;

/// The runner actually in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxKind {
    /// Commands run under bubblewrap.
    Bubblewrap,
    /// Commands run with a scrubbed environment and limits, but see the system as it is.
    Restricted,
}

impl fmt::Display for SandboxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SandboxKind::Bubblewrap => "bubblewrap",
            SandboxKind::Restricted => "restricted",
        })
    }
}

/// Whether a variable name looks like it holds a credential (one list for the whole
/// daemon: the repository settings refuse to pass such variables through as well).
pub use squadron_config::is_secret_name;

/// The `PATH` commands get unless the caller supplies one.
pub const DEFAULT_PATH: &str = squadron_config::SYSTEM_PATH;

/// How commands are run. The binary fills `env` from its own environment; the harness never
/// reads the environment itself.
#[derive(Clone, Debug)]
pub struct SandboxSettings {
    /// The requested runner.
    pub mode: SandboxMode,
    /// Wall-clock limit of one command.
    pub timeout: Duration,
    /// Bytes kept of each of stdout and stderr.
    pub output_cap: usize,
    /// The allow-listed environment (`PATH`, `LANG`, `TERM`, toolchain homes…). `HOME` and
    /// `TMPDIR` are always replaced by the private temp dir.
    env: BTreeMap<String, String>,
    /// The bubblewrap program, looked up on the allow-listed `PATH` when not absolute.
    pub bwrap_program: PathBuf,
    /// Host paths bound read-only at the same path (a repository's toolchains).
    pub read_only_mounts: Vec<PathBuf>,
    /// Host directories bound writable at the same path (a repository's caches, kept by the
    /// daemon per repository). They must exist.
    pub writable_mounts: Vec<PathBuf>,
    /// Files inside the mounts that commands see empty (registry credentials).
    pub masked: Vec<PathBuf>,
    /// Most processes (threads included) a command and what it starts may have at once, so
    /// that a fork bomb stops there; `None`: no limit. Each command has its own pids cgroup
    /// where the host allows one, otherwise `RLIMIT_NPROC` (see [`Sandbox::warning`]).
    pub max_processes: Option<u64>,
    /// Most address space one process of a command may map (`RLIMIT_AS`), so that a runaway
    /// allocation fails inside the command instead of starving the host; `None`: no limit.
    pub max_memory_bytes: Option<u64>,
}

/// Processes a command may have at once unless configured otherwise.
pub const DEFAULT_MAX_PROCESSES: u64 = 4096;

/// Address space one process of a command may map unless configured otherwise: room for a
/// compiler or a JavaScript engine's reservations, not for a runaway allocation.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 8 * 1024 * 1024 * 1024;

impl SandboxSettings {
    /// Settings with a ten-minute limit, a 64 KiB output cap, and `PATH`, `LANG` defaults.
    pub fn new(mode: SandboxMode) -> Self {
        let env = BTreeMap::from([
            ("PATH".to_owned(), DEFAULT_PATH.to_owned()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ]);
        Self {
            mode,
            timeout: Duration::from_secs(600),
            output_cap: 64 * 1024,
            env,
            bwrap_program: PathBuf::from("bwrap"),
            read_only_mounts: Vec::new(),
            writable_mounts: Vec::new(),
            masked: Vec::new(),
            max_processes: Some(DEFAULT_MAX_PROCESSES),
            max_memory_bytes: Some(DEFAULT_MAX_MEMORY_BYTES),
        }
    }

    /// Allows one variable into commands' environment. A name that looks like a credential
    /// (`*TOKEN*`, `*KEY*`, `*SECRET*`…) is refused.
    pub fn allow_env(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), SandboxError> {
        let name = name.into();
        if is_secret_name(&name) {
            return Err(SandboxError::SecretVariable(name));
        }
        if matches!(name.as_str(), "HOME" | "TMPDIR") {
            return Err(SandboxError::ReservedVariable(name));
        }
        self.env.insert(name, value.into());
        Ok(())
    }

    /// The allow-listed environment.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    pub(crate) fn path_env(&self) -> &str {
        self.env.get("PATH").map_or(DEFAULT_PATH, String::as_str)
    }
}

/// Whether a command may reach the network. Only a repository's setup command ever does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// No network at all (bubblewrap's own network namespace, without even the host's
    /// loopback).
    Isolated,
    /// The host's network, for installing dependencies.
    Allowed,
}

/// Whether a command may change the worktree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorktreeAccess {
    /// Writers' commands (and guardrails) may change files.
    ReadWrite,
    /// Read-only roles' commands see the worktree read-only.
    ReadOnly,
}

/// A command to run in the worktree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxCommand {
    /// A program and its arguments, run without a shell.
    Argv(Vec<String>),
    /// A shell command line from the repository's own configuration, run with `sh -c`.
    Shell(String),
}

impl SandboxCommand {
    fn argv(&self) -> Vec<String> {
        match self {
            SandboxCommand::Argv(argv) => argv.clone(),
            SandboxCommand::Shell(line) => vec!["sh".to_owned(), "-c".to_owned(), line.clone()],
        }
    }
}

impl fmt::Display for SandboxCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SandboxCommand::Argv(argv) => f.write_str(
                &shlex::try_join(argv.iter().map(String::as_str))
                    .unwrap_or_else(|_| argv.join(" ")),
            ),
            SandboxCommand::Shell(line) => f.write_str(line),
        }
    }
}

/// What a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code; `None` when killed by a signal (including the timeout).
    pub exit_code: Option<i32>,
    /// Standard output, lossily decoded, at most the cap.
    pub stdout: String,
    /// Standard error, lossily decoded, at most the cap.
    pub stderr: String,
    /// Whether output beyond the cap was dropped.
    pub truncated: bool,
    /// Whether the wall-clock limit killed it.
    pub timed_out: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

impl CommandOutput {
    /// Whether the command exited with status 0 in time.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// A plain-text account of the run, for the model (to be fenced by the caller).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if self.timed_out {
            text.push_str(&format!(
                "killed after the time limit ({:.1}s)\n",
                self.elapsed.as_secs_f64()
            ));
        } else {
            match self.exit_code {
                Some(code) => text.push_str(&format!("exit code {code}\n")),
                None => text.push_str("killed by a signal\n"),
            }
        }
        if !self.stdout.is_empty() {
            text.push_str("--- stdout ---\n");
            text.push_str(&self.stdout);
            if !self.stdout.ends_with('\n') {
                text.push('\n');
            }
        }
        if !self.stderr.is_empty() {
            text.push_str("--- stderr ---\n");
            text.push_str(&self.stderr);
            if !self.stderr.ends_with('\n') {
                text.push('\n');
            }
        }
        if self.truncated {
            text.push_str("(output truncated at the cap)\n");
        }
        text
    }
}

/// A failure to run a command at all (a command that runs and fails is a [`CommandOutput`]).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `sandbox = "bubblewrap"` but no `bwrap` program was found.
    #[error(
        "run commands with bubblewrap: `{program}` was not found on PATH `{path}`; install bubblewrap (`apt-get install bubblewrap`) or set sandbox = \"auto\""
    )]
    BubblewrapMissing {
        /// The program looked for.
        program: String,
        /// The PATH searched.
        path: String,
    },
    /// The limits could not be put on a command about to run.
    #[error("put the process-count and memory limits on `{program}`")]
    Limits {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `bwrap` exists but cannot create its sandbox here.
    #[error(
        "run commands with bubblewrap: the probe run failed ({reason}); this host probably forbids unprivileged user namespaces: allow them (sysctl kernel.unprivileged_userns_clone=1) or set sandbox = \"auto\" to fall back to the restricted runner"
    )]
    BubblewrapBroken {
        /// What the probe reported.
        reason: String,
    },
    /// A variable that looks like a credential was offered to the allow-list.
    #[error(
        "allow `{0}` into the sandbox: its name looks like a credential, and commands never see credentials"
    )]
    SecretVariable(String),
    /// `HOME` or `TMPDIR` was offered; the sandbox sets them itself.
    #[error("allow `{0}` into the sandbox: the sandbox sets it to its private temp dir")]
    ReservedVariable(String),
    /// A read-only run was asked of the restricted runner.
    #[error(
        "run a command with a read-only worktree: that needs bubblewrap, and this host runs the restricted runner"
    )]
    ReadOnlyNeedsBubblewrap,
    /// An empty argument vector.
    #[error("run an empty command")]
    EmptyCommand,
    /// The private temp dir could not be created.
    #[error("create the private temp dir for a command")]
    TempDir(#[source] io::Error),
    /// The process could not be started.
    #[error("start `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Waiting for the process failed.
    #[error("wait for `{program}`")]
    Wait {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// A ready runner: which kind, with what settings, and any warning to show the operator.
#[derive(Clone, Debug)]
pub struct Sandbox {
    kind: SandboxKind,
    settings: SandboxSettings,
    bwrap: Option<PathBuf>,
    limits: limits::Limits,
    /// The restricted runner's own PID namespace (`unshare …`), empty where the host has
    /// none to give.
    isolation: Vec<String>,
    warning: Option<String>,
}

/// How long to keep reading output after the process ended or was killed; a grandchild that
/// escaped the process group may hold the pipe open forever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

impl Sandbox {
    /// Picks the runner for `settings.mode`, probing bubblewrap with a trivial run so that a
    /// host without user namespaces is detected now rather than at the first command.
    pub async fn detect(settings: SandboxSettings) -> Result<Self, SandboxError> {
        let (limits, limits_warning) = limits::Limits::detect(&settings);
        let limits_note = limits_warning
            .map(|warning| format!("; {warning}"))
            .unwrap_or_default();
        if settings.mode == SandboxMode::Restricted {
            let warning = format!(
                "sandbox = \"restricted\": commands run with a scrubbed environment and limits, but as the daemon's user: they can read the whole system, the credentials of the daemon and its git processes included (through /proc), write wherever the daemon can, and reach the network{limits_note}"
            );
            return Ok(Self::restricted(settings, limits, warning).await);
        }
        let probe = match find_program(&settings.bwrap_program, settings.path_env()) {
            None => Err(SandboxError::BubblewrapMissing {
                program: settings.bwrap_program.display().to_string(),
                path: settings.path_env().to_owned(),
            }),
            Some(bwrap) => probe_bubblewrap(&bwrap, &settings).await.map(|()| bwrap),
        };
        match (probe, settings.mode) {
            (Ok(bwrap), _) => Ok(Sandbox {
                kind: SandboxKind::Bubblewrap,
                settings,
                bwrap: Some(bwrap),
                limits,
                isolation: Vec::new(),
                warning: (!limits_note.is_empty())
                    .then(|| limits_note.trim_start_matches("; ").to_owned()),
            }),
            (Err(error), SandboxMode::Bubblewrap) => Err(error),
            (Err(error), _) => {
                let warning = format!(
                    "bubblewrap is unavailable (failed to {error}); falling back to the restricted runner: commands run as the daemon's user, so they can read the whole system, the credentials of the daemon and its git processes included (through /proc), write wherever the daemon can, and reach the network{limits_note}"
                );
                Ok(Self::restricted(settings, limits, warning).await)
            }
        }
    }

    /// The restricted runner, with a PID namespace of its own for each command where the
    /// host allows one.
    async fn restricted(
        settings: SandboxSettings,
        limits: limits::Limits,
        mut warning: String,
    ) -> Sandbox {
        if limits::is_root() {
            // Only bubblewrap takes the capabilities away; root's commands could lift their
            // memory limit and leave their cgroup.
            warning.push_str(
                "; the daemon runs as root, so commands run as root and can lift their own limits",
            );
        }
        let isolation = match find_program(Path::new("unshare"), settings.path_env()) {
            Some(unshare) => {
                let prefix = pid_namespace_args(&unshare);
                match probe_prefix(&prefix, &settings).await {
                    Ok(()) => prefix,
                    Err(why) => {
                        warning.push_str(&format!("; commands get no PID namespace of their own ({why}), so a process that leaves its process group outlives the command"));
                        Vec::new()
                    }
                }
            }
            None => {
                warning.push_str("; `unshare` (util-linux) was not found, so a process that leaves its process group outlives the command");
                Vec::new()
            }
        };
        tracing::warn!(sandbox = "restricted", "{warning}");
        Sandbox {
            kind: SandboxKind::Restricted,
            settings,
            bwrap: None,
            limits,
            isolation,
            warning: Some(warning),
        }
    }

    /// The runner in use.
    pub fn kind(&self) -> SandboxKind {
        self.kind
    }

    /// Why the runner is weaker than bubblewrap, for the log and `doctor`.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The settings in force.
    pub fn settings(&self) -> &SandboxSettings {
        &self.settings
    }

    /// The same runner with other settings (a repository's variables and mounts), without
    /// probing bubblewrap again.
    pub fn with_settings(&self, settings: SandboxSettings) -> Sandbox {
        Sandbox {
            kind: self.kind,
            settings,
            bwrap: self.bwrap.clone(),
            limits: self.limits.clone(),
            isolation: self.isolation.clone(),
            warning: self.warning.clone(),
        }
    }

    /// Runs `command` with `worktree` as its working directory and writable.
    pub async fn run(
        &self,
        worktree: &Path,
        command: &SandboxCommand,
    ) -> Result<CommandOutput, SandboxError> {
        self.run_with(worktree, command, WorktreeAccess::ReadWrite)
            .await
    }

    /// Runs `command` with `worktree` as its working directory, writable or not. Read-only
    /// runs need bubblewrap: the restricted runner cannot stop a command from writing.
    pub async fn run_with(
        &self,
        worktree: &Path,
        command: &SandboxCommand,
        access: WorktreeAccess,
    ) -> Result<CommandOutput, SandboxError> {
        self.run_with_network(worktree, command, access, Network::Isolated)
            .await
    }

    /// Like [`Sandbox::run_with`], choosing whether the command reaches the network. Only a
    /// repository's setup command is given [`Network::Allowed`]; the restricted runner
    /// cannot take the network away in any case.
    pub async fn run_with_network(
        &self,
        worktree: &Path,
        command: &SandboxCommand,
        access: WorktreeAccess,
        network: Network,
    ) -> Result<CommandOutput, SandboxError> {
        if access == WorktreeAccess::ReadOnly && self.kind != SandboxKind::Bubblewrap {
            return Err(SandboxError::ReadOnlyNeedsBubblewrap);
        }
        let argv = command.argv();
        let Some(program) = argv.first().cloned() else {
            return Err(SandboxError::EmptyCommand);
        };
        let private_tmp = tempfile::Builder::new()
            .prefix("squadron-cmd-")
            .tempdir()
            .map_err(SandboxError::TempDir)?;
        let (mut line, env) = match (&self.kind, &self.bwrap) {
            (SandboxKind::Bubblewrap, Some(bwrap)) => {
                let mut line = vec![bwrap.display().to_string()];
                line.extend(bubblewrap_args(worktree, &self.settings, access, network));
                line.push("--".to_owned());
                // Bubblewrap itself gets only PATH: the sandbox's env is set with --setenv.
                let env = vec![("PATH".to_owned(), self.settings.path_env().to_owned())];
                (line, env)
            }
            _ => {
                let mut env = allowed_env(&self.settings);
                let tmp = private_tmp.path().display().to_string();
                env.extend([("HOME".to_owned(), tmp.clone()), ("TMPDIR".to_owned(), tmp)]);
                (self.isolation.clone(), env)
            }
        };
        line.extend(argv);
        let gate = self
            .limits
            .gate(&self.settings)
            .map_err(|source| SandboxError::Limits {
                program: program.clone(),
                source,
            })?;
        if gate.is_some() {
            line.splice(0..0, limits::GATE.map(str::to_owned));
        }
        let mut process = Command::new(&line[0]);
        process
            .args(&line[1..])
            .env_clear()
            .envs(env)
            .current_dir(worktree)
            .stdin(if gate.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        run_gated(process, &program, &self.settings, gate).await
    }
}

/// Arguments that build the bubblewrap sandbox around a command run in `worktree`.
fn bubblewrap_args(
    worktree: &Path,
    settings: &SandboxSettings,
    access: WorktreeAccess,
    network: Network,
) -> Vec<String> {
    let worktree = worktree.display().to_string();
    // Only what commands need: the system's programs, libraries and configuration, then
    // (below) the declared toolchains, caches and the worktree. The rest of the host (the
    // daemon's store and data, other squads' worktrees, home directories) is not there.
    let mut args: Vec<String> = Vec::new();
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match path.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(path) {
                    args.extend([
                        "--symlink".to_owned(),
                        target.display().to_string(),
                        (*dir).to_owned(),
                    ]);
                }
            }
            Ok(meta) if meta.is_dir() => {
                args.extend(["--ro-bind".to_owned(), (*dir).to_owned(), (*dir).to_owned()]);
            }
            _ => {}
        }
    }
    args.extend(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"].map(str::to_owned));
    // The directories on the commands' `PATH` are declared toolchain paths too.
    for dir in settings.path_env().split(':') {
        let path = Path::new(dir);
        if path.is_absolute() && !SYSTEM_DIRS.iter().any(|system| path.starts_with(system)) {
            args.extend(["--ro-bind-try".to_owned(), dir.to_owned(), dir.to_owned()]);
        }
    }
    // After the tmpfs, so that a toolchain, cache or worktree under /tmp is visible again;
    // `-try` skips a toolchain path that disappeared. The worktree comes after the mounts,
    // so no mount can cover it, and masks come last, over what the mounts expose.
    for mount in &settings.read_only_mounts {
        let mount = mount.display().to_string();
        args.extend(["--ro-bind-try".to_owned(), mount.clone(), mount]);
    }
    for mount in &settings.writable_mounts {
        let mount = mount.display().to_string();
        args.extend(["--bind".to_owned(), mount.clone(), mount]);
    }
    let bind = match access {
        WorktreeAccess::ReadWrite => "--bind",
        WorktreeAccess::ReadOnly => "--ro-bind",
    };
    args.extend([bind.to_owned(), worktree.clone(), worktree.clone()]);
    // The worktree's `.git` (the file naming its git directory, or the directory itself)
    // stays as the daemon made it, so no command can point git, its own or the daemon's, at
    // a repository of its making. A symlink in its place is left alone: bubblewrap would
    // follow it.
    let dot_git = Path::new(&worktree).join(".git");
    if dot_git
        .symlink_metadata()
        .is_ok_and(|meta| meta.is_file() || meta.is_dir())
    {
        let dot_git = dot_git.display().to_string();
        args.extend(["--ro-bind".to_owned(), dot_git.clone(), dot_git]);
    }
    for masked in &settings.masked {
        if masked.symlink_metadata().is_ok() {
            args.extend([
                "--ro-bind".to_owned(),
                "/dev/null".to_owned(),
                masked.display().to_string(),
            ]);
        }
    }
    if network == Network::Isolated {
        args.push("--unshare-net".to_owned());
    }
    args.extend(
        [
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            // A daemon running as root would otherwise hand its capabilities on: commands
            // could remount, lift their limits or leave their cgroup.
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
        ]
        .map(str::to_owned),
    );
    for (name, value) in allowed_env(settings) {
        args.extend(["--setenv".to_owned(), name, value]);
    }
    args.extend(["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp"].map(str::to_owned));
    args.extend(["--chdir".to_owned(), worktree]);
    args
}

/// Host directories bound read-only (or recreated as the symlinks they are) in every
/// bubblewrap sandbox: programs, libraries and system configuration.
const SYSTEM_DIRS: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// `unshare` arguments that run the restricted runner's command as the first process of
/// its own PID namespace (in a user namespace of its own when the daemon is not root),
/// ending with `--`. When that process ends, the kernel ends every process it left behind,
/// those that called `setsid` to leave its process group included, which `killpg` alone
/// cannot reach; `--kill-child` ends it when `unshare` is killed (the time limit).
fn pid_namespace_args(unshare: &Path) -> Vec<String> {
    let mut args = vec![unshare.display().to_string()];
    if !limits::is_root() {
        args.extend(["--user", "--map-current-user"].map(str::to_owned));
    }
    args.extend(["--pid", "--fork", "--kill-child", "--"].map(str::to_owned));
    args
}

/// Runs `true` under `prefix` (the restricted runner's PID namespace) to learn whether this
/// host allows it.
async fn probe_prefix(prefix: &[String], settings: &SandboxSettings) -> Result<(), String> {
    let Some((program, args)) = prefix.split_first() else {
        return Ok(());
    };
    let mut process = Command::new(program);
    process
        .args(args)
        .arg("true")
        .env_clear()
        .env("PATH", settings.path_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut probe_settings = settings.clone();
    probe_settings.timeout = Duration::from_secs(10);
    match run_limited(process, program, &probe_settings).await {
        Ok(output) if output.success() => Ok(()),
        Ok(output) => Err(output.stderr.trim().to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

/// The allow-listed variables, with any credential-like name dropped once more in case the
/// settings were built by hand.
fn allowed_env(settings: &SandboxSettings) -> Vec<(String, String)> {
    settings
        .env
        .iter()
        .filter(|(name, _)| !is_secret_name(name) && !matches!(name.as_str(), "HOME" | "TMPDIR"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Runs `true` in a bubblewrap sandbox to learn whether bubblewrap works on this host.
async fn probe_bubblewrap(bwrap: &Path, settings: &SandboxSettings) -> Result<(), SandboxError> {
    let probe_dir = tempfile::tempdir().map_err(SandboxError::TempDir)?;
    let mut process = Command::new(bwrap);
    process
        .args(bubblewrap_args(
            probe_dir.path(),
            settings,
            WorktreeAccess::ReadWrite,
            Network::Isolated,
        ))
        .args(["--", "true"])
        .env_clear()
        .env("PATH", settings.path_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut probe_settings = settings.clone();
    probe_settings.timeout = Duration::from_secs(10);
    let output = run_limited(process, "bwrap", &probe_settings).await?;
    if output.success() {
        Ok(())
    } else {
        let reason = output.stderr.trim();
        let reason = if reason.is_empty() {
            output.render()
        } else {
            reason.to_owned()
        };
        Err(SandboxError::BubblewrapBroken { reason })
    }
}

/// Spawns `process` and collects its capped output under the wall-clock limit, killing its
/// whole process group when the limit is reached. The caller sets up the process group.
pub(crate) async fn run_limited(
    process: Command,
    program: &str,
    settings: &SandboxSettings,
) -> Result<CommandOutput, SandboxError> {
    run_gated(process, program, settings, None).await
}

/// [`run_limited`] for a command started through [`limits::GATE`] when `gate` is given: its
/// limits are put on it before it may start, and its cgroup goes with it.
async fn run_gated(
    mut process: Command,
    program: &str,
    settings: &SandboxSettings,
    gate: Option<limits::Gate>,
) -> Result<CommandOutput, SandboxError> {
    let started = Instant::now();
    let mut child = process.spawn().map_err(|source| SandboxError::Spawn {
        program: program.to_owned(),
        source,
    })?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    if let Some(gate) = &gate
        && let Err(source) = gate.open(&mut child, settings).await
    {
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let _ = child.wait().await;
        return Err(SandboxError::Limits {
            program: program.to_owned(),
            source,
        });
    }
    let stdout = spawn_reader(child.stdout.take(), settings.output_cap);
    let stderr = spawn_reader(child.stderr.take(), settings.output_cap);

    let (status, timed_out) = match tokio::time::timeout(settings.timeout, child.wait()).await {
        Ok(status) => (
            Some(status.map_err(|source| SandboxError::Wait {
                program: program.to_owned(),
                source,
            })?),
            false,
        ),
        Err(_elapsed) => (None, true),
    };
    // Kill whatever is left of the group: on timeout the whole tree, otherwise stray
    // background processes. ESRCH (nothing left) is the common, harmless case.
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGKILL);
    }
    let status = match status {
        Some(status) => status,
        None => child.wait().await.map_err(|source| SandboxError::Wait {
            program: program.to_owned(),
            source,
        })?,
    };
    if let Some(gate) = gate {
        gate.close().await;
    }
    let (stdout, stdout_truncated) = stdout.collect().await;
    let (stderr, stderr_truncated) = stderr.collect().await;
    Ok(CommandOutput {
        exit_code: if timed_out { None } else { status.code() },
        stdout,
        stderr,
        truncated: stdout_truncated || stderr_truncated,
        timed_out,
        elapsed: started.elapsed(),
    })
}

/// Output read so far from one pipe: its head, its latest tail, and how many bytes between
/// them were dropped. Shared with the reader task so that what was read survives a reader
/// that never sees end-of-file.
type Captured = Arc<Mutex<Kept>>;

/// The head and the tail of a stream, each up to half the cap: a test log's failure summary
/// is at its end, so keeping only the first bytes would lose what matters most.
#[derive(Debug, Default)]
struct Kept {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl Kept {
    fn take(&mut self, bytes: &[u8], cap: usize) {
        let head_room = (cap / 2).saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(bytes.len().min(head_room));
        self.head.extend_from_slice(to_head);
        let tail_cap = cap - cap / 2;
        self.tail.extend(rest);
        let over = self.tail.len().saturating_sub(tail_cap);
        if over > 0 {
            self.tail.drain(..over);
            self.dropped += over as u64;
        }
    }

    fn text(&self) -> String {
        let mut bytes = self.head.clone();
        if self.dropped > 0 {
            bytes.extend_from_slice(
                format!("\n[… {} bytes of output dropped here …]\n", self.dropped).as_bytes(),
            );
        }
        bytes.extend(self.tail.iter());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Reads a pipe to its end, keeping at most `cap` bytes, half from its start and half from
/// its end (the rest is drained so the writer never blocks on a full pipe).
async fn read_capped(mut pipe: impl AsyncRead + Unpin, cap: usize, captured: Captured) {
    let mut buffer = [0_u8; 8192];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                let mut guard = captured.lock().unwrap_or_else(PoisonError::into_inner);
                guard.take(&buffer[..read], cap);
            }
        }
    }
}

fn spawn_reader(pipe: Option<impl AsyncRead + Unpin + Send + 'static>, cap: usize) -> Reader {
    let captured = Captured::default();
    let task = pipe.map(|pipe| tokio::spawn(read_capped(pipe, cap, Arc::clone(&captured))));
    Reader { captured, task }
}

/// A pipe being read in the background.
struct Reader {
    captured: Captured,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Reader {
    /// Waits (briefly) for end-of-file and returns what was read.
    async fn collect(self) -> (String, bool) {
        let mut cut_short = false;
        if let Some(mut task) = self.task
            && tokio::time::timeout(DRAIN_GRACE, &mut task).await.is_err()
        {
            task.abort();
            cut_short = true;
        }
        let guard = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        (guard.text(), guard.dropped > 0 || cut_short)
    }
}

/// Finds `program` on `path` (or takes it as is when it contains a slash).
fn find_program(program: &Path, path: &str) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}
