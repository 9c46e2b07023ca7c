//! A match's tasks: its run — the job run in Docker unless the journal has it measured, its
//! receipt journaled before the run counts as ended, its archive uploaded to the job's directory
//! — and, once its result is in a block, the check that the archive is still there.

use super::{
	journal::{Measured, RunJournal},
	policy, ROLE,
};
use crate::{chain::Chain, metrics::Metrics};
use modicum_executor::{Executor, ExecutorError, Job};
use modicum_registry::{Registries, RegistryError, RESULTS_REPOSITORY};
use modicum_runtime::BlockNumber;
use pallet_market::{Digest, MatchId, Receipt};
use std::{path::Path, sync::Arc};
use tokio::sync::watch;

/// Why a run gave no receipt.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunFailure {
	/// Its match closed or got a result meanwhile, or the node stops.
	#[error("cancelled")]
	Cancelled,
	/// The executor failed: the provider's fault, never the job's.
	#[error(transparent)]
	Executor(ExecutorError),
	/// The journal could not be written.
	#[error("journal: {0}")]
	Journal(#[from] std::io::Error),
}

/// What a run task needs.
pub(super) struct Run {
	pub(super) id: MatchId,
	pub(super) job: Job,
	pub(super) executor: Executor,
	pub(super) journal: Arc<RunJournal>,
	pub(super) metrics: Metrics,
	pub(super) chain: Chain,
	/// The block from which a failing upload stops ([`policy::upload_deadline`]).
	pub(super) upload_deadline: BlockNumber,
}

impl Run {
	/// Runs the job unless the journal has it measured, then uploads its archive; the receipt.
	pub(super) async fn perform(self, cancelled: watch::Receiver<bool>) -> Result<Receipt, RunFailure> {
		let Self { id, job, executor, journal, metrics, chain, upload_deadline } = self;
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
					},
				};
				metrics.run(ROLE, execution.status, execution.wall.as_secs_f64());
				let receipt = Receipt {
					status: execution.status,
					usage: execution.usage,
					result_digest: execution.archive.as_ref().map(|a| a.digest),
				};
				let measured = Measured { receipt, uploaded: execution.archive.is_none() };
				// Measured before the run counts as ended: a crash in between never runs a
				// measured job again.
				let saved = journal.save(id, &measured);
				journal.end(id);
				saved?;
				container_ms = execution.wall.as_millis() as u64;
				measured
			},
		};
		if !measured.uploaded {
			let digest = measured.receipt.result_digest.unwrap_or_default();
			let upload = Upload {
				id,
				chain: &chain,
				registries: executor.registries(),
				endpoint: &job.endpoint,
				archive: &journal.archive(id),
				digest: &digest,
				deadline: upload_deadline,
			};
			if upload.perform(cancelled).await? {
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
}

/// A result archive to upload to the job's directory.
struct Upload<'a> {
	id: MatchId,
	chain: &'a Chain,
	registries: &'a Registries,
	endpoint: &'a str,
	archive: &'a Path,
	digest: &'a Digest,
	deadline: BlockNumber,
}

impl Upload<'_> {
	/// Uploads in chunks, trying again with backoff while the directory or the link fails, until
	/// the deadline block; whether the archive is at the directory.
	async fn perform(self, mut cancelled: watch::Receiver<bool>) -> Result<bool, RunFailure> {
		let id = self.id;
		let mut pause = None;
		loop {
			let attempt = match self.registries.client(self.endpoint) {
				Ok(registry) => registry.push_blob_file(RESULTS_REPOSITORY, self.archive, self.digest).await,
				Err(e) => Err(e),
			};
			let e = match attempt {
				Ok(()) => return Ok(true),
				Err(e) => e,
			};
			if self.chain.heads().best.number >= self.deadline {
				tracing::error!(target: "modicum", match_id = id, error = %e, "provider: result upload failed until the deadline; posting the result without it");
				return Ok(false);
			}
			let next = policy::upload_pause(pause);
			pause = Some(next);
			tracing::warn!(target: "modicum", match_id = id, error = %e, retry_in_s = next.as_secs(), "provider: result upload failed; trying again");
			// A run cancelled while its upload waits keeps its measured receipt in the journal:
			// the next start uploads and posts it.
			tokio::select! {
				_ = tokio::time::sleep(next) => {},
				_ = cancelled.wait_for(|cancelled| *cancelled) => return Err(RunFailure::Cancelled),
			}
		}
	}
}

/// The check, once a match's result is in a block, that its archive is at the job's directory,
/// uploading it again from the journal if not. Before the result landed, no open match named the
/// digest: a directory may have deleted a blob of the same digest that another match named and
/// closed with (docs/protocol.md, "Directories: what is kept"). From the result on, the open
/// match keeps it.
pub(super) struct Recheck {
	pub(super) id: MatchId,
	pub(super) executor: Executor,
	pub(super) endpoint: String,
	pub(super) archive: std::path::PathBuf,
	pub(super) digest: Digest,
}

impl Recheck {
	/// Whether the archive had to be uploaded again.
	pub(super) async fn perform(self) -> Result<bool, RegistryError> {
		let registry = self.executor.registries().client(&self.endpoint)?;
		if registry.has_blob(RESULTS_REPOSITORY, &self.digest).await? {
			return Ok(false);
		}
		tracing::warn!(target: "modicum", match_id = self.id, "provider: the result archive is gone from the directory; uploading it again");
		registry.push_blob_file(RESULTS_REPOSITORY, &self.archive, &self.digest).await?;
		Ok(true)
	}
}
