//! Integration tests of the provider crate: the recorded provider fixtures,
//! both adapters against the scripted fake server, and (ignored unless
//! `NOCTURNE_TEST_LLM_URL` is set) a real local model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod common;
mod doctor;
mod errors;
mod fixtures;
mod local_model;
mod structured;
mod tools;
mod wire;
