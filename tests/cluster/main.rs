//! Several `squadron` processes working together: `squadron demo --standins` serving the
//! demo's world as long-running services, and `squadron` commands pointed at it with
//! nothing but the environment it prints.

mod standins;
mod support;
