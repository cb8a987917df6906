//! `provider/model` references resolved to adapters, and settings that cannot work.

use std::sync::Arc;

use squadron_core::domain::Timestamp;
use squadron_model::{ProviderRegistry, ProviderSettings, ProviderSetupError};

use crate::support::FixedClock;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(Timestamp::from_millis(0)))
}

fn registry() -> ProviderRegistry {
    let mut registry = ProviderRegistry::new();
    registry
        .add(
            ProviderSettings::new("local", "http://127.0.0.1:9/v1"),
            clock(),
        )
        .expect("local");
    registry
        .add(
            ProviderSettings::new("openrouter", "https://openrouter.ai/api/v1/").with_api_key("k"),
            clock(),
        )
        .expect("openrouter");
    registry
}

#[test]
fn only_the_first_slash_separates_provider_and_model() {
    let route = registry()
        .resolve("openrouter/qwen/qwen3-coder")
        .expect("resolves");
    assert_eq!(
        (route.provider.as_str(), route.model.as_str()),
        ("openrouter", "qwen/qwen3-coder")
    );
    let adapter = registry();
    let openrouter = adapter.provider("openrouter").expect("registered");
    assert_eq!(
        openrouter.endpoint(),
        "https://openrouter.ai/api/v1/chat/completions"
    );
}

#[test]
fn unresolvable_references_say_what_is_wrong_and_list_the_providers() {
    let registry = registry();
    for (reference, problem) in [
        ("gpt-5", "names no provider"),
        ("local/", "names no model"),
        ("openai/gpt-5", "there is no provider `openai`"),
    ] {
        let error = registry
            .resolve(reference)
            .expect_err(reference)
            .to_string();
        assert!(
            error.contains(problem) && error.contains("local, openrouter"),
            "{error}"
        );
    }
}

#[test]
fn settings_that_cannot_work_are_refused_without_showing_the_key() {
    let mut registry = registry();
    let duplicate = registry.add(
        ProviderSettings::new("local", "http://127.0.0.1:1/v1"),
        clock(),
    );
    assert!(matches!(
        duplicate,
        Err(ProviderSetupError::DuplicateProvider { .. })
    ));

    let bad_url = registry.add(ProviderSettings::new("typo", "api.openai.com/v1"), clock());
    assert!(bad_url.is_err_and(|error| error.to_string().contains("`api.openai.com/v1`")));

    let bad_key = registry
        .add(
            ProviderSettings::new("pasted", "https://api.openai.com/v1")
                .with_api_key("sk-secret\n"),
            clock(),
        )
        .expect_err("newline in key");
    assert!(matches!(bad_key, ProviderSetupError::InvalidApiKey { .. }));
    assert!(!bad_key.to_string().contains("sk-secret"));
}

#[test]
fn settings_never_show_the_key_when_logged() {
    let settings =
        ProviderSettings::new("openai", "https://api.openai.com/v1").with_api_key("sk-secret");
    let logged = format!("{settings:?}");
    assert!(
        !logged.contains("sk-secret") && logged.contains("<redacted>"),
        "{logged}"
    );
}
