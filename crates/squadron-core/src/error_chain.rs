//! Rendering an error with its causes as one line, for messages that leave the process.

use std::error::Error;

/// `error` followed by each of its causes, separated by `: `. A cause whose text the message
/// already contains is left out: many error types repeat their cause in their own message.
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1
                .as_deref()
                .map(|layer| layer as &(dyn Error + 'static))
        }
    }

    #[test]
    fn causes_follow_the_message_once_each() {
        let root = Layer("connection refused", None);
        let middle = Layer(
            "reach http://127.0.0.1:1: connection refused",
            Some(Box::new(root)),
        );
        let top = Layer("resolve the milestone", Some(Box::new(middle)));
        assert_eq!(
            error_chain(&top),
            "resolve the milestone: reach http://127.0.0.1:1: connection refused"
        );
    }
}
