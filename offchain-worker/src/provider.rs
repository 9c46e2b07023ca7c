//! The resource provider: keeps one resource offer on the market while free, runs each job
//! matched to it, uploads the canonical result archive to the job's directory and posts the
//! result. A journal of computed receipts survives restarts, so a job whose result is computed
//! is never run twice, and a matched job is never forgotten: open matches are read back from
//! chain state.

use crate::{
	accounts, bounded,
	chain::Chain,
	config::{Account, ProviderConfig},
	directory_endpoint, due, ensure_funded,
	executor::{Executor, ExecutorError, Job},
	metrics::Metrics,
	registry::{Registry, RESULTS_REPOSITORY},
	submit, Registration, WorkerError,
};
use futures::future::BoxFuture;
use modicum_runtime::{AccountId, Balance, BlockNumber, MarketCall, Runtime, RuntimeCall};
use pallet_market::{ActorsOf, MatchId, MatchOf, MatchState, MaxFees, Receipt, Role};
use std::{
	collections::{HashMap, HashSet},
	path::PathBuf,
	sync::Arc,
};
use tokio::{sync::watch, task::JoinSet};

const ROLE: &str = "provider";

/// Runs of one match that fail in the executor itself before the provider declines the job.
const MAX_EXECUTOR_FAILURES: u32 = 3;

/// Why a run gave no receipt.
#[derive(Debug)]
enum RunFailure {
	/// Its match closed or got a result meanwhile.
	Cancelled,
	/// The executor or the journal failed.
	Failed(String),
}

/// Receipts computed but not yet settled, one JSON file per match.
struct Journal {
	dir: PathBuf,
}

impl Journal {
	fn path(&self, id: MatchId) -> PathBuf {
		self.dir.join(format!("match-{id}.json"))
	}

	fn load(&self, id: MatchId) -> Option<Receipt> {
		let text = std::fs::read(self.path(id)).ok()?;
		serde_json::from_slice(&text).ok()
	}

	fn save(&self, id: MatchId, receipt: &Receipt) -> std::io::Result<()> {
		let temporary = self.dir.join(format!(".match-{id}.json"));
		std::fs::write(&temporary, serde_json::to_vec(receipt).map_err(std::io::Error::other)?)?;
		std::fs::rename(temporary, self.path(id))
	}

	/// Matches with a journal entry.
	fn entries(&self) -> Vec<MatchId> {
		let Ok(dir) = std::fs::read_dir(&self.dir) else { return Vec::new() };
		dir.flatten()
			.filter_map(|e| {
				let name = e.file_name().into_string().ok()?;
				name.strip_prefix("match-")?.strip_suffix(".json")?.parse().ok()
			})
			.collect()
	}

	fn remove(&self, id: MatchId) {
		let _ = std::fs::remove_file(self.path(id));
	}
}

struct Provider {
	chain: Chain,
	config: ProviderConfig,
	/// `register_resource_provider` with the configured terms.
	registration: Registration,
	executor: Executor,
	metrics: Metrics,
	journal: Arc<Journal>,
	runs: JoinSet<(MatchId, Result<Receipt, RunFailure>)>,
	/// Matches being run, each with the switch that cancels its run.
	running: HashMap<MatchId, watch::Sender<bool>>,
	failures: HashMap<MatchId, u32>,
	/// When each result was last submitted.
	posted: HashMap<MatchId, BlockNumber>,
	/// When the last resource offer was submitted.
	offered_at: Option<BlockNumber>,
}

/// Checks the provider can work (Docker, cgroups, key, funds) and returns its loop.
pub async fn start(
	chain: Chain,
	config: ProviderConfig,
	work_dir: PathBuf,
	metrics: Metrics,
) -> Result<BoxFuture<'static, ()>, WorkerError> {
	// What the chain alone can tell first, then the machine.
	let registration = Registration::new(
		Role::ResourceProvider,
		"register_resource_provider",
		registration(&config)?,
	);
	ensure_funded(&chain, ROLE, config.offer.deposit.0, "the deposit of a resource offer")?;
	let executor = Executor::connect(work_dir.join("runs"), ROLE)
		.await
		.map_err(|source| WorkerError::Executor { role: ROLE, source })?;
	let journal = Journal { dir: work_dir.join("journal") };
	std::fs::create_dir_all(&journal.dir).map_err(|e| WorkerError::Invalid {
		role: ROLE,
		message: format!("journal {}: {e}", journal.dir.display()),
	})?;
	tracing::info!(target: "modicum", account = %chain.account(), "provider ready");
	let provider = Provider {
		chain,
		config,
		registration,
		executor,
		metrics,
		journal: Arc::new(journal),
		runs: JoinSet::new(),
		running: HashMap::new(),
		failures: HashMap::new(),
		posted: HashMap::new(),
		offered_at: None,
	};
	Ok(Box::pin(provider.run()))
}

impl Provider {
	async fn run(mut self) {
		let mut chain = self.chain.clone();
		loop {
			tokio::select! {
				heads = chain.next_heads() => {
					let Some(heads) = heads else { break };
					if let Err(e) = self.on_block(heads.best.hash, heads.best.number).await {
						tracing::warn!(target: "modicum", error = %e, "provider: chain read failed");
					}
					self.settle(heads.finalized.hash);
				},
				Some(done) = self.runs.join_next() => {
					match done {
						Ok((id, outcome)) => self.on_run_done(id, outcome).await,
						Err(e) => tracing::error!(target: "modicum", error = %e, "provider: run task failed"),
					}
				},
			}
		}
	}

	async fn on_block(
		&mut self,
		best: sp_core::H256,
		number: BlockNumber,
	) -> Result<(), WorkerError> {
		let chain = self.chain.clone();
		let state = chain.state();
		let me = chain.account().clone();
		let actors = state.actors(best)?;
		if !self.registration.ensure(&chain, &self.metrics, &actors, number).await {
			return Ok(());
		}
		let matches: Vec<(MatchId, MatchOf<Runtime>)> =
			state.open_matches(best)?.into_iter().filter(|(_, m)| m.provider == me).collect();
		for (id, cancel) in &self.running {
			let waiting =
				matches.iter().any(|(open, m)| open == id && m.state == MatchState::Matched);
			if !waiting && !*cancel.borrow() {
				tracing::info!(target: "modicum", match_id = id, "provider: the match moved on; cancelling its run");
				let _ = cancel.send(true);
			}
		}
		let mut busy = !self.running.is_empty();
		for (id, terms) in &matches {
			if terms.state != MatchState::Matched {
				continue;
			}
			busy = true;
			if self.running.contains_key(id) {
				continue;
			}
			if let Some(receipt) = self.journal.load(*id) {
				if due(self.posted.get(id).copied(), number) {
					self.post_result(*id, receipt, number).await;
				}
				continue;
			}
			if number >= terms.completion_deadline {
				tracing::warn!(target: "modicum", match_id = id, "provider: completion deadline passed before the job could run");
				continue;
			}
			self.spawn_run(*id, terms, &actors);
		}
		self.metrics.queue(self.running.len());

		// Every open offer is read only when this provider is free to offer.
		if busy || !due(self.offered_at, number) {
			return Ok(());
		}
		if state.open_resource_offers(best)?.iter().all(|(_, o)| o.provider != me) {
			self.offered_at = Some(number);
			let offer = &self.config.offer;
			let spendable = state.spendable_balance(best, &me)?;
			if spendable < offer.deposit.0 {
				// A transaction that cannot hold its deposit would only burn fees.
				tracing::warn!(target: "modicum", spendable, deposit = offer.deposit.0, "provider: cannot cover the offer deposit; fund the account");
				return Ok(());
			}
			let parameters = state.parameters(best)?;
			let window = offer.window.min(parameters.max_offer_window);
			let call = MarketCall::post_resource_offer {
				capacity: offer.capacity(),
				architecture: self.config.architecture.into(),
				cpu_price: offer.cpu_price.0,
				bandwidth_price: offer.bandwidth_price.0,
				valid_from: number,
				valid_to: number.saturating_add(window),
				max_fees: self.max_fees(&actors),
				deposit: offer.deposit.0,
			};
			if submit(&self.chain, &self.metrics, "post_resource_offer", call.into()).await {
				tracing::info!(target: "modicum", "provider: resource offer posted");
			}
		}
		Ok(())
	}

	/// The fees an offer accepts: the configured maxima, or the highest fee among the trusted
	/// mediators and directories as they stand now.
	fn max_fees(&self, actors: &ActorsOf<Runtime>) -> MaxFees<Balance> {
		let highest = |trusted: &[Account], fees: Vec<(&AccountId, Balance)>| {
			fees.into_iter()
				.filter(|(who, _)| trusted.iter().any(|t| t.0 == **who))
				.map(|(_, fee)| fee)
				.max()
				.unwrap_or_default()
		};
		let offer = &self.config.offer;
		MaxFees {
			mediator: offer.max_mediator_fee.map(|fee| fee.0).unwrap_or_else(|| {
				let fees = actors.mediators.iter().map(|(who, m)| (who, m.fee)).collect();
				highest(&self.config.trusted_mediators, fees)
			}),
			directory: offer.max_directory_fee.map(|fee| fee.0).unwrap_or_else(|| {
				let fees = actors.directories.iter().map(|(who, d)| (who, d.fee)).collect();
				highest(&self.config.trusted_directories, fees)
			}),
		}
	}

	fn spawn_run(&mut self, id: MatchId, terms: &MatchOf<Runtime>, actors: &ActorsOf<Runtime>) {
		let Some(endpoint) = directory_endpoint(actors, &terms.directory) else {
			tracing::error!(target: "modicum", match_id = id, "provider: the match's directory is not registered");
			return;
		};
		let job =
			Job::for_match(format!("match-{id}"), terms, endpoint, self.config.architecture.into());
		let executor = self.executor.clone();
		let journal = self.journal.clone();
		let metrics = self.metrics.clone();
		tracing::info!(target: "modicum", match_id = id, image = %job.repository, "provider: running job");
		let (cancel, cancelled) = watch::channel(false);
		self.running.insert(id, cancel);
		self.runs.spawn(async move {
			let outcome = async {
				let started = std::time::Instant::now();
				let execution = executor.execute(&job, cancelled).await.map_err(|e| match e {
					ExecutorError::Cancelled => RunFailure::Cancelled,
					other => RunFailure::Failed(other.to_string()),
				})?;
				metrics.run(ROLE, execution.status, execution.wall.as_secs_f64());
				let mut receipt =
					Receipt { status: execution.status, usage: execution.usage, result_digest: None };
				if let Some(archive) = execution.archive {
					match upload(&job.endpoint, archive).await {
						Ok(digest) => receipt.result_digest = Some(digest),
						Err(e) => {
							tracing::warn!(target: "modicum", match_id = id, error = %e, "provider: result upload failed");
							receipt.status = pallet_market::ResultStatus::DirectoryUnavailable;
						},
					}
				}
				journal.save(id, &receipt).map_err(|e| RunFailure::Failed(format!("journal: {e}")))?;
				tracing::info!(
					target: "modicum",
					match_id = id,
					status = ?receipt.status,
					container_ms = execution.wall.as_millis() as u64,
					total_ms = started.elapsed().as_millis() as u64,
					"provider: result ready"
				);
				Ok(receipt)
			}
			.await;
			(id, outcome)
		});
	}

	async fn on_run_done(&mut self, id: MatchId, outcome: Result<Receipt, RunFailure>) {
		self.running.remove(&id);
		self.metrics.queue(self.running.len());
		let number = self.chain.heads().best.number;
		match outcome {
			Ok(receipt) => self.post_result(id, receipt, number).await,
			Err(RunFailure::Cancelled) => {
				tracing::info!(target: "modicum", match_id = id, "provider: run cancelled")
			}
			Err(RunFailure::Failed(e)) => {
				let failures = self.failures.entry(id).or_default();
				*failures += 1;
				tracing::error!(target: "modicum", match_id = id, error = %e, failures = *failures, "provider: executor failed");
				if *failures >= MAX_EXECUTOR_FAILURES {
					// This machine cannot run the job: decline rather than let the deadline pass.
					let receipt = Receipt {
						status: pallet_market::ResultStatus::Declined,
						usage: Default::default(),
						result_digest: None,
					};
					if self.journal.save(id, &receipt).is_ok() {
						self.post_result(id, receipt, number).await;
					}
				}
			}
		}
	}

	async fn post_result(&mut self, id: MatchId, receipt: Receipt, number: BlockNumber) {
		self.posted.insert(id, number);
		let call = MarketCall::post_result {
			match_id: id,
			status: receipt.status,
			usage: receipt.usage,
			result_digest: receipt.result_digest,
		};
		if submit(&self.chain, &self.metrics, "post_result", call.into()).await {
			tracing::info!(target: "modicum", match_id = id, status = ?receipt.status, "provider: result posted");
		}
	}

	/// Forgets journal entries of matches whose result is final (or that closed).
	fn settle(&mut self, finalized: sp_core::H256) {
		let entries = self.journal.entries();
		if entries.is_empty() {
			return;
		}
		let Ok(open) = self.chain.state().open_matches(finalized) else { return };
		let waiting: HashSet<MatchId> = open
			.iter()
			.filter(|(_, m)| m.state == MatchState::Matched)
			.map(|(id, _)| *id)
			.collect();
		for id in entries {
			if !waiting.contains(&id) && !self.running.contains_key(&id) {
				self.journal.remove(id);
				self.posted.remove(&id);
				self.failures.remove(&id);
			}
		}
	}
}

/// The registration call of the configured terms; checks they fit the chain's bounds.
fn registration(config: &ProviderConfig) -> Result<RuntimeCall, WorkerError> {
	Ok(MarketCall::register_resource_provider {
		architecture: config.architecture.into(),
		speed: config.speed,
		trusted_mediators: bounded(ROLE, "trusted_mediators", accounts(&config.trusted_mediators))?,
		trusted_directories: bounded(
			ROLE,
			"trusted_directories",
			accounts(&config.trusted_directories),
		)?,
		base_layers: bounded(
			ROLE,
			"base_layers",
			config.base_layers.iter().map(|d| d.0).collect(),
		)?,
	}
	.into())
}

async fn upload(endpoint: &str, archive: Vec<u8>) -> Result<pallet_market::Digest, String> {
	let registry = Registry::new(endpoint).map_err(|e| e.to_string())?;
	registry.push_blob(RESULTS_REPOSITORY, archive).await.map_err(|e| e.to_string())
}
