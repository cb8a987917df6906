//! A loopback stand-in for Linear's GraphQL API, for tests and the offline demo.
//!
//! Every incoming document is validated against Linear's published schema (bundled in
//! `schema/linear.graphql`) and refused with a GraphQL error when invalid, as Linear does;
//! valid operations run against an in-memory [`Workspace`] built with its builder methods.
//! The server counts requests, records mutations, and can be told to answer rate-limit and
//! authentication errors, or to hold every answer until released.

mod fixtures;
mod resolver;
mod server;

pub use fixtures::{
    Attachment, Comment, Issue, IssueSpec, Milestone, Project, RecordedMutation, Relation,
    STATE_TYPES, State, Team, Workspace,
};
pub use server::{StandinError, StandinLinear, linear_schema, validate_document};
