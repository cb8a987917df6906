//! Placeholder: the stand-in is being written.
