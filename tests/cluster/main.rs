//! Several `squadron` processes working together: `squadron demo --standins` serving the
//! demo's world as long-running services, and `squadron` commands pointed at it with
//! nothing but the environment it prints: `run` merging a milestone, and `serve` replicas
//! sharing one store, each under its own daemon id, any of them answering.

mod any_replica;
mod daemons;
mod failover;
mod standby_replicas;
mod standins;
mod support;
mod three_replicas;
