//! `modicum-node`: a validator of the Modicum chain and, by role flags, a market worker. A
//! library beside its thin binary so that the tests (`tests/`) read its command line without a
//! unit-test build of the whole node.

mod chain_spec;
pub mod cli;
pub mod command;
mod rpc;
mod service;
