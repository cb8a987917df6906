//! The sample target repository the demo creates: a small Python package with its own
//! `unittest` suite, conventions for reviewers to cite, and a `.squadron.toml`. Its base
//! carries one real bug for the bug-fix scenario: `ledger/importer.py` fails on a blank
//! line, which its tests do not cover. The files live in `crates/squadron/demo/sample-repo/`
//! and are compiled into the binary, so the demo works from any directory.

/// `owner/name` of the sample repository on the GitHub stand-in.
pub const SAMPLE_REPO: &str = "acme/ledger";

/// The branch pull requests target.
pub const BASE_BRANCH: &str = "main";

/// Every file of the sample repository's first commit: path and content.
pub fn sample_repo_files() -> [(&'static str, &'static str); 12] {
    [
        (
            ".gitignore",
            include_str!("../../demo/sample-repo/.gitignore"),
        ),
        (
            ".squadron.toml",
            include_str!("../../demo/sample-repo/.squadron.toml"),
        ),
        (
            "AGENTS.md",
            include_str!("../../demo/sample-repo/AGENTS.md"),
        ),
        (
            "README.md",
            include_str!("../../demo/sample-repo/README.md"),
        ),
        (
            "ledger/__init__.py",
            include_str!("../../demo/sample-repo/ledger/__init__.py"),
        ),
        (
            "ledger/entries.py",
            include_str!("../../demo/sample-repo/ledger/entries.py"),
        ),
        (
            "ledger/importer.py",
            include_str!("../../demo/sample-repo/ledger/importer.py"),
        ),
        (
            "ledger/money.py",
            include_str!("../../demo/sample-repo/ledger/money.py"),
        ),
        (
            "tests/__init__.py",
            include_str!("../../demo/sample-repo/tests/__init__.py"),
        ),
        (
            "tests/test_entries.py",
            include_str!("../../demo/sample-repo/tests/test_entries.py"),
        ),
        (
            "tests/test_importer.py",
            include_str!("../../demo/sample-repo/tests/test_importer.py"),
        ),
        (
            "tests/test_money.py",
            include_str!("../../demo/sample-repo/tests/test_money.py"),
        ),
    ]
}
