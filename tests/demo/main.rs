//! The offline demo: its sample repository, sample milestone and model scripts, proved
//! against the real Linear adapter, the real harness and the sample repository's own tests.

mod end_to_end;
mod interrupt;
mod real_model;
mod scenario;
mod scripts;
mod support;
mod terminal;
