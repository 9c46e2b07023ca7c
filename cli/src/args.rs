//! The command line as `clap` reads it: every subcommand and flag of `modicum`, in the library so
//! that tests parse the docs' command lines with the real definitions.

use clap::{Parser, Subcommand, ValueEnum};
use modicum_common::amount::Amount;
use modicum_runtime::BlockNumber;
use pallet_market::OfferId;
use std::path::PathBuf;

/// The job creator's command line of the Modicum market.
#[derive(Debug, Parser)]
#[command(name = "modicum", version, about)]
pub struct Cli {
	/// The node's JSON-RPC endpoint [env: MODICUM_URL; default ws://127.0.0.1:9944].
	#[arg(long, global = true)]
	pub url: Option<String>,
	/// The account's secret URI, mnemonic or hex seed [env: MODICUM_SEED].
	#[arg(long, global = true)]
	pub seed: Option<String>,
	/// A file holding the account's secret URI.
	#[arg(long, global = true, value_name = "FILE")]
	pub seed_file: Option<PathBuf>,
	/// A node keystore directory holding one `mdcm` key.
	#[arg(long, global = true, value_name = "DIR")]
	pub keystore: Option<PathBuf>,
	/// `human` (default) or `json` on stdout; progress goes to stderr.
	#[arg(long, global = true, value_enum, default_value_t = Output::Human)]
	pub output: Output,
	/// A TOML file of `[[registry]]` entries — `endpoint`, and optionally `ca_file` (a PEM CA
	/// trusted instead of the system's), `username` and `password_file` — for directories
	/// whose registries use https with their own CA or need a login; used by pushes, result
	/// fetches and the verifier [env: MODICUM_REGISTRY_CONFIG].
	#[arg(long, global = true, value_name = "FILE")]
	pub registry_config: Option<PathBuf>,
	#[command(subcommand)]
	pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
	Human,
	Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
	/// Jobs: run, follow, read, settle.
	#[command(subcommand)]
	Job(JobCommand),
	/// Job images: publish one without posting a job offer.
	#[command(subcommand)]
	Image(ImageCommand),
	/// Open resource offers and job offers.
	Offers,
	/// The chain's dry-run of a job offer against every open resource offer.
	WhyNoMatch {
		/// The job offer.
		job: OfferId,
	},
	/// The account's balance: free, its join grant, and held per offer and match.
	Balance,
	/// The account: create one, or join the market with a grant.
	#[command(subcommand)]
	Account(AccountCommand),
	/// Verify every result of this account with probability p_v, then accept or reject.
	Verifier {
		/// Verify at least this often (never below the paper's bound for the match).
		#[arg(long, value_name = "P")]
		verify_rate: Option<f64>,
	},
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
	/// Create an account: a new mnemonic, written to FILE (readable by its owner only) or
	/// printed, and its address.
	New {
		/// Write the mnemonic here instead of printing it; an existing file is never replaced.
		#[arg(long, value_name = "FILE")]
		out: Option<PathBuf>,
	},
	/// Earn this new account's join grant with a proof of work and claim it from the welfare
	/// pool: funds for the market's deposits, bonds and fees, never transferable, returned to
	/// the pool if unused by its expiry.
	Join {
		/// Threads to hash on [default: every core].
		#[arg(long)]
		threads: Option<usize>,
	},
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
	/// Push a local Docker image to a directory's registry through the market's registry client
	/// (as `job run` does); prints its manifest digest and base layer.
	Push {
		/// The local image (`name:tag`).
		image: String,
		/// The registry's URL (`http(s)://host[:port]`); `--registry-config` gives its CA and login.
		#[arg(long, value_name = "URL")]
		registry: String,
		/// The repository to push to (`jobs/<name>`).
		#[arg(long)]
		repository: String,
	},
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
	/// Build, push, price and post a job; `--wait` follows it to its end.
	Run(RunArgs),
	/// A job's state, deadlines, receipt, mediation and payouts.
	Describe {
		/// The job (its job offer id).
		id: OfferId,
		/// Look for its events from this block.
		#[arg(long)]
		since: Option<BlockNumber>,
	},
	/// This account's jobs.
	List {
		/// Only jobs in this state (open, matched, result, mediation, closed, cancelled, expired).
		#[arg(long)]
		state: Option<String>,
	},
	/// stdout and stderr of the job's run, from its result archive.
	Logs {
		/// The job.
		id: OfferId,
	},
	/// Download the result archive, check its digest and unpack it.
	Get {
		/// The job.
		id: OfferId,
		/// Where to unpack [default: ./job-<id>].
		#[arg(long, value_name = "DIR")]
		dir: Option<PathBuf>,
	},
	/// Withdraw an unmatched job offer; its deposit is released.
	Cancel {
		/// The job.
		id: OfferId,
	},
	/// Accept the result: the provider is paid.
	Accept {
		/// The job.
		id: OfferId,
	},
	/// Dispute the result; its mediator re-runs the job and fines the party at fault.
	Reject {
		/// The job.
		id: OfferId,
		/// WrongResults, ResultNotFound, TooMuchCost or InvalidResultStatus.
		reason: String,
	},
	/// Re-run the job here under the match's bounds, then accept or reject as the mediator
	/// would decide.
	Verify {
		/// The job.
		id: OfferId,
	},
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
	/// A folder with a Dockerfile.
	#[arg(required_unless_present = "image", conflicts_with = "image")]
	pub dir: Option<PathBuf>,
	/// A local image instead of a folder.
	#[arg(long)]
	pub image: Option<String>,
	/// A folder added to the image as a layer at /input.
	#[arg(long, value_name = "DIR")]
	pub input: Option<PathBuf>,
	/// The directory (SS58) to push to [default: the available one trusted by the providers with the most successes].
	#[arg(long)]
	pub directory: Option<String>,
	/// CPU time limit, ms.
	#[arg(long, default_value_t = 10_000)]
	pub cpu: u64,
	/// Memory limit, MiB.
	#[arg(long, default_value_t = 64)]
	pub memory: u64,
	/// Storage limit (/out and /tmp), MiB.
	#[arg(long, default_value_t = 16)]
	pub storage: u64,
	/// Bandwidth limit, KiB [default: the image plus the largest archive].
	#[arg(long)]
	pub bandwidth: Option<u64>,
	/// Bid per cpu ms, e.g. "1 uMDC" [default: the lowest ask of the fitting offers].
	#[arg(long)]
	pub cpu_bid: Option<Amount>,
	/// Bid per KiB [default: the lowest ask of the fitting offers].
	#[arg(long)]
	pub bandwidth_bid: Option<Amount>,
	/// Blocks from now the result is due by [default: 2R + 30].
	#[arg(long, value_name = "BLOCKS")]
	pub deadline: Option<BlockNumber>,
	/// The most a mediator may charge [default: the dearest mediator the job creator trusts].
	#[arg(long)]
	pub max_mediator_fee: Option<Amount>,
	/// The most a directory may charge [default: the directory's fee].
	#[arg(long)]
	pub max_directory_fee: Option<Amount>,
	/// A mediator (SS58) a new job creator trusts; repeat for several [default: the only one
	/// that can serve the job, if there is exactly one].
	#[arg(long, value_name = "ACCOUNT")]
	pub trust_mediator: Vec<String>,
	/// The least provider score, percent.
	#[arg(long, value_name = "PERCENT")]
	pub min_reputation: Option<u32>,
	/// The least counted matches of the provider (with --min-reputation).
	#[arg(long, default_value_t = 0)]
	pub min_counted: u32,
	/// The deposit to hold [default: the minimum].
	#[arg(long)]
	pub deposit: Option<Amount>,
	/// Post without asking.
	#[arg(long)]
	pub yes: bool,
	/// Follow the job to its end: verify its result, accept or reject, wait for the payout.
	#[arg(long)]
	pub wait: bool,
	/// Print only the job's id.
	#[arg(long)]
	pub id_only: bool,
	/// With --wait: verify at least this often (never below the paper's bound).
	#[arg(long, value_name = "P")]
	pub verify_rate: Option<f64>,
}

