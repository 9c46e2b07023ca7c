//! One mediation: the job re-executed n times exactly as a provider runs it, the directory
//! checked where the dispute is about it, and the verdict reached by the shared rules
//! (`modicum_common::verdict`).

use super::ROLE;
use crate::{metrics::Metrics, tasks::Panicked};
use modicum_common::verdict::{needs_runs, verdict, CostBound, DirectoryCheck, RunOutcome};
use modicum_executor::{Executor, ExecutorError, Job};
use modicum_registry::{RegistryError, RESULTS_REPOSITORY};
use modicum_runtime::Runtime;
use pallet_market::{Digest, MatchId, MatchOf, MatchState, Party, Receipt, ResultStatus};
use std::path::PathBuf;
use tokio::sync::watch;

/// Why a mediation reached no verdict yet: the mediator's own failure or the directory not
/// serving it the job, never a verdict (docs/protocol.md, "Mediation"). It tries again.
#[derive(Debug, thiserror::Error)]
pub(super) enum MediationError {
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
	/// The mediation's task failed.
	#[error(transparent)]
	Panicked(#[from] Panicked),
}

/// A match in mediation, with what the mediator knows of its directory.
pub(super) struct Assignment {
	pub(super) id: MatchId,
	pub(super) terms: MatchOf<Runtime>,
	pub(super) endpoint: String,
	/// The directory's last heartbeat is within the heartbeat period.
	pub(super) heartbeat_recent: bool,
	/// The mediator's architecture (the job's, as the match requires).
	pub(super) architecture: pallet_market::Architecture,
}

/// Re-executes and checks what the dispute needs, and reaches the verdict; every run it
/// bases the verdict on measured the job.
pub(super) async fn mediate(
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
