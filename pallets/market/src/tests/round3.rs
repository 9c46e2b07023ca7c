//! Honest parties never lose, round 3: each test is named after an attack an audit of the
//! chain found — a directory's bond stolen, pay for no run, a paid result without its archive,
//! a mediator drained by jobs it cannot run or by a flood of disputes — and shows the chain
//! refuses it. Numbers as in `protocol.rs`.

use super::protocol::*;
use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok};
use sp_runtime::DispatchResult;

fn signed(who: u64) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

// ---------------------------------------------------------------------------------------------
// A directory's bond

#[test]
fn a_job_creator_provider_and_mediator_cannot_steal_a_directorys_bond_through_a_mediator_it_does_not_trust(
) {
	ExtBuilder::default().build_and_execute(|| {
		// One attacker holds the job creator, the provider and a mediator trusting the victim
		// directory; the directory never named that mediator as a judge of its availability.
		let terms = Terms { directory_trusts_mediator: false, ..Terms::default() };
		let (job, resource) = offers(&terms);
		assert_eq!(dry_run(job, resource), Err(Error::<Test>::MediatorNotTrustedByDirectory.into()));
		assert_noop!(
			Market::post_match(signed(SOLVER), job, resource, MEDIATOR),
			Error::<Test>::MediatorNotTrustedByDirectory
		);
		// With the directory's trust the same match is made, so the refusal is the trust alone.
		assert_ok!(Market::trust_mediator(signed(DIRECTORY), Role::Directory, MEDIATOR));
		assert_ok!(Market::post_match(signed(SOLVER), job, resource, MEDIATOR));
	});
}

#[test]
fn a_directory_drops_a_mediator_that_faulted_it_and_is_never_judged_by_it_again() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		dispute(match_id, RejectReason::ResultNotFound);
		assert_ok!(verdict(match_id, Party::Directory));
		// The directory disagrees with the verdict and distrusts the mediator (paper §3.4):
		// the next job naming it cannot be matched with that mediator.
		assert_ok!(Market::distrust_mediator(signed(DIRECTORY), Role::Directory, MEDIATOR));
		assert_ok!(post_job_offer(&Terms::default()));
		assert_ok!(post_resource_offer(&Terms::default()));
		assert_noop!(
			Market::post_match(signed(SOLVER), 2, 3, MEDIATOR),
			Error::<Test>::MediatorNotTrustedByDirectory
		);
	});
}

// ---------------------------------------------------------------------------------------------
// Receipts: no usage without a run, no run without its archive

#[test]
fn a_provider_posting_a_job_description_error_with_usage_is_refused_and_is_paid_nothing() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		let limits = Terms::default().limits;
		// Decided before any run: cpu at the job's limit would be paid π_c for nothing.
		for usage in [limits, Resources { memory: 1, ..Default::default() }] {
			assert_noop!(
				Market::post_result(signed(RP), match_id, ResultStatus::JobDescriptionError, usage, None),
				Error::<Test>::UsageWithoutRun
			);
		}
		let before = worth();
		assert_ok!(Market::post_result(
			signed(RP),
			match_id,
			ResultStatus::JobDescriptionError,
			Resources::default(),
			None
		));
		assert_ok!(Market::accept_result(signed(JC), match_id));
		// Accepted at π_c = 0: the provider earns nothing, and pays its share of the fees.
		assert_changes(before, [-F_M - F_D, -F_M - F_D, 2 * F_M, 2 * F_D, 0, 0]);
	});
}

#[test]
fn a_result_that_never_started_cannot_name_an_archive() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		for status in ResultStatus::ALL.into_iter().filter(ResultStatus::never_started) {
			assert_noop!(
				Market::post_result(signed(RP), match_id, status, Resources::default(), RESULT),
				Error::<Test>::DigestWithoutRun
			);
		}
	});
}

#[test]
fn a_failed_run_posted_without_its_archive_is_refused_so_the_job_creator_can_always_get_its_logs(
) {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		let ran = ResultStatus::ALL.into_iter().filter(|s| !s.never_started());
		for status in ran {
			assert_noop!(
				Market::post_result(signed(RP), match_id, status, USAGE, None),
				Error::<Test>::MissingResultDigest
			);
		}
		// With its archive named, a missing archive is disputed and mediated.
		assert_ok!(Market::post_result(signed(RP), match_id, ResultStatus::CpuExceeded, USAGE, RESULT));
		assert_ok!(Market::reject_result(signed(JC), match_id, RejectReason::ResultNotFound));
		assert!(matches!(
			Matches::<Test>::get(match_id).map(|m| m.state),
			Some(MatchState::InMediation { reason: RejectReason::ResultNotFound, .. })
		));
	});
}

#[test]
fn a_completed_result_claiming_usage_above_the_limits_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		let limits = Terms::default().limits;
		let over = [
			Resources { cpu: limits.cpu + 1, ..USAGE },
			// The container's memory limit covers memory and storage.
			Resources { memory: limits.memory + limits.storage + 1, ..USAGE },
			Resources { storage: limits.storage + 1, ..USAGE },
			Resources { bandwidth: limits.bandwidth + 1, ..USAGE },
		];
		for usage in over {
			assert_noop!(
				Market::post_result(signed(RP), match_id, ResultStatus::Completed, usage, RESULT),
				Error::<Test>::UsageAboveLimits
			);
		}
		let full = Resources { memory: limits.memory + limits.storage, ..limits };
		assert_ok!(Market::post_result(signed(RP), match_id, ResultStatus::Completed, full, RESULT));
	});
}

// ---------------------------------------------------------------------------------------------
// Mediators: named only for jobs they can run, never drained by a flood

#[test]
fn a_job_no_mediator_can_run_is_never_matched_so_its_mediator_cannot_time_out_on_it() {
	let capacity = Terms::default().mediator_capacity;
	let beyond = [
		Resources { memory: capacity.memory + 1, ..Terms::default().limits },
		Resources { storage: capacity.storage + 1, ..Terms::default().limits },
	];
	for limits in beyond {
		ExtBuilder::default().build_and_execute(|| {
			// The provider (the job creator's own machine, say) can give what no mediator can.
			let terms = Terms {
				limits,
				capacity: Resources { memory: 4_096, storage: 4_096, ..Terms::default().capacity },
				..Terms::default()
			};
			let (job, resource) = offers(&terms);
			assert_eq!(dry_run(job, resource), Err(Error::<Test>::MediatorCapacityShort.into()));
			assert_noop!(
				Market::post_match(signed(SOLVER), job, resource, MEDIATOR),
				Error::<Test>::MediatorCapacityShort
			);
		});
	}
}

/// The job creator disputes a posted result.
fn reject(match_id: MatchId) {
	assert_ok!(Market::reject_result(signed(JC), match_id, RejectReason::WrongResults));
}

/// `count` matches on the default terms, each with its result posted at block 1; their ids.
fn results_posted(count: u64, slots: u32) -> Vec<MatchId> {
	let terms = Terms { mediator_slots: slots, ..Terms::default() };
	register(&terms);
	// Room in the bonds for every match's reservation.
	assert_ok!(Market::top_up_bond(signed(MEDIATOR), Role::Mediator, 1_000 * count as Balance));
	assert_ok!(Market::top_up_bond(signed(DIRECTORY), Role::Directory, 1_000 * count as Balance));
	for _ in 0..count {
		assert_ok!(post_job_offer(&terms));
	}
	for _ in 0..count {
		assert_ok!(post_resource_offer(&terms));
	}
	(0..count)
		.map(|i| {
			assert_ok!(Market::post_match(signed(SOLVER), i, count + i, MEDIATOR));
			let match_id = NextMatchId::<Test>::get() - 1;
			assert_ok!(post_result(match_id, ResultStatus::Completed));
			match_id
		})
		.collect()
}

/// Updates the mediator to the default story's terms with `slots` slots.
fn update_slots(slots: u32) -> DispatchResult {
	Market::update_mediator(
		signed(MEDIATOR),
		Architecture::Amd64,
		Terms::default().mediator_capacity,
		slots,
		F_M as Balance,
		layers(&[1]),
	)
}

fn mediation_deadline(match_id: MatchId) -> u64 {
	match Matches::<Test>::get(match_id).map(|m| m.state) {
		Some(MatchState::InMediation { mediation_deadline, .. }) => mediation_deadline,
		other => panic!("match {match_id} is not in mediation: {other:?}"),
	}
}

#[test]
fn disputes_flooded_in_one_block_queue_on_the_mediator_for_any_number_and_slots() {
	// n·(R + F) = 2 · (3 + 6) = 18 blocks of fetches and runs per dispute, the window 40.
	for (count, slots) in [(1, 1), (5, 1), (20, 1), (20, 3), (7, 6), (7, 7)] {
		ExtBuilder::default().build_and_execute(|| {
			let matches = results_posted(count, slots);
			for match_id in &matches {
				reject(*match_id);
			}
			let per_dispute = 18u64.div_ceil(u64::from(slots));
			for (k, match_id) in matches.iter().enumerate() {
				// Dispute k waits for the k before it: now 1 + k·⌈n·(R + F)/slots⌉ + 40 + 18.
				assert_eq!(
					mediation_deadline(*match_id),
					1 + k as u64 * per_dispute + 40 + 18,
					"dispute {k} of {count} with {slots} slot(s)"
				);
			}
			let busy = Mediators::<Test>::get(MEDIATOR).unwrap().busy_until;
			assert_eq!(busy, 1 + count * per_dispute);
		});
	}
}

#[test]
fn twenty_disputes_in_one_block_are_all_mediated_in_time_and_none_pays_from_the_mediators_bond()
{
	ExtBuilder::default().build_and_execute(|| {
		let matches = results_posted(20, 1);
		for match_id in &matches {
			reject(*match_id);
		}
		let bond = Mediators::<Test>::get(MEDIATOR).unwrap().bond;
		// A mediator of one slot works through its queue, a verdict every 6 blocks (its runs
		// take less than the 18 the queue gives each), the last at block 1 + 20·6 = 121, past
		// the 59 every dispute would have had without the queue.
		for (k, match_id) in matches.iter().enumerate() {
			run_to_block(1 + 6 * (k as u64 + 1));
			assert!(mediation_deadline(*match_id) >= System::block_number());
			assert_ok!(verdict(*match_id, Party::JobCreator));
		}
		assert_eq!(System::block_number(), 121);
		for match_id in &matches {
			assert_eq!(ending_of(*match_id), Some(Ending::Mediated(Party::JobCreator)));
		}
		assert_eq!(Mediators::<Test>::get(MEDIATOR).unwrap().bond, bond, "no timeout was paid");
	});
}

#[test]
fn a_mediators_queue_empties_with_time_so_a_late_dispute_starts_from_now() {
	ExtBuilder::default().build_and_execute(|| {
		// 18 slots: a dispute takes one block of the queue.
		let matches = results_posted(2, 18);
		reject(matches[0]);
		assert_eq!(mediation_deadline(matches[0]), 1 + 40 + 18);
		assert_eq!(Mediators::<Test>::get(MEDIATOR).unwrap().busy_until, 2);
		// Its queue has passed by block 10: the next dispute waits for nothing.
		run_to_block(10);
		reject(matches[1]);
		assert_eq!(mediation_deadline(matches[1]), 10 + 40 + 18);
		assert_eq!(Mediators::<Test>::get(MEDIATOR).unwrap().busy_until, 11);
	});
}

#[test]
fn a_mediator_cannot_make_its_matches_undisputable_by_its_slots_or_its_queue() {
	ExtBuilder::default().build_and_execute(|| {
		let matches = results_posted(2, 1);
		// No slot count whose rounding overflows.
		assert_noop!(update_slots(u32::MAX), Error::<Test>::TooManySlots);
		assert_noop!(update_slots(MAX_MEDIATOR_SLOTS + 1), Error::<Test>::TooManySlots);
		assert_ok!(update_slots(MAX_MEDIATOR_SLOTS));
		reject(matches[0]);
		// A queue pushed to the end of time (say by a flood of cheap disputes) delays a dispute
		// by at most one longest job, and never makes it fail.
		Mediators::<Test>::mutate(MEDIATOR, |m| m.as_mut().unwrap().busy_until = u64::MAX - 1);
		reject(matches[1]);
		let max_job_duration = Market::parameters().unwrap().max_job_duration;
		assert_eq!(mediation_deadline(matches[1]), 1 + max_job_duration + 40 + 18);
	});
}

#[test]
fn a_mediator_cannot_lower_its_slots_under_the_disputes_queued_on_them() {
	ExtBuilder::default().build_and_execute(|| {
		let matches = results_posted(2, 4);
		for match_id in &matches {
			reject(*match_id);
		}
		// Two disputes of ⌈18/4⌉ = 5 blocks each: queued until block 11. Their deadlines assumed
		// four slots; one would leave the second no time.
		assert_eq!(Mediators::<Test>::get(MEDIATOR).unwrap().busy_until, 11);
		assert_noop!(update_slots(1), Error::<Test>::DisputesQueued);
		assert_ok!(update_slots(8));
		run_to_block(11);
		assert_ok!(update_slots(1));
	});
}
