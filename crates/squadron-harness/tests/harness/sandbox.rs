//! Sandboxed commands: no network, no credentials, a read-only system, and limits that kill
//! the whole process tree.

use std::net::TcpListener;
use std::time::Duration;

use serde_json::json;
use squadron_core::Role;
use squadron_harness::{
    Executed, Sandbox, SandboxCommand, SandboxError, SandboxKind, SandboxMode, SandboxSettings,
    ToolName, ToolRegistry, WorktreeAccess, WriteScope,
};

use crate::support::{call, policy, repository, workspace_with};

/// Runs the inner probe in a child test process that has `GITHUB_TOKEN` set, since this
/// crate forbids the `unsafe` needed to set variables in the test process itself.
#[test]
fn sandboxed_commands_see_no_token_and_no_network() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sandbox::token_and_network_probe",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GITHUB_TOKEN", "ghp_test_secret_value")
        .env("OPENAI_API_KEY", "sk-test-secret-value")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the probe did not run: {stdout}"
    );
}

#[tokio::test]
#[ignore = "run by sandboxed_commands_see_no_token_and_no_network with GITHUB_TOKEN set"]
async fn token_and_network_probe() {
    assert_eq!(
        std::env::var("GITHUB_TOKEN").as_deref(),
        Ok("ghp_test_secret_value")
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let repo = repository();
    let mut policy = policy();
    policy.allowed_commands = vec!["env".to_owned(), "curl".to_owned()];
    let workspace = workspace_with(repo.path(), policy, SandboxMode::Bubblewrap).await;
    assert_eq!(workspace.sandbox.kind(), SandboxKind::Bubblewrap);
    let developer = ToolRegistry::new(
        Role::Developer,
        &[ToolName::RunCommand],
        WriteScope::Anything,
    );

    let Executed::Output { content, .. } = developer
        .execute(
            &workspace,
            &call("c1", "run_command", json!({"command": "env"})),
        )
        .await
    else {
        panic!("terminal");
    };
    assert!(content.contains("Command `env` passed"), "{content}");
    assert!(content.contains("PATH="), "{content}");
    assert!(
        !content.contains("GITHUB_TOKEN") && !content.contains("ghp_test_secret_value"),
        "{content}"
    );
    assert!(!content.contains("OPENAI_API_KEY"), "{content}");

    let url = format!("http://127.0.0.1:{port}/");
    let command = format!("curl --silent --show-error --max-time 5 {url}");
    let Executed::Output { content, .. } = developer
        .execute(
            &workspace,
            &call("c2", "run_command", json!({"command": command})),
        )
        .await
    else {
        panic!("terminal");
    };
    assert!(content.contains("FAILED"), "{content}");
    assert!(
        content.contains("Couldn't connect") || content.contains("Failed to connect"),
        "{content}"
    );
    assert!(
        listener.accept().is_err(),
        "the sandboxed command reached the host's loopback"
    );
}

#[tokio::test]
async fn bubblewrap_keeps_the_system_read_only_and_the_worktree_writable() {
    let repo = repository();
    let sandbox = Sandbox::detect(SandboxSettings::new(SandboxMode::Bubblewrap))
        .await
        .unwrap();
    let output = sandbox
        .run(
            repo.path(),
            &SandboxCommand::Shell(
                "touch /usr/squadron-escape; echo built > out.txt; echo $HOME".to_owned(),
            ),
        )
        .await
        .unwrap();
    assert!(
        output.stderr.contains("Read-only file system"),
        "{output:?}"
    );
    assert_eq!(output.stdout.trim(), "/tmp");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("out.txt")).unwrap(),
        "built\n"
    );
    assert!(!std::path::Path::new("/usr/squadron-escape").exists());
    // Read-only roles get a read-only worktree.
    let output = sandbox
        .run_with(
            repo.path(),
            &SandboxCommand::Shell("echo x > mine.txt".to_owned()),
            WorktreeAccess::ReadOnly,
        )
        .await
        .unwrap();
    assert!(
        !output.success() && !repo.path().join("mine.txt").exists(),
        "{output:?}"
    );
}

#[tokio::test]
async fn restricted_runner_scrubs_the_environment_and_confines_the_directory() {
    let repo = repository();
    let mut settings = SandboxSettings::new(SandboxMode::Restricted);
    settings.allow_env("TERM", "dumb").unwrap();
    assert!(matches!(
        settings.allow_env("GITHUB_TOKEN", "x"),
        Err(SandboxError::SecretVariable(_))
    ));
    assert!(matches!(
        settings.allow_env("AWS_SECRET_ACCESS_KEY", "x"),
        Err(SandboxError::SecretVariable(_))
    ));
    let sandbox = Sandbox::detect(settings).await.unwrap();
    assert_eq!(sandbox.kind(), SandboxKind::Restricted);
    assert!(sandbox.warning().unwrap().contains("restricted"));
    let output = sandbox
        .run(repo.path(), &SandboxCommand::Shell("env; pwd".to_owned()))
        .await
        .unwrap();
    let mut names: Vec<&str> = output
        .stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| name)
        .collect();
    names.sort_unstable();
    names.retain(|name| !matches!(*name, "PWD" | "SHLVL" | "_" | "OLDPWD"));
    assert_eq!(
        names,
        ["HOME", "LANG", "PATH", "TERM", "TMPDIR"],
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains(&repo.path().canonicalize().unwrap().display().to_string())
    );
    // Read-only runs cannot be promised without bubblewrap.
    let refused = sandbox
        .run_with(
            repo.path(),
            &SandboxCommand::Shell("true".to_owned()),
            WorktreeAccess::ReadOnly,
        )
        .await;
    assert!(matches!(
        refused,
        Err(SandboxError::ReadOnlyNeedsBubblewrap)
    ));
}

#[tokio::test]
async fn bubblewrap_mode_refuses_to_run_without_bwrap() {
    let mut settings = SandboxSettings::new(SandboxMode::Bubblewrap);
    settings.bwrap_program = "squadron-no-such-bwrap".into();
    let error = Sandbox::detect(settings.clone()).await.unwrap_err();
    assert!(
        matches!(error, SandboxError::BubblewrapMissing { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("install bubblewrap"), "{error}");
    settings.mode = SandboxMode::Auto;
    let fallback = Sandbox::detect(settings).await.unwrap();
    assert_eq!(fallback.kind(), SandboxKind::Restricted);
    assert!(
        fallback
            .warning()
            .unwrap()
            .contains("falling back to the restricted runner")
    );
}

async fn assert_tree_killed_on_timeout(mode: SandboxMode) {
    let repo = repository();
    let mut settings = SandboxSettings::new(mode);
    settings.timeout = Duration::from_millis(500);
    let sandbox = Sandbox::detect(settings).await.unwrap();
    let script = "(sleep 1; echo late > late.txt) & echo started; wait";
    let output = sandbox
        .run(repo.path(), &SandboxCommand::Shell(script.to_owned()))
        .await
        .unwrap();
    assert!(output.timed_out && !output.success(), "{output:?}");
    assert!(output.elapsed < Duration::from_secs(10), "{output:?}");
    assert!(output.render().contains("killed after the time limit"));
    assert_eq!(output.stdout.trim(), "started");
    assert_nothing_written_later(repo.path(), "the background child outlived the timeout").await;
}

/// Waits past the moment a left-over process of the test commands would write `late.txt`
/// (they wait one second), and fails if one did.
async fn assert_nothing_written_later(root: &std::path::Path, what: &str) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!root.join("late.txt").exists(), "{what}");
}

async fn assert_daemonized_children_die_with_the_command(mode: SandboxMode) {
    let repo = repository();
    let sandbox = Sandbox::detect(SandboxSettings::new(mode)).await.unwrap();
    // A child that leaves the command's process group and session, then writes once the
    // command is long over.
    let script =
        "setsid sh -c 'sleep 1; echo late > late.txt' </dev/null >/dev/null 2>&1 & echo started";
    let output = sandbox
        .run(repo.path(), &SandboxCommand::Shell(script.to_owned()))
        .await
        .unwrap();
    assert!(output.success(), "{output:?}");
    assert_eq!(output.stdout.trim(), "started");
    assert_nothing_written_later(repo.path(), "a daemonized child outlived its command").await;
}

#[tokio::test]
async fn daemonized_children_die_with_the_command_restricted() {
    assert_daemonized_children_die_with_the_command(SandboxMode::Restricted).await;
}

#[tokio::test]
async fn daemonized_children_die_with_the_command_bubblewrap() {
    assert_daemonized_children_die_with_the_command(SandboxMode::Bubblewrap).await;
}

/// Allocates 1 GiB under a 512 MiB limit, after `first` (a try at lifting the limit).
async fn assert_memory_is_limited(mode: SandboxMode, first: &str) {
    let repo = repository();
    let mut settings = SandboxSettings::new(mode);
    settings.max_memory_bytes = Some(512 * 1024 * 1024);
    let sandbox = Sandbox::detect(settings).await.unwrap();
    let script = format!("{first}python3 -c 'bytearray(1024 * 1024 * 1024)' || echo refused");
    let output = sandbox
        .run(repo.path(), &SandboxCommand::Shell(script))
        .await
        .unwrap();
    assert!(output.stderr.contains("MemoryError"), "{output:?}");
    assert_eq!(output.stdout.trim(), "refused", "{output:?}");
}

#[tokio::test]
async fn a_commands_memory_is_limited_restricted() {
    // A restricted runner under root keeps root's privileges (its warning says so), so
    // there is no try at lifting the limit here.
    assert_memory_is_limited(SandboxMode::Restricted, "").await;
}

#[tokio::test]
async fn a_commands_memory_is_limited_bubblewrap_even_when_it_tries_to_lift_it() {
    // Under a daemon running as root (as in CI) the command would keep root's capabilities
    // but for `--cap-drop ALL`, and could raise its own hard limit.
    assert_memory_is_limited(SandboxMode::Bubblewrap, "ulimit -v unlimited; ").await;
}

/// Forks until refused (at most `argv[1]` times), every child staying until `done` appears
/// in the working directory, then writes how many it made to `full` and prints it.
const FORK_BOMB: &str = r#"
import os, sys, time

def wait_for_done():
    deadline = time.time() + 30
    while not os.path.exists("done") and time.time() < deadline:
        time.sleep(0.05)

made = 0
while made < int(sys.argv[1]):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        wait_for_done()
        os._exit(0)
    made += 1
with open("full.tmp", "w") as report:
    report.write(str(made))
os.rename("full.tmp", "full")
print(made)
wait_for_done()
"#;

async fn assert_a_fork_bomb_stops_at_its_own_limit(mode: SandboxMode) {
    const LIMIT: u64 = 32;
    let mut settings = SandboxSettings::new(mode);
    settings.max_processes = Some(LIMIT);
    let sandbox = Sandbox::detect(settings).await.unwrap();
    let bombed = repository();
    std::fs::write(bombed.path().join("bomb.py"), FORK_BOMB).unwrap();
    let other = repository();
    let bomb_command =
        SandboxCommand::Argv(["python3", "bomb.py", "400"].map(str::to_owned).to_vec());
    let bomb = sandbox.run(bombed.path(), &bomb_command);
    let meanwhile = async {
        let full = bombed.path().join("full");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !full.exists() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // While the bomb holds all it could make, the daemon and another command still
        // start processes.
        let daemon = std::process::Command::new("true").status();
        let script = "for i in 1 2 3 4 5 6 7 8; do sleep 0.1 & done; wait; echo fine";
        let command = sandbox
            .run(other.path(), &SandboxCommand::Shell(script.to_owned()))
            .await;
        std::fs::write(bombed.path().join("done"), "").unwrap();
        (daemon, command)
    };
    let (bomb, (daemon, command)) = tokio::join!(bomb, meanwhile);
    let bomb = bomb.unwrap();
    let made: u64 = bomb
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{bomb:?}"));
    assert!(
        (LIMIT - 8..=LIMIT).contains(&made),
        "the bomb made {made} processes under a limit of {LIMIT}: {bomb:?}"
    );
    assert!(daemon.unwrap().success());
    let command = command.unwrap();
    assert!(command.success(), "{command:?}");
    assert_eq!(command.stdout.trim(), "fine");
}

#[tokio::test]
async fn a_fork_bomb_stops_at_its_own_commands_limit_restricted() {
    assert_a_fork_bomb_stops_at_its_own_limit(SandboxMode::Restricted).await;
}

#[tokio::test]
async fn a_fork_bomb_stops_at_its_own_commands_limit_bubblewrap() {
    assert_a_fork_bomb_stops_at_its_own_limit(SandboxMode::Bubblewrap).await;
}

#[tokio::test]
async fn bubblewrap_shows_no_host_file_outside_the_system_the_toolchains_and_the_worktree() {
    // Beside the worktree, outside /tmp (which the sandbox replaces anyway): where the
    // daemon keeps its store and other squads' worktrees.
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(outside.path().join("store.db"), "secret rows").unwrap();
    let worktree = outside.path().join("worktree");
    std::fs::create_dir(&worktree).unwrap();
    let sandbox = Sandbox::detect(SandboxSettings::new(SandboxMode::Bubblewrap))
        .await
        .unwrap();
    let store = outside.path().join("store.db");
    let script = format!(
        "cat {} || echo unreadable; ls /root /home /var 2>&1 | head -3; echo ok > here.txt; python3 -c 'print(1)'",
        store.display()
    );
    let output = sandbox
        .run(&worktree, &SandboxCommand::Shell(script))
        .await
        .unwrap();
    assert!(!output.stdout.contains("secret rows"), "{output:?}");
    assert!(output.stdout.contains("unreadable"), "{output:?}");
    assert!(
        output.stdout.trim_end().ends_with('1'),
        "system programs run: {output:?}"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join("here.txt")).unwrap(),
        "ok\n"
    );
}

#[tokio::test]
async fn timeouts_kill_the_process_tree_restricted() {
    assert_tree_killed_on_timeout(SandboxMode::Restricted).await;
}

#[tokio::test]
async fn timeouts_kill_the_process_tree_bubblewrap() {
    assert_tree_killed_on_timeout(SandboxMode::Bubblewrap).await;
}

#[tokio::test]
async fn output_is_capped() {
    let repo = repository();
    let mut settings = SandboxSettings::new(SandboxMode::Auto);
    settings.output_cap = 1000;
    let sandbox = Sandbox::detect(settings).await.unwrap();
    let output = sandbox
        .run(
            repo.path(),
            &SandboxCommand::Shell("head -c 100000 /dev/zero | tr '\\0' a".to_owned()),
        )
        .await
        .unwrap();
    assert!(output.success(), "{output:?}");
    assert!(output.truncated);
    assert!(
        output.stdout.starts_with(&"a".repeat(500)),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.ends_with(&"a".repeat(500)),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("[… 99000 bytes of output dropped here …]"),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn capped_output_keeps_its_end_where_failures_are_summed_up() {
    let repo = repository();
    let mut settings = SandboxSettings::new(SandboxMode::Auto);
    settings.output_cap = 4096;
    let sandbox = Sandbox::detect(settings).await.unwrap();
    let output = sandbox
        .run(
            repo.path(),
            &SandboxCommand::Shell("seq 1 200000; echo '1 failed, 9 passed'; exit 1".to_owned()),
        )
        .await
        .unwrap();
    assert!(!output.success());
    assert!(output.stdout.starts_with("1\n2\n3\n"), "{}", output.stdout);
    assert!(
        output.stdout.ends_with("200000\n1 failed, 9 passed\n"),
        "{}",
        output.stdout
    );
}

/// A workspace whose sandbox is the one the repository's `.squadron.toml` (`text`) asks for,
/// under bubblewrap, with its caches under `caches`.
async fn repository_workspace(
    repo: &std::path::Path,
    text: &str,
    caches: &std::path::Path,
) -> squadron_harness::SquadWorkspace {
    let settings = squadron_config::RepoSettings::from_text_with(
        repo,
        Some(text),
        &squadron_config::HostEnvironment::bare(),
    )
    .unwrap();
    let base = SandboxSettings::new(SandboxMode::Bubblewrap);
    let sandbox = Sandbox::detect(base.clone()).await.unwrap();
    let repository =
        squadron_harness::repository_sandbox(&base, &settings.sandbox, Some(caches)).unwrap();
    let mut workspace = workspace_with(
        repo,
        squadron_harness::RepoPolicy::from_settings(&settings).unwrap(),
        SandboxMode::Bubblewrap,
    )
    .await;
    workspace.sandbox = std::sync::Arc::new(sandbox.with_settings(repository));
    workspace
}

#[tokio::test]
async fn a_repositorys_toolchain_is_read_only_its_cache_writable_and_its_credentials_hidden() {
    let repo = repository();
    // Under /tmp, which commands see as an empty tmpfs unless it is mounted.
    let toolchain = tempfile::tempdir().unwrap();
    std::fs::create_dir(toolchain.path().join("bin")).unwrap();
    let tool = toolchain.path().join("bin/tool");
    std::fs::write(&tool, "#!/bin/sh\necho toolchain-ok\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        toolchain.path().join("credentials.toml"),
        "token = \"cio_secret\"\n",
    )
    .unwrap();
    let caches = tempfile::tempdir().unwrap();
    let dir = toolchain.path().display();
    let text = format!(
        "test = \"true\"\n[sandbox]\nmounts = [\"{dir}\"]\ncaches = [\"BUILD_CACHE\"]\nenv = {{ TOOLCHAIN = \"{dir}\" }}\n"
    );
    let workspace = repository_workspace(repo.path(), &text, caches.path()).await;
    let script = "$TOOLCHAIN/bin/tool; cat $TOOLCHAIN/credentials.toml; \
                  touch $TOOLCHAIN/planted 2>/dev/null || echo toolchain-read-only; \
                  echo built > $BUILD_CACHE/artifact && echo cache-written";
    let output = workspace
        .sandbox
        .run(repo.path(), &SandboxCommand::Shell(script.to_owned()))
        .await
        .unwrap();
    assert!(output.success(), "{}", output.render());
    assert_eq!(
        output.stdout,
        "toolchain-ok\ntoolchain-read-only\ncache-written\n",
        "{}",
        output.render()
    );
    assert!(!toolchain.path().join("planted").exists());
    // The cache outlives the command, for the repository's next squad.
    assert_eq!(
        std::fs::read_to_string(caches.path().join("BUILD_CACHE/artifact")).unwrap(),
        "built\n"
    );

    // Without the mount the toolchain is not there at all.
    let unmounted = repository_workspace(repo.path(), "test = \"true\"\n", caches.path()).await;
    let output = unmounted
        .sandbox
        .run(
            repo.path(),
            &SandboxCommand::Shell(format!("{dir}/bin/tool")),
        )
        .await
        .unwrap();
    assert!(!output.success(), "{}", output.render());
}

#[tokio::test]
async fn only_the_setup_command_reaches_the_network_and_only_when_allowed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let repo = repository();
    let caches = tempfile::tempdir().unwrap();
    let connect = format!("bash -c 'echo hello > /dev/tcp/127.0.0.1/{port}'");
    let text = |network: bool| {
        format!(
            "test = \"true\"\n[sandbox]\nsetup = [\"sh\", \"-c\", \"{connect}\"]\nsetup_network = {network}\n"
        )
    };

    let offline = repository_workspace(repo.path(), &text(false), caches.path()).await;
    let output = squadron_harness::run_setup(&offline)
        .await
        .unwrap()
        .unwrap();
    assert!(!output.success(), "{}", output.render());
    let output = offline
        .sandbox
        .run(repo.path(), &SandboxCommand::Shell(connect.clone()))
        .await
        .unwrap();
    assert!(!output.success(), "{}", output.render());
    assert!(listener.accept().is_err(), "an isolated command connected");

    let online = repository_workspace(repo.path(), &text(true), caches.path()).await;
    let output = squadron_harness::run_setup(&online).await.unwrap().unwrap();
    assert!(output.success(), "{}", output.render());
    assert!(
        listener.accept().is_ok(),
        "the setup command did not connect"
    );
    // Every other command of the same repository stays offline.
    let output = online
        .sandbox
        .run(repo.path(), &SandboxCommand::Shell(connect))
        .await
        .unwrap();
    assert!(!output.success(), "{}", output.render());
}
