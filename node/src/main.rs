//! `modicum-node`: a validator of the Modicum chain.

mod chain_spec;
mod cli;
mod command;
#[cfg(test)]
mod docs_tests;
mod rpc;
mod service;

fn main() -> sc_cli::Result<()> {
	command::run()
}
