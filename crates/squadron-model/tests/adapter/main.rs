//! The model adapter against the stand-in model server over real HTTP on loopback.

mod faults;
mod profiles;
mod registry;
mod round_trip;
mod support;
