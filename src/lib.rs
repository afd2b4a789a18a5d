//! Cartable: the server, the command line and their wiring. The domain lives in the crates:
//! `cartable-vault` (storage, keys), `cartable-consent` (rules, ledger arithmetic), `cartable-sdk` (wire types).

pub mod api;
mod archive;
pub mod auth;
pub mod cli;
pub mod config;
mod importers;
mod ledger_check;
mod logging;
pub mod notify;
pub mod oidc;
pub mod pdf_text;
pub mod register;
pub mod server;
pub mod web;
