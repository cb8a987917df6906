//! Refinement check: every reason an issue is not ready for a squad.
