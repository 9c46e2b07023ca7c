//! The provider's policy for a matched job, decisions only (no I/O): when it is run, run again,
//! uploaded or posted, and when the provider gives up on it. A local failure is never the job's:
//! it is tried again, and past a limit the job is declined rather than left to its deadline.

use super::journal::Measured;
use modicum_runtime::BlockNumber;
use pallet_market::Receipt;
use std::time::Duration;

/// Runs of one match that fail on this machine (the executor, the journal, a panic) before the
/// provider declines the job.
const MAX_LOCAL_FAILURES: u32 = 3;

/// Runs of one match a provider starts at most: a run cut short by a crash is run once more.
const MAX_RUN_ATTEMPTS: u32 = 2;

/// Blocks before the completion deadline at which a result whose archive could not be uploaded
/// is posted anyway: the directory answers for a missing archive if it was down.
const POST_MARGIN: BlockNumber = 5;

/// The first and the longest pause between upload attempts.
const UPLOAD_BACKOFF: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(60));

/// What the provider does for a matched job at a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
	/// Post the journaled receipt: its run and upload are done.
	Post(Receipt),
	/// Start its task: the run unless the journal has it measured, then the upload.
	Run,
	/// Its run was cut short and cannot run again before the deadline: post nothing.
	GiveUp,
	/// Nothing was measured and the deadline passed.
	Missed,
}

/// The step for a match at block `now`, given what the journal has of it: its measured
/// receipt, and the runs begun and not ended (cut short by a crash).
pub(super) fn next_step(
	measured: Option<&Measured>,
	attempts: u32,
	now: BlockNumber,
	run_length: BlockNumber,
	completion_deadline: BlockNumber,
) -> Step {
	match measured {
		Some(measured) if measured.uploaded => Step::Post(measured.receipt),
		Some(_) => Step::Run,
		None if now >= completion_deadline => Step::Missed,
		None => {
			let fits = now.saturating_add(run_length) < completion_deadline;
			if attempts >= MAX_RUN_ATTEMPTS || (attempts > 0 && !fits) {
				Step::GiveUp
			} else {
				Step::Run
			}
		},
	}
}

/// Whether the provider declines a job after `failures` local failures of its runs.
pub(super) fn declines_after(failures: u32) -> bool {
	failures >= MAX_LOCAL_FAILURES
}

/// The block from which an upload that keeps failing stops, and the result is posted without
/// its archive.
pub(super) fn upload_deadline(completion_deadline: BlockNumber) -> BlockNumber {
	completion_deadline.saturating_sub(POST_MARGIN)
}

/// The pause after a failed upload attempt, given the pause before it.
pub(super) fn upload_pause(previous: Option<Duration>) -> Duration {
	previous.map_or(UPLOAD_BACKOFF.0, |pause| (pause * 2).min(UPLOAD_BACKOFF.1))
}

#[cfg(test)]
mod tests {
	use super::*;
	use pallet_market::ResultStatus;

	const RUN: BlockNumber = 10;
	const DEADLINE: BlockNumber = 100;

	fn measured(uploaded: bool) -> Measured {
		let receipt = Receipt {
			status: ResultStatus::Completed,
			usage: Default::default(),
			result_digest: Some([7; 32]),
		};
		Measured { receipt, uploaded }
	}

	#[test]
	fn a_result_measured_and_uploaded_is_posted_without_running_the_job_again() {
		let done = measured(true);
		assert_eq!(next_step(Some(&done), 1, 50, RUN, DEADLINE), Step::Post(done.receipt));
		// Even past the deadline: the chain, not the provider, refuses a late result.
		assert_eq!(next_step(Some(&done), 1, DEADLINE, RUN, DEADLINE), Step::Post(done.receipt));
	}

	#[test]
	fn a_result_measured_but_not_uploaded_only_uploads() {
		assert_eq!(next_step(Some(&measured(false)), 1, 50, RUN, DEADLINE), Step::Run);
	}

	#[test]
	fn a_run_cut_short_runs_once_more_while_it_fits_before_the_deadline() {
		assert_eq!(next_step(None, 0, 50, RUN, DEADLINE), Step::Run);
		assert_eq!(next_step(None, 1, DEADLINE - RUN - 1, RUN, DEADLINE), Step::Run);
		assert_eq!(next_step(None, 1, DEADLINE - RUN, RUN, DEADLINE), Step::GiveUp);
	}

	#[test]
	fn a_job_that_crashed_the_provider_twice_is_never_run_a_third_time() {
		assert_eq!(next_step(None, 2, 0, RUN, DEADLINE), Step::GiveUp);
	}

	#[test]
	fn a_first_run_starts_even_when_it_may_not_fit_but_never_after_the_deadline() {
		// The job may end earlier than its limit; a late result is the chain's to refuse.
		assert_eq!(next_step(None, 0, DEADLINE - 1, RUN, DEADLINE), Step::Run);
		assert_eq!(next_step(None, 0, DEADLINE, RUN, DEADLINE), Step::Missed);
	}

	#[test]
	fn the_third_local_failure_declines_the_job() {
		assert!(!declines_after(2));
		assert!(declines_after(3));
	}

	#[test]
	fn upload_pauses_double_up_to_a_minute_and_stop_before_the_deadline() {
		let pauses: Vec<u64> = std::iter::successors(Some(upload_pause(None)), |p| Some(upload_pause(Some(*p))))
			.take(7)
			.map(|p| p.as_secs())
			.collect();
		assert_eq!(pauses, [2, 4, 8, 16, 32, 60, 60]);
		assert_eq!(upload_deadline(DEADLINE), DEADLINE - 5);
		assert_eq!(upload_deadline(3), 0);
	}
}
