//! The mediator: for each match assigned to it, re-executes the job n times exactly as a
//! provider does, checks the directory where the dispute is about it, and posts the verdict
//! before the mediation deadline.

use crate::{
	chain::Chain,
	config::MediatorConfig,
	metrics::Metrics,
	registration::{due, submit, Registration},
	shutdown,
	startup::{bounded, ensure_bond},
	WorkerError,
};
use modicum_common::{
	actors::directory_endpoint,
	config::accounts,
	verdict::{needs_runs, verdict, CostBound, DirectoryCheck, RunOutcome},
};
use modicum_executor::{Executor, ExecutorError, Job};
use modicum_registry::{Registries, RegistryError, RESULTS_REPOSITORY};
use futures::future::BoxFuture;
use modicum_runtime::{BlockNumber, MarketCall, Runtime};
use pallet_market::{Digest, MatchId, MatchOf, MatchState, Party, Receipt, ResultStatus, Role};
use std::{collections::HashMap, path::PathBuf};
use tokio::{sync::watch, task::JoinSet};
use tracing::Instrument as _;

const ROLE: &str = "mediator";

/// Blocks a mediation that could not measure waits before it tries again.
const RETRY_AFTER: BlockNumber = 5;

/// Why a mediation reached no verdict yet: the mediator's own failure or the directory not
/// serving it the job, never a verdict (docs/protocol.md, "Mediation"). It tries again.
#[derive(Debug, thiserror::Error)]
enum MediationError {
	/// The mediator's Docker or host failed.
	#[error(transparent)]
	Executor(#[from] ExecutorError),
	/// A run could not fetch the job, so it measured nothing.
	#[error("a re-execution could not fetch the job ({0:?}); nothing measured")]
	NotMeasured(ResultStatus),
	/// The directory heartbeats but does not answer this mediator.
	#[error("the directory heartbeats but does not answer: {0}")]
	DirectoryUnreachable(RegistryError),
	/// The match left mediation.
	#[error("the match is not in mediation")]
	NotInMediation,
}

struct Mediator {
	chain: Chain,
	config: MediatorConfig,
	/// `register_mediator` with the configured terms.
	registration: Registration,
	executor: Executor,
	metrics: Metrics,
	mediations: JoinSet<(MatchId, Result<(Party, Option<Digest>), MediationError>)>,
	/// Matches being mediated now, each with the switch that cancels its runs.
	active: HashMap<MatchId, watch::Sender<bool>>,
	/// The match of each mediation task, to free a panicked one.
	tasks: HashMap<tokio::task::Id, MatchId>,
	/// Mediations that failed, with the block they may be tried again at.
	retry_at: HashMap<MatchId, BlockNumber>,
	/// Where re-executions write their archives.
	work_dir: PathBuf,
	/// Verdicts reached, with the block they were last submitted at.
	verdicts: HashMap<MatchId, (Party, Option<Digest>, BlockNumber)>,
}

/// Checks the mediator can work (Docker, cgroups, key, bond) and returns its loop.
pub async fn start(
	chain: Chain,
	config: MediatorConfig,
	work_dir: PathBuf,
	metrics: Metrics,
) -> Result<BoxFuture<'static, ()>, WorkerError> {
	ensure_bond(&chain, ROLE, Role::Mediator, config.bond.0)?;
	let registration = MarketCall::register_mediator {
		architecture: config.architecture.into(),
		fee: config.fee.0,
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
		bond: config.bond.0,
	}
	.into();
	let registration =
		Registration::new(Role::Mediator, "register_mediator", registration).bonded(config.bond.0);
	let registries = Registries::load(&config.registry)?;
	let executor = Executor::connect(work_dir.join("runs"), &crate::namespace(&chain, ROLE))
		.await
		.map_err(|source| WorkerError::Executor { role: ROLE, source })?
		.with_registries(registries);
	tracing::info!(target: "modicum", account = %chain.account(), "mediator ready");
	let mediator = Mediator {
		chain,
		config,
		registration,
		executor,
		metrics,
		mediations: JoinSet::new(),
		active: HashMap::new(),
		retry_at: HashMap::new(),
		tasks: HashMap::new(),
		work_dir,
		verdicts: HashMap::new(),
	};
	Ok(Box::pin(mediator.run()))
}

impl Mediator {
	async fn run(mut self) {
		let mut chain = self.chain.clone();
		loop {
			tokio::select! {
				heads = chain.next_heads() => {
					let Some(heads) = heads else { break };
					if let Err(e) = self.on_block(heads.best.hash, heads.best.number).await {
						tracing::warn!(target: "modicum", error = %e, "mediator: chain read failed");
					}
				},
				Some(done) = self.mediations.join_next_with_id() => match done {
					Ok((task, (id, Ok((party, digest))))) => {
						self.tasks.remove(&task);
						self.active.remove(&id);
						let number = self.chain.heads().best.number;
						self.verdicts.insert(id, (party, digest, number));
						self.post_verdict(id, party, digest).await;
					},
					Ok((task, (id, Err(e)))) => {
						self.tasks.remove(&task);
						self.active.remove(&id);
						let number = self.chain.heads().best.number;
						self.retry_at.insert(id, number.saturating_add(RETRY_AFTER));
						tracing::warn!(target: "modicum", match_id = id, error = %e, "mediator: no verdict yet; trying again");
					},
					Err(e) => {
						// A panicked mediation: its match is tried again from the next block.
						let id = self.tasks.remove(&e.id());
						tracing::error!(target: "modicum", match_id = ?id, error = %e, "mediator: mediation task failed");
						if let Some(id) = id {
							self.active.remove(&id);
						}
					},
				},
			}
		}
		self.shut_down().await;
	}

	/// The node stops: no new mediation; running ones get their grace ([`shutdown`]) to reach
	/// a verdict; a cancelled one is mediated again at the next start (its match stays assigned).
	async fn shut_down(mut self) {
		tracing::info!(target: "modicum", running = self.active.len(), "mediator: stopping");
		for done in shutdown::drain(&mut self.mediations, &self.active).await {
			match done {
				Ok((task, (id, Ok((party, digest))))) => {
					self.tasks.remove(&task);
					self.active.remove(&id);
					let post = self.post_verdict(id, party, digest);
					let _ = tokio::time::timeout(shutdown::LAST_SUBMIT, post).await;
				},
				Ok((task, (id, Err(e)))) => {
					self.tasks.remove(&task);
					self.active.remove(&id);
					tracing::info!(target: "modicum", match_id = id, error = %e, "mediator: mediation left for the next start");
				},
				Err(e) => {
					self.tasks.remove(&e.id());
				},
			}
		}
		tracing::info!(target: "modicum", "mediator: stopped");
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
		let open = state.open_matches(best)?;
		let assigned: Vec<_> = open
			.into_iter()
			.filter(|(_, m)| m.mediator == me && matches!(m.state, MatchState::InMediation { .. }))
			.collect();
		self.verdicts.retain(|id, _| assigned.iter().any(|(open, _)| open == id));
		self.retry_at.retain(|id, _| assigned.iter().any(|(open, _)| open == id));
		for (id, cancel) in &self.active {
			if !assigned.iter().any(|(open, _)| open == id) {
				tracing::info!(target: "modicum", match_id = id, "mediator: the match left mediation; cancelling");
				let _ = cancel.send(true);
			}
		}
		for (id, terms) in assigned {
			if let Some(&(party, digest, sent)) = self.verdicts.get(&id) {
				if due(Some(sent), number) {
					self.verdicts.insert(id, (party, digest, number));
					self.post_verdict(id, party, digest).await;
				}
				continue;
			}
			if self.active.contains_key(&id)
				|| self.retry_at.get(&id).is_some_and(|at| number < *at)
			{
				continue;
			}
			let Some(endpoint) = directory_endpoint(&actors, &terms.directory) else { continue };
			let directory_up = state.directory_available(best, &terms.directory)?;
			let (cancel, cancelled) = watch::channel(false);
			self.active.insert(id, cancel);
			tracing::info!(target: "modicum", match_id = id, "mediator: mediating");
			let assignment = Assignment {
				id,
				terms,
				endpoint,
				heartbeat_recent: directory_up,
				architecture: self.config.architecture.into(),
			};
			let (executor, metrics) = (self.executor.clone(), self.metrics.clone());
			let work_dir = self.work_dir.clone();
			let task = self.mediations.spawn(
				async move { (id, mediate(assignment, &executor, work_dir, cancelled, &metrics).await) }
					.instrument(tracing::info_span!("match", match_id = id)),
			);
			self.tasks.insert(task.id(), id);
		}
		Ok(())
	}

	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
	async fn post_verdict(&mut self, id: MatchId, party: Party, digest: Option<Digest>) {
		let call = MarketCall::post_mediation_result {
			match_id: id,
			faulty_party: party,
			result_digest: digest,
		};
		if submit(&self.chain, &self.metrics, "post_mediation_result", call.into()).await {
			tracing::info!(target: "modicum", match_id = id, faulty_party = ?party, "mediator: verdict posted");
		}
	}
}

/// A match in mediation, with what the mediator knows of its directory.
struct Assignment {
	id: MatchId,
	terms: MatchOf<Runtime>,
	endpoint: String,
	/// The directory's last heartbeat is within the heartbeat period.
	heartbeat_recent: bool,
	/// The mediator's architecture (the job's, as the match requires).
	architecture: pallet_market::Architecture,
}

/// Re-executes and checks what the dispute needs, and reaches the verdict; every run it
/// bases the verdict on measured the job.
async fn mediate(
	assignment: Assignment,
	executor: &Executor,
	work_dir: PathBuf,
	cancelled: watch::Receiver<bool>,
	metrics: &Metrics,
) -> Result<(Party, Option<Digest>), MediationError> {
	let Assignment { id, terms, endpoint, heartbeat_recent, architecture } = assignment;
	let terms = &terms;
	let MatchState::InMediation { receipt, reason, .. } = terms.state else {
		return Err(MediationError::NotInMediation);
	};
	// Whether the directory serves the image matters only to a claimed JobNotFound.
	let needs_image = reason == pallet_market::RejectReason::InvalidResultStatus
		&& receipt.status == ResultStatus::JobNotFound;
	let check = check_directory(
		executor,
		&endpoint,
		heartbeat_recent,
		terms,
		&receipt,
		architecture,
		needs_image,
	);
	let mut cancel = cancelled.clone();
	let directory = tokio::select! {
		directory = check => directory?,
		Ok(_) = cancel.wait_for(|cancelled| *cancelled) => return Err(MediationError::NotInMediation),
	};
	let mut runs = Vec::new();
	if needs_runs(&receipt, reason) {
		for k in 1..=terms.parameters.verification_count {
			let run_id = format!("match-{id}-m{k}");
			let job = Job::for_match(run_id.clone(), terms, endpoint.clone(), architecture);
			let archive = work_dir.join(format!("{run_id}.tar"));
			let execution = executor.execute(&job, &archive, cancelled.clone()).await;
			let _ = std::fs::remove_file(&archive);
			let execution = execution?;
			if matches!(
				execution.status,
				ResultStatus::DirectoryUnavailable | ResultStatus::JobNotFound
			) {
				return Err(MediationError::NotMeasured(execution.status));
			}
			metrics.run(ROLE, execution.status, execution.wall.as_secs_f64());
			let digest = execution.archive.map(|archive| archive.digest);
			tracing::info!(target: "modicum", match_id = id, run = k, status = ?execution.status, cpu_ms = execution.usage.cpu, "mediator: re-execution done");
			runs.push(RunOutcome { status: execution.status, usage: execution.usage, digest });
		}
	}
	let parameters = &terms.parameters;
	let bound = CostBound {
		tolerance: parameters.too_much_cost_tolerance,
		floor: parameters.too_much_cost_floor,
	};
	let party = verdict(&receipt, reason, &runs, directory, bound);
	Ok((party, runs.first().and_then(|run| run.digest)))
}

/// The directory as the dispute needs it: a stale heartbeat is `Down`; otherwise whether it
/// serves the image (checked as a provider checks it before pulling) and the result archive.
/// A directory that heartbeats but does not answer this mediator may be the mediator's own
/// network: no verdict, it tries again (docs/protocol.md: its own failure is never a verdict).
async fn check_directory(
	executor: &Executor,
	endpoint: &str,
	heartbeat_recent: bool,
	terms: &MatchOf<Runtime>,
	receipt: &Receipt,
	architecture: pallet_market::Architecture,
	needs_image: bool,
) -> Result<DirectoryCheck, MediationError> {
	if !heartbeat_recent {
		return Ok(DirectoryCheck::Down);
	}
	let registry =
		executor.registries().client(endpoint).map_err(MediationError::DirectoryUnreachable)?;
	registry.ping().await.map_err(MediationError::DirectoryUnreachable)?;
	let job = Job::for_match(String::new(), terms, endpoint.into(), architecture);
	let has_image = !needs_image
		|| match executor.check_image(&job).await {
			Err(refused) if refused.status == ResultStatus::DirectoryUnavailable => {
				return Err(MediationError::NotMeasured(refused.status))
			}
			Err(refused) => refused.status != ResultStatus::JobNotFound,
			Ok(_) => true,
		};
	let has_result = match receipt.result_digest {
		Some(digest) => registry
			.has_blob(RESULTS_REPOSITORY, &digest)
			.await
			.map_err(MediationError::DirectoryUnreachable)?,
		None => false,
	};
	Ok(DirectoryCheck::Up { has_image, has_result })
}
