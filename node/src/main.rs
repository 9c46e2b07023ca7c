//! `modicum-node`: a validator of the Modicum chain.

fn main() -> sc_cli::Result<()> {
	modicum_node::command::run()
}
