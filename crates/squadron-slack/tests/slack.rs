//! The Slack adapter over its public API: signatures, request parsing and replies, and the
//! notifier over loopback HTTP against the Web API stand-in.

mod slack {
    mod messages;
    mod notifier;
    mod requests;
    mod signature;
    mod support;
}
