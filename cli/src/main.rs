//! `modicum`: the job creator's command line (docs/job-authors.md).

use clap::{Parser, Subcommand, ValueEnum};
use modicum_cli::{
	account::KeySource,
	chain::{refusal, Chain, ChainError, Included},
	image::{self, ImageError},
	offer::{self, image_name, mdc, OfferError, Request},
	result::{self, ResultError},
	status::{self, home, Journal, JobStatus, Step},
	verifier::{self, Decision, Verifier, VerifierError},
};
use modicum_offchain_worker::{
	config::Amount,
	directory_endpoint,
	config::ConfigError,
	registry::{Registries, RegistryError},
};
use modicum_runtime::{AccountId, Balance, BlockNumber, Runtime, RuntimeCall, RuntimeEvent};
use pallet_market::{
	Call as MarketCall, Event as MarketEvent, ImageOf, MatchId, MatchOf, MatchState, MinReputation,
	OfferId, RejectReason, Resources,
};
use serde::Serialize;
use serde_json::json;
use sp_core::crypto::Ss58Codec;
use sp_runtime::Perbill;
use std::{
	io::{IsTerminal, Write},
	path::PathBuf,
	process::ExitCode,
};

/// The job creator's command line of the Modicum market.
#[derive(Debug, Parser)]
#[command(name = "modicum", version, about)]
struct Cli {
	/// The node's JSON-RPC endpoint [env: MODICUM_URL; default ws://127.0.0.1:9944].
	#[arg(long, global = true)]
	url: Option<String>,
	/// The account's secret URI, mnemonic or hex seed [env: MODICUM_SEED].
	#[arg(long, global = true)]
	seed: Option<String>,
	/// A file holding the account's secret URI.
	#[arg(long, global = true, value_name = "FILE")]
	seed_file: Option<PathBuf>,
	/// A node keystore directory holding one `mdcm` key.
	#[arg(long, global = true, value_name = "DIR")]
	keystore: Option<PathBuf>,
	/// `human` (default) or `json` on stdout; progress goes to stderr.
	#[arg(long, global = true, value_enum, default_value_t = Output::Human)]
	output: Output,
	/// A TOML file of `[[registry]]` entries — `endpoint`, and optionally `ca_file` (a PEM CA
	/// trusted instead of the system's), `username` and `password_file` — for directories
	/// whose registries use https with their own CA or need a login; used by pushes, result
	/// fetches and the verifier [env: MODICUM_REGISTRY_CONFIG].
	#[arg(long, global = true, value_name = "FILE")]
	registry_config: Option<PathBuf>,
	#[command(subcommand)]
	command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
	Human,
	Json,
}

#[derive(Debug, Subcommand)]
enum Command {
	/// Jobs: run, follow, read, settle.
	#[command(subcommand)]
	Job(JobCommand),
	/// Open resource offers and job offers.
	Offers,
	/// The chain's dry-run of a job offer against every open resource offer.
	WhyNoMatch {
		/// The job offer.
		job: OfferId,
	},
	/// The account's balance: free, and held per offer and match.
	Balance,
	/// Verify every result of this account with probability p_v, then accept or reject.
	Verifier {
		/// Verify at least this often (never below the paper's bound for the match).
		#[arg(long, value_name = "P")]
		verify_rate: Option<f64>,
	},
}

#[derive(Debug, Subcommand)]
enum JobCommand {
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
struct RunArgs {
	/// A folder with a Dockerfile.
	#[arg(required_unless_present = "image", conflicts_with = "image")]
	dir: Option<PathBuf>,
	/// A local image instead of a folder.
	#[arg(long)]
	image: Option<String>,
	/// A folder added to the image as a layer at /input.
	#[arg(long, value_name = "DIR")]
	input: Option<PathBuf>,
	/// The directory (SS58) to push to [default: the available one trusted by the providers with the most successes].
	#[arg(long)]
	directory: Option<String>,
	/// CPU time limit, ms.
	#[arg(long, default_value_t = 10_000)]
	cpu: u64,
	/// Memory limit, MiB.
	#[arg(long, default_value_t = 64)]
	memory: u64,
	/// Storage limit (/out and /tmp), MiB.
	#[arg(long, default_value_t = 16)]
	storage: u64,
	/// Bandwidth limit, KiB [default: the image plus the largest archive].
	#[arg(long)]
	bandwidth: Option<u64>,
	/// Bid per cpu ms, e.g. "1 uMDC" [default: the lowest ask of the fitting offers].
	#[arg(long)]
	cpu_bid: Option<Amount>,
	/// Bid per KiB [default: the lowest ask of the fitting offers].
	#[arg(long)]
	bandwidth_bid: Option<Amount>,
	/// Blocks from now the result is due by [default: 2R + 30].
	#[arg(long, value_name = "BLOCKS")]
	deadline: Option<BlockNumber>,
	/// The most a mediator may charge [default: the dearest mediator the job creator trusts].
	#[arg(long)]
	max_mediator_fee: Option<Amount>,
	/// The most a directory may charge [default: the directory's fee].
	#[arg(long)]
	max_directory_fee: Option<Amount>,
	/// A mediator (SS58) a new job creator trusts; repeat for several [default: the only one
	/// that can serve the job, if there is exactly one].
	#[arg(long, value_name = "ACCOUNT")]
	trust_mediator: Vec<String>,
	/// The least provider score, percent.
	#[arg(long, value_name = "PERCENT")]
	min_reputation: Option<u32>,
	/// The least counted matches of the provider (with --min-reputation).
	#[arg(long, default_value_t = 0)]
	min_counted: u32,
	/// The deposit to hold [default: the minimum].
	#[arg(long)]
	deposit: Option<Amount>,
	/// Post without asking.
	#[arg(long)]
	yes: bool,
	/// Follow the job to its end: verify its result, accept or reject, wait for the payout.
	#[arg(long)]
	wait: bool,
	/// Print only the job's id.
	#[arg(long)]
	id_only: bool,
	/// With --wait: verify at least this often (never below the paper's bound).
	#[arg(long, value_name = "P")]
	verify_rate: Option<f64>,
}

/// Any failure of a command, said so that the user knows what to do.
#[derive(Debug, thiserror::Error)]
enum CliError {
	#[error(transparent)]
	Chain(#[from] ChainError),
	#[error(transparent)]
	Offer(#[from] OfferError),
	#[error(transparent)]
	Image(#[from] ImageError),
	#[error(transparent)]
	Result(#[from] ResultError),
	#[error(transparent)]
	Account(#[from] modicum_cli::account::AccountError),
	#[error("directory: {0}")]
	Registry(#[from] RegistryError),
	#[error(transparent)]
	Config(#[from] ConfigError),
	#[error(transparent)]
	Verifier(#[from] VerifierError),
	#[error("{0}")]
	Usage(String),
}

fn progress(message: impl std::fmt::Display) {
	eprintln!("[modicum] {message}");
}

fn emit<T: Serialize>(output: Output, value: &T, text: impl FnOnce() -> String) {
	match output {
		Output::Json => println!("{}", serde_json::to_string_pretty(value).expect("serialises")),
		Output::Human => print!("{}", text()),
	}
}

#[tokio::main]
async fn main() -> ExitCode {
	let cli = Cli::parse();
	let output = cli.output;
	match run(cli).await {
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

async fn run(cli: Cli) -> Result<(), CliError> {
	let url = cli.url.or_else(|| std::env::var("MODICUM_URL").ok()).unwrap_or_else(|| "ws://127.0.0.1:9944".into());
	// A flag beats the environment.
	let key = match (cli.seed, cli.seed_file, cli.keystore) {
		(Some(seed), _, _) => Some(KeySource::Seed(seed)),
		(None, Some(file), _) => Some(KeySource::SeedFile(file)),
		(None, None, Some(dir)) => Some(KeySource::Keystore(dir)),
		(None, None, None) => std::env::var("MODICUM_SEED").ok().map(KeySource::Seed),
	};
	let signer = key.map(|k| k.load()).transpose()?;
	let registries = match cli.registry_config.or_else(|| std::env::var_os("MODICUM_REGISTRY_CONFIG").map(PathBuf::from)) {
		Some(path) => Registries::from_file(&path)?,
		None => Registries::default(),
	};
	let registries = &registries;
	let chain = Chain::connect(&url, signer).await?;
	let output = cli.output;
	match cli.command {
		Command::Job(JobCommand::Run(args)) => job_run(&chain, registries, output, args).await,
		Command::Job(JobCommand::Describe { id, since }) => {
			let status = status::track(&chain, id, since).await?;
			emit(output, &status, || status.describe());
			Ok(())
		}
		Command::Job(JobCommand::List { state }) => job_list(&chain, output, state).await,
		Command::Job(JobCommand::Logs { id }) => job_logs(&chain, registries, output, id).await,
		Command::Job(JobCommand::Get { id, dir }) => job_get(&chain, registries, output, id, dir).await,
		Command::Job(JobCommand::Cancel { id }) => {
			let included = chain.submit(RuntimeCall::Market(MarketCall::cancel_job_offer { offer: id })).await?;
			done(output, "cancelled", id, &included);
			Ok(())
		}
		Command::Job(JobCommand::Accept { id }) => {
			let (match_id, _) = open_match(&chain, id).await?;
			let included = chain.submit(RuntimeCall::Market(MarketCall::accept_result { match_id })).await?;
			done(output, "accepted", id, &included);
			Ok(())
		}
		Command::Job(JobCommand::Reject { id, reason }) => {
			let reason = parse_reason(&reason)?;
			let (match_id, _) = open_match(&chain, id).await?;
			let included = chain.submit(RuntimeCall::Market(MarketCall::reject_result { match_id, reason })).await?;
			done(output, "rejected", id, &included);
			Ok(())
		}
		Command::Job(JobCommand::Verify { id }) => {
			let (match_id, terms) = open_match(&chain, id).await?;
			let verifier = Verifier::start(&chain, registries).await?;
			let decision = verify(&verifier, &chain, match_id, &terms, Some(1.0)).await?;
			emit(output, &decision, || decision_text(&decision));
			Ok(())
		}
		Command::Offers => offers(&chain, output).await,
		Command::WhyNoMatch { job } => why_no_match(&chain, output, job).await,
		Command::Balance => balance(&chain, output).await,
		Command::Verifier { verify_rate } => run_verifier(&chain, registries, output, verify_rate).await,
	}
}

fn done(output: Output, what: &str, id: OfferId, included: &Included) {
	emit(output, &json!({ "job": id, "done": what, "block": included.block.number }), || {
		format!("job {id}: {what} in block #{}\n", included.block.number)
	});
}

fn parse_reason(text: &str) -> Result<RejectReason, CliError> {
	let reasons = [
		("wrongresults", RejectReason::WrongResults),
		("resultnotfound", RejectReason::ResultNotFound),
		("toomuchcost", RejectReason::TooMuchCost),
		("invalidresultstatus", RejectReason::InvalidResultStatus),
	];
	let key: String = text.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
	reasons.iter().find(|(name, _)| *name == key).map(|(_, r)| *r).ok_or_else(|| {
		CliError::Usage(format!("`{text}` is not a reason: WrongResults, ResultNotFound, TooMuchCost or InvalidResultStatus"))
	})
}

/// The open match of a job, or what to do instead.
async fn open_match(chain: &Chain, id: OfferId) -> Result<(MatchId, MatchOf<Runtime>), CliError> {
	let status = status::track(chain, id, None).await?;
	match (status.match_id, status.terms) {
		(Some(match_id), Some(terms)) => Ok((match_id, terms)),
		_ => Err(CliError::Usage(format!("job {id} has no open match: it is {} ({})", status.state, status.next))),
	}
}

async fn verify(
	verifier: &Verifier,
	chain: &Chain,
	match_id: MatchId,
	terms: &MatchOf<Runtime>,
	requested: Option<f64>,
) -> Result<Decision, CliError> {
	if !matches!(terms.state, MatchState::ResultPosted { .. }) {
		return Err(CliError::Usage(format!("match {match_id} has no result waiting for a decision")));
	}
	let rate = verifier::rate_for(chain, terms, requested).await?;
	progress(format!("match {match_id}: result posted; verifying with p_v = {rate:.3}"));
	Ok(verifier.decide_and_act(match_id, terms, rate).await?)
}

fn decision_text(decision: &Decision) -> String {
	format!(
		"match {}: {}{} — {}\n",
		decision.match_id,
		decision.action,
		decision.reason.map(|r| format!(" ({r:?})")).unwrap_or_default(),
		decision.why
	)
}

async fn job_run(chain: &Chain, registries: &Registries, output: Output, args: RunArgs) -> Result<(), CliError> {
	let best = chain.best().await?;
	let actors = chain.actors(best.hash).await?;
	let supported = offer::supported_bases(&actors);
	let asked = args
		.directory
		.as_deref()
		.map(|d| AccountId::from_ss58check(d).map_err(|_| CliError::Usage(format!("--directory {d} is not an SS58 account"))))
		.transpose()?;
	let directory = offer::choose_directory(chain, &actors, asked.as_ref(), best.hash).await?;
	let registry = registries.client(&directory.1)?;

	let (name, local) = match (&args.dir, &args.image) {
		(Some(dir), _) => {
			let name = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
			let repository = image::repository_for(name.as_deref().unwrap_or("job"));
			let tag = format!("modicum-{repository}:latest");
			progress(format!("building {} on a registered base", dir.display()));
			image::build(dir, args.input.as_deref(), &tag, &supported).await?;
			(repository, tag)
		}
		(None, Some(reference)) => {
			let repository = image::repository_for(reference.split([':', '@']).next().unwrap_or("job").rsplit('/').next().unwrap_or("job"));
			image::check_base(reference, &supported).await?;
			match &args.input {
				Some(input) => {
					let tag = format!("modicum-{repository}:latest");
					image::add_input(reference, input, &tag).await?;
					(repository, tag)
				}
				None => (repository, reference.clone()),
			}
		}
		(None, None) => return Err(CliError::Usage("give a folder with a Dockerfile, or --image".into())),
	};
	progress(format!("pushing {local} to the directory at {}", directory.1));
	let digest = image::push(&local, &registry, &name, &home(chain).join("push")).await?;
	let manifest = registry.manifest(&name, &digest, 64 << 10).await?;
	let config = registry.image_config(&name, &manifest, 64 << 10).await?;
	let base_layer: modicum_offchain_worker::config::Sha256 = config
		.rootfs
		.diff_ids
		.first()
		.ok_or_else(|| CliError::Usage("the pushed image has no layers".into()))?
		.parse()
		.map_err(CliError::Usage)?;
	let image_bytes: u64 = manifest.layers.iter().skip(1).map(|l| l.size).sum();
	let architecture = [pallet_market::Architecture::Amd64, pallet_market::Architecture::Arm64, pallet_market::Architecture::Riscv64]
		.into_iter()
		.find(|a| modicum_offchain_worker::config::oci_architecture(*a) == config.architecture)
		.ok_or_else(|| CliError::Usage(format!("the image is built for `{}`, which the market does not run", config.architecture)))?;
	let image = ImageOf::<Runtime> {
		repository: name.clone().into_bytes().try_into().map_err(|_| CliError::Usage(format!("repository name {name} is too long")))?,
		digest,
	};

	let request = Request {
		limits: Resources { cpu: args.cpu, memory: args.memory, storage: args.storage, bandwidth: args.bandwidth.unwrap_or(0) },
		// The image's own: a job offer for another machine than the image's would fail on
		// every provider.
		architecture,
		cpu_bid: args.cpu_bid.map(|a| a.0),
		bandwidth_bid: args.bandwidth_bid.map(|a| a.0),
		deadline_in: args.deadline,
		max_mediator_fee: args.max_mediator_fee.map(|a| a.0),
		max_directory_fee: args.max_directory_fee.map(|a| a.0),
		trust_mediators: args
			.trust_mediator
			.iter()
			.map(|m| AccountId::from_ss58check(m).map_err(|_| CliError::Usage(format!("--trust-mediator {m} is not an SS58 account"))))
			.collect::<Result<_, _>>()?,
		min_reputation: args.min_reputation.map(|p| MinReputation { score: Perbill::from_percent(p.min(100)), counted: args.min_counted }),
		deposit: args.deposit.map(|a| a.0),
	};
	let plan = offer::plan(chain, &request, &actors, image, base_layer.0, image_bytes.div_ceil(1024), directory).await?;
	eprint!("{}", plan.describe());
	if !args.yes {
		if !std::io::stdin().is_terminal() {
			return Err(CliError::Usage("not posted: confirm with --yes when not at a terminal".into()));
		}
		eprint!("Post this job offer, holding {}? [y/N] ", mdc(plan.offer.deposit));
		let _ = std::io::stderr().flush();
		let mut answer = String::new();
		let _ = std::io::stdin().read_line(&mut answer);
		if !matches!(answer.trim(), "y" | "Y" | "yes") {
			return Err(CliError::Usage("not posted".into()));
		}
	}
	if !plan.register_trusting.is_empty() {
		let trusted_mediators = plan
			.register_trusting
			.iter()
			.filter_map(|m| AccountId::from_ss58check(m).ok())
			.collect::<Vec<_>>()
			.try_into()
			.map_err(|_| CliError::Usage("too many mediators to trust".into()))?;
		progress("registering as a job creator");
		chain.submit(RuntimeCall::Market(MarketCall::register_job_creator { trusted_mediators })).await?;
	}
	let o = plan.offer.clone();
	let included = chain
		.submit(RuntimeCall::Market(MarketCall::post_job_offer {
			limits: o.limits,
			architecture: o.architecture,
			image: o.image,
			base_layer: o.base_layer,
			directory: o.directory,
			cpu_bid: o.cpu_bid,
			bandwidth_bid: o.bandwidth_bid,
			completion_deadline: o.completion_deadline,
			max_fees: o.max_fees,
			min_reputation: o.min_reputation,
			deposit: o.deposit,
		}))
		.await?;
	let id = included
		.events
		.iter()
		.find_map(|e| match e {
			RuntimeEvent::Market(MarketEvent::JobOfferPosted { offer, .. }) => Some(*offer),
			_ => None,
		})
		.ok_or_else(|| CliError::Usage("the job offer was posted but its event is missing".into()))?;
	let journal = Journal {
		job_offer: id,
		match_id: None,
		scanned_to: included.block.number,
		horizon: None,
		bandwidth: Some(o.limits.bandwidth),
		creator: Some(o.creator.to_ss58check()),
		steps: vec![(included.block.number, Step::Posted { deposit: status::Planck(o.deposit), completion_deadline: o.completion_deadline })],
	};
	let _ = journal.save(chain);
	if args.id_only {
		println!("{id}");
	} else if !args.wait {
		emit(output, &json!({ "job": id, "plan": plan, "block": included.block.number }), || {
			format!("job {id} posted in block #{}: follow it with `modicum job describe {id}`\n", included.block.number)
		});
	}
	if args.wait {
		progress(format!("job {id} posted in block #{}; waiting for a match", included.block.number));
		let status = follow(chain, registries, id, args.verify_rate).await?;
		if !args.id_only {
			emit(output, &status, || status.describe());
		}
	}
	Ok(())
}

/// Follows job `id` block by block to its end, verifying and settling its result.
async fn follow(chain: &Chain, registries: &Registries, id: OfferId, verify_rate: Option<f64>) -> Result<JobStatus, CliError> {
	let mut last_state = "";
	let mut decided = false;
	let mut block = 0;
	loop {
		let status = status::track(chain, id, None).await?;
		if status.state != last_state {
			progress(format!("job {id}: {} — {}", status.state, status.next));
			last_state = status.state;
		}
		match status.state {
			"closed" | "cancelled" | "expired" => return Ok(status),
			"result" if !decided => {
				if let (Some(match_id), Some(terms)) = (status.match_id, &status.terms) {
					match Verifier::start(chain, registries).await {
						// Once either way: a decision that did not land (the chain accepted by
						// the deadline meanwhile) shows in the match's ending.
						Ok(verifier) => {
							decided = true;
							match verify(&verifier, chain, match_id, terms, verify_rate).await {
								Ok(decision) => progress(decision_text(&decision).trim_end()),
								Err(e) => progress(format!("match {match_id}: no decision posted here: {e}")),
							}
						}
						// Another process verifies for this account here: try again next block,
						// while the result waits.
						Err(VerifierError::Busy(lock)) => progress(format!("match {match_id}: another modicum process holds {lock}; waiting for it")),
						Err(e) => {
							decided = true;
							progress(format!("match {match_id}: no decision posted here: {e}"));
						}
					}
				}
			}
			_ => {}
		}
		block = chain.next_block(block.max(status.best)).await?.number;
	}
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
	job: OfferId,
	state: &'static str,
	match_id: Option<MatchId>,
	next: String,
}

async fn job_list(chain: &Chain, output: Output, state: Option<String>) -> Result<(), CliError> {
	let me = chain.account()?;
	let best = chain.best().await?;
	let mut ids: Vec<OfferId> = Journal::all(chain).iter().map(|j| j.job_offer).collect();
	ids.extend(chain.open_job_offers(best.hash).await?.into_iter().filter(|(_, o)| o.creator == me).map(|(id, _)| id));
	ids.extend(chain.open_matches(best.hash).await?.into_iter().filter(|(_, m)| m.creator == me).map(|(_, m)| m.job_offer));
	ids.sort();
	ids.dedup();
	let mut listed = Vec::new();
	for id in ids {
		let status = status::track(chain, id, None).await?;
		// A home may be shared by several accounts: only this one's jobs.
		let creator = status.offer.as_ref().map(|o| o.creator.to_ss58check()).or(status.creator.clone());
		if state.as_deref().is_some_and(|s| s != status.state) || creator.is_some_and(|c| c != me.to_ss58check()) {
			continue;
		}
		listed.push(Listed { job: id, state: status.state, match_id: status.match_id, next: status.next });
	}
	emit(output, &listed, || {
		let mut text = format!("{:<6} {:<10} {:<6} next\n", "job", "state", "match");
		for l in &listed {
			let m = l.match_id.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
			text += &format!("{:<6} {:<10} {:<6} {}\n", l.job, l.state, m, l.next);
		}
		text
	});
	Ok(())
}

/// The result archive of job `id`, fetched once into the CLI's cache, and the job's status.
async fn archive_of(chain: &Chain, registries: &Registries, id: OfferId) -> Result<(PathBuf, JobStatus), CliError> {
	let status = status::track(chain, id, None).await?;
	let digest = status.receipt.map(|r| r.result_digest).or_else(|| {
		status.history.iter().rev().find_map(|(_, s)| match s {
			Step::ResultPosted { digest, .. } => Some(digest.as_ref().and_then(|d| d.parse::<modicum_offchain_worker::config::Sha256>().ok()).map(|d| d.0)),
			_ => None,
		})
	});
	let digest = match digest {
		Some(Some(digest)) => digest,
		Some(None) => return Err(ResultError::NoArchive(format!("job {id}")).into()),
		None => return Err(CliError::Usage(format!("job {id} has no result yet: it is {} ({})", status.state, status.next))),
	};
	let best = chain.best().await?;
	let actors = chain.actors(best.hash).await?;
	let directory = status
		.terms
		.as_ref()
		.map(|t| t.directory.clone())
		.or_else(|| status.offer.as_ref().map(|o| o.directory.clone()))
		.or_else(|| {
			status.history.iter().find_map(|(_, s)| match s {
				Step::Matched { directory, .. } => AccountId::from_ss58check(directory).ok(),
				_ => None,
			})
		})
		.ok_or_else(|| CliError::Usage(format!("job {id}: its directory is unknown")))?;
	let endpoint = directory_endpoint(&actors, &directory)
		.ok_or_else(|| CliError::Usage(format!("job {id}: directory {} is no longer registered", directory.to_ss58check())))?;
	// No honest archive is larger than the job's bandwidth limit (or its logs alone).
	let bandwidth = status.bandwidth.ok_or_else(|| {
		CliError::Usage(format!("job {id}: its limits are unknown to this CLI (it did not post or follow the job while it was open)"))
	})?;
	let limit = verifier::archive_cap(bandwidth);
	progress(format!("fetching the result archive sha256:{} from {endpoint}", hex::encode(digest)));
	Ok((result::fetch(registries, &endpoint, &digest, limit, &home(chain).join("results")).await?, status))
}

async fn job_logs(chain: &Chain, registries: &Registries, output: Output, id: OfferId) -> Result<(), CliError> {
	let (archive, _) = archive_of(chain, registries, id).await?;
	let (stdout, stderr) = result::logs(&archive)?;
	match output {
		Output::Json => emit(output, &json!({
			"job": id,
			"stdout": String::from_utf8_lossy(&stdout),
			"stderr": String::from_utf8_lossy(&stderr),
		}), String::new),
		Output::Human => {
			std::io::stdout().write_all(&stdout).map_err(|e| CliError::Usage(e.to_string()))?;
			std::io::stderr().write_all(&stderr).map_err(|e| CliError::Usage(e.to_string()))?;
		}
	}
	Ok(())
}

async fn job_get(chain: &Chain, registries: &Registries, output: Output, id: OfferId, dir: Option<PathBuf>) -> Result<(), CliError> {
	let (archive, status) = archive_of(chain, registries, id).await?;
	if status.history.iter().any(|(_, s)| matches!(s, Step::Verdict { faulty_party, .. } if faulty_party == "ResourceProvider")) {
		progress("warning: the mediator found this result wrong; it is the provider's archive, not a correct result");
	}
	let dir = dir.unwrap_or_else(|| PathBuf::from(format!("job-{id}")));
	let files = result::unpack(&archive, &dir)?;
	emit(output, &json!({ "job": id, "dir": dir, "files": files }), || {
		format!("job {id}: result (digest checked) unpacked into {} ({} entries: stdout, stderr, out/)\n", dir.display(), files.len())
	});
	Ok(())
}

async fn offers(chain: &Chain, output: Output) -> Result<(), CliError> {
	let best = chain.best().await?;
	let resource = chain.open_resource_offers(best.hash).await?;
	let jobs = chain.open_job_offers(best.hash).await?;
	emit(output, &json!({ "resourceOffers": resource, "jobOffers": jobs }), || {
		let mut text = format!("resource offers (best #{}):\n", best.number);
		for (id, o) in &resource {
			text += &format!(
				"  {id:<5} {}: cpu {} ms, memory {} MiB, storage {} MiB, bandwidth {} KiB; asks {} per ms, {} per KiB; until #{}\n",
				o.provider.to_ss58check(), o.capacity.cpu, o.capacity.memory, o.capacity.storage, o.capacity.bandwidth,
				mdc(o.cpu_price), mdc(o.bandwidth_price), o.valid_to
			);
		}
		text += "job offers:\n";
		for (id, o) in &jobs {
			text += &format!(
				"  {id:<5} {}: {}; cpu {} ms, memory {} MiB; bids {} per ms; due #{}\n",
				o.creator.to_ss58check(), image_name(&o.image), o.limits.cpu, o.limits.memory, mdc(o.cpu_bid), o.completion_deadline
			);
		}
		text
	});
	Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfferCheck {
	resource_offer: OfferId,
	provider: String,
	mediator: String,
	feasible: bool,
	minimum_deposit: Option<Balance>,
	failed_check: Option<modicum_cli::chain::Refusal>,
}

async fn why_no_match(chain: &Chain, output: Output, job: OfferId) -> Result<(), CliError> {
	let best = chain.best().await?;
	let offer = chain
		.job_offer(job, best.hash)
		.await?
		.ok_or_else(|| CliError::Usage(format!("job offer {job} is not on chain (matched and closed, cancelled or expired): see `modicum job describe {job}`")))?;
	let actors = chain.actors(best.hash).await?;
	let mediators: Vec<AccountId> = actors
		.job_creators
		.iter()
		.find(|(who, _)| *who == offer.creator)
		.map(|(_, info)| info.trusted_mediators.to_vec())
		.unwrap_or_default();
	let mut checks = Vec::new();
	for (id, resource) in chain.open_resource_offers(best.hash).await? {
		// The check of the most promising mediator: feasible with any, else the first's answer.
		let mut best_check = None;
		for mediator in &mediators {
			let answer = chain.check_match(job, id, mediator, best.hash).await?;
			let check = OfferCheck {
				resource_offer: id,
				provider: resource.provider.to_ss58check(),
				mediator: mediator.to_ss58check(),
				feasible: answer.is_ok(),
				minimum_deposit: answer.as_ref().ok().copied(),
				failed_check: answer.err().map(|e| refusal(&e)),
			};
			let feasible = check.feasible;
			if best_check.is_none() || feasible {
				best_check = Some(check);
			}
			if feasible {
				break;
			}
		}
		checks.extend(best_check);
	}
	let text = || {
		let mut text = format!("job offer {job} against {} open resource offer(s) at #{}:\n", checks.len(), best.number);
		if mediators.is_empty() {
			text += "  its creator trusts no mediator: no match is possible\n";
		}
		for c in &checks {
			match &c.failed_check {
				None => text += &format!("  {:<5} {}: feasible with mediator {} (d_min {})\n", c.resource_offer, c.provider, c.mediator, mdc(c.minimum_deposit.unwrap_or_default())),
				Some(r) => text += &format!("  {:<5} {}: fails {r}\n", c.resource_offer, c.provider),
			}
		}
		if checks.is_empty() {
			text += "  there are no open resource offers: providers offer again when they are free\n";
		}
		text
	};
	emit(output, &checks, text);
	Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Held {
	what: String,
	amount: Balance,
	why: String,
}

async fn balance(chain: &Chain, output: Output) -> Result<(), CliError> {
	let me = chain.account()?;
	let best = chain.best().await?;
	let data = chain.balances(&me, best.hash).await?;
	let spendable = chain.spendable(&me, best.hash).await?;
	let holds = chain.holds(&me, best.hash).await?;
	let mut held = Vec::new();
	for (id, o) in chain.open_job_offers(best.hash).await?.into_iter().filter(|(_, o)| o.creator == me) {
		held.push(Held { what: format!("job offer {id}"), amount: o.deposit, why: format!("deposit of an open job offer; released if cancelled or unmatched by #{}", o.completion_deadline) });
	}
	for (id, o) in chain.open_resource_offers(best.hash).await?.into_iter().filter(|(_, o)| o.provider == me) {
		held.push(Held { what: format!("resource offer {id}"), amount: o.deposit, why: format!("deposit of an open resource offer; released when cancelled or at #{}", o.valid_to) });
	}
	for (id, m) in chain.open_matches(best.hash).await? {
		if m.creator == me {
			held.push(Held { what: format!("match {id} (job {})", m.job_offer), amount: m.job_deposit, why: "job creator's deposit: pays π_c, fees, and π_m plus the penalty if the job creator is found at fault".into() });
		}
		if m.provider == me {
			held.push(Held { what: format!("match {id}"), amount: m.provider_deposit, why: "provider's deposit: pays fees, and π_m plus the penalty if the provider is found at fault".into() });
		}
	}
	let actors = chain.actors(best.hash).await?;
	for (who, info) in &actors.mediators {
		if *who == me {
			held.push(Held { what: "mediator bond".into(), amount: info.bond, why: "held while registered as a mediator".into() });
		}
	}
	for (who, info) in &actors.directories {
		if *who == me {
			held.push(Held { what: "directory bond".into(), amount: info.bond, why: "held while registered as a directory".into() });
		}
	}
	let holds_json: Vec<_> = holds.iter().map(|h| json!({ "reason": format!("{:?}", h.id), "amount": h.amount })).collect();
	let value = json!({
		"account": me.to_ss58check(),
		"free": data.free,
		"reserved": data.reserved,
		"frozen": data.frozen,
		"spendable": spendable,
		"holds": holds_json,
		"held": held,
	});
	emit(output, &value, || {
		let mut text = format!(
			"{} at #{}\n  free {}\n  spendable {}\n  held {}\n",
			me.to_ss58check(), best.number, mdc(data.free), mdc(spendable), mdc(data.reserved)
		);
		for h in &holds {
			text += &format!("    {:?}: {}\n", h.id, mdc(h.amount));
		}
		for h in &held {
			text += &format!("  {:<24} {:>20}  {}\n", h.what, mdc(h.amount), h.why);
		}
		text
	});
	Ok(())
}

async fn run_verifier(chain: &Chain, registries: &Registries, output: Output, requested: Option<f64>) -> Result<(), CliError> {
	let me = chain.account()?;
	let verifier = Verifier::start(chain, registries).await?;
	progress(format!("verifier for {}: deciding every result of its jobs", me.to_ss58check()));
	let mut decided = std::collections::BTreeSet::new();
	// One task per result, so a long re-run never pushes another match past its deadline.
	let mut running = tokio::task::JoinSet::new();
	let mut block = 0;
	loop {
		while let Some(Ok((id, verified))) = running.try_join_next() {
			report_decision(output, id, verified);
		}
		// A node that stops answering is waited for, never the verifier's end.
		let open = match chain.next_block(block).await {
			Ok(best) => {
				block = best.number;
				chain.open_matches(best.hash).await
			}
			Err(e) => Err(e),
		};
		let open = match open {
			Ok(open) => open,
			Err(e) => {
				progress(format!("{e}; trying again"));
				tokio::time::sleep(std::time::Duration::from_secs(5)).await;
				continue;
			}
		};
		// Only open matches need remembering.
		decided.retain(|id| open.iter().any(|(open, _)| open == id));
		for (id, terms) in open {
			let waiting = terms.creator == me && matches!(terms.state, MatchState::ResultPosted { .. });
			// Each result is decided once: a decision that did not land leaves the result to
			// the chain's acceptance at the reaction deadline, never to a second re-run.
			if !waiting || !decided.insert(id) {
				continue;
			}
			let (verifier, chain) = (verifier.clone(), chain.clone());
			running.spawn(async move { (id, verify(&verifier, &chain, id, &terms, requested).await) });
		}
	}
}

fn report_decision(output: Output, id: MatchId, verified: Result<Decision, CliError>) {
	match verified {
		Ok(decision) => match output {
			Output::Json => println!("{}", serde_json::to_string(&decision).expect("serialises")),
			Output::Human => print!("{}", decision_text(&decision)),
		},
		Err(e) => progress(format!("match {id}: no decision posted: {e}")),
	}
	let _ = std::io::stdout().flush();
}
