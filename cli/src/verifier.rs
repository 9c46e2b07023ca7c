//! The job creator's verifier (docs/protocol.md, "Verification and acceptance"): it fetches each
//! result, re-runs the job with probability p_v exactly as a provider would, and rejects only
//! what the mediator would find against the provider — using the mediator's own decision
//! function. Its own failure, or own runs that disagree, accept: a job creator at fault loses
//! its deposit.

use crate::{
	chain::{Chain, ChainError},
	result,
	status::home,
};
use modicum_common::{
	actors::directory_endpoint,
	arch::oci_architecture,
	verdict::{judge, verdict, CostBound, DirectoryCheck, RunOutcome},
};
use modicum_executor::{Executor, ExecutorError, Job};
use modicum_registry::Registries;
use modicum_runtime::{BlockNumber, Runtime, RuntimeCall, MILLI_SECS_PER_BLOCK};
use pallet_market::{
	Architecture, MatchId, MatchOf, MatchState, Party, Receipt, RejectReason, Reputation,
	Resources, ResultStatus, Role,
};
use serde::Serialize;
use std::{io::Read, path::PathBuf, sync::Arc};
use tokio::sync::watch;

/// A provider with fewer (decayed) successes than this is verified at least half the time
/// (BOINC's adaptive replication: new hosts are checked until they have a record).
pub const NEW_PROVIDER_MATCHES: u32 = 5;

/// The least p_v at which a rational provider prefers executing to deceiving (the paper's
/// Eq. 4 with c_e = π_c, c_d = 0 and deterministic jobs): 1 / (θ + n + 1).
pub fn rate_bound(penalty_rate: u32, verification_count: u32) -> f64 {
	1.0 / (f64::from(penalty_rate) + f64::from(verification_count) + 1.0)
}

/// p_v for a result of a provider with `reputation`: the job creator's `requested` rate, never
/// below Eq. 4's bound, raised for a provider with a short record or a low score.
pub fn verification_rate(bound: f64, reputation: &Reputation, requested: Option<f64>) -> f64 {
	let score = f64::from(reputation.score().deconstruct()) / 1e9;
	let mut rate = requested.unwrap_or(bound).max(bound);
	// Successes, not counted matches: accepting one's own failures costs no reputation fee.
	if reputation.successes < u64::from(NEW_PROVIDER_MATCHES) * pallet_market::REPUTATION_UNIT {
		rate = rate.max(0.5);
	}
	// A score below a half means more failures than successes: always checked.
	rate = if score < 0.5 { 1.0 } else { rate.max(bound / score) };
	rate.min(1.0)
}

/// Whether to verify, at probability `rate`, from the OS's randomness.
pub fn draw(rate: f64) -> bool {
	if rate >= 1.0 {
		return true;
	}
	let mut bytes = [0u8; 8];
	// Without the OS's randomness no fair draw exists: verify.
	if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_err() {
		return true;
	}
	(u64::from_le_bytes(bytes) as f64 / u64::MAX as f64) < rate
}

/// What the verifier did with a result.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
	/// The match.
	pub match_id: MatchId,
	/// p_v used.
	pub rate: f64,
	/// Whether it re-ran the job.
	pub verified: bool,
	/// The digests of its own runs.
	pub runs: Vec<Option<String>>,
	/// `accept` or `reject`.
	pub action: &'static str,
	/// The reason of a rejection.
	pub reason: Option<RejectReason>,
	/// Why, in words.
	pub why: String,
}

/// Why this host cannot verify for the account.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
	/// Another `modicum` process verifies for the account on this host.
	#[error("another modicum verifier of this account runs on this host ({0}); it decides")]
	Busy(String),
	/// Its lock file cannot be made.
	#[error("{path}: {source}")]
	Io {
		/// The file.
		path: PathBuf,
		/// The cause.
		source: std::io::Error,
	},
}

/// This host's verifier for one account: one lock and one executor per process, so that two
/// processes never clean up each other's runs.
#[derive(Clone)]
pub struct Verifier {
	chain: Chain,
	/// The executor, or why this host cannot run jobs (each decision then accepts).
	executor: Result<Executor, String>,
	work_dir: PathBuf,
	/// The CA and credentials of directories' registries (`--registry-config`).
	registries: Registries,
	_lock: Arc<std::fs::File>,
}

impl Verifier {
	/// Takes the account's verifier lock on this host and connects to Docker.
	pub async fn start(chain: &Chain, registries: &Registries) -> Result<Self, VerifierError> {
		let account = chain.account().map(|a| hex::encode(&<[u8; 32]>::from(a)[..4])).unwrap_or_default();
		let work_dir = home(chain).join(format!("verifier-{account}"));
		let io = |path: &PathBuf| {
			let path = path.clone();
			move |source| VerifierError::Io { path, source }
		};
		std::fs::create_dir_all(&work_dir).map_err(io(&work_dir))?;
		let namespace = format!("{}-{account}-verifier", hex::encode(&chain.genesis()[..4]));
		// The lock is host-wide, like the Docker names of the runs it guards: two homes of
		// one account must not clean up each other's runs either.
		let lock_path = std::env::temp_dir().join(format!("modicum-{namespace}.lock"));
		let lock = std::fs::OpenOptions::new()
			.create(true)
			.truncate(false)
			.write(true)
			.open(&lock_path)
			.map_err(io(&lock_path))?;
		if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
			return Err(VerifierError::Busy(lock_path.display().to_string()));
		}
		let executor = Executor::connect(work_dir.join("runs"), &namespace)
			.await
			.map(|executor| executor.with_registries(registries.clone()))
			.map_err(|e| e.to_string());
		let registries = registries.clone();
		Ok(Self { chain: chain.clone(), executor, work_dir, registries, _lock: Arc::new(lock) })
	}

	/// Decides on the result of match `id` (its terms `terms`) at rate `rate` and acts: accept
	/// or reject on chain.
	pub async fn decide_and_act(&self, id: MatchId, terms: &MatchOf<Runtime>, rate: f64) -> Result<Decision, ChainError> {
		let decision = self.decide(id, terms, rate).await;
		let call = match decision.reason {
			None => pallet_market::Call::<Runtime>::accept_result { match_id: id },
			Some(reason) => pallet_market::Call::<Runtime>::reject_result { match_id: id, reason },
		};
		self.chain.submit(RuntimeCall::Market(call)).await?;
		Ok(decision)
	}

	async fn decide(&self, id: MatchId, terms: &MatchOf<Runtime>, rate: f64) -> Decision {
		let chain = &self.chain;
		let decision = |rate: f64, verified: bool, runs: &[RunOutcome], reason: Option<RejectReason>, why: String| Decision {
			match_id: id,
			rate,
			verified,
			runs: runs.iter().map(|r| r.digest.map(|d| format!("sha256:{}", hex::encode(d)))).collect(),
			action: if reason.is_some() { "reject" } else { "accept" },
			reason,
			why,
		};
		let accept = |rate: f64, verified: bool, why: String| decision(rate, verified, &[], None, why);
		let MatchState::ResultPosted { receipt, reaction_deadline } = terms.state else {
			return accept(rate, false, "no result to verify".into());
		};
		// A provider that declined, or found no job, charges nothing (the chain refuses usage
		// on such results). The directory a `JobNotFound` blames may drop the image before a
		// mediator looks, turning a dispute against the job creator: accept.
		if matches!(receipt.status, ResultStatus::Declined | ResultStatus::JobNotFound) {
			return accept(rate, false, format!("the provider reports {:?} and charges nothing", receipt.status));
		}
		let endpoint = match endpoint_of(chain, terms).await {
			Ok(endpoint) => endpoint,
			Err(e) => return accept(rate, false, format!("cannot read the directory ({e}): a local failure accepts")),
		};
		// Every result is fetched, but what the directory answers is no evidence: a blob can
		// be uploaded after a reject, and only the job creator's own runs are its own. A result
		// that cannot be had as posted is verified for sure.
		let mut rate = rate;
		if let Some(digest) = receipt.result_digest {
			let max = archive_cap(terms.limits.bandwidth);
			// A directory trickling the archive must not use up the time the runs need.
			let now = chain.best().await.map(|b| b.number).unwrap_or(reaction_deadline);
			let spare = reaction_deadline.saturating_sub(now).saturating_sub(terms.run_length.saturating_add(2));
			let budget = std::time::Duration::from_millis(u64::from(spare) * MILLI_SECS_PER_BLOCK / 2);
			let fetched = tokio::time::timeout(budget, result::fetch(&self.registries, &endpoint, &digest, max, &home(chain).join("results"))).await;
			if !matches!(fetched, Ok(Ok(_))) {
				tracing::info!(match_id = id, "the result could not be fetched as posted in time: verifying");
				rate = 1.0;
			}
		}
		if !draw(rate) {
			return accept(rate, false, format!("not drawn for verification (p_v = {rate:.3})"));
		}
		let architecture = match chain.best().await {
			Ok(best) => match chain.job_offer(terms.job_offer, best.hash).await {
				Ok(Some(offer)) => offer.architecture,
				_ => return accept(rate, false, "the job offer could not be read: a local failure accepts".into()),
			},
			Err(e) => return accept(rate, false, format!("{e}: a local failure accepts")),
		};
		if Some(architecture) != host_architecture() {
			return accept(rate, false, format!("a {} job cannot be re-run on this host", oci_architecture(architecture)));
		}
		let executor = match &self.executor {
			Ok(executor) => executor,
			Err(e) => return accept(rate, false, format!("cannot run jobs here ({e}): a local failure accepts")),
		};
		// A run takes at most R + 1 blocks: one that cannot end before the reaction deadline
		// (a reject after it is refused) is not started, and one still running is cancelled.
		let run_blocks = terms.run_length.saturating_add(2);
		let time_left = || async {
			chain.best().await.is_ok_and(|b| b.number.saturating_add(run_blocks) < reaction_deadline)
		};
		if !time_left().await {
			return accept(rate, false, "no time left to re-run before the reaction deadline".into());
		}
		let (cancel, cancelled) = watch::channel(false);
		let watchdog = cancel_at(chain.clone(), reaction_deadline.saturating_sub(2), cancel);
		let job = Job::for_match(format!("match-{id}"), terms, endpoint, architecture);
		let runner = Runner { executor, work_dir: &self.work_dir, job, cancel: cancelled };
		let decided = self.judge_runs(&runner, &receipt, terms, time_left).await;
		watchdog.abort();
		match decided {
			Ok((runs, reason, why)) => decision(rate, true, &runs, reason, why),
			Err(e) => accept(rate, true, format!("re-running failed here ({e}): a local failure accepts")),
		}
	}

	/// The own runs and what the mediator's rule makes of them: the reason to reject, if any.
	async fn judge_runs<F: std::future::Future<Output = bool>>(
		&self,
		runner: &Runner<'_>,
		receipt: &Receipt,
		terms: &MatchOf<Runtime>,
		time_left: impl Fn() -> F,
	) -> Result<(Vec<RunOutcome>, Option<RejectReason>, String), RerunError> {
		let count = terms.parameters.verification_count.max(2);
		// A provider that blames the directory for a job this host fetches from it: the
		// mediator finds a directory that is up against the provider. One run shows it.
		if receipt.status == ResultStatus::DirectoryUnavailable {
			let runs = vec![runner.run(1).await?];
			let up = match self.chain.best().await {
				Ok(best) => self.chain.directory_available(&terms.directory, best.hash).await.unwrap_or(false),
				Err(_) => false,
			};
			return Ok(if up {
				(runs, Some(RejectReason::InvalidResultStatus), "the provider claims DirectoryUnavailable, but the directory is up and served the job here".into())
			} else {
				(runs, None, "the directory's heartbeat is stale: its fault, not the provider's".into())
			});
		}
		// When a second round would not fit the reaction window, every run starts at once.
		let rounds_fit = self.chain.best().await.is_ok_and(|b| {
			b.number.saturating_add(terms.run_length.saturating_add(2).saturating_mul(2)) < receipt_deadline(terms)
		});
		if !rounds_fit {
			let runs = futures::future::try_join_all((1..=count).map(|k| runner.run(k))).await?;
			return Ok(decide_on(receipt, terms, runs));
		}
		// One run that the mediator's rule does not hold against the provider settles it: more
		// runs only raise the largest measurement and can only disagree more.
		let first = decide_on(receipt, terms, vec![runner.run(1).await?]);
		if first.1.is_none() {
			return Ok(first);
		}
		// Before disputing, as many runs as the mediator makes (at least two, to catch a
		// non-deterministic job of its own), side by side to fit the reaction window.
		if !time_left().await {
			return Ok((first.0, None, "no time left to confirm the difference before the reaction deadline".into()));
		}
		let mut runs = first.0;
		runs.extend(futures::future::try_join_all((2..=count).map(|k| runner.run(k))).await?);
		Ok(decide_on(receipt, terms, runs))
	}
}

/// TooMuchCost's allowance, as the match fixed it.
fn cost_bound(terms: &MatchOf<Runtime>) -> CostBound {
	CostBound { tolerance: terms.parameters.too_much_cost_tolerance, floor: terms.parameters.too_much_cost_floor }
}

/// The reaction deadline of a match with a posted result.
fn receipt_deadline(terms: &MatchOf<Runtime>) -> BlockNumber {
	match terms.state {
		MatchState::ResultPosted { reaction_deadline, .. } => reaction_deadline,
		_ => 0,
	}
}

/// The mediator's rule on all of the own runs: the reason to reject, if any. Where the
/// provider's status and a run's differ only by a limit one of them came within metering noise
/// of, only the price is judged.
fn decide_on(receipt: &Receipt, terms: &MatchOf<Runtime>, runs: Vec<RunOutcome>) -> (Vec<RunOutcome>, Option<RejectReason>, String) {
	let bound = cost_bound(terms);
	if runs.iter().any(|run| near_limit(receipt, run, &terms.limits, bound)) {
		let up = DirectoryCheck::Up { has_image: true, has_result: true };
		return if verdict(receipt, RejectReason::TooMuchCost, &runs, up, bound) == Party::ResourceProvider {
			(runs, Some(RejectReason::TooMuchCost), "the statuses differ only by metering noise at a limit, but the provider charges beyond it".into())
		} else {
			let why = format!("the provider's {:?} and this host's runs differ only by metering noise at a limit: the mediator may find either", receipt.status);
			(runs, None, why)
		};
	}
	match judge(receipt, &runs, bound) {
		None => {
			let why = explain_accept(receipt, &runs);
			(runs, None, why)
		}
		Some(reason) => (runs, Some(reason), format!("own runs agree and the mediator's rule for {reason:?} finds against the provider")),
	}
}

/// The most bytes a result archive of a job with this bandwidth limit may have: an archive
/// of logs alone (up to 1 MiB each) is posted even beyond the limit.
pub fn archive_cap(bandwidth_kib: u64) -> u64 {
	bandwidth_kib.saturating_mul(1024).max(2 * (1 << 20) + (64 << 10))
}

/// Cancels through `cancel` once the chain reaches block `at`.
fn cancel_at(chain: Chain, at: BlockNumber, cancel: watch::Sender<bool>) -> tokio::task::JoinHandle<()> {
	tokio::spawn(async move {
		let mut seen = 0;
		while let Ok(best) = chain.next_block(seen).await {
			seen = best.number;
			if best.number >= at {
				let _ = cancel.send(true);
				return;
			}
		}
	})
}

/// The architecture of this host, as the market names it.
fn host_architecture() -> Option<Architecture> {
	match std::env::consts::ARCH {
		"x86_64" => Some(Architecture::Amd64),
		"aarch64" => Some(Architecture::Arm64),
		"riscv64" => Some(Architecture::Riscv64),
		_ => None,
	}
}

/// Whether the provider's status and a run's differ only by a limit that one of them ended at
/// and the other came within metering noise of (cpu by the TooMuchCost bound, memory by a
/// tenth). Storage is deterministic: no noise excuses it.
fn near_limit(receipt: &Receipt, run: &RunOutcome, limits: &Resources, bound: CostBound) -> bool {
	let cpu_near = |usage: &Resources| bound.allowed(usage.cpu) >= limits.cpu;
	let memory_near = |usage: &Resources| usage.memory.saturating_mul(10) >= limits.memory.saturating_mul(9);
	let ended_near = |status: ResultStatus, other: &Resources| match status {
		ResultStatus::CpuExceeded => cpu_near(other),
		ResultStatus::MemoryExceeded => memory_near(other),
		_ => false,
	};
	receipt.status != run.status
		&& (ended_near(receipt.status, &run.usage) || ended_near(run.status, &receipt.usage))
}

fn explain_accept(receipt: &Receipt, runs: &[RunOutcome]) -> String {
	if runs.windows(2).any(|p| p[0].digest != p[1].digest) {
		"own runs disagree (a non-deterministic job): the mediator would fault the job creator".into()
	} else if runs.iter().all(|r| r.digest == receipt.result_digest) {
		"own runs reproduce the provider's result".into()
	} else {
		"the result differs only where the mediator would not fault the provider".into()
	}
}

/// The registry of the match's directory, as registered now.
async fn endpoint_of(chain: &Chain, terms: &MatchOf<Runtime>) -> Result<String, ChainError> {
	let best = chain.best().await?;
	directory_endpoint(&chain.actors(best.hash).await?, &terms.directory)
		.ok_or_else(|| ChainError::Decode("the match's directory is no longer registered".into()))
}

/// Why the verifier's own runs gave nothing to judge on.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
	/// Docker or the host failed.
	#[error(transparent)]
	Executor(#[from] ExecutorError),
	/// The run could not fetch the job: nothing was measured.
	#[error("the run could not fetch the job ({0:?})")]
	NotMeasured(ResultStatus),
	/// The run hit its wall time short of its cpu limit: this host was too busy to measure.
	#[error("the run hit its wall time with cpu to spare: this host is too busy")]
	Starved,
}

/// Runs of one match's job under the match's bounds, exactly as a provider's or mediator's.
struct Runner<'a> {
	executor: &'a Executor,
	work_dir: &'a PathBuf,
	job: Job,
	cancel: watch::Receiver<bool>,
}

impl Runner<'_> {
	/// Run `k` on cores of its own; a run that could not fetch the job, or was starved,
	/// measured nothing.
	async fn run(&self, k: u32) -> Result<RunOutcome, RerunError> {
		let job = Job { run_id: format!("{}-v{k}", self.job.run_id), ..self.job.clone() };
		let archive = self.work_dir.join(format!("{}.tar", job.run_id));
		// The executor gives each run cores of its own: side-by-side runs never share one.
		let execution = self.executor.execute(&job, &archive, self.cancel.clone()).await;
		let _ = std::fs::remove_file(&archive);
		let execution = execution?;
		if matches!(execution.status, ResultStatus::DirectoryUnavailable | ResultStatus::JobNotFound) {
			return Err(RerunError::NotMeasured(execution.status));
		}
		if execution.status == ResultStatus::ExceptionOccurred
			&& execution.wall >= job.wall_limit
			&& execution.usage.cpu < job.limits.cpu
		{
			return Err(RerunError::Starved);
		}
		Ok(RunOutcome {
			status: execution.status,
			usage: execution.usage,
			digest: execution.archive.map(|a| a.digest),
		})
	}
}

/// p_v for match `terms` given the job creator's `requested` rate.
pub async fn rate_for(chain: &Chain, terms: &MatchOf<Runtime>, requested: Option<f64>) -> Result<f64, ChainError> {
	let best = chain.best().await?;
	let reputation = chain.reputation(&terms.provider, Role::ResourceProvider, best.hash).await?;
	let bound = rate_bound(terms.parameters.penalty_rate, terms.parameters.verification_count);
	Ok(verification_rate(bound, &reputation, requested))
}

#[cfg(test)]
mod tests {
	use super::*;
	use pallet_market::EndingCounts;
	use sp_runtime::Perbill;

	fn reputation(accepted: u32, failures: u64) -> Reputation {
		Reputation {
			successes: u64::from(accepted) * 1_000_000_000,
			failures: failures * 1_000_000_000,
			endings: EndingCounts { accepted, ..Default::default() },
		}
	}

	#[test]
	fn the_rate_never_falls_below_the_papers_bound() {
		let bound = rate_bound(50, 2);
		assert!((bound - 1.0 / 53.0).abs() < 1e-12, "θ = 50, n = 2 gives the paper's ≈ 0.02");
		let trusted = reputation(1_000, 0);
		assert!((verification_rate(bound, &trusted, None) - bound).abs() < 1e-3);
		assert!(verification_rate(bound, &trusted, Some(0.0)) >= bound, "a requested 0 is raised");
		assert_eq!(verification_rate(bound, &trusted, Some(1.0)), 1.0);
	}

	#[test]
	fn new_or_failing_providers_are_verified_more_often() {
		let bound = rate_bound(50, 2);
		assert!(verification_rate(bound, &Reputation::default(), None) >= 0.5);
		assert_eq!(verification_rate(bound, &reputation(10, 30), None), 1.0);
	}

	#[test]
	fn a_logs_only_archive_of_a_job_with_a_tiny_bandwidth_can_still_be_fetched() {
		assert_eq!(archive_cap(1), 2 * (1 << 20) + (64 << 10));
		assert_eq!(archive_cap(10_000), 10_000 * 1024);
	}

	#[test]
	fn a_provider_ending_at_a_limit_this_run_came_near_is_not_rejected() {
		let bound = CostBound { tolerance: Perbill::from_percent(30), floor: 100 };
		let limits = Resources { cpu: 10_000, memory: 100, storage: 10, bandwidth: 100 };
		let usage = |cpu, memory| Resources { cpu, memory, storage: 1, bandwidth: 5 };
		let run = |status, cpu, memory| RunOutcome { status, usage: usage(cpu, memory), digest: Some([1; 32]) };
		let receipt = |status, cpu, memory| Receipt { status, usage: usage(cpu, memory), result_digest: Some([2; 32]) };
		use ResultStatus::*;
		// 8 000 ms here is 10 500 ms within the bound: the provider's CpuExceeded may be honest.
		assert!(near_limit(&receipt(CpuExceeded, 10_000, 10), &run(Completed, 8_000, 10), &limits, bound));
		assert!(!near_limit(&receipt(CpuExceeded, 10_000, 10), &run(Completed, 1_000, 10), &limits, bound));
		// And the other way: this run was killed at the limit the provider stayed just under.
		assert!(near_limit(&receipt(Completed, 9_000, 10), &run(CpuExceeded, 10_000, 10), &limits, bound));
		assert!(near_limit(&receipt(MemoryExceeded, 1_000, 100), &run(Completed, 1_000, 95), &limits, bound));
		assert!(!near_limit(&receipt(MemoryExceeded, 1_000, 100), &run(Completed, 1_000, 20), &limits, bound));
		// Storage is measured exactly alike everywhere.
		assert!(!near_limit(&receipt(StorageExceeded, 1_000, 10), &run(Completed, 1_000, 10), &limits, bound));
	}

	#[test]
	fn a_draw_at_rate_one_always_verifies_and_at_zero_never() {
		assert!((0..100).all(|_| draw(1.0)));
		assert!((0..100).all(|_| !draw(0.0)));
	}
}
