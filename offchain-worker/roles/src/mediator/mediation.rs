//! One mediation: the job re-executed n times exactly as a provider runs it, the directory
//! checked where the dispute is about it, and the verdict reached by the shared rules
//! (`modicum_common::verdict`).

use super::{
	link::{LinkError, Reference},
	ROLE,
};
use crate::{metrics::Metrics, tasks::Panicked};
use modicum_common::verdict::{needs_runs, verdict, CostBound, DirectoryCheck, RunOutcome};
use modicum_executor::{Executor, ExecutorError, Job};
use modicum_registry::{within, Answer, RegistryError, RESULTS_REPOSITORY};
use modicum_runtime::Runtime;
use pallet_market::{
	Digest, MatchId, MatchOf, MatchState, Party, Receipt, RejectReason, ResultStatus,
};
use std::{path::PathBuf, sync::Arc};
use tokio::sync::watch;

type Market = pallet_market::Pallet<Runtime>;

/// Why a mediation reached no verdict yet: the mediator's own failure, or a directory not
/// serving it while its own link is not proved fast; never a verdict (docs/protocol.md,
/// "Mediation"). It tries again.
#[derive(Debug, thiserror::Error)]
pub(super) enum MediationError {
	/// The mediator's Docker or host failed.
	#[error(transparent)]
	Executor(#[from] ExecutorError),
	/// A run could not fetch the job, so it measured nothing.
	#[error("a re-execution could not fetch the job ({0:?}); nothing measured")]
	NotMeasured(ResultStatus),
	/// This host cannot read the directory as configured (its credentials, its trusted CAs).
	#[error("this host cannot read the directory as configured: {0}")]
	OwnAccess(RegistryError),
	/// The directory did not serve in time, but this host's own link did not prove fast.
	#[error("the directory did not answer within the fetch bound, and this host's link proved nothing: {0}")]
	Link(#[from] LinkError),
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
	/// What proves the mediator's own link.
	pub(super) reference: Arc<Reference>,
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
	let Assignment { id, terms, endpoint, heartbeat_recent, architecture, reference } = assignment;
	let terms = &terms;
	let MatchState::InMediation { receipt, reason, .. } = terms.state else {
		return Err(MediationError::NotInMediation);
	};
	let directory = if Market::directory_may_be_at_fault(reason, &receipt) {
		let job = Job::for_match(format!("match-{id}-directory"), terms, endpoint.clone(), architecture);
		let check =
			check_directory(executor, &reference, heartbeat_recent, terms, &job, &receipt, reason);
		let mut cancel = cancelled.clone();
		let directory = tokio::select! {
			directory = check => directory?,
			Ok(_) = cancel.wait_for(|cancelled| *cancelled) => return Err(MediationError::NotInMediation),
		};
		tracing::info!(target: "modicum", match_id = id, ?directory, "mediator: directory checked");
		directory
	} else {
		// Not asked: the verdict of this dispute never reads the directory, and its runs
		// fetch the job there (a run that cannot is `NotMeasured`, tried again).
		DirectoryCheck::Up { has_image: true, has_result: true }
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

/// The directory as a dispute about it needs it (docs/protocol.md, "Mediation: the verdict").
/// A stale heartbeat is `Down`. Otherwise the directory must serve what the dispute is about
/// within the job's fetch bound, as a provider's run must: the image (a claim that the
/// directory was unavailable or had no image) or the result archive, each checked against its
/// digest. One that does not is `Down` only if this host's own link proved fast against its
/// reference download right before and right after; otherwise the slowness may be this host's:
/// no verdict, tried again.
async fn check_directory(
	executor: &Executor,
	reference: &Reference,
	heartbeat_recent: bool,
	terms: &MatchOf<Runtime>,
	job: &Job,
	receipt: &Receipt,
	reason: RejectReason,
) -> Result<DirectoryCheck, MediationError> {
	if !heartbeat_recent {
		return Ok(DirectoryCheck::Down);
	}
	let bandwidth = terms.limits.bandwidth;
	// Needed only if the directory then fails to serve: a verdict on what it served never
	// waits on this host's reference.
	let before = reference.prove(bandwidth, job.fetch_limit).await;
	let served = match (reason, receipt.result_digest) {
		(RejectReason::ResultNotFound, Some(digest)) => has_result(executor, job, &digest, bandwidth)
			.await?
			.map(|has_result| DirectoryCheck::Up { has_image: true, has_result }),
		// The chain refuses this dispute without a digest: nothing to look for.
		(RejectReason::ResultNotFound, None) => Some(DirectoryCheck::Up { has_image: true, has_result: false }),
		// A claim that the directory was unavailable or had no image.
		_ => match executor.fetch_image(job, None).await? {
			// Not served in time, other bytes than named, or an endpoint nobody can use.
			Err(refused)
				if matches!(refused.status, ResultStatus::DirectoryUnavailable | ResultStatus::Declined) =>
			{
				None
			},
			Err(refused) if refused.status == ResultStatus::JobNotFound => {
				Some(DirectoryCheck::Up { has_image: false, has_result: false })
			},
			// Served, whether or not the job is runnable.
			_ => Some(DirectoryCheck::Up { has_image: true, has_result: false }),
		},
	};
	match served {
		Some(check) => Ok(check),
		None => {
			before?;
			let took = reference.prove(bandwidth, job.fetch_limit).await?;
			tracing::info!(target: "modicum", run = %job.run_id, reference_ms = took.as_millis() as u64, "mediator: the directory did not serve within the fetch bound while this host's link proved fast");
			Ok(DirectoryCheck::Down)
		},
	}
}

/// Whether the directory serves the result archive `digest` (read whole and checked, at most
/// the job's bandwidth limit: an honest archive is never larger), asked again while it does not
/// within the job's fetch bound; `None` if it never did. An endpoint nobody can use serves
/// nothing.
async fn has_result(
	executor: &Executor,
	job: &Job,
	digest: &Digest,
	bandwidth_kib: u64,
) -> Result<Option<bool>, MediationError> {
	let registry = match executor.registries().client(&job.endpoint) {
		Ok(registry) => registry,
		Err(RegistryError::Endpoint(_)) => return Ok(None),
		Err(e) => return Err(MediationError::OwnAccess(e)),
	};
	let max_bytes = bandwidth_kib.saturating_mul(1024);
	let answer = within(job.fetch_limit, &job.run_id, || async {
		match registry.stream_blob(RESULTS_REPOSITORY, digest, max_bytes, |_| Ok(())).await {
			Ok(()) => Answer::Given(Ok(true)),
			Err(RegistryError::NotFound(_)) => Answer::Given(Ok(false)),
			Err(e) if e.is_local() => Answer::Given(Err(e)),
			// Unanswered, altered, cut short or beyond any honest archive: not served.
			Err(_) => Answer::Missing,
		}
	})
	.await;
	answer.transpose().map_err(MediationError::OwnAccess)
}
