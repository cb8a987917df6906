//! A command of a repository's settings as an argument vector, with the placeholders the
//! harness fills in: `{file}` (the file a formatter formats), `{files}` (the files a linter
//! checks) and `{selector}` (the tests `run_tests` narrows to).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// A command as an argument vector; run without a shell.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommandLine(Vec<String>);

/// The placeholder of the written file in a `format` command.
pub const FILE_PLACEHOLDER: &str = "{file}";
/// The placeholder of the changed files in a `lint` command.
pub const FILES_PLACEHOLDER: &str = "{files}";
/// The placeholder of the test names or paths in a `test_one` command.
pub const SELECTOR_PLACEHOLDER: &str = "{selector}";

impl CommandLine {
    /// A command from its arguments; `None` when empty.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Option<CommandLine> {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        if argv.is_empty() {
            None
        } else {
            Some(CommandLine(argv))
        }
    }

    pub(crate) fn parse_words(text: &str) -> Option<CommandLine> {
        CommandLine::new(text.split_whitespace())
    }

    /// The program and its arguments.
    pub fn argv(&self) -> &[String] {
        &self.0
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.0[0]
    }

    /// Whether some argument contains `placeholder`.
    pub fn mentions(&self, placeholder: &str) -> bool {
        self.0.iter().any(|arg| arg.contains(placeholder))
    }

    /// The argument vector with `placeholder` filled with `values`: an argument that is
    /// exactly the placeholder becomes one argument per value; one that merely contains it
    /// gets the values joined by spaces.
    pub fn fill(&self, placeholder: &str, values: &[String]) -> Vec<String> {
        let mut argv = Vec::with_capacity(self.0.len() + values.len());
        for arg in &self.0 {
            if arg == placeholder {
                argv.extend(values.iter().cloned());
            } else {
                argv.push(arg.replace(placeholder, &values.join(" ")));
            }
        }
        argv
    }

    /// The argument vector with `{file}` replaced by `file`; a command without `{file}` runs
    /// as written (for formatters that format the whole tree).
    pub fn for_file(&self, file: &str) -> Vec<String> {
        self.fill(FILE_PLACEHOLDER, &[file.to_owned()])
    }

    /// Whether `argv` is this command or this command with more arguments.
    pub fn is_prefix_of(&self, argv: &[String]) -> bool {
        argv.starts_with(&self.0)
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;

        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandLine;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a command as a string (\"cargo test\") or a list ([\"cargo\", \"test\"])",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<CommandLine, E> {
                if text.contains(['"', '\'', '\\']) {
                    return Err(E::custom(
                        "quotes and backslashes are not interpreted in the string form; write the \
                         command as a list such as [\"sh\", \"-c\", \"make test\"]",
                    ));
                }
                CommandLine::parse_words(text)
                    .ok_or_else(|| E::custom("a command must not be empty"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandLine, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                CommandLine::new(argv)
                    .ok_or_else(|| de::Error::custom("a command must not be empty"))
            }
        }

        deserializer.deserialize_any(CommandVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_lone_placeholder_becomes_one_argument_per_value() {
        let lint = CommandLine::new(words("ruff check {files}")).unwrap();
        let files = vec!["a b.py".to_owned(), "c.py".to_owned()];
        assert_eq!(
            lint.fill(FILES_PLACEHOLDER, &files),
            ["ruff", "check", "a b.py", "c.py"]
        );
        let embedded = CommandLine::new(words("pytest --deselect={selector}")).unwrap();
        assert_eq!(
            embedded.fill(SELECTOR_PLACEHOLDER, &files),
            ["pytest", "--deselect=a b.py c.py"]
        );
        assert!(lint.mentions(FILES_PLACEHOLDER) && !lint.mentions(FILE_PLACEHOLDER));
    }
}
