//! The market under attack: each test is named after what an adversary tries — blocking,
//! rushing or robbing another party — and shows the chain refuses it. Story numbers as in
//! `protocol.rs`.

use super::protocol::*;
use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok};
use sp_runtime::{DispatchError, Perbill};

fn signed(who: u64) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn set_parameters(change: impl FnOnce(&mut MarketParametersOf<Test>)) {
	let mut parameters = Market::parameters().unwrap();
	change(&mut parameters);
	assert_ok!(Market::set_parameters(RuntimeOrigin::root(), parameters));
}

/// A job offer costing its creator almost nothing (π̂_c = 1), due the block after
/// `completion_deadline`: what a flooding account posts.
fn cheap_job(completion_deadline: u64) -> Terms {
	Terms {
		limits: Resources { cpu: 1, memory: 1, storage: 1, bandwidth: 0 },
		bids: (1, 0),
		completion_deadline,
		jc_deposit: 100,
		..Terms::default()
	}
}

fn index_at(block: u64) -> usize {
	Deadlines::<Test>::iter_prefix(block).count()
}

// ---------------------------------------------------------------------------------------------
// 1. Deadline-index griefing

#[test]
fn a_provider_filling_the_mediation_block_cannot_stop_the_job_creators_rejection() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		// A rejection now makes the match due at 1 + 40 + 2·(3 + 6) + 1 = 60. The provider floods
		// that block with offers expiring there, keeping half and cancelling half at once.
		for i in 0..200 {
			assert_ok!(Market::post_resource_offer(
				signed(RP),
				Terms::default().capacity,
				Architecture::Amd64,
				1,
				1,
				1,
				59,
				FEES,
				1,
			));
			if i % 2 == 0 {
				assert_ok!(Market::cancel_resource_offer(signed(RP), 2 + i));
			}
		}
		assert_eq!(index_at(60), 100, "cancelled offers leave no entry behind");

		assert_ok!(Market::reject_result(signed(JC), match_id, RejectReason::WrongResults));
		assert!(Deadlines::<Test>::contains_key(60, Deadline::Match(match_id)));
		assert_eq!(index_at(14), 0, "the rejection moved the match's entry, not copied it");
	});
}

#[test]
fn a_job_creator_filling_the_reaction_block_cannot_stop_the_providers_result() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		// A result now makes the match due at 1 + 10 + 3 = 14. The job creator floods that
		// block with cheap job offers due there (completion deadline 13).
		let cheap = cheap_job(13);
		for _ in 0..200 {
			assert_ok!(post_job_offer(&cheap));
		}
		assert_eq!(index_at(14), 200);

		assert_ok!(post_result(match_id, ResultStatus::Completed));
		assert!(Deadlines::<Test>::contains_key(14, Deadline::Match(match_id)));
		assert_eq!(index_at(22), 0, "the result moved the match's entry off the result timeout");
	});
}

#[test]
fn cancelled_and_matched_offers_leave_no_index_entry_behind() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms::default();
		let (job, resource) = offers(&terms);
		assert_eq!(Deadlines::<Test>::iter().count(), 2);
		assert_ok!(Market::cancel_job_offer(signed(JC), job));
		assert_ok!(Market::cancel_resource_offer(signed(RP), resource));
		assert_eq!(Deadlines::<Test>::iter().count(), 0);

		assert_ok!(post_job_offer(&terms));
		assert_ok!(post_resource_offer(&terms));
		assert_ok!(Market::post_match(signed(SOLVER), 2, 3, MEDIATOR));
		let entries: Vec<_> = Deadlines::<Test>::iter_keys().collect();
		assert_eq!(
			entries,
			vec![(22, Deadline::Match(0))],
			"one entry for the match, none for its offers"
		);
	});
}

// ---------------------------------------------------------------------------------------------
// 2. The sweep keeps up, and no call waits for it

#[test]
fn no_call_depends_on_how_far_the_sweep_has_got() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		// Ten cheap job offers due the block before the reaction deadline (14); the mock's
		// sweep settles three per block, so it reaches block 14 only at block 16.
		let cheap = cheap_job(12);
		for _ in 0..10 {
			assert_ok!(post_job_offer(&cheap));
		}
		run_to_block(14);
		assert!(Matches::<Test>::contains_key(match_id), "the sweep has not reached the match");
		assert_noop!(
			Market::reject_result(signed(JC), match_id, RejectReason::WrongResults),
			Error::<Test>::TooLate
		);
		assert_ok!(Market::accept_result(signed(RP), match_id));
		assert_eq!(ending_of(match_id), Some(Ending::Accepted));
		// Ten entries due at 13, three per block: the last settles at 13 + ⌈10/3⌉ - 1 = 16.
		run_to_block(15);
		assert_eq!(Deadlines::<Test>::iter().count(), 1);
		run_to_block(16);
		assert_eq!(Deadlines::<Test>::iter().count(), 0);
	});
}

#[test]
fn a_flood_of_offers_due_with_a_match_does_not_delay_its_settlement() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		let cheap = cheap_job(13);
		for _ in 0..10 {
			assert_ok!(post_job_offer(&cheap));
		}
		// Eleven entries due at 14; matches are swept first.
		run_to_block(14);
		assert_eq!(ending_of(match_id), Some(Ending::Accepted));
		assert_eq!(index_at(14), 8);
	});
}

// ---------------------------------------------------------------------------------------------
// 3. Deadlines from numbers an adversary picks

#[test]
fn a_provider_claiming_an_absurd_speed_leaves_the_mediator_n_full_runs() {
	ExtBuilder::default().build_and_execute(|| {
		// A job of 5 000 cpu units: R = ⌈5 000/50⌉ + ⌈50/50⌉ = 101 blocks at the reference
		// speed, whatever the provider claims.
		let terms = Terms {
			rp_speed: u64::MAX,
			limits: Resources { cpu: 5_000, memory: 64, storage: 10, bandwidth: 50 },
			capacity: Resources { cpu: 5_000, memory: 512, storage: 100, bandwidth: 1_000 },
			mediator_capacity: Resources { cpu: 5_000, memory: 512, storage: 100, bandwidth: 1_000 },
			bids: (0, 1),
			asks: (0, 1),
			..Terms::default()
		};
		let (job, resource) = offers(&terms);
		assert_eq!(JobOffers::<Test>::get(job).unwrap().run_length, 101);
		assert_ok!(Market::post_match(signed(SOLVER), job, resource, MEDIATOR));
		dispute(0, RejectReason::WrongResults);
		// now 1 + mediation window 40 + n 2 · (R 101 + F 6), not 1 + 40 + 2·⌈5 000/u64::MAX⌉.
		assert!(has_event(Event::JobAssignedForMediation {
			match_id: 0,
			mediator: MEDIATOR,
			reason: RejectReason::WrongResults,
			mediation_deadline: 255,
		}));
		run_to_block(255);
		assert!(Matches::<Test>::contains_key(0), "the mediator still has time for its runs");
		assert_ok!(verdict(0, Party::ResourceProvider));
	});
}

#[test]
fn a_provider_matched_at_the_last_moment_still_gives_the_job_creator_a_run_to_verify() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms::default();
		let (job, resource) = offers(&terms);
		// The latest block a match fits: 19 + ⌈100/50⌉ = 21, the completion deadline.
		run_to_block(19);
		assert_ok!(Market::post_match(signed(SOLVER), job, resource, MEDIATOR));
		// The provider lowers its declared speed afterwards: R stays what the job fixed.
		assert_ok!(Market::update_resource_provider(
			signed(RP),
			Architecture::Amd64,
			1,
			layers(&[1])
		));
		assert_ok!(post_result(0, ResultStatus::Completed));
		assert!(has_event(Event::ResultPosted {
			match_id: 0,
			receipt: Receipt {
				status: ResultStatus::Completed,
				usage: USAGE,
				result_digest: RESULT
			},
			// now 19 + reaction window 10 + R 3
			reaction_deadline: 32,
		}));
	});
}

// ---------------------------------------------------------------------------------------------
// 4. Mediator failure is paid by the mediator's bond

#[test]
fn a_silent_mediator_pays_both_parties_from_its_bond_and_the_job_creator_pays_nothing_to_the_provider(
) {
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		dispute(match_id, RejectReason::WrongResults);
		run_to_block(60);
		assert_eq!(ending_of(match_id), Some(Ending::NoMediationResult));
		let half = ESTIMATE / 2;
		let [jc, rp, mediator, ..] = core::array::from_fn::<i128, 6, _>(|i| worth()[i] - before[i]);
		assert_eq!(
			(jc, rp, mediator),
			(-INCENTIVE - F_D + half, -INCENTIVE - F_D + half, -2 * half)
		);
		assert_eq!(
			Reputations::<Test>::get(MEDIATOR, Role::Mediator),
			Reputation::default(),
			"too cheap to count"
		);
	});
}

/// Terms whose π̂_c (1 250) is above the mediator's bond (1 000): the reservation does not fit.
fn expensive() -> Terms {
	Terms {
		limits: Resources { cpu: 600, memory: 64, storage: 10, bandwidth: 50 },
		jc_deposit: 70_000,
		rp_deposit: 70_000,
		..Terms::default()
	}
}

#[test]
fn a_match_reserves_what_the_mediator_and_directory_may_owe_and_refuses_short_bonds() {
	ExtBuilder::default().build_and_execute(|| {
		let (job, resource) = offers(&expensive());
		assert_eq!(dry_run(job, resource), Err(Error::<Test>::MediatorBondShort.into()));
		assert_ok!(Market::top_up_bond(signed(MEDIATOR), Role::Mediator, 1_000));
		// π_m = 2 500 of the directory's 1 000.
		assert_eq!(dry_run(job, resource), Err(Error::<Test>::DirectoryBondShort.into()));
		assert_ok!(Market::top_up_bond(signed(DIRECTORY), Role::Directory, 1_500));
		assert_ok!(Market::post_match(signed(SOLVER), job, resource, MEDIATOR));
		assert_eq!(Mediators::<Test>::get(MEDIATOR).unwrap().reserved, 1_250);
		assert_eq!(Directories::<Test>::get(DIRECTORY).unwrap().reserved, 2_500);

		// A second match cannot count on the part already reserved.
		assert_ok!(post_job_offer(&expensive()));
		assert_ok!(post_resource_offer(&expensive()));
		assert_noop!(
			Market::post_match(signed(SOLVER), 2, 3, MEDIATOR),
			Error::<Test>::MediatorBondShort
		);
		assert_noop!(Market::top_up_bond(signed(JC), Role::JobCreator, 1), Error::<Test>::NoBond);
		assert_noop!(
			Market::top_up_bond(signed(EVE), Role::Mediator, 1),
			Error::<Test>::NotRegistered
		);

		// Closing gives the reservations back.
		assert_ok!(post_result(0, ResultStatus::Completed));
		assert_ok!(Market::accept_result(signed(JC), 0));
		assert_eq!(Mediators::<Test>::get(MEDIATOR).unwrap().reserved, 0);
		assert_eq!(Directories::<Test>::get(DIRECTORY).unwrap().reserved, 0);
	});
}

#[test]
fn a_mediator_or_directory_below_the_minimum_bond_is_not_matched_until_topped_up() {
	ExtBuilder::default().build_and_execute(|| {
		let (job, resource) = offers(&Terms::default());
		set_parameters(|p| p.min_bond = 1_500);
		assert_eq!(dry_run(job, resource), Err(Error::<Test>::MediatorBondBelowMinimum.into()));
		assert_ok!(Market::top_up_bond(signed(MEDIATOR), Role::Mediator, 500));
		assert!(has_event(Event::BondToppedUp {
			who: MEDIATOR,
			role: Role::Mediator,
			bond: 1_500
		}));
		assert_eq!(dry_run(job, resource), Err(Error::<Test>::DirectoryBondBelowMinimum.into()));
		assert_ok!(Market::top_up_bond(signed(DIRECTORY), Role::Directory, 500));
		assert_ok!(Market::post_match(signed(SOLVER), job, resource, MEDIATOR));
	});
}

// ---------------------------------------------------------------------------------------------
// 5. Fee front-running

#[test]
fn a_mediator_or_directory_raising_its_fee_after_the_offers_cannot_take_more_of_the_deposits() {
	type Case = (fn(&mut Terms), fn(), Error<Test>);
	let raise_mediator = || {
		let terms = Terms::default();
		assert_ok!(Market::update_mediator(
			signed(MEDIATOR),
			Architecture::Amd64,
			terms.mediator_capacity,
			terms.mediator_slots,
			11,
			layers(&[1])
		));
	};
	let raise_directory = || {
		assert_ok!(Market::update_directory(signed(DIRECTORY), list(b"http://127.0.0.1:5000"), 6));
	};
	let cases: [Case; 4] = [
		(|_| {}, raise_mediator, Error::MediatorFeeAboveJobMaximum),
		(|t| t.jc_max_fees.mediator = 20, raise_mediator, Error::MediatorFeeAboveProviderMaximum),
		(|_| {}, raise_directory, Error::DirectoryFeeAboveJobMaximum),
		(
			|t| t.jc_max_fees.directory = 20,
			raise_directory,
			Error::DirectoryFeeAboveProviderMaximum,
		),
	];
	for (terms, raise, error) in cases {
		ExtBuilder::default().build_and_execute(|| {
			let mut t = Terms::default();
			terms(&mut t);
			let (job, resource) = offers(&t);
			assert_eq!(dry_run(job, resource).map(|_| ()), Ok(()));
			// Seen in the pool: the fee goes up before the match lands.
			raise();
			assert_noop!(Market::post_match(signed(SOLVER), job, resource, MEDIATOR), error);
		});
	}
}

// ---------------------------------------------------------------------------------------------
// 6. Verdict scope

#[test]
fn a_mediator_can_fault_the_directory_only_where_its_availability_was_disputed() {
	let directory_verdict = |status: ResultStatus, reason: RejectReason| {
		let mut result = Ok(());
		ExtBuilder::default().build_and_execute(|| {
			let match_id = matched();
			assert_ok!(post_result(match_id, status));
			assert_ok!(Market::reject_result(signed(JC), match_id, reason));
			result = verdict(match_id, Party::Directory);
			if result.is_err() {
				// The mediator can still name a party the dispute is about.
				assert_ok!(verdict(match_id, Party::ResourceProvider));
			}
		});
		result
	};
	let refused: DispatchError = Error::<Test>::DirectoryVerdictNotAllowed.into();
	use crate::{RejectReason::*, ResultStatus::*};
	assert_eq!(directory_verdict(Completed, WrongResults), Err(refused));
	assert_eq!(directory_verdict(Completed, TooMuchCost), Err(refused));
	assert_eq!(directory_verdict(Completed, InvalidResultStatus), Err(refused));
	assert_eq!(directory_verdict(ExceptionOccurred, InvalidResultStatus), Err(refused));
	assert_eq!(directory_verdict(Completed, ResultNotFound), Ok(()));
	assert_eq!(directory_verdict(DirectoryUnavailable, InvalidResultStatus), Ok(()));
	assert_eq!(directory_verdict(JobNotFound, InvalidResultStatus), Ok(()));
}

#[test]
fn a_provider_that_ran_nothing_cannot_charge_for_cpu_or_bandwidth() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		for status in ResultStatus::ALL.into_iter().filter(ResultStatus::never_started) {
			for usage in [USAGE, Resources { cpu: 1, ..Default::default() }, Resources { bandwidth: 1, ..Default::default() }] {
				assert_noop!(
					Market::post_result(signed(RP), match_id, status, usage, None),
					Error::<Test>::UsageWithoutRun
				);
			}
		}
		// What it did not run it reports at zero, and is paid nothing for it.
		assert_ok!(Market::post_result(signed(RP), match_id, ResultStatus::Declined, Resources::default(), None));
	});
}

#[test]
fn a_job_creator_cannot_dispute_an_archive_the_provider_never_posted_as_not_found() {
	ExtBuilder::default().build_and_execute(|| {
		// The job creator never pushed its image; the provider reports that, with no archive.
		let match_id = matched();
		assert_ok!(Market::post_result(
			signed(RP),
			match_id,
			ResultStatus::JobNotFound,
			Resources::default(),
			None
		));
		assert_noop!(
			Market::reject_result(signed(JC), match_id, RejectReason::ResultNotFound),
			Error::<Test>::NoResultToFind
		);
		// The status itself can be disputed, and the mediator checks the directory.
		assert_ok!(Market::reject_result(signed(JC), match_id, RejectReason::InvalidResultStatus));
	});
}

#[test]
fn a_job_creator_cannot_be_the_directory_that_would_refuse_its_providers_result() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms::default();
		register(&terms);
		assert_ok!(Market::register_directory(
			signed(JC),
			list(b"http://jc.example"),
			1,
			list(&[MEDIATOR]),
			MIN_BOND
		));
		assert_ok!(Market::trust_directory(signed(RP), Role::ResourceProvider, JC));
		assert_ok!(Market::trust_directory(signed(MEDIATOR), Role::Mediator, JC));
		assert_ok!(Market::post_job_offer(
			signed(JC),
			terms.limits,
			Architecture::Amd64,
			ImageOf::<Test> { repository: list(b"jobs/fib"), digest: [7; 32] },
			[1; 32],
			JC,
			2,
			1,
			21,
			FEES,
			None,
			DEPOSIT,
		));
		assert_ok!(post_resource_offer(&terms));
		assert_noop!(
			Market::post_match(signed(SOLVER), 0, 1, MEDIATOR),
			Error::<Test>::DirectoryIsJobCreator
		);
	});
}

// ---------------------------------------------------------------------------------------------
// 7. Parameters

/// 100 % + 1 ppb: `Perbill`'s constructors and decoding clamp or refuse it, but a genesis
/// config read through serde does not.
fn over_100() -> Perbill {
	serde_json::from_str("1000000001").expect("serde reads a bare Perbill")
}

#[test]
fn root_cannot_set_parameters_under_which_a_protocol_step_can_never_land() {
	type Change = fn(&mut MarketParametersOf<Test>);
	let cases: Vec<(Change, Error<Test>)> = vec![
		(|p| p.verification_count = 0, Error::ZeroVerificationCount),
		(|p| p.penalty_rate = 0, Error::ZeroPenaltyRate),
		(|p| p.reaction_window = 0, Error::ReactionWindowTooShort),
		(|p| p.reaction_window = 1, Error::ReactionWindowTooShort),
		(|p| p.mediation_window = p.heartbeat_period + 1, Error::MediationWindowTooShort),
		(|p| p.too_much_cost_tolerance = over_100(), Error::TooMuchCostToleranceAbove100),
		(|p| p.reputation_decay = over_100(), Error::ReputationDecayAbove100),
		(|p| p.reputation_fee = over_100(), Error::ReputationFeeAbove100),
		(|p| p.reference_speed = 0, Error::ZeroReferenceSpeed),
		(|p| p.reference_bandwidth = 0, Error::ZeroReferenceBandwidth),
		(|p| p.min_bond = 0, Error::ZeroMinBond),
		(|p| p.max_job_duration = 0, Error::ZeroMaxJobDuration),
		(|p| p.max_offer_window = 0, Error::ZeroMaxOfferWindow),
		(|p| p.fetch_grace = p.max_job_duration + 1, Error::FetchGraceTooLong),
		(|p| p.fetch_grace = 0, Error::ZeroFetchGrace),
		(|p| p.min_resource_deposit = 0, Error::MinResourceDepositBelowStorageDeposit),
		(|p| p.max_job_duration = u64::MAX / 4, Error::HorizonOverflow),
		(|p| p.max_offer_window = u64::MAX, Error::HorizonOverflow),
	];
	for (change, error) in cases {
		ExtBuilder::default().build_and_execute(|| {
			let mut parameters = Market::parameters().unwrap();
			change(&mut parameters);
			assert_noop!(Market::set_parameters(RuntimeOrigin::root(), parameters), error);
		});
	}
	// The boundaries themselves are valid.
	ExtBuilder::default().build_and_execute(|| {
		set_parameters(|p| {
			p.reaction_window = 2;
			p.mediation_window = p.heartbeat_period + 2;
			p.too_much_cost_tolerance = Perbill::one();
			p.penalty_rate = 1;
			p.fetch_grace = p.max_job_duration;
		});
	});
}

#[test]
fn offers_beyond_the_market_horizons_are_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms::default();
		register(&terms);
		// MaxJobDuration 1 000 and MaxOfferWindow 1 000 blocks; now is block 1.
		let far = Terms { completion_deadline: 1_002, window: (1, 1_100), ..Terms::default() };
		assert_noop!(post_job_offer(&far), Error::<Test>::DeadlineTooFar);
		let long = Terms {
			limits: Resources { cpu: 50_000, memory: 1, storage: 1, bandwidth: 0 },
			bids: (0, 0),
			..Terms::default()
		};
		// R = 1 000 fits; one more cpu unit per block's worth does not.
		assert_ok!(post_job_offer(&long));
		let longer = Terms { limits: Resources { cpu: 50_001, ..long.limits }, ..long };
		assert_noop!(post_job_offer(&longer), Error::<Test>::JobTooLong);
		let wide = Terms { window: (1, 1_002), ..Terms::default() };
		assert_noop!(post_resource_offer(&wide), Error::<Test>::OfferWindowTooLong);
		let edge = Terms { window: (1, 1_001), ..Terms::default() };
		assert_ok!(post_resource_offer(&edge));
		// A window that started long ago counts whole.
		run_to_block(10);
		let old = Terms { window: (1, 1_002), ..Terms::default() };
		assert_noop!(post_resource_offer(&old), Error::<Test>::OfferWindowTooLong);
	});
}

// ---------------------------------------------------------------------------------------------
// Reputation

/// The story's matches count (π̂_c 250 ≥ 100); λ = 98 %, fee 1 %.
fn counting() {
	set_parameters(|p| p.min_reputation_price = 100);
}

#[test]
fn an_accepted_completed_result_earns_the_provider_a_success_and_costs_the_reputation_fee() {
	ExtBuilder::default().build_and_execute(|| {
		counting();
		let before = worth();
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		assert_ok!(Market::accept_result(signed(JC), match_id));
		let reputation = Market::reputation(&RP, Role::ResourceProvider);
		assert_eq!(reputation.successes, REPUTATION_UNIT);
		assert_eq!(reputation.failures, 0);
		assert_eq!(reputation.endings.accepted, 1);
		assert_eq!(reputation.score(), Perbill::from_rational(2u32, 3u32));
		// ⌊1 % · 250⌋ = 2 from the provider's deposit to the welfare pool.
		let mut expected = accepted_changes();
		expected[1] -= 2;
		expected[5] += 2;
		assert_changes(before, expected);
		assert_eq!(Market::reputation(&MEDIATOR, Role::Mediator), Reputation::default());
	});
}

#[test]
fn every_ending_moves_the_provider_and_mediator_reputations_as_the_protocol_says() {
	let after = |act: fn(MatchId)| {
		let mut result = (Reputation::default(), Reputation::default());
		ExtBuilder::default().build_and_execute(|| {
			counting();
			let match_id = matched();
			act(match_id);
			assert!(!Matches::<Test>::contains_key(match_id));
			result = (
				Market::reputation(&RP, Role::ResourceProvider),
				Market::reputation(&MEDIATOR, Role::Mediator),
			);
		});
		result
	};
	let (s, f) = (REPUTATION_UNIT, REPUTATION_UNIT);
	let sf = |r: &Reputation| (r.successes, r.failures, r.counted());

	let (rp, m) = after(|id| {
		assert_ok!(post_result(id, ResultStatus::ExceptionOccurred));
		assert_ok!(Market::accept_result(signed(JC), id));
	});
	assert_eq!((sf(&rp), sf(&m)), ((0, 0, 1), (0, 0, 0)), "accepted failure: neither");
	let (rp, m) = after(|id| {
		dispute(id, RejectReason::WrongResults);
		assert_ok!(verdict(id, Party::JobCreator));
	});
	assert_eq!((sf(&rp), sf(&m)), ((s, 0, 1), (s, 0, 1)), "job creator at fault");
	let (rp, m) = after(|id| {
		dispute(id, RejectReason::WrongResults);
		assert_ok!(verdict(id, Party::ResourceProvider));
	});
	assert_eq!((sf(&rp), sf(&m)), ((0, f, 1), (s, 0, 1)), "provider at fault");
	let (rp, m) = after(|id| {
		dispute(id, RejectReason::ResultNotFound);
		assert_ok!(verdict(id, Party::Directory));
	});
	assert_eq!((sf(&rp), sf(&m)), ((0, 0, 1), (s, 0, 1)), "directory at fault");
	let (rp, m) = after(|_| run_to_block(22));
	assert_eq!((sf(&rp), sf(&m)), ((0, f, 1), (0, 0, 0)), "no result");
	let (rp, m) = after(|id| {
		dispute(id, RejectReason::WrongResults);
		run_to_block(60);
	});
	assert_eq!((sf(&rp), sf(&m)), ((0, 0, 1), (0, f, 1)), "mediation timeout");
	assert_eq!(m.endings.no_mediation_result, 1);
}

#[test]
fn reputation_decays_by_lambda_at_each_counted_match_and_not_while_idle() {
	let mut r = Reputation::default();
	assert_eq!((r.score(), r.counted()), (Perbill::from_percent(50), 0));
	let lambda = Perbill::from_percent(50);
	r.record(Ending::Accepted, Outcome::Success, lambda);
	r.record(Ending::Accepted, Outcome::Success, lambda);
	r.record(Ending::NoResult, Outcome::Failure, lambda);
	// s = (1·½ + 1)·½ = 0.75, f = 1.
	assert_eq!((r.successes, r.failures, r.counted()), (750_000_000, REPUTATION_UNIT, 3));
	assert_eq!(r.score(), Perbill::from_rational(1_750u32, 3_750u32));
	ExtBuilder::default().build_and_execute(|| {
		counting();
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		assert_ok!(Market::accept_result(signed(JC), match_id));
		let before = Market::reputation(&RP, Role::ResourceProvider);
		run_to_block(500);
		assert_eq!(Market::reputation(&RP, Role::ResourceProvider), before);
	});
}

#[test]
fn a_provider_below_the_jobs_minimum_reputation_is_not_matched() {
	ExtBuilder::default().build_and_execute(|| {
		counting();
		let demanding = Terms {
			min_reputation: Some(MinReputation { score: Perbill::from_percent(60), counted: 1 }),
			..Terms::default()
		};
		let (job, resource) = offers(&demanding);
		assert_noop!(
			Market::post_match(signed(SOLVER), job, resource, MEDIATOR),
			Error::<Test>::ReputationTooLow
		);
		// One honest match later the provider scores 2/3 with one counted match.
		assert_ok!(post_job_offer(&Terms::default()));
		assert_ok!(Market::post_match(signed(SOLVER), 2, resource, MEDIATOR));
		assert_ok!(post_result(0, ResultStatus::Completed));
		assert_ok!(Market::accept_result(signed(JC), 0));
		assert_ok!(post_resource_offer(&demanding));
		assert_ok!(Market::post_match(signed(SOLVER), job, 3, MEDIATOR));
	});
}

#[test]
fn matches_with_oneself_or_below_the_minimum_price_buy_no_reputation() {
	ExtBuilder::default().build_and_execute(|| {
		counting();
		// The job creator is its own provider.
		let terms = Terms::default();
		register(&terms);
		assert_ok!(Market::register_resource_provider(
			signed(JC),
			Architecture::Amd64,
			50,
			list(&[MEDIATOR]),
			list(&[DIRECTORY]),
			layers(&[1]),
		));
		assert_ok!(post_job_offer(&terms));
		assert_ok!(Market::post_resource_offer(
			signed(JC),
			terms.capacity,
			Architecture::Amd64,
			1,
			1,
			1,
			100,
			FEES,
			DEPOSIT
		));
		assert_ok!(Market::post_match(signed(SOLVER), 0, 1, MEDIATOR));
		assert_ok!(Market::post_result(signed(JC), 0, ResultStatus::Completed, USAGE, RESULT));
		assert_ok!(Market::accept_result(signed(JC), 0));
		assert_eq!(Market::reputation(&JC, Role::ResourceProvider), Reputation::default());
	});
	ExtBuilder::default().build_and_execute(|| {
		// π̂_c 250 below the default minimum price of 1 000.
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		assert_ok!(Market::accept_result(signed(JC), match_id));
		assert_eq!(Market::reputation(&RP, Role::ResourceProvider), Reputation::default());
	});
}
