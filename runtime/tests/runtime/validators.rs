//! Joining and leaving the validators, on the real runtime from the local testnet's genesis:
//! keys with their ownership proof, a bond, the session boundaries, fees, idle candidates
//! dropped, and every bad request refused with its own error and no change.

use codec::Encode;
use frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, InspectHold},
};
use modicum_runtime::{
	configs::{CANDIDACY_BOND, KICK_THRESHOLD, MAX_CANDIDATES, SESSION_PERIOD},
	testing::{genesis_ext, open_block_in_slot, produce_block, signed as signed_xt},
	*,
};
use sp_keyring::Sr25519Keyring;
use sp_keystore::{testing::MemoryKeystore, KeystoreExt};
use sp_runtime::{traits::Dispatchable, DispatchError};

type CollatorSelectionError = pallet_collator_selection::Error<Runtime>;
type SessionError = pallet_session::Error<Runtime>;

/// The local testnet (four invulnerables) with a keystore for generating session keys.
fn local_testnet() -> sp_io::TestExternalities {
	let mut ext = genesis_ext(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET);
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext
}

/// A stranger's account with `balance`, paid by Alice.
fn stranger(index: u8, balance: Balance) -> AccountId {
	let who = AccountId::new([index; 32]);
	assert_ok!(Balances::transfer_keep_alive(
		signed(Sr25519Keyring::Alice.to_account_id()),
		who.clone().into(),
		balance
	));
	who
}

/// What `who` has bonded: its reserved balance without the key deposit.
fn bonded(who: &AccountId) -> Balance {
	let keys = RuntimeHoldReason::Session(pallet_session::HoldReason::Keys);
	Balances::reserved_balance(who) - Balances::balance_on_hold(&keys, who)
}

fn signed(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

/// Fresh keys for `owner` with the proof `author_rotateKeysWithOwner` returns.
fn keys_for(owner: &AccountId) -> (SessionKeys, Vec<u8>) {
	let generated = SessionKeys::generate(&owner.encode(), None);
	(generated.keys, generated.proof.encode())
}

/// `who` sets fresh keys and bonds a candidacy.
fn join(who: &AccountId) -> SessionKeys {
	let (keys, proof) = keys_for(who);
	assert_ok!(Session::set_keys(signed(who.clone()), keys.clone(), proof));
	assert_ok!(CollatorSelection::register_as_candidate(signed(who.clone())));
	keys
}

/// Produces blocks until `number`, each in the slot of its number.
fn run_until(number: BlockNumber) {
	let mut next = System::block_number() + 1;
	while next <= number {
		produce_block(next, || None);
		next += 1;
	}
}

/// The first block of the session after the current one.
fn next_session_start() -> BlockNumber {
	(System::block_number() / SESSION_PERIOD + 1) * SESSION_PERIOD
}

#[test]
fn a_bonded_candidate_validates_from_the_second_session_boundary_and_earns_its_blocks_fees() {
	local_testnet().execute_with(|| {
		run_until(1);
		let newcomer = stranger(1, 10_000 * MDC);
		let keys = join(&newcomer);
		assert_eq!(bonded(&newcomer), CANDIDACY_BOND);

		let first = next_session_start();
		run_until(first);
		assert!(!Session::validators().contains(&newcomer), "not in the session it was queued in");
		run_until(first + SESSION_PERIOD);
		let validators = Session::validators();
		let index = validators.iter().position(|v| v == &newcomer).expect("a validator");
		assert!(
			pallet_aura::Authorities::<Runtime>::get().contains(&keys.aura),
			"Aura has its key"
		);
		assert!(
			Grandpa::grandpa_authorities().iter().any(|(id, _)| id == &keys.grandpa)
				|| pallet_grandpa::PendingChange::<Runtime>::get()
					.is_some_and(|c| c.next_authorities.iter().any(|(id, _)| id == &keys.grandpa)),
			"GRANDPA votes with its key"
		);

		// Its slot: the fees of a transfer in its block reach its account, not its key's.
		let n = validators.len() as BlockNumber;
		let mut block = System::block_number() + 1;
		// A session's first block takes no transactions: pallet-session claims its weight.
		while block % n != index as BlockNumber || block % SESSION_PERIOD == 0 {
			produce_block(block, || None);
			block += 1;
		}
		let before = Balances::balance(&newcomer);
		let payer = Sr25519Keyring::Bob.to_account_id();
		let payer_before = Balances::balance(&payer);
		let mut sent = false;
		produce_block(block, || {
			(!std::mem::replace(&mut sent, true)).then(|| transfer(Sr25519Keyring::Bob))
		});
		let fee = payer_before - Balances::balance(&payer) - MDC;
		assert!(fee > 0);
		assert_eq!(
			Balances::balance(&newcomer),
			before + fee,
			"the author's account earns the fee"
		);
		let key_account = AccountId::from(keys.aura.clone().into_inner());
		assert_eq!(Balances::balance(&key_account), 0, "the Aura key's account earns nothing");
	});
}

/// `from`'s signed transfer of 1 MDC to Charlie.
fn transfer(from: Sr25519Keyring) -> UncheckedExtrinsic {
	let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
		dest: Sr25519Keyring::Charlie.to_account_id().into(),
		value: MDC,
	});
	signed_xt(from, call)
}

#[test]
fn keys_with_another_accounts_proof_are_refused_and_change_nothing() {
	local_testnet().execute_with(|| {
		run_until(1);
		let (newcomer, other) = (stranger(1, 10_000 * MDC), stranger(2, 10_000 * MDC));
		let (keys, proof_for_other) = keys_for(&other);
		assert_noop!(
			Session::set_keys(signed(newcomer.clone()), keys.clone(), proof_for_other),
			SessionError::InvalidProof
		);
		assert_noop!(
			Session::set_keys(signed(newcomer.clone()), keys, vec![0; 128]),
			SessionError::InvalidProof
		);
		// Without keys there is no candidacy.
		assert_noop!(
			CollatorSelection::register_as_candidate(signed(newcomer)),
			CollatorSelectionError::ValidatorNotRegistered
		);
	});
}

#[test]
fn a_bond_below_the_candidacy_bond_is_refused_and_changes_nothing() {
	local_testnet().execute_with(|| {
		run_until(1);
		// Keys, but not the bond's worth of MDC.
		let poor = stranger(1, CANDIDACY_BOND / 2);
		let (keys, proof) = keys_for(&poor);
		assert_ok!(Session::set_keys(signed(poor.clone()), keys, proof));
		assert_noop!(
			CollatorSelection::register_as_candidate(signed(poor.clone())),
			pallet_balances::Error::<Runtime>::InsufficientBalance
		);
		// A seat bid below the candidacy bond.
		let newcomer = stranger(2, 10_000 * MDC);
		let (keys, proof) = keys_for(&newcomer);
		assert_ok!(Session::set_keys(signed(newcomer.clone()), keys, proof));
		assert_noop!(
			CollatorSelection::take_candidate_slot(
				signed(newcomer.clone()),
				CANDIDACY_BOND - 1,
				poor
			),
			CollatorSelectionError::InsufficientBond
		);
		assert_ok!(CollatorSelection::register_as_candidate(signed(newcomer.clone())));
		assert_noop!(
			CollatorSelection::update_bond(signed(newcomer), CANDIDACY_BOND - 1),
			CollatorSelectionError::DepositTooLow
		);
	});
}

#[test]
fn a_full_set_refuses_another_candidate_unless_it_outbids_the_lowest() {
	local_testnet().execute_with(|| {
		run_until(1);
		for i in 0..MAX_CANDIDATES {
			join(&stranger(10 + i as u8, 10_000 * MDC));
		}
		let late = stranger(200, 10_000 * MDC);
		let (keys, proof) = keys_for(&late);
		assert_ok!(Session::set_keys(signed(late.clone()), keys, proof));
		assert_noop!(
			CollatorSelection::register_as_candidate(signed(late.clone())),
			CollatorSelectionError::TooManyCandidates
		);
		// Outbidding the lowest bond takes its seat; the displaced candidate gets its bond back.
		let lowest = AccountId::new([10; 32]);
		assert_noop!(
			CollatorSelection::take_candidate_slot(
				signed(late.clone()),
				CANDIDACY_BOND,
				lowest.clone()
			),
			CollatorSelectionError::InsufficientBond
		);
		assert_ok!(CollatorSelection::take_candidate_slot(
			signed(late.clone()),
			CANDIDACY_BOND + 1,
			lowest.clone()
		));
		assert_eq!(bonded(&lowest), 0);
		assert_eq!(bonded(&late), CANDIDACY_BOND + 1);
	});
}

#[test]
fn a_candidate_that_authors_nothing_is_dropped_and_gets_its_bond_back() {
	local_testnet().execute_with(|| {
		run_until(1);
		let idle = stranger(1, 10_000 * MDC);
		join(&idle);
		// Its slots come, but its node never authors: no block is made in them.
		let mut slot = 2;
		while System::block_number() < 2 * KICK_THRESHOLD + 2 * SESSION_PERIOD {
			let validators = Session::validators();
			if validators[(slot as usize) % validators.len()] != idle {
				open_block_in_slot(System::block_number() + 1, slot);
				Executive::finalize_block();
			}
			slot += 1;
		}
		assert!(
			pallet_collator_selection::CandidateList::<Runtime>::get()
				.iter()
				.all(|c| c.who != idle),
			"dropped"
		);
		assert_eq!(bonded(&idle), 0, "its bond is returned");
		assert!(!Session::validators().contains(&idle), "no longer a validator");
	});
}

#[test]
fn a_leaving_candidate_gets_its_bond_back_at_once_and_the_set_shrinks_two_boundaries_later() {
	local_testnet().execute_with(|| {
		run_until(1);
		let newcomer = stranger(1, 10_000 * MDC);
		join(&newcomer);
		run_until(next_session_start() + SESSION_PERIOD);
		assert!(Session::validators().contains(&newcomer));
		assert_ok!(CollatorSelection::leave_intent(signed(newcomer.clone())));
		assert_eq!(bonded(&newcomer), 0);
		run_until(next_session_start() + SESSION_PERIOD);
		assert!(!Session::validators().contains(&newcomer));
		assert_eq!(Session::validators().len(), 4, "the invulnerables stay");
	});
}

#[test]
fn only_root_names_invulnerables_or_changes_the_bond() {
	local_testnet().execute_with(|| {
		run_until(1);
		let who = stranger(1, 10_000 * MDC);
		let call =
			RuntimeCall::CollatorSelection(pallet_collator_selection::Call::set_candidacy_bond {
				bond: 0,
			});
		assert_eq!(
			call.clone().dispatch(signed(who.clone())).map_err(|e| e.error),
			Err(DispatchError::BadOrigin)
		);
		let add =
			RuntimeCall::CollatorSelection(pallet_collator_selection::Call::add_invulnerable {
				who: who.clone(),
			});
		assert_eq!(add.dispatch(signed(who)).map_err(|e| e.error), Err(DispatchError::BadOrigin));
		assert_ok!(call.dispatch(RuntimeOrigin::root()));
		assert_eq!(pallet_collator_selection::CandidacyBond::<Runtime>::get(), 0);
	});
}

#[test]
fn the_testnet_template_has_three_invulnerable_validators_with_keys_and_ten_million_mdc() {
	genesis_ext(genesis_config_presets::TESTNET_PRESET).execute_with(|| {
		assert_eq!(Session::validators().len(), 3);
		assert_eq!(pallet_collator_selection::Invulnerables::<Runtime>::get().len(), 3);
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 3, "each has its Aura key");
		assert_eq!(Grandpa::grandpa_authorities().len(), 3, "and its GRANDPA key");
		assert_eq!(Balances::total_issuance(), 10_000_000 * MDC);
	});
}

#[test]
fn bonded_strangers_never_hold_a_third_of_the_votes_the_highest_bonds_validate() {
	local_testnet().execute_with(|| {
		run_until(1);
		// Four invulnerables seat one candidate: five voters, four of them named by root.
		let (low, high) = (stranger(1, 10_000 * MDC), stranger(2, 10_000 * MDC));
		join(&low);
		join(&high);
		assert_ok!(CollatorSelection::update_bond(signed(high.clone()), CANDIDACY_BOND + MDC));
		run_until(next_session_start() + SESSION_PERIOD);
		let validators = Session::validators();
		assert_eq!(validators.len(), 5);
		assert!(validators.contains(&high) && !validators.contains(&low), "{validators:?}");
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 5);
		assert_eq!(Grandpa::grandpa_authorities().len(), 5);
		// Waiting for a seat never counts as idle: the waiting candidate stays registered.
		run_until(System::block_number() + 3 * KICK_THRESHOLD);
		let candidates = pallet_collator_selection::CandidateList::<Runtime>::get();
		assert!(candidates.iter().any(|c| c.who == low), "still waiting");
		assert_eq!(bonded(&low), CANDIDACY_BOND);
		// It takes the seat when it outbids.
		assert_ok!(CollatorSelection::update_bond(signed(low.clone()), CANDIDACY_BOND + 2 * MDC));
		run_until(next_session_start() + SESSION_PERIOD);
		let validators = Session::validators();
		assert!(validators.contains(&low) && !validators.contains(&high), "{validators:?}");
	});
}

#[test]
fn sessions_with_an_unchanged_set_keep_grandpas_authority_set() {
	local_testnet().execute_with(|| {
		let set = pallet_grandpa::CurrentSetId::<Runtime>::get();
		run_until(4 * SESSION_PERIOD + 1);
		assert_eq!(Session::current_index(), 4);
		assert_eq!(pallet_grandpa::CurrentSetId::<Runtime>::get(), set, "no new set");
	});
}

#[test]
fn one_set_of_keys_serves_one_account() {
	local_testnet().execute_with(|| {
		run_until(1);
		let (owner, other) = (stranger(1, 10_000 * MDC), stranger(2, 10_000 * MDC));
		let (keys, proof) = keys_for(&owner);
		assert_ok!(Session::set_keys(signed(owner.clone()), keys.clone(), proof));
		// Even with a valid proof for itself (its operator holds the keys too).
		let proof = keys.clone().create_ownership_proof(&other.encode()).expect("in the keystore");
		assert_noop!(
			Session::set_keys(signed(other), keys, proof.encode()),
			SessionError::DuplicatedKey
		);
	});
}

#[test]
fn a_validator_that_purges_its_keys_leaves_the_set_and_gets_its_deposit_back() {
	local_testnet().execute_with(|| {
		run_until(1);
		let newcomer = stranger(1, 10_000 * MDC);
		let keys = join(&newcomer);
		run_until(next_session_start() + SESSION_PERIOD);
		assert!(Session::validators().contains(&newcomer));
		assert_ok!(Session::purge_keys(signed(newcomer.clone())));
		let keys_hold = RuntimeHoldReason::Session(pallet_session::HoldReason::Keys);
		assert_eq!(Balances::balance_on_hold(&keys_hold, &newcomer), 0);
		run_until(next_session_start() + SESSION_PERIOD);
		assert!(!Session::validators().contains(&newcomer));
		assert!(!pallet_aura::Authorities::<Runtime>::get().contains(&keys.aura));
		assert_eq!(Session::validators().len(), 4, "the chain goes on with the invulnerables");
	});
}
