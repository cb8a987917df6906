//! Running the `squadron` binary in isolation: a temporary home, no inherited variables
//! except `PATH`, and a store of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A scratch directory for one test, with the binary pointed at it.
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: TempDir::new().expect("temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite file this sandbox's commands use.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("data").join("squadron.db")
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a sandbox file");
        path
    }

    /// `squadron <args>` with a clean environment plus `vars`.
    pub fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Outcome {
        Outcome(
            self.command(args, vars)
                .output()
                .expect("run the squadron binary"),
        )
    }

    /// The command `run` would run, for tests that drive the process themselves.
    pub fn command(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_squadron"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("DATABASE_URL", self.database())
            .current_dir(self.dir.path())
            .args(args);
        for (name, value) in vars {
            command.env(name, value);
        }
        command
    }
}

/// What one run of the binary did.
pub struct Outcome(pub Output);

impl Outcome {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("the binary exited normally")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", self.stdout()))
    }
}
