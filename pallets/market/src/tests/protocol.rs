//! The protocol's story: offers, matching, results, mediation, every timeout, and every ending
//! of the payout table with exact balances for every party.
//!
//! The numbers of every story: limits of 100 cpu units and 50 KiB, bids of 2 and 1, so
//! π̂_c = 250; θ = 50, n = 2, incentive 1, f_M = 10, f_D = 5, so d_min = 13 016. Asks of 1 and
//! 1, and a reported usage of 80 cpu units and 40 KiB, so π_c = 120. Each party deposits 15 000.

use crate::{mock::*, *};
use frame_support::{
	assert_noop, assert_ok,
	traits::{fungible::Inspect, Hooks},
	BoundedVec,
};
use sp_runtime::{DispatchError, DispatchResult};

pub(super) const JC: u64 = ALICE;
pub(super) const RP: u64 = BOB;
pub(super) const MEDIATOR: u64 = CHARLIE;
pub(super) const DIRECTORY: u64 = DAVE;
pub(super) const SOLVER: u64 = EVE;
pub(super) const F_M: i128 = 10;
pub(super) const F_D: i128 = 5;
pub(super) const INCENTIVE: i128 = 1;
pub(super) const DEPOSIT: Balance = 15_000;
pub(super) const ESTIMATE: i128 = 250;
pub(super) const D_MIN: Balance = 13_016;
pub(super) const PRICE: i128 = 120;
pub(super) const MEDIATION: i128 = ESTIMATE * 2;
pub(super) const USAGE: Resources = Resources { cpu: 80, memory: 30, storage: 5, bandwidth: 40 };
pub(super) const RESULT: Option<Digest> = Some([9; 32]);
/// Both offers accept exactly the story's fees.
pub(super) const FEES: MaxFees<Balance> =
	MaxFees { mediator: F_M as Balance, directory: F_D as Balance };
/// R = ⌈100 / 50⌉ + ⌈50 / 50⌉ at the test parameters' reference speed and bandwidth.
pub(super) const RUN_LENGTH: u64 = 3;

/// Every knob of a match; the default is feasible.
#[derive(Clone)]
pub(super) struct Terms {
	pub(super) rp_speed: u64,
	pub(super) rp_layers: Vec<u8>,
	pub(super) rp_trusts_mediator: bool,
	pub(super) rp_trusts_directory: bool,
	pub(super) jc_trusts_mediator: bool,
	pub(super) mediator_architecture: Architecture,
	pub(super) mediator_layers: Vec<u8>,
	pub(super) mediator_trusts_directory: bool,
	pub(super) mediator_capacity: Resources,
	pub(super) mediator_slots: u32,
	pub(super) directory_trusts_mediator: bool,
	pub(super) capacity: Resources,
	pub(super) resource_architecture: Architecture,
	pub(super) asks: (Balance, Balance),
	pub(super) window: (u64, u64),
	pub(super) rp_deposit: Balance,
	pub(super) limits: Resources,
	pub(super) job_architecture: Architecture,
	pub(super) base_layer: u8,
	pub(super) bids: (Balance, Balance),
	pub(super) completion_deadline: u64,
	pub(super) jc_deposit: Balance,
	pub(super) jc_max_fees: MaxFees<Balance>,
	pub(super) rp_max_fees: MaxFees<Balance>,
	pub(super) min_reputation: Option<MinReputation>,
}

impl Default for Terms {
	fn default() -> Self {
		Terms {
			rp_speed: 50,
			rp_layers: vec![1, 2],
			rp_trusts_mediator: true,
			rp_trusts_directory: true,
			jc_trusts_mediator: true,
			mediator_architecture: Architecture::Amd64,
			mediator_layers: vec![1],
			mediator_trusts_directory: true,
			mediator_capacity: Resources { cpu: 1_000, memory: 512, storage: 100, bandwidth: 1_000 },
			mediator_slots: 1,
			directory_trusts_mediator: true,
			capacity: Resources { cpu: 1_000, memory: 512, storage: 100, bandwidth: 1_000 },
			resource_architecture: Architecture::Amd64,
			asks: (1, 1),
			window: (1, 100),
			rp_deposit: DEPOSIT,
			limits: Resources { cpu: 100, memory: 64, storage: 10, bandwidth: 50 },
			job_architecture: Architecture::Amd64,
			base_layer: 1,
			bids: (2, 1),
			completion_deadline: 21,
			jc_deposit: DEPOSIT,
			jc_max_fees: FEES,
			rp_max_fees: FEES,
			min_reputation: None,
		}
	}
}

pub(super) fn list<T: Clone, S: frame_support::traits::Get<u32>>(items: &[T]) -> BoundedVec<T, S> {
	BoundedVec::try_from(items.to_vec()).ok().expect("test lists fit")
}

pub(super) fn layers(ids: &[u8]) -> BaseLayersOf<Test> {
	list(&ids.iter().map(|i| [*i; 32]).collect::<Vec<_>>())
}

/// Registers the directory, the mediator, the job creator and the provider on `terms`; the
/// directory trusts the mediator once both are registered.
pub(super) fn register(terms: &Terms) {
	assert_ok!(Market::register_directory(
		RuntimeOrigin::signed(DIRECTORY),
		list(b"http://127.0.0.1:5000"),
		F_D as Balance,
		list(&[]),
		MIN_BOND,
	));
	let trusted_directories: &[u64] =
		if terms.mediator_trusts_directory { &[DIRECTORY] } else { &[] };
	assert_ok!(Market::register_mediator(
		RuntimeOrigin::signed(MEDIATOR),
		terms.mediator_architecture,
		terms.mediator_capacity,
		terms.mediator_slots,
		F_M as Balance,
		list(trusted_directories),
		layers(&terms.mediator_layers),
		MIN_BOND,
	));
	if terms.directory_trusts_mediator {
		assert_ok!(Market::trust_mediator(
			RuntimeOrigin::signed(DIRECTORY),
			Role::Directory,
			MEDIATOR
		));
	}
	let jc_mediators: &[u64] = if terms.jc_trusts_mediator { &[MEDIATOR] } else { &[] };
	assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(JC), list(jc_mediators)));
	let rp_mediators: &[u64] = if terms.rp_trusts_mediator { &[MEDIATOR] } else { &[] };
	let rp_directories: &[u64] = if terms.rp_trusts_directory { &[DIRECTORY] } else { &[] };
	assert_ok!(Market::register_resource_provider(
		RuntimeOrigin::signed(RP),
		terms.resource_architecture,
		terms.rp_speed,
		list(rp_mediators),
		list(rp_directories),
		layers(&terms.rp_layers),
	));
}

pub(super) fn post_job_offer(terms: &Terms) -> DispatchResult {
	post_job_offer_as(JC, terms)
}

/// `who`'s job offer on `terms`.
pub(super) fn post_job_offer_as(who: u64, terms: &Terms) -> DispatchResult {
	Market::post_job_offer(
		RuntimeOrigin::signed(who),
		terms.limits,
		terms.job_architecture,
		ImageOf::<Test> { repository: list(b"jobs/fib"), digest: [7; 32] },
		[terms.base_layer; 32],
		DIRECTORY,
		terms.bids.0,
		terms.bids.1,
		terms.completion_deadline,
		terms.jc_max_fees,
		terms.min_reputation,
		terms.jc_deposit,
	)
}

pub(super) fn post_resource_offer(terms: &Terms) -> DispatchResult {
	Market::post_resource_offer(
		RuntimeOrigin::signed(RP),
		terms.capacity,
		terms.resource_architecture,
		terms.asks.0,
		terms.asks.1,
		terms.window.0,
		terms.window.1,
		terms.rp_max_fees,
		terms.rp_deposit,
	)
}

/// Registers everyone and posts both offers; returns (job offer, resource offer).
pub(super) fn offers(terms: &Terms) -> (OfferId, OfferId) {
	register(terms);
	assert_ok!(post_job_offer(terms));
	assert_ok!(post_resource_offer(terms));
	(0, 1)
}

/// A match made by the solver on the default terms.
pub(super) fn matched() -> MatchId {
	let (job, resource) = offers(&Terms::default());
	assert_ok!(Market::post_match(RuntimeOrigin::signed(SOLVER), job, resource, MEDIATOR));
	0
}

/// A completed result the job creator disputes for `reason`.
pub(super) fn dispute(match_id: MatchId, reason: RejectReason) {
	assert_ok!(post_result(match_id, ResultStatus::Completed));
	assert_ok!(Market::reject_result(RuntimeOrigin::signed(JC), match_id, reason));
}

/// The mediator's verdict on a disputed match.
pub(super) fn verdict(match_id: MatchId, faulty: Party) -> DispatchResult {
	Market::post_mediation_result(RuntimeOrigin::signed(MEDIATOR), match_id, faulty, None)
}

pub(super) fn post_result(match_id: MatchId, status: ResultStatus) -> DispatchResult {
	let digest = if status.never_started() { None } else { RESULT };
	Market::post_result(RuntimeOrigin::signed(RP), match_id, status, usage_of(status), digest)
}

/// What an honest provider reports with `status`: nothing for a job whose container never
/// started.
pub(super) fn usage_of(status: ResultStatus) -> Resources {
	if status.never_started() {
		Resources::default()
	} else {
		USAGE
	}
}

pub(super) const PARTIES: [u64; 6] = [JC, RP, MEDIATOR, DIRECTORY, SOLVER, POOL];
pub(super) const POOL: u64 = u64::MAX;

pub(super) fn pool_account(who: u64) -> u64 {
	if who == POOL {
		Market::account_id()
	} else {
		who
	}
}

/// Free plus held balance of every party (bonds included).
pub(super) fn worth() -> [i128; 6] {
	PARTIES.map(|who| Balances::total_balance(&pool_account(who)) as i128)
}

/// Asserts each party's change since `before`, in the order JC, RP, M, D, solver, pool, and
/// that the changes sum to zero.
pub(super) fn assert_changes(before: [i128; 6], expected: [i128; 6]) {
	let after = worth();
	let changes: Vec<i128> = after.iter().zip(before).map(|(a, b)| a - b).collect();
	assert_eq!(changes, expected.to_vec(), "changes of JC, RP, M, D, solver, pool");
	assert_eq!(expected.iter().sum::<i128>(), 0, "no token is created or destroyed");
}

/// The runtime API's dry-run of a match with the story's mediator.
pub(super) fn dry_run(job: OfferId, resource: OfferId) -> Result<Balance, DispatchError> {
	Market::feasibility(job, resource, &MEDIATOR).map_err(DispatchError::from)
}

pub(super) fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event was deposited").event
}

pub(super) fn has_event(event: Event<Test>) -> bool {
	let event: RuntimeEvent = event.into();
	System::events().iter().any(|record| record.event == event)
}

pub(super) fn ending_of(match_id: MatchId) -> Option<Ending> {
	System::events().into_iter().find_map(|record| match record.event {
		RuntimeEvent::Market(Event::MatchClosed { match_id: id, ending, .. }) if id == match_id => {
			Some(ending)
		}
		_ => None,
	})
}

// ---------------------------------------------------------------------------------------------
// Offers

#[test]
fn offers_hold_their_deposits_until_cancelled() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms::default();
		let before = worth();
		let (job, resource) = offers(&terms);
		assert_eq!(Balances::balance(&JC), ENDOWMENT - DEPOSIT);
		assert_eq!(Balances::balance(&RP), ENDOWMENT - DEPOSIT);
		assert_eq!(JobOffers::<Test>::get(job).unwrap().state, OfferState::Open);

		assert_noop!(
			Market::cancel_job_offer(RuntimeOrigin::signed(RP), job),
			Error::<Test>::NotOwner
		);
		assert_ok!(Market::cancel_job_offer(RuntimeOrigin::signed(JC), job));
		assert_eq!(last_event(), Event::OfferCancelled { offer: job, owner: JC }.into());
		assert_ok!(Market::cancel_resource_offer(RuntimeOrigin::signed(RP), resource));
		assert_noop!(
			Market::cancel_resource_offer(RuntimeOrigin::signed(RP), resource),
			Error::<Test>::UnknownOffer
		);
		assert_changes(before, [0, 0, 0, 0, 0, 0]);
		assert_eq!(Balances::balance(&JC), ENDOWMENT);
	});
}

#[test]
fn job_offer_deposit_must_cover_penalty_mediation_incentive_maximum_fees_and_storage() {
	ExtBuilder::default().build_and_execute(|| {
		let mut terms = Terms::default();
		register(&terms);
		// π̂_c·(θ + n) + incentive + max f_M + max f_D + storage = 250 · 52 + 1 + 10 + 5 + 1.
		terms.jc_deposit = 13_016;
		assert_noop!(post_job_offer(&terms), Error::<Test>::DepositTooLow);
		terms.jc_deposit = 13_017;
		assert_ok!(post_job_offer(&terms));
		assert_eq!(JobOffers::<Test>::get(0).unwrap().run_length, RUN_LENGTH);
	});
}

#[test]
fn bad_offers_are_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms::default();
		register(&terms);
		let refused = |change: fn(&mut Terms), error: Error<Test>, job: bool| {
			let mut t = Terms::default();
			change(&mut t);
			let result = if job { post_job_offer(&t) } else { post_resource_offer(&t) };
			assert_noop!(result, error);
		};
		refused(|t| t.completion_deadline = 1, Error::<Test>::DeadlineInPast, true);
		refused(|t| t.limits.cpu = 0, Error::<Test>::ZeroCpuLimit, true);
		refused(|t| t.jc_deposit = ENDOWMENT * 2, Error::<Test>::InsufficientBalance, true);
		refused(|t| t.window = (10, 5), Error::<Test>::InvalidWindow, false);
		refused(|t| t.rp_deposit = 0, Error::<Test>::DepositTooLow, false);
		refused(
			|t| t.resource_architecture = Architecture::Arm64,
			Error::<Test>::ArchitectureNotRegistered,
			false,
		);
		assert_noop!(
			Market::post_resource_offer(
				RuntimeOrigin::signed(EVE),
				terms.capacity,
				Architecture::Amd64,
				1,
				1,
				1,
				100,
				FEES,
				DEPOSIT
			),
			Error::<Test>::NotRegistered
		);
	});
}

#[test]
fn unmatched_offers_expire_and_release_their_deposits() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms { window: (1, 30), ..Terms::default() };
		let before = worth();
		let (job, resource) = offers(&terms);
		run_to_block(terms.completion_deadline + 1);
		assert!(has_event(Event::OfferExpired { offer: job, owner: JC }));
		assert!(ResourceOffers::<Test>::contains_key(resource), "its window is still open");
		run_to_block(terms.window.1 + 1);
		assert!(has_event(Event::OfferExpired { offer: resource, owner: RP }));
		assert_changes(before, [0, 0, 0, 0, 0, 0]);
	});
}

// ---------------------------------------------------------------------------------------------
// Matching

#[test]
fn a_feasible_match_closes_both_offers_and_pays_the_solver() {
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		let m = Matches::<Test>::get(match_id).unwrap();
		assert_eq!((m.creator, m.provider, m.mediator, m.directory), (JC, RP, MEDIATOR, DIRECTORY));
		assert_eq!(m.estimated_price, ESTIMATE as Balance);
		assert_eq!((m.job_deposit, m.provider_deposit), (DEPOSIT - 1, DEPOSIT - 1));
		assert_eq!((m.mediator_fee, m.directory_fee), (F_M as Balance, F_D as Balance));
		assert_eq!(m.run_length, RUN_LENGTH);
		assert_eq!(JobOffers::<Test>::get(0).unwrap().state, OfferState::Matched(match_id));
		assert_eq!(ResourceOffers::<Test>::get(1).unwrap().state, OfferState::Matched(match_id));
		assert!(matches!(
			last_event(),
			RuntimeEvent::Market(Event::Matched {
				match_id: 0,
				solver: SOLVER,
				completion_deadline: 21,
				..
			})
		));
		assert_changes(before, [-INCENTIVE, -INCENTIVE, 0, 0, 2 * INCENTIVE, 0]);
		assert_eq!(dry_run(0, 1), Err(Error::<Test>::AlreadyMatched.into()));
	});
}

#[test]
fn cancel_after_match_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		matched();
		assert_noop!(
			Market::cancel_job_offer(RuntimeOrigin::signed(JC), 0),
			Error::<Test>::AlreadyMatched
		);
		assert_noop!(
			Market::cancel_resource_offer(RuntimeOrigin::signed(RP), 1),
			Error::<Test>::AlreadyMatched
		);
	});
}

#[test]
fn the_minimum_deposit_is_eq_2_with_the_chosen_fees() {
	ExtBuilder::default().build_and_execute(|| {
		let terms = Terms::default();
		offers(&terms);
		assert_eq!(dry_run(0, 1), Ok(D_MIN));
		assert_eq!(
			Market::minimum_deposit_for(terms.limits, 2, 1, &MEDIATOR, &DIRECTORY)
				.map_err(DispatchError::from),
			Ok(D_MIN)
		);
	});
}

/// Each feasibility rule, broken alone, is refused with its own error and changes nothing.
#[test]
fn every_feasibility_failure_has_its_own_error() {
	type Change = fn(&mut Terms);
	let cases: Vec<(Change, DispatchError)> = vec![
		(|t| t.window = (5, 100), Error::<Test>::ResourceOfferNotYetValid.into()),
		(|t| t.window = (1, 20), Error::<Test>::WindowTooShort.into()),
		(|t| t.rp_speed = 4, Error::<Test>::DeadlineTooSoon.into()),
		(|t| t.capacity.cpu = 99, Error::<Test>::InsufficientCpu.into()),
		(|t| t.capacity.memory = 63, Error::<Test>::InsufficientMemory.into()),
		(|t| t.capacity.storage = 9, Error::<Test>::InsufficientStorage.into()),
		(|t| t.capacity.bandwidth = 49, Error::<Test>::InsufficientBandwidth.into()),
		(|t| t.job_architecture = Architecture::Arm64, Error::<Test>::ArchitectureMismatch.into()),
		(
			|t| t.mediator_architecture = Architecture::Riscv64,
			Error::<Test>::MediatorArchitectureMismatch.into(),
		),
		(|t| t.rp_layers = vec![2], Error::<Test>::BaseLayerUnsupported.into()),
		(|t| t.mediator_layers = vec![2], Error::<Test>::MediatorBaseLayerUnsupported.into()),
		(|t| t.jc_trusts_mediator = false, Error::<Test>::MediatorNotTrustedByJobCreator.into()),
		(|t| t.rp_trusts_mediator = false, Error::<Test>::MediatorNotTrustedByProvider.into()),
		(|t| t.rp_trusts_directory = false, Error::<Test>::DirectoryNotTrustedByProvider.into()),
		(
			|t| t.mediator_trusts_directory = false,
			Error::<Test>::DirectoryNotTrustedByMediator.into(),
		),
		(|t| t.asks.0 = 3, Error::<Test>::CpuPriceAboveBid.into()),
		(|t| t.asks.1 = 2, Error::<Test>::BandwidthPriceAboveBid.into()),
		(|t| t.rp_deposit = D_MIN - 1, Error::<Test>::ProviderDepositBelowMinimum.into()),
	];
	for (change, error) in cases {
		ExtBuilder::default().build_and_execute(|| {
			let mut terms = Terms::default();
			change(&mut terms);
			let (job, resource) = offers(&terms);
			assert_eq!(dry_run(job, resource), Err(error));
			assert_noop!(
				Market::post_match(RuntimeOrigin::signed(SOLVER), job, resource, MEDIATOR),
				error
			);
		});
	}
}

/// A job offer's own minimum covers d_min of every match it accepts; only a later rise of θ or
/// n by root can leave it short.
#[test]
fn a_job_deposit_short_of_d_min_after_a_parameter_change_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let (job, resource) = offers(&Terms::default());
		let mut parameters = Market::parameters().unwrap();
		parameters.penalty_rate = 60;
		assert_ok!(Market::set_parameters(RuntimeOrigin::root(), parameters));
		assert_eq!(dry_run(job, resource), Err(Error::<Test>::JobDepositBelowMinimum.into()));
	});
}

#[test]
fn matching_unknown_expired_or_self_mediated_offers_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let (job, resource) = offers(&Terms::default());
		let post = |job, resource, mediator| {
			Market::post_match(RuntimeOrigin::signed(SOLVER), job, resource, mediator)
		};
		assert_noop!(post(9, resource, MEDIATOR), Error::<Test>::UnknownOffer);
		assert_noop!(post(job, 9, MEDIATOR), Error::<Test>::UnknownOffer);
		assert_noop!(post(job, resource, EVE), Error::<Test>::UnknownMediator);
		// The job creator registers as a mediator too, and is trusted by both: still refused.
		assert_ok!(Market::register_mediator(
			RuntimeOrigin::signed(JC),
			Architecture::Amd64,
			Terms::default().mediator_capacity,
			1,
			1,
			list(&[DIRECTORY]),
			layers(&[1]),
			MIN_BOND
		));
		assert_ok!(Market::trust_mediator(RuntimeOrigin::signed(DIRECTORY), Role::Directory, JC));
		assert_ok!(Market::trust_mediator(RuntimeOrigin::signed(RP), Role::ResourceProvider, JC));
		assert_noop!(post(job, resource, JC), Error::<Test>::MediatorIsParty);
		// Past the completion deadline (before the sweep releases the offers).
		System::set_block_number(22);
		assert_noop!(post(job, resource, MEDIATOR), Error::<Test>::OfferExpired);
	});
}

// ---------------------------------------------------------------------------------------------
// Results

#[test]
fn every_result_status_can_be_posted_and_accepted() {
	for status in ResultStatus::ALL {
		ExtBuilder::default().build_and_execute(|| {
			let match_id = matched();
			assert_ok!(post_result(match_id, status));
			let receipt = Receipt {
				status,
				usage: usage_of(status),
				result_digest: if status.never_started() { None } else { RESULT },
			};
			assert_eq!(
				last_event(),
				// now 1 + reaction window 10 + R 3
				Event::ResultPosted { match_id, receipt, reaction_deadline: 14 }.into()
			);
			assert_ok!(Market::accept_result(RuntimeOrigin::signed(JC), match_id));
			assert_eq!(ending_of(match_id), Some(Ending::Accepted));
		});
	}
}

#[test]
fn a_completed_result_needs_its_digest() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		assert_noop!(
			Market::post_result(
				RuntimeOrigin::signed(RP),
				match_id,
				ResultStatus::Completed,
				USAGE,
				None
			),
			Error::<Test>::MissingResultDigest
		);
	});
}

#[test]
fn wrong_origins_and_states_are_refused_without_change() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		let signed = RuntimeOrigin::signed;
		assert_noop!(
			Market::post_result(signed(JC), match_id, ResultStatus::Completed, USAGE, RESULT),
			Error::<Test>::NotProvider
		);
		assert_noop!(Market::accept_result(signed(JC), match_id), Error::<Test>::WrongState);
		assert_noop!(
			Market::reject_result(signed(JC), match_id, RejectReason::WrongResults),
			Error::<Test>::WrongState
		);
		assert_noop!(Market::claim_timeout(signed(EVE), match_id), Error::<Test>::NotDue);
		assert_noop!(
			Market::deregister(signed(MEDIATOR), Role::Mediator),
			Error::<Test>::HasOpenMatches
		);
		assert_noop!(
			Market::deregister(signed(DIRECTORY), Role::Directory),
			Error::<Test>::HasOpenMatches
		);

		assert_ok!(post_result(match_id, ResultStatus::Completed));
		assert_noop!(post_result(match_id, ResultStatus::Completed), Error::<Test>::WrongState);
		assert_noop!(Market::accept_result(signed(RP), match_id), Error::<Test>::TooEarly);
		assert_noop!(Market::accept_result(signed(EVE), match_id), Error::<Test>::TooEarly);
		assert_noop!(
			Market::reject_result(signed(RP), match_id, RejectReason::WrongResults),
			Error::<Test>::NotJobCreator
		);
		assert_noop!(
			Market::post_mediation_result(signed(MEDIATOR), match_id, Party::JobCreator, None),
			Error::<Test>::WrongState
		);

		assert_ok!(Market::reject_result(signed(JC), match_id, RejectReason::WrongResults));
		assert_noop!(
			Market::post_mediation_result(signed(JC), match_id, Party::ResourceProvider, None),
			Error::<Test>::NotMediator
		);
		assert_noop!(Market::accept_result(signed(JC), match_id), Error::<Test>::WrongState);
		assert_noop!(Market::claim_timeout(signed(EVE), match_id), Error::<Test>::NotDue);

		assert_ok!(Market::post_mediation_result(
			signed(MEDIATOR),
			match_id,
			Party::JobCreator,
			None
		));
		// Closed: nothing can settle it twice.
		assert_noop!(Market::accept_result(signed(JC), match_id), Error::<Test>::UnknownMatch);
		assert_noop!(
			Market::post_mediation_result(signed(MEDIATOR), match_id, Party::JobCreator, None),
			Error::<Test>::UnknownMatch
		);
		assert_noop!(Market::claim_timeout(signed(EVE), match_id), Error::<Test>::UnknownMatch);
		assert_ok!(Market::deregister(signed(MEDIATOR), Role::Mediator));
	});
}

#[test]
fn results_after_the_completion_deadline_and_rejections_after_the_reaction_window_are_too_late() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		System::set_block_number(22);
		assert_noop!(post_result(match_id, ResultStatus::Completed), Error::<Test>::TooLate);
	});
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		System::set_block_number(14);
		assert_noop!(
			Market::reject_result(RuntimeOrigin::signed(JC), match_id, RejectReason::TooMuchCost),
			Error::<Test>::TooLate
		);
	});
}

// ---------------------------------------------------------------------------------------------
// The paper's outcomes (Fig. 4) and every ending of the payout table

/// The accepted ending: π_c to the provider, both fees from both parties.
pub(super) fn accepted_changes() -> [i128; 6] {
	accepted_changes_at(PRICE)
}

/// The accepted ending at job price `price`.
fn accepted_changes_at(price: i128) -> [i128; 6] {
	[
		-INCENTIVE - price - F_M - F_D,
		-INCENTIVE + price - F_M - F_D,
		2 * F_M,
		2 * F_D,
		2 * INCENTIVE,
		0,
	]
}

/// What a faulty party forfeits to the welfare pool at job price `price`: its deposit less the
/// incentive, π_m, both fees and π_d = π_c.
fn forfeit(price: i128) -> i128 {
	DEPOSIT as i128 - INCENTIVE - MEDIATION - F_M - F_D - price
}

/// Mediation with the job creator at fault: it pays π_m, both fees and π_d = π_c, and forfeits
/// the rest of its deposit to the welfare pool.
fn job_creator_at_fault_changes() -> [i128; 6] {
	job_creator_at_fault_changes_at(PRICE)
}

/// The job creator at fault with job price `price`.
fn job_creator_at_fault_changes_at(price: i128) -> [i128; 6] {
	[
		-(DEPOSIT as i128),
		-INCENTIVE + price - F_M - F_D,
		MEDIATION + 2 * F_M,
		2 * F_D,
		2 * INCENTIVE,
		forfeit(price),
	]
}

/// Mediation with the provider at fault: the mirror image.
fn provider_at_fault_changes() -> [i128; 6] {
	provider_at_fault_changes_at(PRICE)
}

/// The provider at fault with job price `price`.
fn provider_at_fault_changes_at(price: i128) -> [i128; 6] {
	[
		-INCENTIVE + price - F_M - F_D,
		-(DEPOSIT as i128),
		MEDIATION + 2 * F_M,
		2 * F_D,
		2 * INCENTIVE,
		forfeit(price),
	]
}

fn mediated(reason: RejectReason, faulty: Party) -> [i128; 6] {
	let mut changes = [0; 6];
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		dispute(match_id, reason);
		assert_eq!(
			last_event(),
			Event::JobAssignedForMediation {
				match_id,
				mediator: MEDIATOR,
				reason,
				// now 1 + mediation window 40 + n 2 · (R 3 + F 6)
				mediation_deadline: 59,
			}
			.into()
		);
		assert_ok!(Market::post_mediation_result(
			RuntimeOrigin::signed(MEDIATOR),
			match_id,
			faulty,
			RESULT
		));
		assert_eq!(ending_of(match_id), Some(Ending::Mediated(faulty)));
		let after = worth();
		changes = core::array::from_fn(|i| after[i] - before[i]);
	});
	changes
}

// The seven outcomes o1…o7 of the paper's game (seed 003, Fig. 3 and 4), each played as its own
// story: what the provider does (executes or deceives), what the job creator does (passes, or
// verifies with a run of its own) and what the mediator's n = 2 runs produce. The chain sees no
// run — only the provider's receipt, the job creator's reaction and the mediator's verdict — so
// each story drives it with what its parties would really send, and each outcome must settle
// with its own events and balances. A deceiving provider makes its receipt up, cheaper than a
// real run (π_c = 90 against 120), so o1–o3 pay differently from o4–o7.

/// The output of a correct run: every run of a deterministic job, and a non-deterministic
/// job's "normal" output (probability p_a). The `RESULT` of the other stories.
const NORMAL: Digest = [9; 32];
/// A non-deterministic job's "anomalous" output (probability 1 − p_a), which its job creator
/// designed it to produce and recognises.
const ANOMALOUS: Digest = [10; 32];
/// What a deceiving provider posts without running the job.
const FORGED: Digest = [6; 32];
/// The usage a deceiving provider makes up: π_c = 50·1 + 40·1 = 90 at the asks.
const FORGED_USAGE: Resources = Resources { cpu: 50, memory: 20, storage: 1, bandwidth: 40 };
const FORGED_PRICE: i128 = 90;

/// What the provider does with the job.
#[derive(Clone, Copy)]
enum Provider {
	/// Runs it (cost c_e) and posts what its run produced, with the usage it measured.
	Executes(Digest),
	/// Posts `FORGED` and `FORGED_USAGE` without running it (cost c_d).
	Deceives,
}

/// What the job creator does with the result.
#[derive(Clone, Copy)]
enum Creator {
	/// Accepts it at once, without fetching or running anything.
	Passes,
	/// Runs the job itself (R blocks) and gets this output: accepts a result equal to it,
	/// disputes any other as `WrongResults`.
	Verifies(Digest),
}

/// One play of the game.
struct Story {
	provider: Provider,
	creator: Creator,
	/// The outputs of the mediator's n = 2 runs, should the result be disputed.
	mediator_runs: [Digest; 2],
}

/// What the chain recorded of a story.
struct Settled {
	/// The receipt of `ResultPosted`.
	receipt: Receipt,
	/// The faulty party and digest of `MediationResultPosted`, if the result was disputed.
	verdict: Option<(Party, Option<Digest>)>,
	/// The job price of `ResultAccepted`, if the result was accepted.
	job_price: Option<Balance>,
	/// The ending and the penalty of `MatchClosed`.
	ending: Ending,
	penalty: Balance,
	/// The block the match closed in.
	closed_at: u64,
	/// Each party's change: JC, RP, M, D, solver, pool.
	changes: [i128; 6],
}

/// The mediator's decision on `WrongResults` (docs/protocol.md, "Mediation"): all its runs equal to
/// the provider's result → JC; two of its own runs differ (a non-deterministic job) → JC;
/// otherwise → RP.
fn mediator_finds(posted: Digest, runs: &[Digest]) -> Party {
	let all_equal_posted = runs.iter().all(|run| *run == posted);
	let own_runs_differ = runs.windows(2).any(|pair| pair[0] != pair[1]);
	if all_equal_posted || own_runs_differ {
		Party::JobCreator
	} else {
		Party::ResourceProvider
	}
}

/// Plays `story` on a fresh chain from the default match to its close.
fn play(story: Story) -> Settled {
	let mut settled = None;
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		let (usage, digest) = match story.provider {
			Provider::Executes(output) => (USAGE, output),
			Provider::Deceives => (FORGED_USAGE, FORGED),
		};
		assert_ok!(Market::post_result(
			RuntimeOrigin::signed(RP),
			match_id,
			ResultStatus::Completed,
			usage,
			Some(digest)
		));
		let receipt =
			Receipt { status: ResultStatus::Completed, usage, result_digest: Some(digest) };
		// now 1 + reaction window 10 + R 3
		assert_eq!(
			last_event(),
			Event::ResultPosted { match_id, receipt, reaction_deadline: 14 }.into()
		);
		match story.creator {
			Creator::Passes => {
				assert_ok!(Market::accept_result(RuntimeOrigin::signed(JC), match_id));
			}
			Creator::Verifies(own) => {
				// Its run takes R blocks; the reaction window leaves room for it.
				run_to_block(System::block_number() + RUN_LENGTH);
				assert!(Matches::<Test>::contains_key(match_id), "still open for the verifier");
				if own == digest {
					assert_ok!(Market::accept_result(RuntimeOrigin::signed(JC), match_id));
				} else {
					assert_ok!(Market::reject_result(
						RuntimeOrigin::signed(JC),
						match_id,
						RejectReason::WrongResults
					));
					assert_eq!(
						last_event(),
						Event::JobAssignedForMediation {
							match_id,
							mediator: MEDIATOR,
							reason: RejectReason::WrongResults,
							// now 4 + mediation window 40 + n 2 · (R 3 + F 6)
							mediation_deadline: 62,
						}
						.into()
					);
					// Its n runs take n · R blocks, well within the mediation window.
					run_to_block(System::block_number() + 2 * RUN_LENGTH);
					let faulty = mediator_finds(digest, &story.mediator_runs);
					assert_ok!(Market::post_mediation_result(
						RuntimeOrigin::signed(MEDIATOR),
						match_id,
						faulty,
						Some(story.mediator_runs[0])
					));
				}
			}
		}
		assert!(!Matches::<Test>::contains_key(match_id), "the story closed its match");
		let after = worth();
		let mut verdict = None;
		let mut job_price = None;
		let mut closed = None;
		for record in System::events() {
			match record.event {
				RuntimeEvent::Market(Event::MediationResultPosted {
					match_id: id,
					faulty_party,
					result_digest,
				}) if id == match_id => verdict = Some((faulty_party, result_digest)),
				RuntimeEvent::Market(Event::ResultAccepted { match_id: id, job_price: price })
					if id == match_id =>
				{
					job_price = Some(price)
				}
				RuntimeEvent::Market(Event::MatchClosed {
					match_id: id, ending, penalty, ..
				}) if id == match_id => closed = Some((ending, penalty)),
				_ => {}
			}
		}
		let (ending, penalty) = closed.expect("MatchClosed was deposited");
		settled = Some(Settled {
			receipt,
			verdict,
			job_price,
			ending,
			penalty,
			closed_at: System::block_number(),
			changes: core::array::from_fn(|i| after[i] - before[i]),
		});
	});
	settled.expect("the story was played")
}

#[test]
fn o1_rp_deceives_jc_verifies_mediator_finds_non_determinism_and_faults_the_jc() {
	// The job is non-deterministic: the mediator's own two runs differ, so it faults the job
	// creator although the provider forged its result. The forger gets π_d = π_c of its own
	// made-up receipt; the job creator forfeits its deposit.
	let s = play(Story {
		provider: Provider::Deceives,
		creator: Creator::Verifies(NORMAL),
		mediator_runs: [NORMAL, ANOMALOUS],
	});
	assert_eq!(s.receipt.result_digest, Some(FORGED));
	assert_eq!(s.verdict, Some((Party::JobCreator, Some(NORMAL))));
	assert_eq!(s.job_price, None, "nothing was accepted");
	assert_eq!(s.ending, Ending::Mediated(Party::JobCreator));
	assert_eq!(s.closed_at, 1 + RUN_LENGTH + 2 * RUN_LENGTH);
	assert_eq!(s.changes, job_creator_at_fault_changes_at(FORGED_PRICE));
	assert_eq!(s.penalty as i128, forfeit(FORGED_PRICE));
}

#[test]
fn o2_rp_deceives_jc_verifies_mediator_faults_the_rp() {
	// The mediator's runs agree with each other and not with the forged result: the provider
	// pays π_m, the fees and π_d = π_c of its receipt to the job creator, and forfeits the rest.
	let s = play(Story {
		provider: Provider::Deceives,
		creator: Creator::Verifies(NORMAL),
		mediator_runs: [NORMAL, NORMAL],
	});
	assert_eq!(s.receipt.result_digest, Some(FORGED));
	assert_eq!(s.verdict, Some((Party::ResourceProvider, Some(NORMAL))));
	assert_eq!(s.job_price, None, "nothing was accepted");
	assert_eq!(s.ending, Ending::Mediated(Party::ResourceProvider));
	assert_eq!(s.changes, provider_at_fault_changes_at(FORGED_PRICE));
	assert_eq!(s.penalty as i128, forfeit(FORGED_PRICE));
}

#[test]
fn o3_rp_deceives_jc_passes_and_pays_the_job_price() {
	// Nobody checks the forged result: the job creator pays π_c of the made-up receipt for an
	// output no run produced, and the forger keeps it.
	let s = play(Story {
		provider: Provider::Deceives,
		creator: Creator::Passes,
		mediator_runs: [NORMAL, NORMAL],
	});
	assert_eq!(s.receipt.result_digest, Some(FORGED));
	assert_ne!(s.receipt.result_digest, Some(NORMAL), "the accepted result is not the job's");
	assert_eq!(s.receipt.usage, FORGED_USAGE);
	assert_eq!(s.verdict, None, "no mediation");
	assert_eq!(s.job_price, Some(FORGED_PRICE as Balance));
	assert_eq!(s.ending, Ending::Accepted);
	assert_eq!(s.closed_at, 1, "accepted at once, without a run of its own");
	assert_eq!(s.changes, accepted_changes_at(FORGED_PRICE));
	assert_eq!(s.penalty, 0);
}

#[test]
fn o4_rp_executes_jc_passes_and_pays_the_job_price() {
	// The provider's real run and measured usage; the job creator accepts without verifying.
	let s = play(Story {
		provider: Provider::Executes(NORMAL),
		creator: Creator::Passes,
		mediator_runs: [NORMAL, NORMAL],
	});
	assert_eq!(s.receipt.result_digest, Some(NORMAL));
	assert_eq!(s.receipt.usage, USAGE);
	assert_eq!(s.verdict, None, "no mediation");
	assert_eq!(s.job_price, Some(PRICE as Balance));
	assert_eq!(s.ending, Ending::Accepted);
	assert_eq!(s.closed_at, 1, "accepted at once, without a run of its own");
	assert_eq!(s.changes, accepted_changes_at(PRICE));
	assert_eq!(s.penalty, 0);
}

#[test]
fn o5_rp_executes_jc_verifies_finds_it_correct_and_pays() {
	// The job creator's own run (R blocks, within the reaction window) reproduces the result,
	// and it accepts before the reaction deadline: the same payment as o4, after the check.
	let s = play(Story {
		provider: Provider::Executes(NORMAL),
		creator: Creator::Verifies(NORMAL),
		mediator_runs: [NORMAL, NORMAL],
	});
	assert_eq!(s.receipt.result_digest, Some(NORMAL));
	assert_eq!(s.verdict, None, "no mediation");
	assert_eq!(s.job_price, Some(PRICE as Balance));
	assert_eq!(s.ending, Ending::Accepted);
	assert_eq!(s.closed_at, 1 + RUN_LENGTH, "accepted by the job creator after its own run");
	assert!(s.closed_at < 14, "before the reaction deadline, so not the chain's automatic accept");
	assert_eq!(s.changes, accepted_changes_at(PRICE));
	assert_eq!(s.penalty, 0);
}

#[test]
fn o6_non_deterministic_job_is_detected_and_the_jc_is_fined() {
	// The provider honestly ran a non-deterministic job and got its anomalous output; the job
	// creator disputes it to avoid paying. The mediator's two runs differ: non-determinism, the
	// job creator is fined its deposit and the provider gets π_d = π_c of its real usage.
	let s = play(Story {
		provider: Provider::Executes(ANOMALOUS),
		creator: Creator::Verifies(NORMAL),
		mediator_runs: [NORMAL, ANOMALOUS],
	});
	assert_eq!(s.receipt.result_digest, Some(ANOMALOUS));
	assert_eq!(s.receipt.usage, USAGE);
	assert_eq!(s.verdict, Some((Party::JobCreator, Some(NORMAL))));
	assert_eq!(s.job_price, None, "nothing was accepted");
	assert_eq!(s.ending, Ending::Mediated(Party::JobCreator));
	assert_eq!(s.changes, job_creator_at_fault_changes_at(PRICE));
	assert_eq!(s.penalty as i128, forfeit(PRICE));
}

#[test]
fn o7_non_determinism_undetected_faults_the_honest_rp() {
	// The same honest run and dispute as o6, but both of the mediator's runs come out normal
	// (probability p_a^n): they agree with each other and not with the provider's anomalous
	// output, so the honest provider is faulted and the job creator gets π_d = π_c of the real
	// usage on top of its deposit.
	let s = play(Story {
		provider: Provider::Executes(ANOMALOUS),
		creator: Creator::Verifies(NORMAL),
		mediator_runs: [NORMAL, NORMAL],
	});
	assert_eq!(s.receipt.result_digest, Some(ANOMALOUS));
	assert_eq!(s.receipt.usage, USAGE);
	assert_eq!(s.verdict, Some((Party::ResourceProvider, Some(NORMAL))));
	assert_eq!(s.job_price, None, "nothing was accepted");
	assert_eq!(s.ending, Ending::Mediated(Party::ResourceProvider));
	assert_eq!(s.changes, provider_at_fault_changes_at(PRICE));
	assert_eq!(s.penalty as i128, forfeit(PRICE));
}

#[test]
fn too_much_cost_and_invalid_status_disputes_settle_like_any_mediation() {
	assert_eq!(
		mediated(RejectReason::TooMuchCost, Party::ResourceProvider),
		provider_at_fault_changes()
	);
	assert_eq!(
		mediated(RejectReason::TooMuchCost, Party::JobCreator),
		job_creator_at_fault_changes()
	);
	assert_eq!(
		mediated(RejectReason::InvalidResultStatus, Party::ResourceProvider),
		provider_at_fault_changes()
	);
}

#[test]
fn mediation_with_the_directory_at_fault_pays_the_mediator_from_its_bond() {
	let changes = mediated(RejectReason::ResultNotFound, Party::Directory);
	assert_eq!(
		changes,
		[-INCENTIVE - F_M, -INCENTIVE - F_M, 2 * F_M + MEDIATION, -MEDIATION, 2 * INCENTIVE, 0]
	);
}

// ---------------------------------------------------------------------------------------------
// Timeouts

#[test]
fn no_result_by_the_completion_deadline_refunds_the_estimate_from_the_rp() {
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		run_to_block(22);
		assert_eq!(ending_of(match_id), Some(Ending::NoResult));
		assert!(!Matches::<Test>::contains_key(match_id));
		assert_changes(
			before,
			[
				-INCENTIVE - F_M - F_D + ESTIMATE,
				-INCENTIVE - ESTIMATE - F_M - F_D,
				2 * F_M,
				2 * F_D,
				2 * INCENTIVE,
				0,
			],
		);
	});
}

#[test]
fn claim_timeout_settles_a_due_match_at_once() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		System::set_block_number(21);
		assert_noop!(
			Market::claim_timeout(RuntimeOrigin::signed(EVE), match_id),
			Error::<Test>::NotDue
		);
		System::set_block_number(22);
		assert_ok!(Market::claim_timeout(RuntimeOrigin::signed(EVE), match_id));
		assert_eq!(ending_of(match_id), Some(Ending::NoResult));
	});
}

#[test]
fn the_chain_accepts_a_result_when_the_reaction_window_ends() {
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		run_to_block(13);
		assert!(Matches::<Test>::contains_key(match_id), "the job creator may still react");
		run_to_block(14);
		assert_eq!(ending_of(match_id), Some(Ending::Accepted));
		assert_changes(before, accepted_changes());
	});
}

#[test]
fn the_rp_accepts_its_own_result_after_the_reaction_window() {
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		System::set_block_number(13);
		assert_noop!(
			Market::accept_result(RuntimeOrigin::signed(RP), match_id),
			Error::<Test>::TooEarly
		);
		System::set_block_number(14);
		assert_ok!(Market::accept_result(RuntimeOrigin::signed(RP), match_id));
		assert_changes(before, accepted_changes());
	});
}

#[test]
fn no_mediation_result_by_its_deadline_is_paid_from_the_mediators_bond() {
	ExtBuilder::default().build_and_execute(|| {
		let before = worth();
		let match_id = matched();
		dispute(match_id, RejectReason::WrongResults);
		run_to_block(59);
		assert_noop!(
			Market::claim_timeout(RuntimeOrigin::signed(EVE), match_id),
			Error::<Test>::NotDue
		);
		run_to_block(60);
		assert_eq!(ending_of(match_id), Some(Ending::NoMediationResult));
		assert_noop!(verdict(match_id, Party::JobCreator), Error::<Test>::UnknownMatch);
		// ⌊π̂_c/2⌋ to each party out of the mediator's bond; it gets no fee.
		let half = ESTIMATE / 2;
		assert_changes(
			before,
			[
				-INCENTIVE - F_D + half,
				-INCENTIVE - F_D + half,
				-2 * half,
				2 * F_D,
				2 * INCENTIVE,
				0,
			],
		);
		assert_eq!(Mediators::<Test>::get(MEDIATOR).unwrap().bond, MIN_BOND - 2 * half as Balance);
	});
}

#[test]
fn a_late_mediation_result_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let match_id = matched();
		dispute(match_id, RejectReason::WrongResults);
		System::set_block_number(60);
		assert_noop!(verdict(match_id, Party::JobCreator), Error::<Test>::TooLate);
	});
}

#[test]
fn the_sweep_settles_in_order_within_its_budget() {
	ExtBuilder::default().build_and_execute(|| {
		// Five job offers due at the same block, all in its index; the hook settles 3 per block.
		let terms = Terms::default();
		register(&terms);
		for _ in 0..5 {
			assert_ok!(post_job_offer(&terms));
		}
		assert_eq!(Deadlines::<Test>::iter_prefix(22).count(), 5);
		run_to_block(21);
		System::set_block_number(22);
		Market::on_initialize(22);
		let expired = |id| !JobOffers::<Test>::contains_key(id);
		assert_eq!((0..5).map(expired).collect::<Vec<_>>(), [true, true, true, false, false]);
		assert_eq!(Deadlines::<Test>::iter_prefix(22).count(), 2, "the rest wait, first in line");
		System::set_block_number(23);
		Market::on_initialize(23);
		assert!((0..5).all(expired));
		assert_eq!(Balances::balance(&JC), ENDOWMENT);
	});
}

#[test]
fn the_smallest_penalty_rate_still_pays_the_damaged_party_in_full() {
	ExtBuilder::default().build_and_execute(|| {
		// θ = 1, the least `set_parameters` accepts: d_min = 250·3 + 16 = 766.
		let mut parameters = Market::parameters().unwrap();
		parameters.penalty_rate = 1;
		assert_ok!(Market::set_parameters(RuntimeOrigin::root(), parameters));
		let terms = Terms { jc_deposit: 767, rp_deposit: 766, ..Terms::default() };
		let before = worth();
		let (job, resource) = offers(&terms);
		assert_ok!(Market::post_match(RuntimeOrigin::signed(SOLVER), job, resource, MEDIATOR));
		dispute(0, RejectReason::WrongResults);
		assert_ok!(verdict(0, Party::ResourceProvider));
		// R = 765: π_m 500, f_M 10, f_D 5, π_d 120 to the job creator, 130 to the pool.
		assert_changes(
			before,
			[
				-INCENTIVE - F_M - F_D + PRICE,
				-766,
				MEDIATION + 2 * F_M,
				2 * F_D,
				2 * INCENTIVE,
				130,
			],
		);
	});
}
