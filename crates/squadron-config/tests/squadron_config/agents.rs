//! Agent files: the shipped ones load, overrides apply, malformed files say where and what.

use std::path::{Path, PathBuf};

use squadron_config::{AgentCatalog, AgentErrorKind, AgentSource, Tool, WriteScope};
use squadron_core::Role;

const VALID_FRONT: &str = "name: code-reviewer\ndescription: Reviews.\nmodel: openai/gpt-4.1\n\
                           tools: [read_file, git_diff, submit_review]\nwrites: none\n";

fn write_override(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn override_error(file: &str, text: &str) -> (PathBuf, squadron_config::AgentError) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_override(dir.path(), file, text);
    let error =
        AgentCatalog::load(Some(dir.path())).expect_err("the malformed agent file must be refused");
    // The path stays printable after the directory is gone.
    (path, error)
}

#[test]
fn every_shipped_agent_loads_with_its_role_tools_and_write_scope() {
    let catalog = AgentCatalog::load(None).unwrap();
    for role in Role::ALL {
        let agent = catalog.get(role);
        assert_eq!(agent.role, role);
        assert!(matches!(agent.source, AgentSource::Shipped(_)));
        assert!(
            agent.has_tool(agent.terminal_tool()),
            "{role} lacks its terminal tool"
        );
        assert!(
            agent.instructions.len() > 1000,
            "{role}'s instructions are too thin to be real"
        );
        assert!(
            agent.instructions.contains("untrusted-data"),
            "{role} is not told about fences"
        );
        assert_eq!(agent.model.provider(), "openai");
    }
    assert_eq!(catalog.get(Role::Developer).writes, WriteScope::Code);
    assert_eq!(catalog.get(Role::Qa).writes, WriteScope::Tests);
    for role in [Role::CodeReviewer, Role::QaSpecialist, Role::Diagnostician] {
        let agent = catalog.get(role);
        assert_eq!(agent.writes, WriteScope::None);
        assert!(
            !agent.tools.iter().any(|tool| tool.writes()),
            "{role} may not write"
        );
    }
    for role in Role::ALL {
        assert_eq!(
            catalog.get(role).has_tool(Tool::RequestTestChange),
            role == Role::Developer,
            "only the developer asks QA for test changes, not the {role}"
        );
    }
    assert_eq!(
        catalog.get(Role::CodeReviewer).terminal_tool(),
        Tool::SubmitReview
    );
    assert_eq!(
        catalog.get(Role::Diagnostician).terminal_tool(),
        Tool::SubmitDiagnosis
    );
    assert!(catalog.ignored_files().is_empty());
}

#[test]
fn a_repository_file_overrides_its_role_and_other_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_override(
        dir.path(),
        "code-reviewer.md",
        &format!("---\n{VALID_FRONT}color: blue\n---\nCheck our ADRs in docs/adr first.\n"),
    );
    write_override(dir.path(), "reviewer.md", "not an agent of ours");
    let catalog = AgentCatalog::load(Some(dir.path())).unwrap();
    let reviewer = catalog.get(Role::CodeReviewer);
    assert_eq!(reviewer.source, AgentSource::Override(path));
    assert_eq!(reviewer.instructions, "Check our ADRs in docs/adr first.");
    assert_eq!(
        reviewer.tools,
        [Tool::ReadFile, Tool::GitDiff, Tool::SubmitReview]
    );
    assert!(matches!(
        catalog.get(Role::Developer).source,
        AgentSource::Shipped("developer.md")
    ));
    assert_eq!(catalog.ignored_files(), [dir.path().join("reviewer.md")]);
}

#[test]
fn tools_may_be_a_comma_separated_string() {
    let dir = tempfile::tempdir().unwrap();
    let front = VALID_FRONT.replace(
        "[read_file, git_diff, submit_review]",
        "read_file, submit_review",
    );
    write_override(
        dir.path(),
        "code-reviewer.md",
        &format!("---\n{front}---\nBody.\n"),
    );
    let catalog = AgentCatalog::load(Some(dir.path())).unwrap();
    assert_eq!(
        catalog.get(Role::CodeReviewer).tools,
        [Tool::ReadFile, Tool::SubmitReview]
    );
}

#[test]
fn an_unknown_tool_names_the_file_line_and_the_valid_tools() {
    let front = VALID_FRONT.replace("git_diff", "git_push");
    let (path, error) = override_error("code-reviewer.md", &format!("---\n{front}---\nBody.\n"));
    assert_eq!(error.kind, AgentErrorKind::Invalid);
    assert_eq!(error.line, Some(5));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:5: unknown tool `git_push` (expected one of `read_file`, `list_files`, `search_code`, `write_file`, \
             `edit_file`, `delete_file`, `move_file`, `run_tests`, `run_command`, `git_diff`, `git_log`, `request_test_change`, `finish`, \
             `submit_review`, `submit_diagnosis`)",
            path.display()
        )
    );
}

#[test]
fn invalid_yaml_names_the_file_and_line() {
    let (path, error) = override_error(
        "qa.md",
        "---\nname: qa\ndescription: [unclosed\nmodel: openai/gpt-4.1\n---\nBody.\n",
    );
    assert_eq!(error.kind, AgentErrorKind::Syntax);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}:", path.display())),
        "{message}"
    );
    assert!(
        error.line.is_some_and(|line| (3..=5).contains(&line)),
        "{message}"
    );
}

#[test]
fn an_unknown_front_matter_key_is_named() {
    let (path, error) = override_error(
        "code-reviewer.md",
        &format!("---\n{VALID_FRONT}permissions: all\n---\nBody.\n"),
    );
    assert_eq!(error.kind, AgentErrorKind::Syntax);
    assert_eq!(error.line, Some(7));
    assert!(
        error.to_string().starts_with(&format!(
            "{}:7: unknown field `permissions`, expected one of",
            path.display()
        )),
        "{error}"
    );
}

#[test]
fn a_missing_front_matter_is_explained() {
    let (path, error) = override_error("developer.md", "# Developer\nDo things.\n");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1: the file must start with a `---` line opening the YAML front matter",
            path.display()
        )
    );
    let (path, error) = override_error("developer.md", "---\nname: developer\n");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1: the front matter opened on line 1 is never closed by a `---` line",
            path.display()
        )
    );
}

#[test]
fn a_reviewer_cannot_be_given_write_access() {
    let front = VALID_FRONT.replace("writes: none", "writes: code");
    let (path, error) = override_error("code-reviewer.md", &format!("---\n{front}---\nBody.\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:6: the code-reviewer may write at most `none`, not `code`",
            path.display()
        )
    );
    let front = VALID_FRONT.replace("git_diff", "edit_file");
    let (path, error) = override_error("code-reviewer.md", &format!("---\n{front}---\nBody.\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:5: tool `edit_file` writes files, but the agent declares `writes: none`",
            path.display()
        )
    );
}

#[test]
fn only_the_developer_may_request_test_changes() {
    let front = VALID_FRONT.replace("git_diff", "request_test_change");
    let (path, error) = override_error("code-reviewer.md", &format!("---\n{front}---\nBody.\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:5: the code-reviewer cannot be given `request_test_change`; only the developer may use it",
            path.display()
        )
    );
    let qa = "name: qa\ndescription: Tests.\nmodel: openai/gpt-4.1\n\
              tools: [write_file, request_test_change, finish]\nwrites: tests\n";
    let (_, error) = override_error("qa.md", &format!("---\n{qa}---\nBody.\n"));
    assert_eq!(
        error.problem,
        "the qa cannot be given `request_test_change`; only the developer may use it"
    );
}

#[test]
fn role_model_and_terminal_tool_are_checked() {
    let front = VALID_FRONT.replace("name: code-reviewer", "name: reviewer");
    let (path, error) = override_error("code-reviewer.md", &format!("---\n{front}---\nBody.\n"));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}:2: unknown role `reviewer`", path.display())),
        "{error}"
    );

    let (path, error) = override_error(
        "qa-specialist.md",
        &format!("---\n{VALID_FRONT}---\nBody.\n"),
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2: `name: code-reviewer` must be in a file named code-reviewer.md",
            path.display()
        )
    );

    let front = VALID_FRONT.replace("openai/gpt-4.1", "gpt-4.1");
    let (_, error) = override_error("code-reviewer.md", &format!("---\n{front}---\nBody.\n"));
    assert_eq!(error.line, Some(4));
    assert!(
        error
            .problem
            .starts_with("model `gpt-4.1` must be written as `provider/model`"),
        "{error}"
    );

    let front = VALID_FRONT.replace(", submit_review", ", finish");
    let (_, error) = override_error("code-reviewer.md", &format!("---\n{front}---\nBody.\n"));
    assert_eq!(
        error.problem,
        "the code-reviewer must be given its terminal tool `submit_review`, which ends its task"
    );

    let (_, error) = override_error("code-reviewer.md", &format!("---\n{VALID_FRONT}---\n\n"));
    assert_eq!(
        error.problem,
        "the body after the front matter must hold the role's instructions"
    );
}
