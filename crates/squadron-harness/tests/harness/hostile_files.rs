//! What agent-written code can leave in the worktree to stall the daemon or lead its file
//! tools outside: a FIFO, a 3 GiB sparse file, and symlinks swapped in while the tools run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::support::{developer, repository, run, workspace};

/// Runs the tool call on the runtime's workers and waits for it on an OS channel, so a
/// tool that blocks its worker thread for good fails the test instead of hanging it.
fn finishes_promptly(
    workspace: squadron_harness::SquadWorkspace,
    name: &'static str,
    arguments: serde_json::Value,
) -> (String, bool) {
    let (done, result) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        let outcome = run(&developer(), &workspace, name, arguments).await;
        let _ = done.send(outcome);
    });
    result
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("`{name}` blocked its worker thread"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_is_refused_without_blocking_a_worker_thread() {
    let repo = repository();
    for name in ["src/pipe_a.rs", "src/pipe_b.rs"] {
        nix::unistd::mkfifo(
            &repo.path().join(name),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
    }
    let workspace = workspace(repo.path()).await;
    // Two FIFOs on a two-worker runtime: a blocking open of each would stop every worker.
    for (tool, arguments) in [
        ("read_file", json!({"path": "src/pipe_a.rs"})),
        ("read_file", json!({"path": "src/pipe_b.rs"})),
        (
            "edit_file",
            json!({"path": "src/pipe_a.rs", "old": "a", "new": "b"}),
        ),
        ("search_code", json!({"pattern": "answer"})),
    ] {
        let workspace = workspace.clone();
        let (content, is_error) =
            tokio::task::spawn_blocking(move || finishes_promptly(workspace, tool, arguments))
                .await
                .unwrap();
        if tool == "search_code" {
            assert!(!is_error && content.contains("src/lib.rs:1:"), "{content}");
        } else {
            assert!(
                is_error && content.contains("a FIFO, not a regular file"),
                "{content}"
            );
        }
    }
}

#[tokio::test]
async fn a_3_gib_sparse_file_is_refused_before_it_is_read() {
    let repo = repository();
    let big = std::fs::File::create(repo.path().join("src/huge.rs")).unwrap();
    big.set_len(3 << 30).unwrap();
    let workspace = workspace(repo.path()).await;
    for (tool, arguments) in [
        ("read_file", json!({"path": "src/huge.rs", "end_line": 1})),
        (
            "edit_file",
            json!({"path": "src/huge.rs", "old": "a", "new": "b"}),
        ),
    ] {
        let (content, is_error) = run(&developer(), &workspace, tool, arguments).await;
        // The refusal names the size it read from the open file, not what reading gave.
        assert!(
            is_error && content.contains("it is 3221225472 bytes, more than the 8388608 bytes"),
            "{tool}: {content}"
        );
    }
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "search_code",
        json!({"pattern": "answer"}),
    )
    .await;
    assert!(!is_error && content.contains("src/lib.rs:1:"), "{content}");
}

/// Flips `link` between a regular file (or directory) and a symlink to `target` until
/// stopped; what an agent's background process does to win a check-then-use race.
fn swap_until_stopped(
    link: &Path,
    target: &Path,
    directory: bool,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (link, target) = (link.to_path_buf(), target.to_path_buf());
    std::thread::spawn(move || {
        let aside = link.with_extension("aside");
        while !stop.load(Ordering::Relaxed) {
            if std::fs::rename(&link, &aside).is_ok() {
                let _ = std::os::unix::fs::symlink(&target, &link);
                std::thread::yield_now();
                let _ = std::fs::remove_file(&link);
                if directory {
                    let _ = std::fs::remove_dir_all(&link);
                }
                let _ = std::fs::rename(&aside, &link);
            } else {
                // The tool replaced it meanwhile; put a file back so there is one to swap.
                let _ = std::fs::write(&link, "inside\n");
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_swapped_in_while_writing_never_leads_outside() {
    let repo = repository();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret\n").unwrap();
    std::fs::write(repo.path().join("notes.txt"), "inside\n").unwrap();
    std::fs::create_dir(repo.path().join("docs")).unwrap();
    let workspace = workspace(repo.path()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let swappers = [
        swap_until_stopped(
            &repo.path().join("notes.txt"),
            &secret,
            false,
            Arc::clone(&stop),
        ),
        swap_until_stopped(
            &repo.path().join("docs"),
            outside.path(),
            true,
            Arc::clone(&stop),
        ),
    ];
    let developer = developer();
    for round in 0..400 {
        let content = format!("written in round {round}\n");
        run(
            &developer,
            &workspace,
            "write_file",
            json!({"path": "notes.txt", "content": content}),
        )
        .await;
        run(
            &developer,
            &workspace,
            "write_file",
            json!({"path": "docs/guide.md", "content": content}),
        )
        .await;
        let (read, _) = run(
            &developer,
            &workspace,
            "read_file",
            json!({"path": "notes.txt"}),
        )
        .await;
        assert!(!read.contains("top secret"), "round {round}: {read}");
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            "top secret\n",
            "round {round}: a write went through the symlink"
        );
        assert!(
            !outside.path().join("guide.md").exists(),
            "round {round}: a write went through the symlinked directory"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for swapper in swappers {
        swapper.join().unwrap();
    }
}
