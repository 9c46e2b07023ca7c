//! The fixed supply, tested on the real runtime built from its genesis presets.

use modicum_runtime::{
	configs::{IssuanceChanging, SudoCall, ToBlockAuthor},
	genesis_config_presets::DEVNET_POOL_ENDOWMENT,
	testing::{genesis_ext, produce_block, signed, start_block},
	*,
};
use codec::Encode;
use frame_support::{
	assert_err, assert_ok,
	dispatch::GetDispatchInfo,
	traits::{
		fungible::{Balanced, Inspect},
		tokens::{Fortitude, Precision, Preservation},
		Contains, OnUnbalanced,
	},
};
use sp_keyring::Sr25519Keyring;
use sp_runtime::traits::Dispatchable;

/// Every planck that exists, written out independently of the presets that endow it: twelve
/// well-known development accounts (Alice to Ferdie and their stashes) with 1 000 000 MDC each,
/// and the welfare pool with 10 000 MDC, at 12 decimals.
const GENESIS_ISSUANCE: Balance = 12_010_000_000_000_000_000;

/// What each well-known development account holds at genesis: 1 000 000 MDC of 10¹² plancks.
const DEV_ACCOUNT_GENESIS_BALANCE: Balance = 1_000_000_000_000_000_000;

/// What the welfare pool holds at genesis: 10 000 MDC for join grants.
const POOL_GENESIS_BALANCE: Balance = 10_000_000_000_000_000;

/// The accounts endowed at genesis besides the pool.
const DEV_ACCOUNTS: [Sr25519Keyring; 12] = [
	Sr25519Keyring::Alice,
	Sr25519Keyring::Bob,
	Sr25519Keyring::Charlie,
	Sr25519Keyring::Dave,
	Sr25519Keyring::Eve,
	Sr25519Keyring::Ferdie,
	Sr25519Keyring::AliceStash,
	Sr25519Keyring::BobStash,
	Sr25519Keyring::CharlieStash,
	Sr25519Keyring::DaveStash,
	Sr25519Keyring::EveStash,
	Sr25519Keyring::FerdieStash,
];

fn account(who: Sr25519Keyring) -> AccountId {
	who.to_account_id()
}

/// Start block 1 as authored by the Aura authority of `slot`.
fn start_block_in_slot(slot: u64) {
	start_block(1, slot);
}

#[test]
fn genesis_total_issuance_is_the_endowment() {
	for preset in
		[sp_genesis_builder::DEV_RUNTIME_PRESET, sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET]
	{
		genesis_ext(preset).execute_with(|| {
			assert_eq!(Balances::total_issuance(), GENESIS_ISSUANCE, "{preset}: total issuance");
			for who in DEV_ACCOUNTS {
				assert_eq!(
					Balances::balance(&account(who)),
					DEV_ACCOUNT_GENESIS_BALANCE,
					"{preset}: {who:?} at genesis"
				);
			}
			assert_eq!(Balances::balance(&Market::account_id()), POOL_GENESIS_BALANCE);
			assert_eq!(
				DEV_ACCOUNT_GENESIS_BALANCE * DEV_ACCOUNTS.len() as Balance + POOL_GENESIS_BALANCE,
				GENESIS_ISSUANCE,
				"the accounts above hold every planck"
			);
			assert_eq!(Market::parameters().unwrap().verification_count, 2);
		});
	}
}

#[test]
fn local_testnet_has_four_validators() {
	genesis_ext(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 4);
		assert_eq!(Grandpa::grandpa_authorities().len(), 4);
	});
}

#[test]
fn transfers_and_their_fees_keep_the_supply_fixed() {
	genesis_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		// Alice is the only authority, so she authors every slot.
		start_block_in_slot(1);
		assert_eq!(configs::block_author(), Some(account(Sr25519Keyring::Alice)));

		let (alice, bob, charlie) = (
			account(Sr25519Keyring::Alice),
			account(Sr25519Keyring::Bob),
			account(Sr25519Keyring::Charlie),
		);
		let amount = 1_234 * MDC;
		let transfer = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
			dest: charlie.clone().into(),
			value: amount,
		});
		assert_ok!(Executive::apply_extrinsic(signed(Sr25519Keyring::Bob, transfer)).unwrap());

		let bob_paid = ENDOWMENT_OF - Balances::balance(&bob);
		let fee = bob_paid - amount;
		assert!(fee > 0, "a transfer costs a fee");
		assert_eq!(Balances::balance(&charlie), ENDOWMENT_OF + amount);
		assert_eq!(Balances::balance(&alice), ENDOWMENT_OF + fee, "the author receives the fee");
		assert_eq!(Balances::total_issuance(), GENESIS_ISSUANCE);
	});
}

const ENDOWMENT_OF: Balance = genesis_config_presets::ENDOWMENT;

#[test]
fn dust_and_fees_without_an_author_go_to_the_welfare_pool() {
	genesis_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(configs::block_author(), None);
		let bob = account(Sr25519Keyring::Bob);
		let credit = Balances::withdraw(
			&bob,
			MDC,
			Precision::Exact,
			Preservation::Preserve,
			Fortitude::Polite,
		)
		.unwrap();
		ToBlockAuthor::on_unbalanced(credit);
		assert_eq!(Balances::balance(&Market::account_id()), DEVNET_POOL_ENDOWMENT + MDC);
		assert_eq!(Balances::total_issuance(), GENESIS_ISSUANCE);
	});
}

#[test]
fn nobody_not_even_root_can_mint_or_burn() {
	genesis_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		System::set_block_number(1);
		let alice = account(Sr25519Keyring::Alice);
		let bob = account(Sr25519Keyring::Bob);
		let mint = RuntimeCall::Balances(BalancesCall::force_set_balance {
			who: bob.clone().into(),
			new_free: ENDOWMENT_OF * 1_000,
		});
		let burn = RuntimeCall::Balances(BalancesCall::burn { value: MDC, keep_alive: true });
		let rewrite = RuntimeCall::System(SystemCall::set_storage { items: vec![] });
		let adjust = RuntimeCall::Balances(BalancesCall::force_adjust_total_issuance {
			direction: pallet_balances::AdjustmentDirection::Increase,
			delta: MDC,
		});
		for call in [&mint, &burn, &rewrite, &adjust] {
			assert!(IssuanceChanging::contains(call));
		}

		// A signed origin is stopped by the base call filter.
		assert_err!(
			burn.clone().dispatch(RuntimeOrigin::signed(bob.clone())),
			frame_system::Error::<Runtime>::CallFiltered
		);

		// Root, through sudo, directly, as another account, or nested, is refused too.
		let sudo = |call: RuntimeCall| {
			RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(SudoCall(call)) })
		};
		let attempts = [
			sudo(mint.clone()),
			sudo(rewrite),
			sudo(adjust),
			sudo(sudo(mint.clone())),
			RuntimeCall::Sudo(pallet_sudo::Call::sudo_as {
				who: bob.clone().into(),
				call: Box::new(SudoCall(burn)),
			}),
		];
		for attempt in attempts {
			System::reset_events();
			assert_ok!(attempt.dispatch(RuntimeOrigin::signed(alice.clone())));
			let refused = System::events().iter().any(|record| {
				matches!(
					record.event,
					RuntimeEvent::Sudo(pallet_sudo::Event::Sudid { sudo_result: Err(ref e) }
						| pallet_sudo::Event::SudoAsDone { sudo_result: Err(ref e) })
						if *e == frame_system::Error::<Runtime>::CallFiltered.into()
				)
			});
			assert!(refused, "root's attempt to change issuance was refused");
		}
		assert_eq!(Balances::balance(&bob), ENDOWMENT_OF);
		assert_eq!(Balances::total_issuance(), GENESIS_ISSUANCE);

		// Everything else root may still do.
		let remark = sudo(RuntimeCall::System(SystemCall::remark { remark: vec![1] }));
		System::reset_events();
		assert_ok!(remark.dispatch(RuntimeOrigin::signed(alice)));
		assert!(System::events().iter().any(|record| matches!(
			record.event,
			RuntimeEvent::Sudo(pallet_sudo::Event::Sudid { sudo_result: Ok(()) })
		)));
	});
}

#[test]
fn sudo_calls_look_like_runtime_calls_to_clients() {
	// Same type in the metadata, same bytes on the wire, same weight.
	assert_eq!(scale_info::meta_type::<SudoCall>(), scale_info::meta_type::<RuntimeCall>());
	let call = RuntimeCall::System(SystemCall::remark { remark: vec![7; 3] });
	assert_eq!(SudoCall(call.clone()).encode(), call.encode());
	assert_eq!(SudoCall(call.clone()).get_dispatch_info(), call.get_dispatch_info());
}

#[test]
fn the_sweep_settles_in_one_block_what_a_full_block_can_schedule_and_fits_in_a_block() {
	use pallet_market::WeightInfo;
	type Weights = pallet_market::weights::SubstrateWeight<Runtime>;
	let c = configs::market_entries_per_full_block();
	let s: u32 = <Runtime as pallet_market::Config>::MaxSweepPerBlock::get();
	assert!(s >= c, "MaxSweepPerBlock {s} below the {c} entries one full block can schedule");
	let sweep = Weights::sweep_block()
		.saturating_add(Weights::sweep_deadline().saturating_mul(s.into()))
		.ref_time();
	let block = configs::RuntimeBlockWeights::get().max_block.ref_time();
	assert!(sweep <= block, "a full sweep ({sweep}) does not fit a block ({block})");
}

/// Attack: flood k full blocks with resource offers that all expire at one block B, hoping the
/// sweep falls behind for good. All are settled by B + ⌈k·C/S⌉ + 1.
#[test]
fn a_flood_of_offers_expiring_at_one_block_is_settled_within_the_bound() {
	genesis_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		let attacker = Sr25519Keyring::Eve;
		let c = configs::market_entries_per_full_block();
		let s: u32 = <Runtime as pallet_market::Config>::MaxSweepPerBlock::get();
		const K: u32 = 3;
		const B: BlockNumber = 2 + K + 1;
		let register = MarketCall::register_resource_provider {
			architecture: pallet_market::Architecture::Amd64,
			speed: 1_000,
			trusted_mediators: Default::default(),
			trusted_directories: Default::default(),
			base_layers: Default::default(),
		};
		let mut once = Some(signed(attacker, RuntimeCall::Market(register)));
		assert_eq!(produce_block(1, || once.take()), 1);

		let deposit = Market::parameters().unwrap().min_resource_deposit;
		let offer = || {
			let call = MarketCall::post_resource_offer {
				capacity: pallet_market::Resources { cpu: 1, memory: 1, storage: 1, bandwidth: 1 },
				architecture: pallet_market::Architecture::Amd64,
				cpu_price: 1,
				bandwidth_price: 1,
				valid_from: 0,
				valid_to: B - 1,
				max_fees: Default::default(),
				deposit,
			};
			Some(signed(attacker, RuntimeCall::Market(call)))
		};
		let mut flooded = 0;
		for number in 2..2 + K {
			let applied = produce_block(number, offer);
			// Full: the next offer was refused for the block's weight; C bounds every call.
			assert!(applied > 0 && applied <= c, "{applied} offers in a block, C = {c}");
			flooded += applied;
		}
		assert_eq!(pallet_market::Deadlines::<Runtime>::iter_prefix(B).count() as u32, flooded);

		let settled_by = B + (K * c).div_ceil(s) + 1;
		let mut number = 2 + K;
		while number <= settled_by {
			produce_block(number, || None);
			number += 1;
		}
		assert_eq!(pallet_market::ResourceOffers::<Runtime>::iter().count(), 0);
		assert_eq!(pallet_market::Deadlines::<Runtime>::iter().count(), 0);
		assert_eq!(System::account(account(attacker)).data.reserved, 0, "every deposit released");
		Market::do_try_state().expect("market invariants hold");
		assert_eq!(Balances::total_issuance(), GENESIS_ISSUANCE);
	});
}
