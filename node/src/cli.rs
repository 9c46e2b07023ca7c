//! Command-line interface of the node.

use sc_cli::RunCmd;
use std::path::PathBuf;

/// The node's command line.
#[derive(Debug, clap::Parser)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[clap(flatten)]
	pub run: RunCmd,

	#[clap(flatten)]
	pub roles: RoleArgs,
}

/// Market roles the node runs beside validating, each configured by a TOML file
/// (docs/reference/role-files.md). Each signs with an `mdcm` key of the node keystore.
#[derive(Debug, Clone, clap::Args)]
pub struct RoleArgs {
	/// Run a resource provider: offer this machine and run matched jobs in Docker.
	#[arg(long, value_name = "FILE")]
	pub provider: Option<PathBuf>,

	/// Run a solver: match open job offers to open resource offers.
	#[arg(long, value_name = "FILE")]
	pub solver: Option<PathBuf>,

	/// Run a mediator: re-execute disputed jobs and post verdicts.
	#[arg(long, value_name = "FILE")]
	pub mediator: Option<PathBuf>,

	/// Run a directory: keep the registration of an OCI registry alive with heartbeats.
	#[arg(long, value_name = "FILE")]
	pub directory: Option<PathBuf>,
}

impl From<RoleArgs> for modicum_roles::Roles {
	fn from(args: RoleArgs) -> Self {
		Self {
			provider: args.provider,
			solver: args.solver,
			mediator: args.mediator,
			directory: args.directory,
		}
	}
}

/// The node's subcommands.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management utilities.
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Build a chain specification.
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Remove the whole chain.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Benchmark the runtime's pallets, blocks, storage and this machine.
	#[cfg(feature = "runtime-benchmarks")]
	#[command(subcommand)]
	Benchmark(frame_benchmarking_cli::BenchmarkCmd),

	/// Benchmarking needs a node built with `--features runtime-benchmarks`.
	#[cfg(not(feature = "runtime-benchmarks"))]
	Benchmark,

	/// Database meta columns information.
	ChainInfo(sc_cli::ChainInfoCmd),
}
