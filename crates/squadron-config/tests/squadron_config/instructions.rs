//! Project instructions read from a checkout of the base commit: which documents, in which
//! order, under which cap, and how the system prompt shows them.

use std::path::{Path, PathBuf};

use squadron_config::{
    AgentCatalog, AgentContext, ProjectInstructions, PromptLibrary, PromptName, RepoSettings,
    RepositoryContext, RepositoryGuidance, SystemContext,
};
use squadron_core::Role;

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A shop repository with guidance at the root, nested guidance in two crates, an ADR
/// directory and a long architecture document.
fn shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/*\"]\n",
    );
    write(
        root,
        "AGENTS.md",
        "# Working on the shop\n- Money is `Money`, never a float.\n- Run `cargo test` before you finish.\n",
    );
    write(
        root,
        "CLAUDE.md",
        "Prefer small pure functions; the domain does no I/O.\n",
    );
    write(
        root,
        "crates/pricing/AGENTS.md",
        "Pricing rules live in `rules/`, one file per rule, each with a table test.\n",
    );
    write(root, "crates/pricing/src/rules/shipping.rs", "// rules\n");
    write(
        root,
        "crates/billing/AGENTS.md",
        "Invoices are immutable once issued.\n",
    );
    write(
        root,
        "docs/adr/0001-money.md",
        "# ADR 1: Money\nAmounts are integers of cents.\n",
    );
    write(root, "docs/adr/diagram.png", "\u{89}PNG");
    let long: String = (1..=400)
        .map(|n| format!("Line {n} of the architecture notes.\n"))
        .collect();
    write(root, "ARCHITECTURE.md", &long);
    write(
        root,
        "STYLE.md",
        &"Name things for what they mean.\n".repeat(100),
    );
    write(
        root,
        "CONTRIBUTING.md",
        "Squash commits; write the why in the message.\n",
    );
    write(
        root,
        ".squadron.toml",
        "docs = [\"docs/adr\", \"ARCHITECTURE.md\", \"CONTRIBUTING.md\", \"STYLE.md\"]\ndocs_max_bytes = 2048\n",
    );
    dir
}

fn system_context(instructions: &ProjectInstructions) -> SystemContext {
    let agent = AgentCatalog::shipped().get(Role::Developer).clone();
    SystemContext {
        agent: AgentContext {
            role: agent.role.to_string(),
            tools: agent.tools.iter().map(ToString::to_string).collect(),
            terminal_tool: agent.terminal_tool().to_string(),
            instructions: agent.instructions,
        },
        repository: RepositoryContext {
            github: "acme/shop".to_owned(),
            base_branch: "main".to_owned(),
            branch: "eng-42-free-shipping".to_owned(),
            base_sha: None,
            head_sha: None,
            test_command: "cargo test".to_owned(),
            test_globs: vec!["tests/**".to_owned()],
        },
        docs: Vec::new(),
        docs_left_out: Vec::new(),
        guidance_elsewhere: Vec::new(),
        docs_cap_bytes: 0,
    }
    .with_instructions(instructions)
}

#[test]
fn the_system_prompt_carries_the_repositorys_guidance_under_its_cap() {
    let repo = shop();
    let settings = RepoSettings::load(repo.path()).unwrap();
    assert_eq!(settings.docs_max_bytes, 2048);
    let changed = ["crates/pricing/src/rules/shipping.rs".to_owned()];
    let instructions = ProjectInstructions::load(
        repo.path(),
        &settings.docs,
        &changed,
        settings.docs_max_bytes,
    );
    let shown: Vec<&str> = instructions
        .documents
        .iter()
        .map(|doc| doc.path.as_str())
        .collect();
    // General first, then the guidance nearest the change, then the listed docs: the short
    // ones whole, the first long one cut into the room left, and the next one named as left
    // out.
    assert_eq!(
        shown,
        [
            "AGENTS.md",
            "CLAUDE.md",
            "crates/pricing/AGENTS.md",
            "docs/adr/0001-money.md",
            "ARCHITECTURE.md",
            "CONTRIBUTING.md",
        ]
    );
    let architecture = &instructions.documents[4];
    assert_eq!(architecture.cut_from, Some(14_292));
    assert!(architecture.text.ends_with(".\n"), "cut at a line end");
    let total: usize = instructions
        .documents
        .iter()
        .map(|doc| doc.text.len())
        .sum();
    assert!(total <= 2048, "{total}");
    assert_eq!(instructions.left_out.len(), 1);
    assert_eq!(instructions.left_out[0].path, "STYLE.md");
    assert_eq!(instructions.left_out[0].bytes, 3200);
    assert_eq!(instructions.elsewhere, ["crates/billing/AGENTS.md"]);

    let prompt = PromptLibrary::shipped()
        .render(PromptName::System, &system_context(&instructions))
        .unwrap();
    // The repository's guidance is shown as guidance, not fenced as untrusted data.
    assert!(
        !prompt
            .lines()
            .any(|line| line.starts_with("<untrusted-data ")),
        "{prompt}"
    );
    assert!(prompt.contains("<repository-guidance id=\""), "{prompt}");
    insta::assert_snapshot!("system-with-project-instructions", prompt);
}

#[test]
fn guidance_reached_through_a_symlink_or_a_fifo_is_never_read() {
    let repo = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = repo.path();
    write(outside.path(), "secret.md", "the operator's secrets\n");
    std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("AGENTS.md")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("linked")).unwrap();
    write(root, "src/lib.rs", "");
    nix_mkfifo(&root.join("CLAUDE.md"));
    let instructions = ProjectInstructions::load(
        root,
        &[PathBuf::from("linked/secret.md"), PathBuf::from("linked")],
        &["linked/secret.md".to_owned(), "src/lib.rs".to_owned()],
        4096,
    );
    assert_eq!(instructions.documents, []);
    assert_eq!(instructions.left_out, []);
    assert_eq!(instructions.elsewhere, Vec::<String>::new());
}

/// Makes a FIFO: reading one would block the daemon forever.
fn nix_mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn guidance_read_once_serves_each_agent_the_files_nearest_its_changes() {
    let repo = shop();
    let settings = RepoSettings::load(repo.path()).unwrap();
    let guidance = RepositoryGuidance::read(repo.path(), &settings.docs, 8192);
    // The checkout may go: the guidance was read.
    drop(repo);
    let nested = |changed: &[&str]| {
        let changed: Vec<String> = changed.iter().map(|path| (*path).to_owned()).collect();
        let instructions = guidance.instructions_for(&changed);
        let shown: Vec<String> = instructions
            .documents
            .iter()
            .map(|doc| doc.path.clone())
            .filter(|path| path.starts_with("crates/"))
            .collect();
        (shown, instructions.elsewhere)
    };
    assert_eq!(
        nested(&[]),
        (
            vec![],
            vec![
                "crates/billing/AGENTS.md".to_owned(),
                "crates/pricing/AGENTS.md".to_owned()
            ]
        )
    );
    assert_eq!(
        nested(&[
            "crates/billing/src/invoice.rs",
            "crates/pricing/src/rules/shipping.rs"
        ]),
        (
            vec![
                "crates/billing/AGENTS.md".to_owned(),
                "crates/pricing/AGENTS.md".to_owned()
            ],
            vec![]
        )
    );
    assert_eq!(
        nested(&["README.md", "../escape.rs"]).0,
        Vec::<String>::new()
    );
}
