//! wasmhub's end-to-end tests: a real server on a real TCP port, driven over HTTP and by the
//! real OCI clients. They are one test binary, not one per file, because each binary links the
//! whole registry: seventeen of them took minutes to link and gigabytes of `target/`.
//!
//! `cargo test -p wasmhub --test e2e <module>::` runs one file's tests, e.g. `push::`.

mod common;

mod access;
mod accounts_api;
mod browser;
mod clients;
mod clients_login;
mod connections;
mod content_management;
mod discovery;
mod durability;
mod events;
mod fsck;
mod gc;
mod gc_schedule;
mod hub_api;
mod immutability;
mod metrics;
mod proxies;
mod pull;
mod pulls;
mod push;
mod push_manifests;
mod replicas;
mod retention;
mod wasm_clients;
mod wasm_search;
mod web;
mod web_session;
