//! Genesis presets: `development` (Alice alone validates) and `local_testnet` (Alice, Bob,
//! Charlie and Dave validate). Every MDC that will ever exist is endowed here.

use crate::{
	AccountId, Balance, BalancesConfig, MarketConfig, Runtime, RuntimeGenesisConfig, SudoConfig,
	HOURS, MDC, MILLI_MDC, MINUTES,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_market::MarketParameters;
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::PresetId;
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};
use sp_runtime::Perbill;

/// What each well-known development account starts with.
pub const ENDOWMENT: Balance = 1_000_000 * MDC;
/// What the market's penalty pool starts with, so that it always exists.
pub const POOL_ENDOWMENT: Balance = MDC;

/// The market parameters of the development and local chains.
pub fn market_parameters() -> MarketParameters<Balance, crate::BlockNumber> {
	MarketParameters {
		penalty_rate: 50,
		verification_count: 2,
		match_incentive: 10 * MILLI_MDC,
		reaction_window: MINUTES,
		mediation_window: 2 * MINUTES,
		// The largest measured spread of one job's CPU time times a margin of 1.5
		// (docs/performance.md, "Metering noise"): no honest provider is convicted.
		too_much_cost_tolerance: Perbill::from_percent(30),
		too_much_cost_floor: 100,
		min_resource_deposit: MDC,
		min_bond: 100 * MDC,
		heartbeat_period: MINUTES,
		// One core of the slowest machine: 2 000 ms of CPU per 2 s block; a 1 MiB/s link.
		reference_speed: 2_000,
		reference_bandwidth: 2_048,
		// A registry's first answer and a pull's set-up on top of the transfer itself.
		fetch_grace: 10,
		max_job_duration: 12 * HOURS,
		max_offer_window: 7 * 24 * HOURS,
		reputation_decay: Perbill::from_percent(98),
		min_reputation_price: 100 * MILLI_MDC,
		reputation_fee: Perbill::from_percent(1),
	}
}

/// The accounts endowed at genesis and what each receives.
pub fn endowments() -> Vec<(AccountId, Balance)> {
	let mut endowed: Vec<(AccountId, Balance)> = Sr25519Keyring::iter()
		.filter(|k| k != &Sr25519Keyring::One && k != &Sr25519Keyring::Two)
		.map(|k| (k.to_account_id(), ENDOWMENT))
		.collect();
	endowed.push((pallet_market::Pallet::<Runtime>::account_id(), POOL_ENDOWMENT));
	endowed
}

/// A validator's Aura (sr25519) and GRANDPA (ed25519) keys.
type Validator = (Sr25519Keyring, Ed25519Keyring);

const ALICE: Validator = (Sr25519Keyring::Alice, Ed25519Keyring::Alice);
const BOB: Validator = (Sr25519Keyring::Bob, Ed25519Keyring::Bob);
const CHARLIE: Validator = (Sr25519Keyring::Charlie, Ed25519Keyring::Charlie);
const DAVE: Validator = (Sr25519Keyring::Dave, Ed25519Keyring::Dave);

fn genesis(validators: &[Validator]) -> Value {
	let aura: Vec<AuraId> = validators.iter().map(|(sr, _)| sr.public().into()).collect();
	let grandpa: Vec<(GrandpaId, u64)> =
		validators.iter().map(|(_, ed)| (ed.public().into(), 1)).collect();
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances: endowments() },
		aura: pallet_aura::GenesisConfig { authorities: aura },
		grandpa: pallet_grandpa::GenesisConfig { authorities: grandpa },
		sudo: SudoConfig { key: Some(Sr25519Keyring::Alice.to_account_id()) },
		market: MarketConfig { parameters: market_parameters() },
	})
}

/// The JSON of a preset, or `None` for an unknown id.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => genesis(&[ALICE]),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => genesis(&[ALICE, BOB, CHARLIE, DAVE]),
		_ => return None,
	};
	Some(serde_json::to_string(&patch).expect("a JSON value serializes").into_bytes())
}

/// The presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
	]
}
