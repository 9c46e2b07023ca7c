//! The mediator: for each match assigned to it, re-executes the job n times exactly as a
//! provider does, checks the directory where the dispute is about it, and posts the verdict
//! before the mediation deadline.

mod capacity;
mod link;
mod mediation;
mod policy;

use crate::{
	chain::{BlockRef, Chain, Heads},
	config::MediatorConfig,
	context::Context,
	handler::{self, Handler},
	metrics::Metrics,
	registration::{due, Registration},
	startup::{bounded, ensure_bond},
	tasks::{Panicked, Tasks},
	WorkerError,
};
use futures::future::BoxFuture;
use link::Reference;
use mediation::{mediate, Assignment, MediationError};
use modicum_common::{actors::directory_endpoint, config::accounts};
use crate::machine::Host;
use modicum_executor::{self as executor, Executor};
use modicum_registry::Registries;
use modicum_runtime::{Balance, BlockNumber, MarketCall, Runtime};
use pallet_market::{
	ActorsOf, Architecture, BaseLayersOf, Digest, MatchId, MatchState, Party, Resources, Role,
};
use std::{collections::HashMap, path::PathBuf, sync::Arc};

const ROLE: &str = "mediator";

/// What a mediation reaches: the faulty party and the digest of the first re-execution.
type Verdict = (Party, Option<Digest>);

/// The mediator's terms as its role file and host give them.
#[derive(Clone, PartialEq)]
struct Terms {
	architecture: Architecture,
	capacity: Resources,
	slots: u32,
	fee: Balance,
	base_layers: BaseLayersOf<Runtime>,
}

struct Mediator {
	ctx: Context<MediatorConfig>,
	/// `register_mediator` with the configured terms.
	registration: Registration,
	/// What the mediator registers, kept on chain with `update_mediator` when they differ.
	terms: Terms,
	/// When an `update_mediator` was last sent.
	terms_sent: Option<BlockNumber>,
	executor: Executor,
	/// Mediations that failed, with the block they may be tried again at.
	retry_at: HashMap<MatchId, BlockNumber>,
	/// Where re-executions write their archives.
	work_dir: PathBuf,
	/// What proves the mediator's own link before it blames a directory for slowness.
	reference: Arc<Reference>,
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
	let registries = Registries::load(&config.registry)?;
	let reference = Arc::new(Reference::new(&config.reference, &registries));
	let executor = Executor::connect(work_dir.join("runs"), &crate::namespace(&chain, ROLE))
		.await
		.map_err(|source| WorkerError::Executor { role: ROLE, source })?
		.with_registries(registries);
	let invalid = |message: String| WorkerError::Invalid { role: ROLE, message };
	let host = Host::detect(executor::allowed_cores().map_err(|e| invalid(format!("CPU affinity: {e}")))?, &work_dir)
		.map_err(|e| invalid(format!("host resources: {e}")))?;
	let parameters = chain.state().parameters(chain.heads().best.hash)?;
	let reference_speed = parameters.reference_speed;
	// A wrong reference stops the role at start; one unreachable or slow for now does not:
	// until it proves the link, no directory is faulted for slowness.
	let proved = match reference.check(&parameters).await {
		Ok(took) => Some(took.as_millis() as u64),
		Err(e) if Reference::misconfigured(&e) => return Err(invalid(format!("`reference`: {e}"))),
		Err(e) => {
			tracing::warn!(target: "modicum", error = %e, "mediator: the reference download does not prove this host's link now; no directory is faulted for slowness until it does");
			None
		},
	};
	if reference.is_local() {
		tracing::warn!(target: "modicum", url = %config.reference.url, "mediator: the reference download is on this host or its network; it proves nothing of the link to directories elsewhere");
	}
	let slots = config.slots.unwrap_or(1);
	let capacity = capacity::capacity(&config.capacity, slots, &host, reference_speed).map_err(invalid)?;
	let terms = Terms {
		architecture: config.architecture.into(),
		capacity,
		slots,
		fee: config.fee.0,
		base_layers: bounded(ROLE, "base_layers", config.base_layers.iter().map(|d| d.0).collect())?,
	};
	let registration = MarketCall::register_mediator {
		architecture: terms.architecture,
		capacity,
		slots,
		fee: terms.fee,
		trusted_directories: bounded(
			ROLE,
			"trusted_directories",
			accounts(&config.trusted_directories),
		)?,
		base_layers: terms.base_layers.clone(),
		bond: config.bond.0,
	}
	.into();
	let registration =
		Registration::new(Role::Mediator, "register_mediator", registration).bonded(config.bond.0);
	tracing::info!(
		target: "modicum", account = %chain.account(), slots, cpu = capacity.cpu, memory_mib = capacity.memory,
		storage_mib = capacity.storage, bandwidth_kib = capacity.bandwidth, reference_ms = ?proved, "mediator ready"
	);
	let mediator = Mediator {
		ctx: Context { chain, config, metrics },
		registration,
		terms,
		terms_sent: None,
		executor,
		retry_at: HashMap::new(),
		work_dir,
		reference,
		verdicts: HashMap::new(),
	};
	Ok(Box::pin(handler::run(mediator)))
}

impl Handler for Mediator {
	type Output = Result<Verdict, MediationError>;
	const ROLE: &'static str = ROLE;

	fn chain(&self) -> &Chain {
		&self.ctx.chain
	}

	async fn on_block(&mut self, heads: Heads, mediations: &mut Tasks<Self::Output>) -> Result<(), WorkerError> {
		self.on_best(heads.best, mediations).await
	}

	async fn on_done(&mut self, id: MatchId, ended: Result<Self::Output, Panicked>, _: &mut Tasks<Self::Output>) {
		let now = self.ctx.now();
		match ended.map_err(MediationError::from).and_then(|verdict| verdict) {
			Ok((party, digest)) => {
				self.verdicts.insert(id, (party, digest, now));
				self.post_verdict(id, party, digest).await;
			},
			Err(e) => {
				if let Some(at) = policy::retry_at(&e, now) {
					self.retry_at.insert(id, at);
				}
				tracing::warn!(target: "modicum", match_id = id, error = %e, "mediator: no verdict yet");
			},
		}
	}

	/// A verdict reached within the grace is posted; a cancelled mediation is mediated again
	/// at the next start (its match stays assigned).
	async fn on_stopping(&mut self, id: MatchId, ended: Result<Self::Output, Panicked>) {
		match ended {
			Ok(Ok((party, digest))) => self.post_verdict(id, party, digest).await,
			Ok(Err(e)) => tracing::info!(target: "modicum", match_id = id, error = %e, "mediator: mediation left for the next start"),
			Err(_) => {},
		}
	}
}

impl Mediator {
	/// Cancels mediations whose match left mediation, sends verdicts again while their match
	/// waits for them, and starts a mediation for each newly assigned match.
	async fn on_best(&mut self, best: BlockRef, mediations: &mut Tasks<Result<Verdict, MediationError>>) -> Result<(), WorkerError> {
		let BlockRef { hash: best, number } = best;
		let chain = self.ctx.chain.clone();
		let state = chain.state();
		let me = chain.account().clone();
		let actors = state.actors(best)?;
		if !self.registration.ensure(&self.ctx, &actors, number).await {
			return Ok(());
		}
		let registered_slots = self.keep_terms(&actors, number).await;
		let slots = registered_slots.unwrap_or(0).max(self.terms.slots);
		let open = state.open_matches(best)?;
		let mut assigned: Vec<_> = open
			.into_iter()
			.filter(|(_, m)| m.mediator == me && matches!(m.state, MatchState::InMediation { .. }))
			.collect();
		// In the chain's queue order: the earliest mediation deadline first.
		assigned.sort_by_key(|(id, m)| match m.state {
			MatchState::InMediation { mediation_deadline, .. } => (mediation_deadline, *id),
			_ => (BlockNumber::MAX, *id),
		});
		self.verdicts.retain(|id, _| assigned.iter().any(|(open, _)| open == id));
		self.retry_at.retain(|id, _| assigned.iter().any(|(open, _)| open == id));
		for id in mediations.matches() {
			if !assigned.iter().any(|(open, _)| *open == id) && mediations.cancel(id) {
				tracing::info!(target: "modicum", match_id = id, "mediator: the match left mediation; cancelling");
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
			if mediations.contains(id)
				|| self.retry_at.get(&id).is_some_and(|at| number < *at)
			{
				continue;
			}
			// One mediation per slot, as the chain gave the disputes their time: the more of the
			// slots registered and configured while a change waits for the queue.
			if mediations.len() >= slots as usize {
				continue;
			}
			let Some(endpoint) = directory_endpoint(&actors, &terms.directory) else { continue };
			let directory_up = state.directory_available(best, &terms.directory)?;
			tracing::info!(target: "modicum", match_id = id, "mediator: mediating");
			let assignment = Assignment {
				id,
				terms,
				endpoint,
				heartbeat_recent: directory_up,
				architecture: self.ctx.config.architecture.into(),
				reference: self.reference.clone(),
			};
			let (executor, metrics) = (self.executor.clone(), self.ctx.metrics.clone());
			let work_dir = self.work_dir.clone();
			mediations.spawn(id, move |cancelled| async move {
				mediate(assignment, &executor, work_dir, cancelled, &metrics).await
			});
		}
		Ok(())
	}

	/// Sends `update_mediator` when the terms on chain differ from the role file's and the
	/// host's (a capacity or fee changed since the mediator registered); the slots on chain.
	async fn keep_terms(&mut self, actors: &ActorsOf<Runtime>, now: BlockNumber) -> Option<u32> {
		let me = self.ctx.chain.account();
		let (_, info) = actors.mediators.iter().find(|(who, _)| who == me)?;
		let on_chain = Terms {
			architecture: info.architecture,
			capacity: info.capacity,
			slots: info.slots,
			fee: info.fee,
			base_layers: info.base_layers.clone(),
		};
		// Fewer slots than the chain's wait until the disputes queued on them have passed.
		let queued = self.terms.slots < info.slots && info.busy_until > now;
		if on_chain == self.terms || queued || !due(self.terms_sent, now) {
			return Some(info.slots);
		}
		self.terms_sent = Some(now);
		let Terms { architecture, capacity, slots, fee, base_layers } = self.terms.clone();
		let call = MarketCall::update_mediator { architecture, capacity, slots, fee, base_layers };
		if self.ctx.submit("update_mediator", call.into()).await {
			tracing::info!(target: "modicum", slots, cpu = capacity.cpu, memory_mib = capacity.memory, "mediator: terms updated on chain");
		}
		Some(on_chain.slots)
	}

	#[tracing::instrument(name = "match", skip_all, fields(match_id = id))]
	async fn post_verdict(&mut self, id: MatchId, party: Party, digest: Option<Digest>) {
		let call = MarketCall::post_mediation_result {
			match_id: id,
			faulty_party: party,
			result_digest: digest,
		};
		if self.ctx.submit("post_mediation_result", call.into()).await {
			tracing::info!(target: "modicum", match_id = id, faulty_party = ?party, "mediator: verdict posted");
		}
	}
}

