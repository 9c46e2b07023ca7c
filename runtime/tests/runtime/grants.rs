//! Join grants on the real runtime: a newcomer with nothing claims a grant without a fee, pays
//! its market calls' fees and deposits from it, can move none of it anywhere else, and what it
//! leaves returns to the welfare pool; the public network's floor prices a grant at its value.

use codec::Encode;
use frame_support::{
	assert_ok,
	traits::fungible::{Inspect, InspectHold},
};
use modicum_runtime::{
	configs::CANDIDACY_BOND,
	genesis_config_presets::{
		devnet_grant_terms, testnet_grant_terms, CORE_SECOND_PRICE, HASHES_PER_CORE_SECOND,
		SPECIALISED_HARDWARE_FACTOR,
	},
	testing::{close_block, genesis_ext, open_block, produce_block, signed},
	*,
};
use pallet_market::{GrantProof, GrantPuzzle, Resources};
use sp_keyring::Sr25519Keyring;
use sp_keystore::{testing::MemoryKeystore, KeystoreExt};
use sp_runtime::{
	traits::Dispatchable,
	transaction_validity::{InvalidTransaction, TransactionSource, TransactionValidityError},
};

/// A newcomer: a well-known key the presets do not endow.
const NEWCOMER: Sr25519Keyring = Sr25519Keyring::One;

fn newcomer() -> AccountId {
	NEWCOMER.to_account_id()
}

/// The development chain at block 2, with claims a thousand times cheaper than its own so a
/// test solves them at once.
fn dev_chain() -> sp_io::TestExternalities {
	let mut ext = genesis_ext(sp_genesis_builder::DEV_RUNTIME_PRESET);
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext.execute_with(|| {
		produce_block(1, || None);
		produce_block(2, || None);
		pallet_market::JoinGrantRate::<Runtime>::mutate(|rate| {
			rate.as_mut().expect("the preset has grant terms").difficulty = 1 << 12;
		});
		pallet_market::JoinGrantTerms::<Runtime>::mutate(|terms| {
			terms.as_mut().expect("the preset has grant terms").min_difficulty = 1 << 12;
		});
	});
	ext
}

/// `who`'s claim naming the last block, solved at the next block's difficulty.
fn claim(who: &AccountId) -> UncheckedExtrinsic {
	let (terms, difficulty) = Market::grant_terms_now().expect("grant terms");
	assert!(difficulty <= terms.min_difficulty.max(1 << 12));
	let block = System::block_number();
	let mut puzzle = GrantPuzzle::new(
		System::block_hash(0).as_ref(),
		&who.encode(),
		System::block_hash(block).as_ref(),
	);
	let nonce = (0u64..).find(|n| GrantPuzzle::meets(&puzzle.work(*n), difficulty)).unwrap();
	let call = pallet_market::Call::claim_join_grant {
		who: who.clone(),
		proof: GrantProof { block, nonce },
	};
	UncheckedExtrinsic::new_bare(RuntimeCall::Market(call))
}

fn grant_held(who: &AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Market(pallet_market::HoldReason::Grant), who)
}

/// Claims the newcomer's grant in the next block.
fn joined() {
	let xt = claim(&newcomer());
	let mut once = Some(xt);
	assert_eq!(produce_block(System::block_number() + 1, || once.take()), 1);
}

#[test]
fn a_claim_is_free_checked_before_the_pool_and_pays_the_grant() {
	dev_chain().execute_with(|| {
		let issuance = Balances::total_issuance();
		let xt = claim(&newcomer());
		let parent = System::block_hash(System::block_number());
		open_block(System::block_number() + 1);
		let valid =
			Executive::validate_transaction(TransactionSource::External, xt.clone(), parent)
				.expect("the pool takes a valid claim");
		assert_eq!(valid.priority, pallet_market::GRANT_CLAIM_PRIORITY, "no fee buys priority");
		// Another account's proof, or a forged nonce, never enters the pool.
		let mut forged = claim(&newcomer());
		if let RuntimeCall::Market(pallet_market::Call::claim_join_grant { proof, .. }) =
			&mut forged.function
		{
			proof.nonce = proof.nonce.wrapping_add(1);
		}
		let refused = Executive::validate_transaction(TransactionSource::External, forged, parent);
		assert!(refused.is_err(), "a forged proof is refused before the pool: {refused:?}");

		let author = Sr25519Keyring::Alice.to_account_id();
		let author_before = Balances::balance(&author);
		assert_ok!(Executive::apply_extrinsic(xt).expect("the claim applies"));
		close_block();
		let terms = devnet_grant_terms();
		assert_eq!(grant_held(&newcomer()), terms.amount - EXISTENTIAL_DEPOSIT);
		assert_eq!(Balances::balance(&author), author_before, "a claim pays no fee");
		assert_eq!(Balances::total_issuance(), issuance, "nothing is minted");
	});
}

#[test]
fn a_newcomer_holding_only_a_grant_registers_posts_an_offer_and_pays_the_fees_from_it() {
	dev_chain().execute_with(|| {
		joined();
		let before = grant_held(&newcomer());
		let author = Sr25519Keyring::Alice.to_account_id();
		let author_before = Balances::balance(&author);
		let register = RuntimeCall::Market(pallet_market::Call::register_resource_provider {
			architecture: pallet_market::Architecture::Amd64,
			speed: 2_000,
			trusted_mediators: Default::default(),
			trusted_directories: Default::default(),
			base_layers: Default::default(),
		});
		let now = System::block_number();
		let deposit = Market::parameters().unwrap().min_resource_deposit;
		let offer = RuntimeCall::Market(pallet_market::Call::post_resource_offer {
			capacity: Resources { cpu: 1_000, memory: 64, storage: 16, bandwidth: 1_000 },
			architecture: pallet_market::Architecture::Amd64,
			cpu_price: 1,
			bandwidth_price: 1,
			valid_from: now + 1,
			valid_to: now + 100,
			max_fees: pallet_market::MaxFees { mediator: MDC, directory: MDC },
			deposit,
		});
		let mut calls =
			vec![signed_at(NEWCOMER, register, 0), signed_at(NEWCOMER, offer, 1)].into_iter();
		assert_eq!(produce_block(now + 1, || calls.next()), 2, "both land");
		let fees = Balances::balance(&author) - author_before;
		assert!(fees > 0, "the author earned the newcomer's fees");
		assert_eq!(
			grant_held(&newcomer()),
			before - deposit - fees,
			"the grant paid deposit and fees"
		);
		assert_eq!(Balances::balance(&newcomer()), EXISTENTIAL_DEPOSIT, "nothing else was spent");
		Market::do_try_state().expect("the market's invariants hold");
	});
}

/// `call` signed by `signer` with nonce `nonce`.
fn signed_at(signer: Sr25519Keyring, call: RuntimeCall, nonce: Nonce) -> UncheckedExtrinsic {
	signed_with_tip(signer, call, nonce, 0)
}

/// `call` signed by `signer` with nonce `nonce` and a tip to the author.
fn signed_with_tip(
	signer: Sr25519Keyring,
	call: RuntimeCall,
	nonce: Nonce,
	tip: Balance,
) -> UncheckedExtrinsic {
	let mut extension = modicum_runtime::testing::tx_extension(nonce);
	extension.7 = pallet_transaction_payment::ChargeTransactionPayment::from(tip);
	let payload = SignedPayload::new(call.clone(), extension.clone()).unwrap();
	let signature = payload.using_encoded(|bytes| signer.sign(bytes));
	UncheckedExtrinsic::new_signed(
		call,
		signer.to_account_id().into(),
		Signature::Sr25519(signature),
		extension,
	)
}

#[test]
fn a_tip_is_never_paid_from_a_grant() {
	dev_chain().execute_with(|| {
		joined();
		let held = grant_held(&newcomer());
		// A market call that fails, with a tip of most of the grant: were the tip the grant's,
		// the author would walk away with it.
		let cancel = RuntimeCall::Market(pallet_market::Call::cancel_job_offer { offer: 999 });
		let parent = System::block_hash(System::block_number());
		open_block(System::block_number() + 1);
		let tipped = signed_with_tip(NEWCOMER, cancel.clone(), 0, held / 2);
		assert_eq!(
			Executive::validate_transaction(TransactionSource::External, tipped.clone(), parent)
				.map(|_| ()),
			Err(TransactionValidityError::Invalid(InvalidTransaction::Payment)),
			"the pool refuses a tip the account cannot pay from its own funds"
		);
		assert_eq!(
			Executive::apply_extrinsic(tipped),
			Err(TransactionValidityError::Invalid(InvalidTransaction::Payment))
		);
		assert_eq!(grant_held(&newcomer()), held);
		// Without the tip the grant pays the fee, and the call's failure costs only that.
		assert!(Executive::apply_extrinsic(signed_at(NEWCOMER, cancel, 0)).is_ok());
		assert!(grant_held(&newcomer()) < held);
		close_block();
	});
}

#[test]
fn a_grant_pays_no_fee_outside_the_market_and_never_a_transfer_a_bond_or_a_key_deposit() {
	dev_chain().execute_with(|| {
		joined();
		let held = grant_held(&newcomer());
		let transfer = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
			dest: Sr25519Keyring::Bob.to_account_id().into(),
			value: MDC,
		});
		open_block(System::block_number() + 1);
		assert_eq!(
			Executive::apply_extrinsic(signed(NEWCOMER, transfer.clone())),
			Err(TransactionValidityError::Invalid(InvalidTransaction::Payment)),
			"a transfer's fee is not the market's"
		);
		close_block();
		// Even dispatched without a fee, nothing of the grant moves.
		let origin = RuntimeOrigin::signed(newcomer());
		assert!(transfer.dispatch(origin.clone()).is_err(), "a transfer of grant funds");
		assert_ok!(CollatorSelection::set_candidacy_bond(RuntimeOrigin::root(), MDC));
		let (keys, proof) = {
			let generated = SessionKeys::generate(&newcomer().encode(), None);
			(generated.keys, generated.proof.encode())
		};
		assert!(
			Session::set_keys(origin.clone(), keys, proof).is_err(),
			"the session-key deposit is not the market's"
		);
		assert!(
			CollatorSelection::register_as_candidate(origin).is_err(),
			"a validator bond of {} is not the market's, though the grant holds {held}",
			MDC
		);
		assert_eq!(grant_held(&newcomer()), held);
		assert!(CANDIDACY_BOND > MDC);
	});
}

#[test]
fn an_unused_grant_returns_to_the_pool_at_its_expiry_on_the_development_chain() {
	dev_chain().execute_with(|| {
		let issuance = Balances::total_issuance();
		joined();
		let held = grant_held(&newcomer());
		let pool = Balances::balance(&Market::account_id());
		let expires_at = pallet_market::Grants::<Runtime>::get(newcomer()).unwrap().expires_at;
		while System::block_number() < expires_at {
			produce_block(System::block_number() + 1, || None);
		}
		assert_eq!(grant_held(&newcomer()), 0);
		assert_eq!(Balances::balance(&Market::account_id()), pool + held);
		assert_eq!(Balances::total_issuance(), issuance);
	});
}

#[test]
fn the_public_networks_floor_prices_a_grant_at_least_at_its_value() {
	let terms = testnet_grant_terms();
	// What the grant buys at the market's price, in core-seconds, and the seconds a core
	// takes for the expected work; specialised hardware is taken to be the factor cheaper.
	let value_core_seconds = terms.amount / CORE_SECOND_PRICE;
	let work_core_seconds = terms.min_difficulty / HASHES_PER_CORE_SECOND;
	assert!(value_core_seconds > 0);
	assert!(
		work_core_seconds / SPECIALISED_HARDWARE_FACTOR >= value_core_seconds,
		"the work costs {work_core_seconds} core-seconds, {}× cheaper on a GPU, for a grant worth {value_core_seconds}",
		SPECIALISED_HARDWARE_FACTOR
	);
	// The proof's block must outlive the expected work on one core.
	let blocks = work_core_seconds as u64 * 1_000 / MILLI_SECS_PER_BLOCK;
	assert!(
		u64::from(terms.proof_age) > blocks,
		"{blocks} blocks of work, proofs live {}",
		terms.proof_age
	);
	genesis_ext(genesis_config_presets::TESTNET_PRESET).execute_with(|| {
		assert_eq!(pallet_market::JoinGrantTerms::<Runtime>::get(), Some(terms));
		assert!(Balances::balance(&Market::account_id()) >= 1_000 * devnet_grant_terms().amount);
	});
}
