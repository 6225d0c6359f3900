//! The integration tests, as one test binary (one link, one `cargo nextest list` entry);
//! each module is one area. Tests start real servers on loopback through the harness in
//! [`common`]; fixtures stay in `tests/fixtures/`.
//!
//! Run one area: `cargo nextest run -E 'test(/^docker::/)'`; one test:
//! `cargo nextest run -E 'test(name)'`. Test names are `<module>::<test>`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

mod alert_metric_names;
mod alerts_e2e;
mod auth_flood;
mod check_cmd;
mod checks;
mod cli;
mod das_tern_stack;
mod dashboards;
mod deploy;
mod docker;
mod hostile;
mod image;
mod parsers_prop;
mod postgres;
mod probe;
mod redis;
mod restarts;
mod slowlog_exact;
mod status_page;
mod verify;
mod web;
