//! The subcommands of `modicum`, one module per concern, and the errors any of them ends with.

mod account;
mod balance;
mod job;
mod market;
mod verify;

use modicum_cli::{
	args::{AccountCommand, Cli, Command, ImageCommand, JobCommand, Output, RunArgs},
	account::KeySource,
	chain::{refusal, Chain, ChainError, Included},
	image::{self, ImageError},
	offer::{self, image_name, OfferError, Request},
	result::{self, ResultError},
	status::{self, home, JobJournal, JobStatus, Step},
	verifier::{self, Decision, Verifier, VerifierError},
};
use modicum_common::{
	actors::directory_endpoint,
	digest::digest_string,
	amount::mdc,
	config::ConfigError,
};
use modicum_registry::{Registries, Registry, RegistryError};
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
};
use account::{join, new_account};
use balance::balance;
use job::*;
use market::{offers, why_no_match};
use verify::run_verifier;

/// Any failure of a command, said so that the user knows what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
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

pub(crate) fn progress(message: impl std::fmt::Display) {
	eprintln!("[modicum] {message}");
}

pub(crate) fn emit<T: Serialize>(output: Output, value: &T, text: impl FnOnce() -> String) {
	match output {
		Output::Json => println!("{}", serde_json::to_string_pretty(value).expect("serialises")),
		Output::Human => print!("{}", text()),
	}
}


/// Runs the command `cli` names.
pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
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
	// Publishing needs no chain.
	if let Command::Image(ImageCommand::Push { image, registry, repository }) = &cli.command {
		let registry = registries.client(registry)?;
		let work = status::data_dir().join(format!("push-{}", std::process::id()));
		let published = job::push_image(&registry, image, repository, &work).await?;
		let (digest, base) = (digest_string(&published.image.digest), digest_string(&published.base_layer));
		emit(cli.output, &json!({ "digest": digest, "baseLayer": base }), || format!("{digest} {base}\n"));
		return Ok(());
	}
	// So does a new key.
	if let Command::Account(AccountCommand::New { out }) = &cli.command {
		return new_account(cli.output, out.as_deref());
	}
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
		Command::Image(_) => unreachable!("published above"),
		Command::Offers => offers(&chain, output).await,
		Command::WhyNoMatch { job } => why_no_match(&chain, output, job).await,
		Command::Balance => balance(&chain, output).await,
		Command::Account(AccountCommand::Join { threads }) => join(&chain, output, threads).await,
		Command::Account(AccountCommand::New { .. }) => unreachable!("created above"),
		Command::Verifier { verify_rate } => run_verifier(&chain, registries, output, verify_rate).await,
	}
}

pub(crate) fn done(output: Output, what: &str, id: OfferId, included: &Included) {
	emit(output, &json!({ "job": id, "done": what, "block": included.block.number }), || {
		format!("job {id}: {what} in block #{}\n", included.block.number)
	});
}

pub(crate) fn parse_reason(text: &str) -> Result<RejectReason, CliError> {
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
