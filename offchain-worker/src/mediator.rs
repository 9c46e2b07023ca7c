//! The mediator: for each match assigned to it, re-executes the job n times exactly as a
//! provider does, checks the directory where the dispute is about it, and posts the verdict
//! before the mediation deadline.

use crate::{
	accounts, bounded,
	chain::Chain,
	config::MediatorConfig,
	directory_endpoint, due, ensure_bond,
	executor::{Executor, Job},
	metrics::Metrics,
	registry::{Registry, RESULTS_REPOSITORY},
	submit, Registration, WorkerError,
};
use futures::future::BoxFuture;
use modicum_runtime::{BlockNumber, MarketCall, Runtime};
use pallet_market::{
	Digest, MatchId, MatchOf, MatchState, Party, Receipt, RejectReason, Resources, ResultStatus,
	Role,
};
use sp_runtime::Perbill;
use std::{collections::HashMap, path::PathBuf};
use tokio::{sync::watch, task::JoinSet};

const ROLE: &str = "mediator";

/// What one re-execution gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
	/// How it ended.
	pub status: ResultStatus,
	/// What it used.
	pub usage: Resources,
	/// sha256 of its canonical archive.
	pub digest: Option<Digest>,
}

/// What the mediator found at the job's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryCheck {
	/// No recent heartbeat, or the registry does not answer.
	Down,
	/// Up; whether it has the image and the provider's result archive.
	Up {
		/// The job image's manifest is there.
		has_image: bool,
		/// The result archive the provider names is there.
		has_result: bool,
	},
}

/// The faulty party of a dispute (PROTOCOL.md, "Mediation").
pub fn verdict(
	receipt: &Receipt,
	reason: RejectReason,
	runs: &[RunOutcome],
	directory: DirectoryCheck,
	tolerance: Perbill,
	cpu_floor: u64,
) -> Party {
	let deterministic = runs
		.windows(2)
		.all(|pair| pair[0].digest == pair[1].digest && pair[0].status == pair[1].status);
	match reason {
		RejectReason::ResultNotFound => match (receipt.result_digest, directory) {
			// The chain refuses this dispute; a provider that claimed no archive lost none.
			(None, _) => Party::JobCreator,
			(Some(_), DirectoryCheck::Down) => Party::Directory,
			(Some(_), DirectoryCheck::Up { has_result: true, .. }) => Party::JobCreator,
			(Some(_), DirectoryCheck::Up { has_result: false, .. }) => Party::ResourceProvider,
		},
		RejectReason::InvalidResultStatus
			if matches!(
				receipt.status,
				ResultStatus::DirectoryUnavailable | ResultStatus::JobNotFound
			) =>
		{
			match directory {
				DirectoryCheck::Down => Party::Directory,
				DirectoryCheck::Up { has_image: false, .. }
					if receipt.status == ResultStatus::JobNotFound =>
				{
					Party::JobCreator
				}
				DirectoryCheck::Up { .. } => Party::ResourceProvider,
			}
		}
		// A job whose own runs disagree is the job creator's fault, whatever was claimed.
		_ if !deterministic => Party::JobCreator,
		RejectReason::WrongResults => {
			let agrees = runs
				.iter()
				.all(|run| run.digest == receipt.result_digest && run.status == receipt.status);
			if agrees {
				Party::JobCreator
			} else {
				Party::ResourceProvider
			}
		}
		RejectReason::InvalidResultStatus => {
			if runs.iter().all(|run| run.status == receipt.status) {
				Party::JobCreator
			} else {
				Party::ResourceProvider
			}
		}
		// Only what is priced: cpu within tolerance + floor of the largest measurement, and
		// bandwidth, which is deterministic, exactly.
		RejectReason::TooMuchCost => {
			let most = |pick: fn(&Resources) -> u64| {
				runs.iter().map(|r| pick(&r.usage)).max().unwrap_or(0)
			};
			let measured_cpu = most(|u| u.cpu);
			let allowed_cpu = measured_cpu
				.saturating_add(tolerance.mul_ceil(measured_cpu))
				.saturating_add(cpu_floor);
			let claimed = receipt.usage;
			if claimed.cpu > allowed_cpu || claimed.bandwidth != most(|u| u.bandwidth) {
				Party::ResourceProvider
			} else {
				Party::JobCreator
			}
		}
	}
}

struct Mediator {
	chain: Chain,
	config: MediatorConfig,
	/// `register_mediator` with the configured terms.
	registration: Registration,
	executor: Executor,
	metrics: Metrics,
	mediations: JoinSet<(MatchId, Result<(Party, Option<Digest>), String>)>,
	/// Matches being mediated now, each with the switch that cancels its runs.
	active: HashMap<MatchId, watch::Sender<bool>>,
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
	let registration = Registration::new(Role::Mediator, "register_mediator", registration);
	let executor = Executor::connect(work_dir, ROLE)
		.await
		.map_err(|source| WorkerError::Executor { role: ROLE, source })?;
	tracing::info!(target: "modicum", account = %chain.account(), "mediator ready");
	let mediator = Mediator {
		chain,
		config,
		registration,
		executor,
		metrics,
		mediations: JoinSet::new(),
		active: HashMap::new(),
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
				Some(done) = self.mediations.join_next() => match done {
					Ok((id, Ok((party, digest)))) => {
						self.active.remove(&id);
						let number = self.chain.heads().best.number;
						self.verdicts.insert(id, (party, digest, number));
						self.post_verdict(id, party, digest).await;
					},
					Ok((id, Err(e))) => {
						self.active.remove(&id);
						tracing::error!(target: "modicum", match_id = id, error = %e, "mediator: mediation failed; retrying");
					},
					Err(e) => tracing::error!(target: "modicum", error = %e, "mediator: task failed"),
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
		let open = state.open_matches(best)?;
		let assigned: Vec<_> = open
			.into_iter()
			.filter(|(_, m)| m.mediator == me && matches!(m.state, MatchState::InMediation { .. }))
			.collect();
		self.verdicts.retain(|id, _| assigned.iter().any(|(open, _)| open == id));
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
			if self.active.contains_key(&id) {
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
			self.mediations.spawn(async move {
				(id, mediate(assignment, &executor, cancelled, &metrics).await)
			});
		}
		Ok(())
	}

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

/// Re-executes and checks what the dispute needs, and reaches the verdict.
async fn mediate(
	assignment: Assignment,
	executor: &Executor,
	cancelled: watch::Receiver<bool>,
	metrics: &Metrics,
) -> Result<(Party, Option<Digest>), String> {
	let Assignment { id, terms, endpoint, heartbeat_recent, architecture } = assignment;
	let terms = &terms;
	let MatchState::InMediation { receipt, reason, .. } = terms.state else {
		return Err("the match is not in mediation".into());
	};
	let directory = check_directory(&endpoint, heartbeat_recent, terms, &receipt).await;
	let needs_runs = !matches!(reason, RejectReason::ResultNotFound)
		&& !matches!(
			receipt.status,
			ResultStatus::DirectoryUnavailable | ResultStatus::JobNotFound
		);
	let mut runs = Vec::new();
	if needs_runs {
		for k in 1..=terms.parameters.verification_count {
			let job =
				Job::for_match(format!("match-{id}-m{k}"), terms, endpoint.clone(), architecture);
			let execution =
				executor.execute(&job, cancelled.clone()).await.map_err(|e| e.to_string())?;
			metrics.run(ROLE, execution.status, execution.wall.as_secs_f64());
			let digest = execution.archive.as_deref().map(crate::registry::sha256);
			tracing::info!(target: "modicum", match_id = id, run = k, status = ?execution.status, "mediator: re-execution done");
			runs.push(RunOutcome { status: execution.status, usage: execution.usage, digest });
		}
	}
	let parameters = &terms.parameters;
	let party = verdict(
		&receipt,
		reason,
		&runs,
		directory,
		parameters.too_much_cost_tolerance,
		parameters.too_much_cost_floor,
	);
	Ok((party, runs.first().and_then(|run| run.digest)))
}

async fn check_directory(
	endpoint: &str,
	heartbeat_recent: bool,
	terms: &MatchOf<Runtime>,
	receipt: &Receipt,
) -> DirectoryCheck {
	let Ok(registry) = Registry::new(endpoint) else { return DirectoryCheck::Down };
	if !heartbeat_recent || registry.ping().await.is_err() {
		return DirectoryCheck::Down;
	}
	let repository = String::from_utf8_lossy(&terms.image.repository).into_owned();
	let has_image = registry.manifest(&repository, &terms.image.digest).await.is_ok();
	let has_result = match receipt.result_digest {
		Some(digest) => registry.has_blob(RESULTS_REPOSITORY, &digest).await.unwrap_or(false),
		None => false,
	};
	DirectoryCheck::Up { has_image, has_result }
}

#[cfg(test)]
mod tests {
	use super::*;

	fn run(digest: u8, cpu: u64) -> RunOutcome {
		RunOutcome {
			status: ResultStatus::Completed,
			usage: Resources { cpu, memory: 10, storage: 1, bandwidth: 5 },
			digest: Some([digest; 32]),
		}
	}

	fn receipt(digest: u8, cpu: u64) -> Receipt {
		Receipt {
			status: ResultStatus::Completed,
			usage: run(digest, cpu).usage,
			result_digest: Some([digest; 32]),
		}
	}

	const UP: DirectoryCheck = DirectoryCheck::Up { has_image: true, has_result: true };
	const TOLERANCE: Perbill = Perbill::from_percent(5);

	#[test]
	fn wrong_results_blame_the_provider_when_honest_runs_differ_from_its_result() {
		let runs = [run(1, 100), run(1, 100)];
		assert_eq!(
			verdict(&receipt(2, 100), RejectReason::WrongResults, &runs, UP, TOLERANCE, 0),
			Party::ResourceProvider
		);
		assert_eq!(
			verdict(&receipt(1, 100), RejectReason::WrongResults, &runs, UP, TOLERANCE, 0),
			Party::JobCreator
		);
	}

	#[test]
	fn a_non_deterministic_job_is_the_job_creators_fault() {
		let runs = [run(1, 100), run(3, 100)];
		assert_eq!(
			verdict(&receipt(2, 100), RejectReason::WrongResults, &runs, UP, TOLERANCE, 0),
			Party::JobCreator
		);
	}

	#[test]
	fn too_much_cost_allows_the_tolerance_above_the_largest_measurement() {
		let runs = [run(1, 100), run(1, 90)];
		assert_eq!(
			verdict(&receipt(1, 105), RejectReason::TooMuchCost, &runs, UP, TOLERANCE, 0),
			Party::JobCreator
		);
		assert_eq!(
			verdict(&receipt(1, 106), RejectReason::TooMuchCost, &runs, UP, TOLERANCE, 0),
			Party::ResourceProvider
		);
	}

	#[test]
	fn too_much_cost_adds_the_floor_ignores_unpriced_memory_and_wants_bandwidth_exact() {
		let runs = [run(1, 100), run(1, 90)];
		let cost = |usage: Resources| {
			let receipt = Receipt { usage, ..receipt(1, 100) };
			verdict(&receipt, RejectReason::TooMuchCost, &runs, UP, TOLERANCE, 20)
		};
		let measured = run(1, 100).usage;
		assert_eq!(cost(Resources { cpu: 125, ..measured }), Party::JobCreator);
		assert_eq!(cost(Resources { cpu: 126, ..measured }), Party::ResourceProvider);
		assert_eq!(cost(Resources { memory: 40, storage: 9, ..measured }), Party::JobCreator);
		assert_eq!(cost(Resources { bandwidth: 6, ..measured }), Party::ResourceProvider);
		assert_eq!(cost(Resources { bandwidth: 4, ..measured }), Party::ResourceProvider);
	}

	#[test]
	fn result_not_found_looks_at_the_directory() {
		let r = receipt(1, 100);
		let missing = DirectoryCheck::Up { has_image: true, has_result: false };
		assert_eq!(
			verdict(&r, RejectReason::ResultNotFound, &[], UP, TOLERANCE, 0),
			Party::JobCreator
		);
		assert_eq!(
			verdict(&r, RejectReason::ResultNotFound, &[], missing, TOLERANCE, 0),
			Party::ResourceProvider
		);
		assert_eq!(
			verdict(&r, RejectReason::ResultNotFound, &[], DirectoryCheck::Down, TOLERANCE, 0),
			Party::Directory
		);
	}

	#[test]
	fn invalid_result_status_compares_statuses_or_checks_the_directory() {
		let mut r = receipt(1, 100);
		r.status = ResultStatus::MemoryExceeded;
		let runs = [run(1, 100), run(1, 100)];
		assert_eq!(
			verdict(&r, RejectReason::InvalidResultStatus, &runs, UP, TOLERANCE, 0),
			Party::ResourceProvider
		);
		r.status = ResultStatus::JobNotFound;
		let no_image = DirectoryCheck::Up { has_image: false, has_result: false };
		assert_eq!(
			verdict(&r, RejectReason::InvalidResultStatus, &[], UP, TOLERANCE, 0),
			Party::ResourceProvider
		);
		assert_eq!(
			verdict(&r, RejectReason::InvalidResultStatus, &[], no_image, TOLERANCE, 0),
			Party::JobCreator
		);
		r.status = ResultStatus::DirectoryUnavailable;
		assert_eq!(
			verdict(&r, RejectReason::InvalidResultStatus, &[], DirectoryCheck::Down, TOLERANCE, 0),
			Party::Directory
		);
	}
}
