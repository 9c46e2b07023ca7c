//! The job creator's verifier (PROTOCOL.md, "Verification and acceptance"): it fetches each
//! result, re-runs the job with probability p_v exactly as a provider would, and rejects only
//! what the mediator would find against the provider — using the mediator's own decision
//! function. Its own failure, or own runs that disagree, accept: a job creator at fault loses
//! its deposit.

use crate::{
	chain::{Chain, ChainError},
	result,
	status::home,
};
use modicum_offchain_worker::{
	executor::{Executor, Job},
	registry::{Registry, RESULTS_REPOSITORY},
	verdict::{judge, CostBound, RunOutcome},
};
use modicum_runtime::{Runtime, RuntimeCall};
use pallet_market::{MatchId, MatchOf, MatchState, Receipt, RejectReason, Reputation, Role};
use serde::Serialize;
use std::io::Read;
use tokio::sync::watch;

/// A provider with fewer counted matches than this is verified at least half the time
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
	if reputation.counted() < NEW_PROVIDER_MATCHES {
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

/// Decides on the result of match `id` (its terms `terms`) at rate `rate` and acts: accept or
/// reject on chain. `cancel` stops a re-run.
pub async fn decide_and_act(
	chain: &Chain,
	id: MatchId,
	terms: &MatchOf<Runtime>,
	rate: f64,
	cancel: watch::Receiver<bool>,
) -> Result<Decision, ChainError> {
	let decision = decide(chain, id, terms, rate, cancel).await;
	let call = match decision.reason {
		None => pallet_market::Call::<Runtime>::accept_result { match_id: id },
		Some(reason) => pallet_market::Call::<Runtime>::reject_result { match_id: id, reason },
	};
	chain.submit(RuntimeCall::Market(call)).await?;
	Ok(decision)
}

async fn decide(
	chain: &Chain,
	id: MatchId,
	terms: &MatchOf<Runtime>,
	rate: f64,
	cancel: watch::Receiver<bool>,
) -> Decision {
	let accept = |verified: bool, runs: Vec<Option<String>>, why: String| Decision {
		match_id: id,
		rate,
		verified,
		runs,
		action: "accept",
		reason: None,
		why,
	};
	let MatchState::ResultPosted { receipt, .. } = terms.state else {
		return accept(false, Vec::new(), "no result to verify".into());
	};
	let endpoint = match directory_endpoint(chain, terms).await {
		Ok(endpoint) => endpoint,
		Err(e) => return accept(false, Vec::new(), format!("cannot read the directory ({e}): a local failure accepts")),
	};
	// Every result is fetched; one the directory answers it does not have was never
	// uploaded, which the mediator finds against the provider.
	if let Some(digest) = receipt.result_digest {
		match Registry::new(&endpoint) {
			Ok(registry) => match registry.has_blob(RESULTS_REPOSITORY, &digest).await {
				Ok(false) => {
					return Decision {
						match_id: id,
						rate,
						verified: false,
						runs: Vec::new(),
						action: "reject",
						reason: Some(RejectReason::ResultNotFound),
						why: "the directory answers that it does not have the result archive".into(),
					}
				}
				Ok(true) => {
					let max = terms.limits.bandwidth.saturating_mul(1024);
					if let Err(e) = result::fetch(&endpoint, &digest, max, &home(chain).join("results")).await {
						return accept(false, Vec::new(), format!("fetching the result failed here ({e}): a local failure accepts"));
					}
				}
				Err(e) => return accept(false, Vec::new(), format!("the directory did not answer ({e}): a local failure accepts")),
			},
			Err(e) => return accept(false, Vec::new(), format!("{e}: a local failure accepts")),
		}
	}
	if !draw(rate) {
		return accept(false, Vec::new(), format!("not drawn for verification (p_v = {rate:.3})"));
	}
	let runs = match rerun(chain, id, terms, &endpoint, cancel).await {
		Ok(runs) => runs,
		Err(e) => return accept(true, Vec::new(), format!("re-running failed here ({e}): a local failure accepts")),
	};
	let digests: Vec<Option<String>> = runs.iter().map(|r| r.digest.map(|d| format!("sha256:{}", hex::encode(d)))).collect();
	let bound = CostBound {
		tolerance: terms.parameters.too_much_cost_tolerance,
		floor: terms.parameters.too_much_cost_floor,
	};
	match judge(&receipt, &runs, bound) {
		None => accept(true, digests, explain_accept(&receipt, &runs)),
		Some(reason) => Decision {
			match_id: id,
			rate,
			verified: true,
			runs: digests,
			action: "reject",
			reason: Some(reason),
			why: format!("own runs agree and the mediator's rule for {reason:?} finds against the provider"),
		},
	}
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

async fn directory_endpoint(chain: &Chain, terms: &MatchOf<Runtime>) -> Result<String, ChainError> {
	let best = chain.best().await?;
	let actors = chain.actors(best.hash).await?;
	actors
		.directories
		.iter()
		.find(|(who, _)| *who == terms.directory)
		.map(|(_, info)| String::from_utf8_lossy(&info.endpoint).into_owned())
		.ok_or_else(|| ChainError::Decode("the match's directory is no longer registered".into()))
}

/// Why the verifier's own runs gave nothing to judge on.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
	/// Docker or the host failed.
	#[error(transparent)]
	Executor(#[from] modicum_offchain_worker::executor::ExecutorError),
	/// The run could not fetch the job: nothing was measured.
	#[error("the run could not fetch the job ({0:?})")]
	NotMeasured(pallet_market::ResultStatus),
}

/// Runs the job of a match n times under the match's bounds, as the mediator would.
pub async fn rerun(
	chain: &Chain,
	id: MatchId,
	terms: &MatchOf<Runtime>,
	endpoint: &str,
	cancel: watch::Receiver<bool>,
) -> Result<Vec<RunOutcome>, RerunError> {
	let account = chain.account().map(|a| hex::encode(&<[u8; 32]>::from(a)[..4])).unwrap_or_default();
	let namespace = format!("{}-{account}-verifier", hex::encode(&chain.genesis()[..4]));
	let work_dir = home(chain).join("verifier");
	let executor = Executor::connect(work_dir.clone(), &namespace).await?;
	let mut runs = Vec::new();
	for k in 1..=terms.parameters.verification_count.max(2) {
		let run_id = format!("match-{id}-v{k}");
		let job = Job::for_match(run_id.clone(), terms, endpoint.into(), terms_architecture(chain, terms).await);
		let archive = work_dir.join(format!("{run_id}.tar"));
		let execution = executor.execute(&job, &archive, cancel.clone()).await;
		let _ = std::fs::remove_file(&archive);
		let execution = execution?;
		if matches!(
			execution.status,
			pallet_market::ResultStatus::DirectoryUnavailable | pallet_market::ResultStatus::JobNotFound
		) {
			return Err(RerunError::NotMeasured(execution.status));
		}
		runs.push(RunOutcome {
			status: execution.status,
			usage: execution.usage,
			digest: execution.archive.map(|a| a.digest),
		});
	}
	Ok(runs)
}

/// The job's architecture (the job offer's, which the match required of everyone).
async fn terms_architecture(chain: &Chain, terms: &MatchOf<Runtime>) -> pallet_market::Architecture {
	let Ok(best) = chain.best().await else { return pallet_market::Architecture::Amd64 };
	match chain.job_offer(terms.job_offer, best.hash).await {
		Ok(Some(offer)) => offer.architecture,
		_ => pallet_market::Architecture::Amd64,
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
	fn a_draw_at_rate_one_always_verifies_and_at_zero_never() {
		assert!((0..100).all(|_| draw(1.0)));
		assert!((0..100).all(|_| !draw(0.0)));
	}
}
