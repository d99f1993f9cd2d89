//! The server's integration tests, one binary (each module was a binary of its own: linking the
//! whole server 19 times took most of the build's time and disk).

mod common;

mod auth;
mod cluster;
mod crash;
mod examples;
mod hardening;
mod import;
mod interop;
mod jaeger;
mod layering;
mod overload;
mod postgres;
mod receive;
mod redaction;
mod same_ranking;
mod search;
mod similar;
mod stats;
mod tenants;
mod tls;
mod ui;
