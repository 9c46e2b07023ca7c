//! `modicum`: the job creator's command line (docs/reference/cli.md).

mod commands;

use clap::Parser;
use modicum_cli::args::{Cli, Output};
use serde_json::json;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
	let cli = Cli::parse();
	let output = cli.output;
	match commands::run(cli).await {
		Ok(()) => ExitCode::SUCCESS,
		Err(error) => {
			match output {
				Output::Json => println!("{}", json!({ "error": error.to_string() })),
				Output::Human => eprintln!("error: {error}"),
			}
			ExitCode::FAILURE
		}
	}
}
