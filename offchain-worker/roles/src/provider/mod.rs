//! The resource provider: divides its machine into slots ([`slots`]) and keeps one
//! resource offer on the market per free slot, runs the jobs matched to them side by side, each
//! on cores of its own ([`run`]), uploads each canonical result archive to the job's directory and
//! posts the result. A journal of computed receipts survives restarts, so a job whose result is
//! computed is never run twice, and a matched job is never forgotten: open matches are read back
//! from chain state. When to run, run again, post or decline is its [`policy`].

mod journal;
mod policy;
pub mod pricing;
mod run;
pub mod slots;

use crate::{
	chain::{BlockRef, Chain, Heads},
	context::Context,
	config::ProviderConfig,
	handler::{self, Handler},
	metrics::Metrics,
	registration::{due, Registration},
	startup::{bounded, ensure_funded},
	tasks::{Panicked, Tasks},
	WorkerError,
};
use journal::{Measured, RunJournal};
use modicum_common::{
	actors::directory_endpoint,
	config::{accounts, Account},
};
use modicum_executor::{self as executor, Executor, Job};
use modicum_registry::{Registries, RegistryError};
use policy::Step;
use pricing::{Pricing, Quote};
use run::{Recheck, Run, RunFailure};
use slots::Slots;
use futures::future::BoxFuture;
use modicum_runtime::{AccountId, Balance, BlockNumber, MarketCall, Runtime, RuntimeCall};
use pallet_market::{ActorsOf, MatchId, MatchOf, MatchState, MaxFees, OfferId, Receipt, Role};
use std::{
	collections::{HashMap, HashSet},
	path::PathBuf,
	sync::Arc,
};

const ROLE: &str = "provider";

struct Provider {
	ctx: Context<ProviderConfig>,
	/// `register_resource_provider` with the configured terms.
	registration: Registration,
	/// The machine's division: one open offer per free slot.
	slots: Slots,
	executor: Executor,
	journal: Arc<RunJournal>,
	/// Local failures of each match's runs.
	failures: HashMap<MatchId, u32>,
	/// Matches whose archive is being checked at the directory now ([`Recheck`]).
	rechecking: HashSet<MatchId>,
	/// Matches whose archive was found (or put back) at the directory after their result landed.
	rechecked: HashSet<MatchId>,
	/// When the archive of each match was last checked.
	recheck_sent: HashMap<MatchId, BlockNumber>,
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
	let host = crate::machine::Host::detect(cores, &work_dir).map_err(|e| invalid(format!("host resources: {e}")))?;
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
		ctx: Context { chain, config, metrics },
		registration,
		slots,
		executor,
		journal: Arc::new(journal),
		failures: HashMap::new(),
		rechecking: HashSet::new(),
		rechecked: HashSet::new(),
		recheck_sent: HashMap::new(),
		posted: HashMap::new(),
		offered_at: None,
		pricing,
		withdrawn: HashMap::new(),
	};
	Ok(Box::pin(handler::run(provider)))
}

impl Handler for Provider {
	type Output = Work;
	const ROLE: &'static str = ROLE;

	fn chain(&self) -> &Chain {
		&self.ctx.chain
	}

	async fn on_block(&mut self, heads: Heads, runs: &mut Tasks<Self::Output>) -> Result<(), WorkerError> {
		let acted = self.on_best(heads.best, runs).await;
		self.settle(heads.finalized.hash, runs);
		acted
	}

	async fn on_done(&mut self, id: MatchId, ended: Result<Self::Output, Panicked>, runs: &mut Tasks<Self::Output>) {
		self.ctx.metrics.queue(runs.len());
		let recheck = self.rechecking.remove(&id);
		match ended {
			Ok(Work::Run(Ok(receipt))) => self.post_result(id, receipt).await,
			Ok(Work::Run(Err(RunFailure::Cancelled))) => {
				tracing::info!(target: "modicum", match_id = id, "provider: run cancelled")
			},
			Ok(Work::Run(Err(e))) => {
				tracing::error!(target: "modicum", match_id = id, error = %e, "provider: run failed on this machine");
				self.count_failure(id).await;
			},
			Ok(Work::Recheck(Ok(uploaded_again))) => {
				self.rechecked.insert(id);
				if uploaded_again {
					tracing::info!(target: "modicum", match_id = id, "provider: the result archive is at the directory again");
				}
			},
			// Tried again a few blocks later while the match is open.
			Ok(Work::Recheck(Err(e))) => {
				tracing::warn!(target: "modicum", match_id = id, error = %e, "provider: cannot check the result archive at the directory")
			},
			// A panicked run frees its slot; its guard removed what it created.
			Err(_) if !recheck => {
				self.journal.end(id);
				self.count_failure(id).await;
			},
			Err(_) => {},
		}
	}

	/// A measured run is journaled and its result posted, now or at the next start; a
	/// cancelled one runs again at the next start.
	async fn on_stopping(&mut self, id: MatchId, ended: Result<Self::Output, Panicked>) {
		match ended {
			Ok(Work::Run(Ok(receipt))) => self.post_result(id, receipt).await,
			// Neither is the job's: the match is taken up again at the next start.
			Ok(Work::Run(Err(e))) => tracing::info!(target: "modicum", match_id = id, error = %e, "provider: run left for the next start"),
			Ok(Work::Recheck(_)) | Err(_) => {},
		}
	}
}

impl Provider {
	/// Cancels runs whose match moved on, starts, posts or gives up on each matched job as
	/// [`policy`] says, and offers the free slots.
	async fn on_best(&mut self, best: BlockRef, runs: &mut Tasks<Work>) -> Result<(), WorkerError> {
		let BlockRef { hash: best, number } = best;
		let chain = self.ctx.chain.clone();
		let state = chain.state();
		let me = chain.account().clone();
		let actors = state.actors(best)?;
		if !self.registration.ensure(&self.ctx, &actors, number).await {
			return Ok(());
		}
		let matches: Vec<(MatchId, MatchOf<Runtime>)> =
			state.open_matches(best)?.into_iter().filter(|(_, m)| m.provider == me).collect();
		for id in runs.matches().into_iter().filter(|id| !self.rechecking.contains(id)) {
			let waiting =
				matches.iter().any(|(open, m)| *open == id && m.state == MatchState::Matched);
			if !waiting && runs.cancel(id) {
				tracing::info!(target: "modicum", match_id = id, "provider: the match moved on; cancelling its run");
			}
		}
		for (id, terms) in &matches {
			if terms.state != MatchState::Matched {
				continue;
			}
			if runs.contains(*id) || !due(self.posted.get(id).copied(), number) {
				continue;
			}
			let measured = self.journal.load(*id);
			let attempts = self.journal.attempts(*id);
			match policy::next_step(measured.as_ref(), attempts, number, terms.run_length, terms.completion_deadline) {
				Step::Post(receipt) => self.post_result(*id, receipt).await,
				Step::Run => self.spawn_run(*id, terms, &actors, runs),
				Step::GiveUp => {
					if self.posted.insert(*id, number).is_none() {
						tracing::warn!(target: "modicum", match_id = id, attempts, "provider: the run was cut short and cannot run again before the deadline; posting nothing");
					}
				},
				Step::Missed => {},
			}
		}
		self.recheck_archives(&matches, &actors, number, runs);
		self.ctx.metrics.queue(runs.len());
		// A slot is taken from its match until the result is posted, and while its run lasts.
		let occupied: HashSet<MatchId> = matches
			.iter()
			.filter(|(_, m)| m.state == MatchState::Matched)
			.map(|(id, _)| *id)
			.chain(runs.matches().into_iter().filter(|id| !self.rechecking.contains(id)))
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
		let state = self.ctx.chain.state();
		let me = self.ctx.chain.account().clone();
		let mine: Vec<(OfferId, Balance)> = state
			.open_resource_offers(best)?
			.into_iter()
			.filter(|(_, o)| o.provider == me)
			.map(|(id, o)| (id, o.cpu_price))
			.collect();
		let offer = &self.ctx.config.offer;
		let window = offer.window.min(state.parameters(best)?.max_offer_window);
		let valid_to = number.saturating_add(window);
		let bids = if self.pricing.follows_market() {
			pricing::fitting_bids(&self.ctx.config, number, valid_to, &state.open_job_offers(best)?)
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
			if !self.ctx.submit("cancel_resource_offer", call.into()).await {
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
				architecture: self.ctx.config.architecture.into(),
				cpu_price,
				bandwidth_price,
				valid_from: number,
				valid_to,
				max_fees: self.max_fees(actors),
				deposit: offer.deposit.0,
			};
			if self.ctx.submit("post_resource_offer", call.into()).await {
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
		let offer = &self.ctx.config.offer;
		MaxFees {
			mediator: offer.max_mediator_fee.map(|fee| fee.0).unwrap_or_else(|| {
				let fees = actors.mediators.iter().map(|(who, m)| (who, m.fee)).collect();
				highest(&self.ctx.config.trusted_mediators, fees)
			}),
			directory: offer.max_directory_fee.map(|fee| fee.0).unwrap_or_else(|| {
				let fees = actors.directories.iter().map(|(who, d)| (who, d.fee)).collect();
				highest(&self.ctx.config.trusted_directories, fees)
			}),
		}
	}

	/// Starts the run task of a matched job ([`run`]).
	fn spawn_run(
		&mut self,
		id: MatchId,
		terms: &MatchOf<Runtime>,
		actors: &ActorsOf<Runtime>,
		runs: &mut Tasks<Work>,
	) {
		let Some(endpoint) = directory_endpoint(actors, &terms.directory) else {
			tracing::error!(target: "modicum", match_id = id, "provider: the match's directory is not registered");
			return;
		};
		let run = Run {
			id,
			job: Job::for_match(format!("match-{id}"), terms, endpoint, self.ctx.config.architecture.into()),
			executor: self.executor.clone(),
			journal: self.journal.clone(),
			metrics: self.ctx.metrics.clone(),
			chain: self.ctx.chain.clone(),
			upload_deadline: policy::upload_deadline(terms.completion_deadline),
		};
		runs.spawn(id, |cancelled| async move { Work::Run(run.perform(cancelled).await) });
	}

	/// Counts a local failure of a match's run; past the policy's limit the provider declines
	/// the job rather than let the deadline pass (a local failure is never blamed on the job).
	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
	async fn count_failure(&mut self, id: MatchId) {
		let failures = self.failures.entry(id).or_default();
		*failures += 1;
		if policy::declines_after(*failures) {
			self.decline(id).await;
		}
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
			self.post_result(id, receipt).await;
		}
	}

	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
	async fn post_result(&mut self, id: MatchId, receipt: Receipt) {
		self.posted.insert(id, self.ctx.now());
		let call = MarketCall::post_result {
			match_id: id,
			status: receipt.status,
			usage: receipt.usage,
			result_digest: receipt.result_digest,
		};
		if self.ctx.submit("post_result", call.into()).await {
			tracing::info!(target: "modicum", match_id = id, status = ?receipt.status, "provider: result posted");
		}
	}

	/// Checks, once each match's result is in a block, that its archive is at the directory,
	/// uploading it again from the journal if not ([`Recheck`]); each match once, tried again
	/// while the check fails.
	fn recheck_archives(
		&mut self,
		matches: &[(MatchId, MatchOf<Runtime>)],
		actors: &ActorsOf<Runtime>,
		number: BlockNumber,
		runs: &mut Tasks<Work>,
	) {
		for (id, terms) in matches.iter().filter(|(_, m)| m.state != MatchState::Matched) {
			if runs.contains(*id) ||
				self.rechecked.contains(id) ||
				!due(self.recheck_sent.get(id).copied(), number)
			{
				continue;
			}
			let (Some(measured), Some(endpoint)) =
				(self.journal.load(*id), directory_endpoint(actors, &terms.directory))
			else {
				continue;
			};
			let archive = self.journal.archive(*id);
			let Some(digest) = measured.receipt.result_digest.filter(|_| archive.exists()) else {
				continue;
			};
			self.recheck_sent.insert(*id, number);
			self.rechecking.insert(*id);
			let recheck = Recheck { id: *id, executor: self.executor.clone(), endpoint, archive, digest };
			runs.spawn(*id, |_| async move { Work::Recheck(recheck.perform().await) });
		}
	}

	/// Forgets journal entries of matches that closed (open neither at the finalized block nor
	/// at the best one): until then the archive may have to be uploaded again.
	fn settle(&mut self, finalized: sp_core::H256, runs: &Tasks<Work>) {
		let entries = self.journal.entries();
		if entries.is_empty() {
			return;
		}
		let state = self.ctx.chain.state();
		let (Ok(at_finalized), Ok(at_best)) =
			(state.open_matches(finalized), state.open_matches(self.ctx.chain.heads().best.hash))
		else {
			return;
		};
		let open: HashSet<MatchId> =
			at_finalized.iter().chain(at_best.iter()).map(|(id, _)| *id).collect();
		for id in entries {
			if !open.contains(&id) && !runs.contains(id) {
				self.journal.remove(id);
				self.posted.remove(&id);
				self.failures.remove(&id);
				self.rechecked.remove(&id);
				self.recheck_sent.remove(&id);
			}
		}
	}
}

/// What a task of a match ends with.
enum Work {
	/// Its run (and upload): the receipt to post.
	Run(Result<Receipt, RunFailure>),
	/// The check of its archive at the directory once its result is in a block: whether it
	/// had to be uploaded again.
	Recheck(Result<bool, RegistryError>),
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
