//! The decision of a dispute (docs/protocol.md, "Mediation"), one function for the mediator that
//! posts it and the job-creator verifier that decides whether to dispute at all ("Verification
//! and acceptance": reject only what the mediator would find against the provider).

use pallet_market::{Digest, Party, Receipt, RejectReason, Resources, ResultStatus};
use sp_runtime::Perbill;

/// What one re-execution measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
	/// How it ended.
	pub status: ResultStatus,
	/// What it used.
	pub usage: Resources,
	/// sha256 of its canonical archive.
	pub digest: Option<Digest>,
}

/// What was found at the job's directory.
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

/// How far a cpu claim may exceed a measurement: `TooMuchCostTolerance` and `TooMuchCostFloor`
/// of the match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostBound {
	/// Relative allowance above the largest measurement.
	pub tolerance: Perbill,
	/// Absolute allowance, in cpu units.
	pub floor: u64,
}

impl CostBound {
	/// The largest cpu claim an honest provider may make when `measured` is the most any run
	/// measured.
	pub fn allowed(&self, measured: u64) -> u64 {
		measured.saturating_add(self.tolerance.mul_ceil(measured)).saturating_add(self.floor)
	}
}

/// Whether a dispute needs re-executions (a dispute about the directory or the archive's
/// presence does not).
pub fn needs_runs(receipt: &Receipt, reason: RejectReason) -> bool {
	reason != RejectReason::ResultNotFound && !claims_directory_fault(receipt)
}

fn claims_directory_fault(receipt: &Receipt) -> bool {
	matches!(receipt.status, ResultStatus::DirectoryUnavailable | ResultStatus::JobNotFound)
}

/// The faulty party of a dispute, from the receipt, the n runs and the directory check.
pub fn verdict(
	receipt: &Receipt,
	reason: RejectReason,
	runs: &[RunOutcome],
	directory: DirectoryCheck,
	bound: CostBound,
) -> Party {
	match reason {
		RejectReason::ResultNotFound => match (receipt.result_digest, directory) {
			// The chain refuses this dispute; a provider that claimed no archive lost none.
			(None, _) => Party::JobCreator,
			(Some(_), DirectoryCheck::Down) => Party::Directory,
			(Some(_), DirectoryCheck::Up { has_result: true, .. }) => Party::JobCreator,
			(Some(_), DirectoryCheck::Up { has_result: false, .. }) => Party::ResourceProvider,
		},
		// A directory answering that it has no such image tells against the job's creator
		// whichever unavailability was claimed: a provider cannot have run a job not there.
		RejectReason::InvalidResultStatus if claims_directory_fault(receipt) => match directory {
			DirectoryCheck::Down => Party::Directory,
			DirectoryCheck::Up { has_image: false, .. } => Party::JobCreator,
			DirectoryCheck::Up { has_image: true, .. } => Party::ResourceProvider,
		},
		RejectReason::WrongResults => {
			let agree = runs.windows(2).all(|pair| pair[0].digest == pair[1].digest);
			let match_provider = runs.iter().all(|run| run.digest == receipt.result_digest);
			// A job whose own runs differ is non-deterministic: its creator answers for it.
			if match_provider || !agree {
				Party::JobCreator
			} else {
				Party::ResourceProvider
			}
		}
		// The provider's status is wrong only when no run ended in it.
		RejectReason::InvalidResultStatus => {
			if runs.iter().any(|run| run.status == receipt.status) {
				Party::JobCreator
			} else {
				Party::ResourceProvider
			}
		}
		// Only what is priced: cpu within tolerance + floor of the largest measurement, and
		// bandwidth, deterministic, exactly as a run measured it.
		RejectReason::TooMuchCost => {
			let Some(cpu) = runs.iter().map(|r| r.usage.cpu).max() else {
				return Party::JobCreator;
			};
			let claimed = receipt.usage;
			// Runs that measured different bandwidths ran a non-deterministic job: its creator
			// answers for that; otherwise the claim must be exactly theirs.
			let bandwidth_agrees = runs.windows(2).all(|p| p[0].usage.bandwidth == p[1].usage.bandwidth);
			let bandwidth_wrong = bandwidth_agrees && runs[0].usage.bandwidth != claimed.bandwidth;
			if claimed.cpu > bound.allowed(cpu) || bandwidth_wrong {
				Party::ResourceProvider
			} else {
				Party::JobCreator
			}
		}
	}
}

/// What a job creator's verifier does with a result after its own runs: the reason to reject
/// it with, only when the mediator's decision on those same runs would fault the provider;
/// `None` means accept. Own runs that disagree, or none at all (a local failure), accept.
pub fn judge(receipt: &Receipt, runs: &[RunOutcome], bound: CostBound) -> Option<RejectReason> {
	let agree = runs.windows(2).all(|pair| pair[0].digest == pair[1].digest);
	if runs.is_empty() || !agree || claims_directory_fault(receipt) {
		return None;
	}
	let up = DirectoryCheck::Up { has_image: true, has_result: true };
	[RejectReason::WrongResults, RejectReason::InvalidResultStatus, RejectReason::TooMuchCost]
		.into_iter()
		.find(|reason| verdict(receipt, *reason, runs, up, bound) == Party::ResourceProvider)
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
	const BOUND: CostBound = CostBound { tolerance: Perbill::from_percent(5), floor: 0 };

	#[test]
	fn wrong_results_blame_the_provider_when_agreeing_runs_differ_from_its_result() {
		let runs = [run(1, 100), run(1, 100)];
		let decide = |r: &Receipt| verdict(r, RejectReason::WrongResults, &runs, UP, BOUND);
		assert_eq!(decide(&receipt(2, 100)), Party::ResourceProvider);
		assert_eq!(decide(&receipt(1, 100)), Party::JobCreator);
	}

	#[test]
	fn a_non_deterministic_job_is_the_job_creators_fault_only_for_wrong_results() {
		let runs = [run(1, 100), run(3, 100)];
		assert_eq!(
			verdict(&receipt(2, 100), RejectReason::WrongResults, &runs, UP, BOUND),
			Party::JobCreator
		);
		// Runs that disagree on their output say nothing about an inflated cpu claim.
		assert_eq!(
			verdict(&receipt(2, 500), RejectReason::TooMuchCost, &runs, UP, BOUND),
			Party::ResourceProvider
		);
		// Runs whose archives differ in size measured different bandwidths: no exact figure
		// exists, and the provider is not faulted for it.
		let mut sized = [run(1, 100), run(3, 100)];
		sized[1].usage.bandwidth = 6;
		let mut odd = receipt(2, 100);
		odd.usage.bandwidth = 7;
		assert_eq!(verdict(&odd, RejectReason::TooMuchCost, &sized, UP, BOUND), Party::JobCreator);
		let mut wrong_status = receipt(2, 100);
		wrong_status.status = ResultStatus::MemoryExceeded;
		assert_eq!(
			verdict(&wrong_status, RejectReason::InvalidResultStatus, &runs, UP, BOUND),
			Party::ResourceProvider
		);
	}

	#[test]
	fn too_much_cost_allows_the_tolerance_above_the_largest_measurement() {
		let runs = [run(1, 100), run(1, 90)];
		let decide = |cpu| verdict(&receipt(1, cpu), RejectReason::TooMuchCost, &runs, UP, BOUND);
		assert_eq!(decide(105), Party::JobCreator);
		assert_eq!(decide(106), Party::ResourceProvider);
	}

	#[test]
	fn too_much_cost_adds_the_floor_ignores_unpriced_memory_and_wants_bandwidth_exact() {
		let runs = [run(1, 100), run(1, 90)];
		let bound = CostBound { floor: 20, ..BOUND };
		let cost = |usage: Resources| {
			let receipt = Receipt { usage, ..receipt(1, 100) };
			verdict(&receipt, RejectReason::TooMuchCost, &runs, UP, bound)
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
		let decide = |d| verdict(&r, RejectReason::ResultNotFound, &[], d, BOUND);
		assert_eq!(decide(UP), Party::JobCreator);
		assert_eq!(decide(missing), Party::ResourceProvider);
		assert_eq!(decide(DirectoryCheck::Down), Party::Directory);
	}

	#[test]
	fn invalid_result_status_compares_statuses_or_checks_the_directory() {
		let mut r = receipt(1, 100);
		r.status = ResultStatus::MemoryExceeded;
		let runs = [run(1, 100), run(1, 100)];
		let decide = |r: &Receipt, runs: &[RunOutcome], d| {
			verdict(r, RejectReason::InvalidResultStatus, runs, d, BOUND)
		};
		assert_eq!(decide(&r, &runs, UP), Party::ResourceProvider);
		// One run ending as the provider's did clears it: a borderline job is not its fault.
		let mut borderline = run(1, 100);
		borderline.status = ResultStatus::MemoryExceeded;
		assert_eq!(decide(&r, &[run(1, 100), borderline], UP), Party::JobCreator);
		r.status = ResultStatus::JobNotFound;
		let no_image = DirectoryCheck::Up { has_image: false, has_result: false };
		assert_eq!(decide(&r, &[], UP), Party::ResourceProvider);
		assert_eq!(decide(&r, &[], no_image), Party::JobCreator);
		r.status = ResultStatus::DirectoryUnavailable;
		assert_eq!(decide(&r, &[], DirectoryCheck::Down), Party::Directory);
		assert_eq!(decide(&r, &[], UP), Party::ResourceProvider);
		// The image gone by the time of the dispute: never the provider's fault.
		assert_eq!(decide(&r, &[], no_image), Party::JobCreator);
	}

	#[test]
	fn a_verifier_rejects_only_what_the_mediator_would_fault_the_provider_for() {
		let agreeing = [run(1, 100), run(1, 100)];
		assert_eq!(judge(&receipt(1, 100), &agreeing, BOUND), None);
		assert_eq!(judge(&receipt(2, 100), &agreeing, BOUND), Some(RejectReason::WrongResults));
		assert_eq!(judge(&receipt(1, 200), &agreeing, BOUND), Some(RejectReason::TooMuchCost));
		// Own runs that disagree, or no runs (a local failure): accept.
		assert_eq!(judge(&receipt(2, 100), &[run(1, 100), run(3, 100)], BOUND), None);
		assert_eq!(judge(&receipt(2, 100), &[], BOUND), None);
	}
}
