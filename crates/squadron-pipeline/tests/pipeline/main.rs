//! Drives the squad runtime end to end with fakes of every port: in-memory tracker and code
//! host, workspaces over real git in a temporary directory, and scripted models.

mod fixes;
mod logs;
mod overrides;
mod reviews;
mod runs;
mod sharing;
mod support;
mod tidy;
mod views;
