//! The welfare pool and join grants: a new account earns a grant with a proof of work, spends it
//! only in the market, and what it leaves returns to the pool; then each way a stranger would
//! try to farm, replay, stockpile or move grants.

#![allow(deprecated)] // `ValidateUnsigned`: see the note on the pallet's implementation.

use super::protocol::*;
use crate::{mock::*, *};
use codec::Encode;
use frame_support::{
	assert_noop, assert_ok,
	pallet_prelude::{
		InvalidTransaction, TransactionSource, TransactionValidity, ValidateUnsigned,
	},
	traits::{
		fungible::{Inspect, InspectHold, Mutate},
		tokens::Preservation,
	},
};
use sp_core::H256;
use sp_runtime::{traits::Hash as _, DispatchError, DispatchResult, Perbill};

/// A newcomer: an account that has never sent a transaction.
const NEWCOMER: u64 = 100;
/// Another account the same stranger controls.
const ACCOMPLICE: u64 = 101;

fn now() -> u64 {
	System::block_number()
}

/// The difficulty a claim in the current block must meet.
fn difficulty() -> u128 {
	let terms = JoinGrantTerms::<Test>::get().expect("the chain pays grants");
	Market::grant_rate_at(&terms, now()).difficulty
}

/// Whether `proof` solves `who`'s puzzle on the chain whose genesis hash is `genesis`.
fn solves(genesis: H256, who: u64, proof: &GrantProofOf<Test>) -> bool {
	let block_hash = System::block_hash(proof.block);
	let mut puzzle = GrantPuzzle::new(genesis.as_ref(), &who.encode(), block_hash.as_ref());
	GrantPuzzle::meets(&puzzle.work(proof.nonce), difficulty())
}

/// The first proof naming the parent block that `keep` accepts.
fn search(keep: impl Fn(&GrantProofOf<Test>) -> bool) -> GrantProofOf<Test> {
	let block = now() - 1;
	(0u64..).map(|nonce| GrantProof { block, nonce }).find(|p| keep(p)).expect("a nonce exists")
}

/// A proof for `who` on this chain naming the parent block.
fn solve(who: u64) -> GrantProofOf<Test> {
	search(|p| solves(System::block_hash(0), who, p))
}

fn claim(who: u64, proof: GrantProofOf<Test>) -> DispatchResult {
	Market::claim_join_grant(RuntimeOrigin::none(), who, proof)
}

/// What the transaction pool says of a claim.
fn validate(who: u64, proof: GrantProofOf<Test>) -> TransactionValidity {
	let call = Call::<Test>::claim_join_grant { who, proof };
	<Market as ValidateUnsigned>::validate_unsigned(TransactionSource::External, &call)
}

fn held_grant(who: u64) -> Balance {
	Balances::balance_on_hold(&HoldReason::Grant.into(), &who)
}

fn pool() -> Balance {
	Balances::balance(&Market::account_id())
}

/// A chain at block 3 with grant terms: there are parent blocks to name.
fn with_grants(test: impl FnOnce()) {
	ExtBuilder::default().with_grants().build_and_execute(|| {
		run_to_block(3);
		test();
	});
}

#[test]
fn a_new_account_claims_its_grant_from_the_pool_with_a_proof_of_work() {
	with_grants(|| {
		let issuance = Balances::total_issuance();
		let terms = test_grant_terms();
		let proof = solve(NEWCOMER);
		assert!(validate(NEWCOMER, proof).is_ok(), "the pool takes the claim");
		assert_ok!(claim(NEWCOMER, proof));

		let existential = <Balances as Inspect<u64>>::minimum_balance();
		assert_eq!(pool(), GRANT_POOL - terms.amount);
		assert_eq!(Balances::balance(&NEWCOMER), existential, "only what keeps it alive is free");
		assert_eq!(held_grant(NEWCOMER), terms.amount - existential);
		let grant = Grants::<Test>::get(NEWCOMER).expect("the grant is on chain");
		assert_eq!(grant.available, terms.amount - existential);
		assert_eq!(grant.expires_at, now() + terms.expiry);
		assert!(JoinGrantClaimed::<Test>::contains_key(NEWCOMER), "claimed for good");
		assert_eq!(System::account_nonce(NEWCOMER), 0, "what it signed before stays valid");
		assert!(has_event(Event::JoinGrantClaimed {
			who: NEWCOMER,
			amount: terms.amount,
			held: terms.amount - existential,
			expires_at: now() + terms.expiry,
			difficulty: terms.min_difficulty,
		}));
		assert_eq!(Balances::total_issuance(), issuance, "nothing is minted");
	});
}

#[test]
fn a_grant_pays_a_newcomers_deposits_and_their_refunds_return_to_it() {
	with_grants(|| {
		register(&Terms::default());
		assert_ok!(claim(JC_NEWCOMER, solve(JC_NEWCOMER)));
		let before = held_grant(JC_NEWCOMER);
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(JC_NEWCOMER), list(&[])));
		let offer = newcomer_job_offer(DEPOSIT);
		assert_eq!(held_grant(JC_NEWCOMER), before - DEPOSIT, "the deposit came from the grant");
		assert_eq!(Grants::<Test>::get(JC_NEWCOMER).map(|g| g.committed), Some(DEPOSIT));

		assert_ok!(Market::cancel_job_offer(RuntimeOrigin::signed(JC_NEWCOMER), offer));
		assert_eq!(held_grant(JC_NEWCOMER), before, "the refund went back to the grant");
		assert_eq!(Balances::balance(&JC_NEWCOMER), 1, "and not to the free balance");
		assert_eq!(Grants::<Test>::get(JC_NEWCOMER).map(|g| g.committed), Some(0));
	});
}

/// An account of the attacker that claims, registers as a job creator and trusts the story's
/// mediator.
const JC_NEWCOMER: u64 = 102;

/// The newcomer's job offer on the default terms with `deposit`.
fn post_newcomer_job_offer(deposit: Balance) -> DispatchResult {
	post_job_offer_as(JC_NEWCOMER, &Terms { jc_deposit: deposit, ..Default::default() })
}

/// The newcomer's job offer with `deposit`, which must land; its id.
fn newcomer_job_offer(deposit: Balance) -> OfferId {
	let id = NextOfferId::<Test>::get();
	assert_ok!(post_newcomer_job_offer(deposit));
	id
}

#[test]
fn funnelling_a_grant_through_self_matched_jobs_moves_at_most_the_grant() {
	with_grants(|| {
		// The attacker's provider is RP; its job creator holds only a grant.
		register(&Terms::default());
		assert_ok!(claim(JC_NEWCOMER, solve(JC_NEWCOMER)));
		assert_ok!(Market::register_job_creator(
			RuntimeOrigin::signed(JC_NEWCOMER),
			list(&[MEDIATOR])
		));
		let grant = test_grant_terms().amount;
		let provider_before = Balances::balance(&RP) + Balances::total_balance_on_hold(&RP);
		// Match after match at the highest price the grant's deposit allows, until it is spent.
		for _ in 0..20 {
			let deposit = held_grant(JC_NEWCOMER);
			if deposit < D_MIN {
				break;
			}
			let job = newcomer_job_offer(deposit);
			assert_ok!(post_resource_offer(&Terms::default()));
			let resource = NextOfferId::<Test>::get() - 1;
			assert_ok!(Market::post_match(RuntimeOrigin::signed(SOLVER), job, resource, MEDIATOR));
			let match_id = NextMatchId::<Test>::get() - 1;
			assert_ok!(post_result(match_id, ResultStatus::Completed));
			assert_ok!(Market::accept_result(RuntimeOrigin::signed(JC_NEWCOMER), match_id));
		}
		let provider_after = Balances::balance(&RP) + Balances::total_balance_on_hold(&RP);
		let funnelled = provider_after.saturating_sub(provider_before);
		assert!(funnelled > 0, "the provider was paid real MDC");
		assert!(funnelled <= grant, "the provider gained {funnelled}, more than the grant {grant}");
		assert_eq!(Balances::balance(&JC_NEWCOMER), 1, "nothing of the grant became free");
	});
}

#[test]
fn replaying_a_proof_for_another_account_is_refused() {
	with_grants(|| {
		let genesis = System::block_hash(0);
		let proof = search(|p| solves(genesis, NEWCOMER, p) && !solves(genesis, ACCOMPLICE, p));
		assert_eq!(validate(ACCOMPLICE, proof), Err(InvalidTransaction::BadProof.into()));
		assert_noop!(claim(ACCOMPLICE, proof), Error::<Test>::GrantWorkTooEasy);
		assert_ok!(claim(NEWCOMER, proof));
	});
}

#[test]
fn replaying_a_proof_on_another_chain_is_refused() {
	with_grants(|| {
		let (ours, theirs) = (System::block_hash(0), H256::repeat_byte(0x42));
		assert_ne!(ours, theirs);
		let foreign = search(|p| solves(theirs, NEWCOMER, p) && !solves(ours, NEWCOMER, p));
		assert_eq!(validate(NEWCOMER, foreign), Err(InvalidTransaction::BadProof.into()));
		assert_noop!(claim(NEWCOMER, foreign), Error::<Test>::GrantWorkTooEasy);
	});
}

#[test]
fn stockpiled_proofs_older_than_the_proof_age_are_refused() {
	with_grants(|| {
		let proof = solve(NEWCOMER);
		run_to_block(now() + test_grant_terms().proof_age);
		assert_eq!(validate(NEWCOMER, proof), Err(InvalidTransaction::Stale.into()));
		assert_noop!(claim(NEWCOMER, proof), Error::<Test>::GrantProofTooOld);
		// A fresh proof lands.
		assert_ok!(claim(NEWCOMER, solve(NEWCOMER)));
	});
}

#[test]
fn a_proof_naming_the_current_or_a_future_block_is_refused() {
	with_grants(|| {
		for block in [now(), now() + 1] {
			let proof = GrantProof { block, nonce: 0 };
			assert_eq!(validate(NEWCOMER, proof), Err(InvalidTransaction::Future.into()));
			assert_noop!(claim(NEWCOMER, proof), Error::<Test>::GrantProofFromFuture);
		}
	});
}

#[test]
fn flooding_the_pool_with_invalid_proofs_is_rejected_before_the_block_and_changes_nothing() {
	with_grants(|| {
		let genesis = System::block_hash(0);
		let block_hash = System::block_hash(now() - 1);
		let mut puzzle =
			GrantPuzzle::new(genesis.as_ref(), &NEWCOMER.encode(), block_hash.as_ref());
		let root = sp_io::storage::root(sp_runtime::StateVersion::V1);
		let mut rejected = 0;
		for nonce in 0..1_000u64 {
			if GrantPuzzle::meets(&puzzle.work(nonce), difficulty()) {
				continue;
			}
			let proof = GrantProof { block: now() - 1, nonce };
			assert_eq!(validate(NEWCOMER, proof), Err(InvalidTransaction::BadProof.into()));
			rejected += 1;
		}
		assert!(rejected > 900);
		assert_eq!(sp_io::storage::root(sp_runtime::StateVersion::V1), root, "no state changed");
	});
}

#[test]
fn claiming_twice_is_refused_even_after_the_grant_expired() {
	with_grants(|| {
		assert_ok!(claim(NEWCOMER, solve(NEWCOMER)));
		let again = solve(NEWCOMER);
		assert!(validate(NEWCOMER, again).is_err());
		assert_noop!(claim(NEWCOMER, again), Error::<Test>::GrantAlreadyClaimed);
		run_to_block(now() + test_grant_terms().expiry + 1);
		assert!(!Grants::<Test>::contains_key(NEWCOMER), "the spent grant is gone");
		assert_noop!(claim(NEWCOMER, solve(NEWCOMER)), Error::<Test>::GrantAlreadyClaimed);
	});
}

#[test]
fn an_account_that_has_sent_a_transaction_is_not_new() {
	with_grants(|| {
		System::inc_account_nonce(ALICE);
		assert_noop!(claim(ALICE, solve(ALICE)), Error::<Test>::NotANewAccount);
		assert_noop!(
			claim(Market::account_id(), solve(Market::account_id())),
			Error::<Test>::NotANewAccount
		);
	});
}

#[test]
fn front_running_a_claim_with_a_dust_transfer_does_not_spoil_it() {
	with_grants(|| {
		let proof = solve(NEWCOMER);
		assert_ok!(<Balances as Mutate<u64>>::transfer(&EVE, &NEWCOMER, 1, Preservation::Preserve));
		assert_ok!(claim(NEWCOMER, proof));
		// With the existential deposit already its own, all of the grant is held.
		assert_eq!(held_grant(NEWCOMER), test_grant_terms().amount);
	});
}

#[test]
fn a_farm_of_fresh_identities_raises_the_difficulty_and_drains_at_most_four_targets_per_period() {
	with_grants(|| {
		let terms = test_grant_terms();
		let cap = terms.target * 4;
		let pool_before = pool();
		let mut farmed = 0u32;
		let mut identity = 1_000u64;
		let period_start = JoinGrantRate::<Test>::get().expect("a rate").period_start;
		while now() < period_start + terms.period - 1 {
			for _ in 0..terms.max_per_block {
				identity += 1;
				match claim(identity, solve(identity)) {
					Ok(()) => farmed += 1,
					Err(e) => assert!(
						e == Error::<Test>::GrantPeriodFull.into()
							|| e == Error::<Test>::GrantBlockFull.into(),
						"{e:?}"
					),
				}
			}
			run_to_block(now() + 1);
		}
		assert_eq!(farmed, cap, "the period took four targets' worth, no more");
		assert_eq!(pool_before - pool(), Balance::from(cap) * terms.amount);
		run_to_block(period_start + terms.period);
		assert_eq!(
			difficulty(),
			terms.min_difficulty * 4,
			"the next period's work is four times dearer"
		);
		// Periods without claims bring it down again, fourfold each, never below the floor.
		run_to_block(period_start + 3 * terms.period);
		assert_eq!(difficulty(), terms.min_difficulty, "4D, then D after the first quiet period");
		// And root can bring it back to the floor at once.
		JoinGrantRate::<Test>::mutate(|r| r.as_mut().expect("a rate").difficulty *= 64);
		assert_ok!(Market::set_grant_terms(RuntimeOrigin::root(), terms.clone()));
		assert_eq!(difficulty(), terms.min_difficulty);
		run_to_block(now() + 5 * terms.period);
		assert_eq!(difficulty(), terms.min_difficulty);
	});
}

#[test]
fn at_most_max_grants_per_block_land_in_one_block() {
	with_grants(|| {
		let max = test_grant_terms().max_per_block;
		for i in 0..max {
			assert_ok!(claim(1_000 + u64::from(i), solve(1_000 + u64::from(i))));
		}
		let late = solve(2_000);
		assert_eq!(validate(2_000, late), Err(InvalidTransaction::ExhaustsResources.into()));
		assert_noop!(claim(2_000, late), Error::<Test>::GrantBlockFull);
		run_to_block(now() + 1);
		assert_ok!(claim(2_000, late));
	});
}

#[test]
fn an_empty_pool_pays_no_grant() {
	with_grants(|| {
		let rest = pool() - <Balances as Inspect<u64>>::minimum_balance() - 1;
		assert_ok!(<Balances as Mutate<u64>>::transfer(
			&Market::account_id(),
			&EVE,
			rest,
			Preservation::Preserve
		));
		let proof = solve(NEWCOMER);
		assert!(validate(NEWCOMER, proof).is_err());
		assert_noop!(claim(NEWCOMER, proof), Error::<Test>::WelfarePoolShort);
	});
}

#[test]
fn an_unused_grant_returns_to_the_pool_at_its_expiry() {
	with_grants(|| {
		let issuance = Balances::total_issuance();
		assert_ok!(claim(NEWCOMER, solve(NEWCOMER)));
		let held = held_grant(NEWCOMER);
		let expires_at = Grants::<Test>::get(NEWCOMER).expect("a grant").expires_at;
		run_to_block(expires_at - 1);
		assert_eq!(held_grant(NEWCOMER), held, "alive until its expiry");
		let pool_before = pool();
		run_to_block(expires_at);
		assert_eq!(held_grant(NEWCOMER), 0);
		assert_eq!(pool(), pool_before + held);
		assert!(has_event(Event::JoinGrantExpired { who: NEWCOMER, returned: held }));
		assert!(!Grants::<Test>::contains_key(NEWCOMER));
		assert_eq!(Balances::total_issuance(), issuance);
	});
}

#[test]
fn a_deposit_an_expired_grant_funded_refunds_to_the_pool_not_to_the_newcomer() {
	with_grants(|| {
		// The grant expires before the job offer does.
		let short = GrantTerms { expiry: 10, ..test_grant_terms() };
		assert_ok!(Market::set_grant_terms(RuntimeOrigin::root(), short));
		register(&Terms::default());
		assert_ok!(claim(JC_NEWCOMER, solve(JC_NEWCOMER)));
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(JC_NEWCOMER), list(&[])));
		let offer = newcomer_job_offer(DEPOSIT);
		let expires_at = Grants::<Test>::get(JC_NEWCOMER).expect("a grant").expires_at;
		run_to_block(expires_at);
		let kept = Grants::<Test>::get(JC_NEWCOMER).expect("kept while it funds the deposit");
		assert_eq!((kept.available, kept.committed), (0, DEPOSIT));
		let pool_before = pool();
		assert_ok!(Market::cancel_job_offer(RuntimeOrigin::signed(JC_NEWCOMER), offer));
		assert_eq!(pool(), pool_before + DEPOSIT);
		assert_eq!(Balances::balance(&JC_NEWCOMER), 1);
		assert!(!Grants::<Test>::contains_key(JC_NEWCOMER));
	});
}

#[test]
fn grant_funds_cannot_be_transferred_or_withdrawn() {
	with_grants(|| {
		assert_ok!(claim(NEWCOMER, solve(NEWCOMER)));
		assert!(<Balances as Mutate<u64>>::transfer(&NEWCOMER, &EVE, 2, Preservation::Expendable)
			.is_err());
		let eve = Balances::balance(&EVE);
		assert_ok!(Balances::transfer_all(RuntimeOrigin::signed(NEWCOMER), EVE, false));
		assert_eq!(Balances::balance(&EVE), eve, "transfer_all moved nothing");
		assert_eq!(held_grant(NEWCOMER), test_grant_terms().amount - 1);
	});
}

#[test]
fn the_welfare_tax_goes_from_the_providers_pay_to_the_pool() {
	with_grants(|| {
		let match_id = matched();
		assert_ok!(post_result(match_id, ResultStatus::Completed));
		let (rp_before, pool_before) = (Balances::balance(&RP), pool());
		assert_ok!(Market::accept_result(RuntimeOrigin::signed(JC), match_id));
		let tax = test_grant_terms().welfare_tax * (PRICE as Balance);
		assert!(tax > 0);
		assert_eq!(pool() - pool_before, tax);
		// The provider's deposit is released too: its pay is π_c less the tax.
		let released = DEPOSIT - (INCENTIVE + F_M + F_D) as Balance;
		assert_eq!(Balances::balance(&RP) - rp_before, released + PRICE as Balance - tax);
		assert!(matches!(
			last_event(),
			RuntimeEvent::Market(Event::MatchClosed { welfare_tax, .. }) if welfare_tax == tax
		));
	});
}

#[test]
fn bad_grant_terms_are_refused_each_with_its_own_error() {
	with_grants(|| {
		let good = test_grant_terms();
		let cases: [(GrantTermsOf<Test>, Error<Test>); 8] = [
			(GrantTerms { amount: 2, ..good.clone() }, Error::GrantAmountTooSmall),
			(GrantTerms { proof_age: 0, ..good.clone() }, Error::GrantProofAgeOutOfRange),
			(
				GrantTerms { proof_age: 10_000, expiry: 20_000, ..good.clone() },
				Error::GrantProofAgeOutOfRange,
			),
			(GrantTerms { expiry: good.proof_age, ..good.clone() }, Error::GrantExpiryTooShort),
			(GrantTerms { period: 0, ..good.clone() }, Error::ZeroGrantPeriod),
			(GrantTerms { target: 0, ..good.clone() }, Error::ZeroGrantTarget),
			(GrantTerms { max_per_block: 0, ..good.clone() }, Error::ZeroMaxGrantsPerBlock),
			(GrantTerms { min_difficulty: 0, ..good.clone() }, Error::ZeroGrantDifficulty),
		];
		for (terms, error) in cases {
			assert_noop!(Market::set_grant_terms(RuntimeOrigin::root(), terms), error);
		}
		let taxing =
			GrantTerms { welfare_tax: MAX_WELFARE_TAX + Perbill::from_percent(1), ..good.clone() };
		assert_noop!(
			Market::set_grant_terms(RuntimeOrigin::root(), taxing),
			Error::<Test>::WelfareTaxTooHigh
		);
		assert_noop!(
			Market::set_grant_terms(RuntimeOrigin::signed(ALICE), good.clone()),
			DispatchError::BadOrigin
		);
		let dearer = GrantTerms { min_difficulty: 64, ..good };
		assert_ok!(Market::set_grant_terms(RuntimeOrigin::root(), dearer));
		assert_eq!(difficulty(), 64, "a raised floor lifts the difficulty at once");
	});
}

#[test]
fn a_chain_without_grant_terms_pays_no_grant_and_takes_no_tax() {
	ExtBuilder::default().build_and_execute(|| {
		run_to_block(3);
		let proof = GrantProof { block: 2, nonce: 0 };
		assert_eq!(
			validate(NEWCOMER, proof),
			Err(InvalidTransaction::Custom(Error::<Test>::GrantsClosed.encode()[0]).into())
		);
		assert_noop!(claim(NEWCOMER, proof), Error::<Test>::GrantsClosed);
	});
}

#[test]
fn a_signed_claim_is_refused() {
	with_grants(|| {
		let proof = solve(NEWCOMER);
		assert_noop!(
			Market::claim_join_grant(RuntimeOrigin::signed(NEWCOMER), NEWCOMER, proof),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn the_puzzle_is_one_hash_of_domain_genesis_account_block_and_nonce() {
	let mut puzzle = GrantPuzzle::new(&[1; 32], &7u64.encode(), &[2; 32]);
	let input =
		[b"modicum/join-grant".as_slice(), &[1; 32], &7u64.encode(), &[2; 32], &5u64.to_le_bytes()]
			.concat();
	assert_eq!(puzzle.work(5), sp_runtime::traits::BlakeTwo256::hash(&input).0);
	assert!(GrantPuzzle::meets(&[0; 32], u128::MAX));
	assert!(!GrantPuzzle::meets(&[0xff; 32], 2));
	assert!(GrantPuzzle::meets(&[0xff; 32], 1));
}

#[test]
fn a_proof_naming_genesis_or_a_pruned_block_is_refused() {
	with_grants(|| {
		// Genesis's hash is public before launch: work on it could be done in advance.
		let on_genesis =
			search(|p| solves(System::block_hash(0), NEWCOMER, &GrantProof { block: 0, ..*p }));
		let on_genesis = GrantProof { block: 0, ..on_genesis };
		assert_eq!(validate(NEWCOMER, on_genesis), Err(InvalidTransaction::Stale.into()));
		assert_noop!(claim(NEWCOMER, on_genesis), Error::<Test>::GrantProofBlockUnknown);
		// A block whose hash the chain no longer keeps reads as zero: so would the work.
		let proof = solve(NEWCOMER);
		frame_system::BlockHash::<Test>::remove(proof.block);
		assert_noop!(claim(NEWCOMER, proof), Error::<Test>::GrantProofBlockUnknown);
	});
}

/// The newcomer's grant funds a job offer; the newcomer then has `own` of its own too.
fn newcomer_with_a_grant_funded_offer(own: Balance) -> OfferId {
	register(&Terms::default());
	assert_ok!(claim(JC_NEWCOMER, solve(JC_NEWCOMER)));
	assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(JC_NEWCOMER), list(&[MEDIATOR])));
	let offer = newcomer_job_offer(DEPOSIT);
	assert_ok!(<Balances as Mutate<u64>>::transfer(
		&EVE,
		&JC_NEWCOMER,
		own,
		Preservation::Preserve
	));
	offer
}

#[test]
fn grant_and_own_funds_never_mix_in_the_market() {
	with_grants(|| {
		let grant_offer = newcomer_with_a_grant_funded_offer(50_000);
		// Its own funds cannot hold a deposit beside the grant's: a refund could not tell them
		// apart, and its own payments could carry grant funds out.
		let own_offer = || post_newcomer_job_offer(30_000);
		assert_noop!(own_offer(), Error::<Test>::GrantFundsInMarket);
		// Once the grant's deposit is back, its own funds hold the larger deposit, and the
		// grant waits until they are back too.
		assert_ok!(Market::cancel_job_offer(RuntimeOrigin::signed(JC_NEWCOMER), grant_offer));
		let grant_left = held_grant(JC_NEWCOMER);
		assert_ok!(own_offer());
		assert_eq!(held_grant(JC_NEWCOMER), grant_left, "the grant did not fund its own deposit");
		let own = newcomer_job_offer(DEPOSIT);
		assert_eq!(held_grant(JC_NEWCOMER), grant_left, "nor one beside it");
		assert_eq!(Grants::<Test>::get(JC_NEWCOMER).map(|g| g.committed), Some(0));
		assert_ok!(Market::cancel_job_offer(RuntimeOrigin::signed(JC_NEWCOMER), own));
		assert_eq!(held_grant(JC_NEWCOMER), grant_left, "its own refund stays its own");
	});
}

#[test]
fn a_job_creator_that_is_its_own_solver_gets_its_incentive_back_into_its_grant() {
	with_grants(|| {
		let job = newcomer_with_a_grant_funded_offer(0);
		let before = held_grant(JC_NEWCOMER);
		assert_ok!(post_resource_offer(&Terms::default()));
		let resource = NextOfferId::<Test>::get() - 1;
		assert_ok!(Market::post_match(RuntimeOrigin::signed(JC_NEWCOMER), job, resource, MEDIATOR));
		// Its own incentive went back to the grant; the provider's is real MDC.
		assert_eq!(held_grant(JC_NEWCOMER), before + INCENTIVE as Balance);
		assert_eq!(Balances::balance(&JC_NEWCOMER), 1 + INCENTIVE as Balance);
	});
}

#[test]
fn what_the_market_can_spend_follows_the_never_mix_rule() {
	with_grants(|| {
		let own = |who: u64| Balances::balance(&who) - 1;
		let grant_offer = newcomer_with_a_grant_funded_offer(50_000);
		// A grant-funded deposit is open: only the grant funds the next one.
		assert_eq!(Market::spendable_in_market(&JC_NEWCOMER), held_grant(JC_NEWCOMER));
		assert_ok!(Market::cancel_job_offer(RuntimeOrigin::signed(JC_NEWCOMER), grant_offer));
		// Nothing in the market: the larger of the two, never their sum.
		assert_eq!(Market::spendable_in_market(&JC_NEWCOMER), own(JC_NEWCOMER));
		assert!(own(JC_NEWCOMER) > held_grant(JC_NEWCOMER));
		// Its own funds are in the market: the grant waits.
		let offer = newcomer_job_offer(30_000);
		assert_eq!(Market::spendable_in_market(&JC_NEWCOMER), own(JC_NEWCOMER));
		assert_ok!(Market::cancel_job_offer(RuntimeOrigin::signed(JC_NEWCOMER), offer));
	});
}
