//! The resource provider: divides its machine into slots ([`slots`]) and keeps one
//! resource offer on the market per free slot, runs the jobs matched to them side by side, each
//! on cores of its own, uploads each canonical result archive to the job's directory and posts
//! the result. A journal of computed receipts survives restarts, so a job whose result is computed
//! is never run twice, and a matched job is never forgotten: open matches are read back from
//! chain state.

mod journal;
pub mod pricing;
pub mod slots;

use crate::{
	chain::Chain,
	config::ProviderConfig,
	metrics::Metrics,
	registration::{due, submit, Registration},
	shutdown,
	startup::{bounded, ensure_funded},
	WorkerError,
};
use journal::{Measured, RunJournal};
use modicum_common::{
	actors::directory_endpoint,
	config::{accounts, Account},
};
use modicum_executor::{self as executor, Executor, ExecutorError, Job};
use modicum_registry::{Registries, RESULTS_REPOSITORY};
use pricing::{Pricing, Quote};
use slots::Slots;
use futures::future::BoxFuture;
use modicum_runtime::{AccountId, Balance, BlockNumber, MarketCall, Runtime, RuntimeCall};
use pallet_market::{ActorsOf, MatchId, MatchOf, MatchState, MaxFees, OfferId, Receipt, Role};
use std::{
	collections::{HashMap, HashSet},
	path::PathBuf,
	sync::Arc,
	time::Duration,
};
use tokio::{sync::watch, task::JoinSet};
use tracing::Instrument as _;

const ROLE: &str = "provider";

/// Runs of one match that fail in the executor itself before the provider declines the job.
const MAX_EXECUTOR_FAILURES: u32 = 3;

/// Runs of one match a provider starts at most: a run cut short by a crash is run once more.
const MAX_RUN_ATTEMPTS: u32 = 2;

/// Blocks before the completion deadline at which a result whose archive could not be uploaded
/// is posted anyway: the directory answers for a missing archive if it was down.
const POST_MARGIN: BlockNumber = 5;

/// The first and the longest pause between upload attempts.
const UPLOAD_BACKOFF: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(60));

/// Why a run gave no receipt.
#[derive(Debug, thiserror::Error)]
enum RunFailure {
	/// Its match closed or got a result meanwhile.
	#[error("cancelled")]
	Cancelled,
	/// The executor failed: the provider's fault, never the job's.
	#[error(transparent)]
	Executor(ExecutorError),
	/// The journal could not be written.
	#[error("journal: {0}")]
	Journal(#[from] std::io::Error),
}

struct Provider {
	chain: Chain,
	config: ProviderConfig,
	/// `register_resource_provider` with the configured terms.
	registration: Registration,
	/// The machine's division: one open offer per free slot.
	slots: Slots,
	executor: Executor,
	metrics: Metrics,
	journal: Arc<RunJournal>,
	runs: JoinSet<(MatchId, Result<Receipt, RunFailure>)>,
	/// The match of each run task, to free the slot of one that panicked.
	tasks: HashMap<tokio::task::Id, MatchId>,
	/// Matches being run, each with the switch that cancels its run.
	running: HashMap<MatchId, watch::Sender<bool>>,
	failures: HashMap<MatchId, u32>,
	/// When each result was last submitted.
	posted: HashMap<MatchId, BlockNumber>,
	/// When resource offers were last submitted.
	offered_at: Option<BlockNumber>,
	/// Sets the asks, and says which offers would lose money.
	pricing: Pricing,
	/// Offers whose withdrawal was submitted, and when.
	withdrawn: HashMap<OfferId, BlockNumber>,
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
	// A restarted provider's deposit may be held by the match it recovers: that is no reason
	// to stop, it will finish the match.
	let best = chain.heads().best.hash;
	let me = chain.account().clone();
	if !chain.state().open_matches(best)?.iter().any(|(_, m)| m.provider == me) {
		ensure_funded(&chain, ROLE, config.offer.deposit.0, "the deposit of a resource offer")?;
	}
	let registries = Registries::load(&config.registry)?;
	let executor = Executor::connect(work_dir.join("runs"), &crate::namespace(&chain, ROLE))
		.await
		.map_err(|source| WorkerError::Executor { role: ROLE, source })?
		.with_registries(registries);
	let invalid = |message: String| WorkerError::Invalid { role: ROLE, message };
	let cores = executor::allowed_cores().map_err(|e| invalid(format!("CPU affinity: {e}")))?;
	let host = slots::Host::detect(cores, &work_dir).map_err(|e| invalid(format!("host resources: {e}")))?;
	let reference_speed = u64::from(chain.state().parameters(best)?.reference_speed);
	let slots = slots::divide(&config, &host, reference_speed).map_err(invalid)?;
	let executor = executor.with_cores(slots.cores.clone());
	tracing::info!(
		target: "modicum", slots = slots.count, cores_per_slot = slots.cores_per_slot, cores = ?slots.cores,
		host_memory_mib = host.memory, host_disk_mib = host.disk, "provider: machine divided into slots"
	);
	let pricing = Pricing::new(&config, metrics.clone())?;
	let journal = RunJournal { dir: work_dir.join("journal") };
	std::fs::create_dir_all(&journal.dir).map_err(|e| WorkerError::Invalid {
		role: ROLE,
		message: format!("journal {}: {e}", journal.dir.display()),
	})?;
	tracing::info!(target: "modicum", account = %chain.account(), "provider ready");
	let provider = Provider {
		chain,
		config,
		registration,
		slots,
		executor,
		metrics,
		journal: Arc::new(journal),
		runs: JoinSet::new(),
		tasks: HashMap::new(),
		running: HashMap::new(),
		failures: HashMap::new(),
		posted: HashMap::new(),
		offered_at: None,
		pricing,
		withdrawn: HashMap::new(),
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
				Some(done) = self.runs.join_next_with_id() => match done {
					Ok((task, (id, outcome))) => {
						self.tasks.remove(&task);
						self.on_run_done(id, outcome).await;
					},
					Err(e) => {
						// A panicked run frees its slot; its guard removed what it created.
						let id = self.tasks.remove(&e.id());
						tracing::error!(target: "modicum", match_id = ?id, error = %e, "provider: run task failed");
						if let Some(id) = id {
							self.running.remove(&id);
							self.journal.end(id);
							self.count_failure(id).await;
						}
					},
				},
			}
		}
		self.shut_down().await;
	}

	/// The node stops: no new offer or run; running jobs get their grace ([`shutdown`]): a
	/// measured one is journaled and its result posted, now or at the next start; a cancelled
	/// one runs again at the next start.
	async fn shut_down(mut self) {
		tracing::info!(target: "modicum", running = self.running.len(), "provider: stopping");
		for done in shutdown::drain(&mut self.runs, &self.running).await {
			match done {
				Ok((task, (id, outcome))) => {
					self.tasks.remove(&task);
					self.running.remove(&id);
					match outcome {
						Ok(receipt) => {
							let number = self.chain.heads().best.number;
							let post = self.post_result(id, receipt, number);
							let _ = tokio::time::timeout(shutdown::LAST_SUBMIT, post).await;
						},
						// Neither is the job's: the match is taken up again at the next start.
						Err(e) => tracing::info!(target: "modicum", match_id = id, error = %e, "provider: run left for the next start"),
					}
				},
				Err(e) => {
					let id = self.tasks.remove(&e.id());
					tracing::error!(target: "modicum", match_id = ?id, error = %e, "provider: run task failed while stopping");
				},
			}
		}
		tracing::info!(target: "modicum", "provider: stopped");
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
		for (id, terms) in &matches {
			if terms.state != MatchState::Matched {
				continue;
			}
			if self.running.contains_key(id) || !due(self.posted.get(id).copied(), number) {
				continue;
			}
			match self.journal.load(*id) {
				Some(measured) if measured.uploaded => {
					self.post_result(*id, measured.receipt, number).await;
					continue;
				}
				// Measured: the run only uploads.
				Some(_) => {}
				None if number >= terms.completion_deadline => continue,
				None => {
					let attempts = self.journal.attempts(*id);
					let fits = number.saturating_add(terms.run_length) < terms.completion_deadline;
					if attempts >= MAX_RUN_ATTEMPTS || (attempts > 0 && !fits) {
						if self.posted.insert(*id, number).is_none() {
							tracing::warn!(target: "modicum", match_id = id, attempts, "provider: the run was cut short and cannot run again before the deadline; posting nothing");
						}
						continue;
					}
				}
			}
			self.spawn_run(*id, terms, &actors);
		}
		self.metrics.queue(self.running.len());
		// A slot is taken from its match until the result is posted, and while its run lasts.
		let occupied: HashSet<MatchId> = matches
			.iter()
			.filter(|(_, m)| m.state == MatchState::Matched)
			.map(|(id, _)| *id)
			.chain(self.running.keys().copied())
			.collect();
		self.offer_free_slots(best, number, &actors, occupied.len()).await
	}

	/// Withdraws the open offers the price policy says would lose money, and posts one offer per
	/// free slot at the policy's ask.
	async fn offer_free_slots(
		&mut self,
		best: sp_core::H256,
		number: BlockNumber,
		actors: &ActorsOf<Runtime>,
		occupied: usize,
	) -> Result<(), WorkerError> {
		let state = self.chain.state();
		let me = self.chain.account().clone();
		let mine: Vec<(OfferId, Balance)> = state
			.open_resource_offers(best)?
			.into_iter()
			.filter(|(_, o)| o.provider == me)
			.map(|(id, o)| (id, o.cpu_price))
			.collect();
		let offer = &self.config.offer;
		let window = offer.window.min(state.parameters(best)?.max_offer_window);
		let valid_to = number.saturating_add(window);
		let bids = if self.pricing.follows_market() {
			pricing::fitting_bids(&self.config, number, valid_to, &state.open_job_offers(best)?)
		} else {
			Vec::new()
		};
		let quote = self.pricing.quote(std::time::Instant::now(), &bids).await;
		let losing = quote.to_withdraw(&mine);
		// An offer asking well above the ask now (the price fell, the configuration changed)
		// would wait unmatched: it is reposted at the ask.
		let overpriced: Vec<OfferId> = match quote {
			Quote::Ask { cpu, .. } => mine
				.iter()
				.filter(|(id, ask)| *ask > cpu.saturating_add(cpu / 10) && !losing.contains(id))
				.map(|(id, _)| *id)
				.collect(),
			Quote::Withdraw { .. } => Vec::new(),
		};
		let withdraw: Vec<OfferId> = losing.iter().chain(&overpriced).copied().collect();
		for (id, ask) in mine.iter().filter(|(id, _)| withdraw.contains(id)) {
			if !due(self.withdrawn.get(id).copied(), number) {
				continue;
			}
			self.withdrawn.insert(*id, number);
			let call = MarketCall::cancel_resource_offer { offer: *id };
			if !submit(&self.chain, &self.metrics, "cancel_resource_offer", call.into()).await {
				continue;
			}
			// Its slot is offered again at the ask now as soon as the cancel is in.
			self.offered_at = None;
			if losing.contains(id) {
				self.pricing.withdrawn(*id, *ask, &quote);
			} else {
				tracing::info!(target: "modicum", offer = id, ask, "provider: repricing an offer that asks above the ask now");
			}
		}
		self.withdrawn.retain(|id, _| mine.iter().any(|(open, _)| open == id));
		let Quote::Ask { cpu: cpu_price, bandwidth: bandwidth_price, .. } = quote else { return Ok(()) };
		// A withdrawn offer holds its slot until its cancel is in a block: a cancel that fails
		// because the offer was matched meanwhile must not leave a job without cores.
		let free = (self.slots.count as usize).saturating_sub(occupied + mine.len());
		if free == 0 || !due(self.offered_at, number) {
			return Ok(());
		}
		self.offered_at = Some(number);
		let spendable = state.spendable_balance(best, &me)?;
		// A transaction that cannot hold its deposit would only burn fees.
		let affordable = (spendable / offer.deposit.0.max(1)).min(free as Balance) as usize;
		if affordable < free {
			tracing::warn!(target: "modicum", spendable, deposit = offer.deposit.0, free, "provider: cannot cover the deposit of an offer for every free slot; fund the account");
		}
		for _ in 0..affordable {
			let call = MarketCall::post_resource_offer {
				capacity: offer.capacity(),
				architecture: self.config.architecture.into(),
				cpu_price,
				bandwidth_price,
				valid_from: number,
				valid_to,
				max_fees: self.max_fees(actors),
				deposit: offer.deposit.0,
			};
			if submit(&self.chain, &self.metrics, "post_resource_offer", call.into()).await {
				tracing::info!(target: "modicum", cpu_price, bandwidth_price, "provider: resource offer posted");
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

	/// Runs the match's job unless the journal has it measured, then uploads its archive.
	fn spawn_run(&mut self, id: MatchId, terms: &MatchOf<Runtime>, actors: &ActorsOf<Runtime>) {
		let Some(endpoint) = directory_endpoint(actors, &terms.directory) else {
			tracing::error!(target: "modicum", match_id = id, "provider: the match's directory is not registered");
			return;
		};
		let job =
			Job::for_match(format!("match-{id}"), terms, endpoint, self.config.architecture.into());
		let (executor, journal, metrics) =
			(self.executor.clone(), self.journal.clone(), self.metrics.clone());
		let chain = self.chain.clone();
		let give_up_at = terms.completion_deadline.saturating_sub(POST_MARGIN);
		let (cancel, cancelled) = watch::channel(false);
		self.running.insert(id, cancel);
		let task = self.runs.spawn(async move {
			let outcome = async {
				let started = std::time::Instant::now();
				let mut container_ms = 0;
				let measured = match journal.load(id) {
					Some(measured) => measured,
					None => {
						tracing::info!(target: "modicum", match_id = id, image = %job.repository, "provider: running job");
						journal.begin(id, journal.attempts(id) + 1)?;
						let execution = executor.execute(&job, &journal.archive(id), cancelled.clone()).await;
						let execution = match execution {
							Ok(execution) => execution,
							Err(e) => {
								journal.end(id);
								return Err(match e {
									ExecutorError::Cancelled => RunFailure::Cancelled,
									other => RunFailure::Executor(other),
								});
							}
						};
						metrics.run(ROLE, execution.status, execution.wall.as_secs_f64());
						let receipt = Receipt {
							status: execution.status,
							usage: execution.usage,
							result_digest: execution.archive.as_ref().map(|a| a.digest),
						};
						let measured = Measured { receipt, uploaded: execution.archive.is_none() };
						// Measured before the run counts as ended: a crash in between never
						// runs a measured job again.
						let saved = journal.save(id, &measured);
						journal.end(id);
						saved?;
						container_ms = execution.wall.as_millis() as u64;
						measured
					}
				};
				if !measured.uploaded {
					let digest = measured.receipt.result_digest.unwrap_or_default();
					let registries = executor.registries();
					if upload(id, &chain, registries, &job.endpoint, &journal.archive(id), &digest, give_up_at, cancelled).await? {
						journal.save(id, &Measured { uploaded: true, ..measured.clone() })?;
					}
				}
				tracing::info!(
					target: "modicum",
					match_id = id,
					status = ?measured.receipt.status,
					container_ms,
					total_ms = started.elapsed().as_millis() as u64,
					"provider: result ready"
				);
				Ok(measured.receipt)
			}
			.await;
			(id, outcome)
		}
		// Every line of the run, the executor's and the upload's too, carries its match.
		.instrument(tracing::info_span!("match", match_id = id)));
		self.tasks.insert(task.id(), id);
	}

	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
	async fn on_run_done(&mut self, id: MatchId, outcome: Result<Receipt, RunFailure>) {
		self.running.remove(&id);
		self.metrics.queue(self.running.len());
		let number = self.chain.heads().best.number;
		match outcome {
			Ok(receipt) => self.post_result(id, receipt, number).await,
			Err(RunFailure::Cancelled) => {
				tracing::info!(target: "modicum", match_id = id, "provider: run cancelled")
			}
			Err(e) => {
				tracing::error!(target: "modicum", match_id = id, error = %e, "provider: run failed on this machine");
				self.count_failure(id).await;
			}
		}
	}

	/// Counts a local failure of a match's run; past the limit the provider declines the job
	/// rather than let the deadline pass (a local failure is never blamed on the job).
	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
	async fn count_failure(&mut self, id: MatchId) {
		let failures = self.failures.entry(id).or_default();
		*failures += 1;
		if *failures < MAX_EXECUTOR_FAILURES {
			return;
		}
		self.decline(id).await;
	}

	/// Posts `Declined` for a match this machine cannot run, journalled like any result.
	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
	async fn decline(&mut self, id: MatchId) {
		let receipt = Receipt {
			status: pallet_market::ResultStatus::Declined,
			usage: Default::default(),
			result_digest: None,
		};
		if self.journal.save(id, &Measured { receipt, uploaded: true }).is_ok() {
			let number = self.chain.heads().best.number;
			self.post_result(id, receipt, number).await;
		}
	}

	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
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

	/// Forgets journal entries of matches whose result is final (or that closed): no longer
	/// waiting for a result at the finalized block, nor open at the best one.
	fn settle(&mut self, finalized: sp_core::H256) {
		let entries = self.journal.entries();
		if entries.is_empty() {
			return;
		}
		let state = self.chain.state();
		let (Ok(at_finalized), Ok(at_best)) =
			(state.open_matches(finalized), state.open_matches(self.chain.heads().best.hash))
		else {
			return;
		};
		let waiting: HashSet<MatchId> = at_finalized
			.iter()
			.filter(|(_, m)| m.state == MatchState::Matched)
			.chain(at_best.iter().filter(|(_, m)| m.state == MatchState::Matched))
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

/// Uploads a result archive in chunks, trying again with backoff while the directory or the
/// link fails, until block `give_up_at`; whether it is at the directory.
#[allow(clippy::too_many_arguments)]
async fn upload(
	id: MatchId,
	chain: &Chain,
	registries: &Registries,
	endpoint: &str,
	archive: &std::path::Path,
	digest: &pallet_market::Digest,
	give_up_at: BlockNumber,
	mut cancelled: watch::Receiver<bool>,
) -> Result<bool, RunFailure> {
	let mut pause = UPLOAD_BACKOFF.0;
	loop {
		let attempt = match registries.client(endpoint) {
			Ok(registry) => registry.push_blob_file(RESULTS_REPOSITORY, archive, digest).await,
			Err(e) => Err(e),
		};
		match attempt {
			Ok(()) => return Ok(true),
			Err(e) if chain.heads().best.number >= give_up_at => {
				tracing::error!(target: "modicum", match_id = id, error = %e, "provider: result upload failed until the deadline; posting the result without it");
				return Ok(false);
			}
			Err(e) => {
				tracing::warn!(target: "modicum", match_id = id, error = %e, retry_in_s = pause.as_secs(), "provider: result upload failed; trying again");
				// A run cancelled while its upload waits keeps its measured receipt in the
				// journal: the next start uploads and posts it.
				tokio::select! {
					_ = tokio::time::sleep(pause) => {},
					_ = cancelled.wait_for(|cancelled| *cancelled) => return Err(RunFailure::Cancelled),
				}
				pause = (pause * 2).min(UPLOAD_BACKOFF.1);
			}
		}
	}
}
