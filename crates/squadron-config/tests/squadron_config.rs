//! Integration tests of the configuration crate, in one binary for link speed.

mod squadron_config {
    mod agents;
    mod config;
    mod instructions;
    mod prompts;
    mod repo_settings;
}
