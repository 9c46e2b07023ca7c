//! Genesis presets: `development` (Alice alone validates), `local_testnet` (Alice, Bob,
//! Charlie and Dave validate) and `testnet` (the template of a public test network, whose
//! placeholder accounts and keys its operator replaces). Every MDC that will ever exist is
//! endowed here.

use crate::{
	configs::{CANDIDACY_BOND, MAX_CANDIDATES},
	AccountId, Balance, BalancesConfig, CollatorSelectionConfig, MarketConfig, Runtime,
	RuntimeGenesisConfig, SessionConfig, SessionKeys, SudoConfig, HOURS, MDC, MILLI_MDC, MINUTES,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_market::{GrantTerms, MarketParameters};
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::PresetId;
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};
use sp_runtime::Perbill;

/// What each well-known development account starts with.
pub const ENDOWMENT: Balance = 1_000_000 * MDC;
/// What the market's welfare pool starts with on a test network: 400 000 join grants.
pub const TESTNET_POOL_ENDOWMENT: Balance = 100_000 * MDC;
/// What the welfare pool starts with on the development and local chains: 2 000 join grants.
pub const DEVNET_POOL_ENDOWMENT: Balance = 10_000 * MDC;

/// Hashes of the join-grant puzzle one core of the fastest machine measured does per second
/// (docs/economics.md, "Join grants": `cargo bench -p modicum-cli --bench grant_work`).
pub const HASHES_PER_CORE_SECOND: u128 = 6_500_000;
/// How many times cheaper per hash than a core specialised hardware (a GPU) is taken to be.
pub const SPECIALISED_HARDWARE_FACTOR: u128 = 50;
/// The market's price of one core-second the floor is priced at: the reference ask of
/// 1 µMDC per cpu unit (ms of CPU), docs/how-to/price-by-electricity.md.
pub const CORE_SECOND_PRICE: Balance = 1_000 * crate::MICRO_MDC;

/// The least difficulty at which a grant of `amount` costs at least its value: the core-seconds
/// it buys at `CORE_SECOND_PRICE`, hashed on the fastest core, times the hardware factor.
pub const fn priced_difficulty_floor(amount: Balance) -> u128 {
	(amount / CORE_SECOND_PRICE) * HASHES_PER_CORE_SECOND * SPECIALISED_HARDWARE_FACTOR
}

/// Join grants of the development and local chains: a newcomer joins in seconds (a difficulty
/// of 2²⁴ hashes), and grants expire in five minutes so tests see the expiry.
pub fn devnet_grant_terms() -> GrantTerms<Balance, crate::BlockNumber> {
	GrantTerms {
		amount: 5 * MDC,
		expiry: 5 * MINUTES,
		proof_age: 2 * MINUTES,
		period: HOURS,
		target: 60,
		max_per_block: 4,
		min_difficulty: 1 << 24,
		welfare_tax: Perbill::from_percent(1),
	}
}

/// Join grants of a public test network, also what a chain upgrading from release 1 gets:
/// 0.25 MDC, enough for a first small job's deposit, at the priced floor (hours of one core).
pub fn testnet_grant_terms() -> GrantTerms<Balance, crate::BlockNumber> {
	const AMOUNT: Balance = 250 * MILLI_MDC;
	GrantTerms {
		amount: AMOUNT,
		expiry: 30 * 24 * HOURS,
		proof_age: 12 * HOURS,
		period: 24 * HOURS,
		target: 100,
		max_per_block: 2,
		min_difficulty: priced_difficulty_floor(AMOUNT),
		welfare_tax: Perbill::from_percent(1),
	}
}

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
	endowed.push((pallet_market::Pallet::<Runtime>::account_id(), DEVNET_POOL_ENDOWMENT));
	endowed
}

/// The preset of a public test network's chain spec.
pub const TESTNET_PRESET: &str = "testnet";

fn alice() -> AccountId {
	Sr25519Keyring::Alice.to_account_id()
}

/// A validator's Aura (sr25519) and GRANDPA (ed25519) keys.
type Validator = (Sr25519Keyring, Ed25519Keyring);

const ALICE: Validator = (Sr25519Keyring::Alice, Ed25519Keyring::Alice);
const BOB: Validator = (Sr25519Keyring::Bob, Ed25519Keyring::Bob);
const CHARLIE: Validator = (Sr25519Keyring::Charlie, Ed25519Keyring::Charlie);
const DAVE: Validator = (Sr25519Keyring::Dave, Ed25519Keyring::Dave);

/// The session keys of a validator whose account is its Aura key's.
fn session_keys((sr, ed): &Validator) -> SessionKeys {
	SessionKeys { aura: AuraId::from(sr.public()), grandpa: GrandpaId::from(ed.public()) }
}

/// A chain whose invulnerable validators are `validators`: the session carries their keys to
/// Aura and GRANDPA, whose own genesis lists stay empty.
fn genesis(
	validators: &[Validator],
	balances: Vec<(AccountId, Balance)>,
	sudo: AccountId,
	grant_terms: GrantTerms<Balance, crate::BlockNumber>,
) -> Value {
	let account = |(sr, _): &Validator| sr.to_account_id();
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances },
		collator_selection: CollatorSelectionConfig {
			invulnerables: validators.iter().map(account).collect(),
			candidacy_bond: CANDIDACY_BOND,
			desired_candidates: MAX_CANDIDATES,
		},
		session: SessionConfig {
			keys: validators.iter().map(|v| (account(v), account(v), session_keys(v))).collect(),
		},
		sudo: SudoConfig { key: Some(sudo) },
		market: MarketConfig { parameters: market_parameters(), grant_terms: Some(grant_terms) },
	})
}

/// The template of a public test network: three validators and a sudo key its operator
/// replaces (in the chain spec's `session`, `collatorSelection` and `sudo` entries) with their
/// own before launch; 100 000 MDC for each validator's fees and bonds, 100 000 MDC in the
/// welfare pool for join grants, the rest of a 10 000 000 MDC supply with the sudo key.
fn testnet() -> Value {
	const VALIDATORS: [Validator; 3] = [ALICE, BOB, CHARLIE];
	const SUPPLY: Balance = 10_000_000 * MDC;
	const PER_VALIDATOR: Balance = 100_000 * MDC;
	let sudo = Sr25519Keyring::Ferdie.to_account_id();
	let mut balances: Vec<(AccountId, Balance)> =
		VALIDATORS.iter().map(|(sr, _)| (sr.to_account_id(), PER_VALIDATOR)).collect();
	balances.push((pallet_market::Pallet::<Runtime>::account_id(), TESTNET_POOL_ENDOWMENT));
	let given: Balance = balances.iter().map(|(_, b)| b).sum();
	balances.push((sudo.clone(), SUPPLY - given));
	genesis(&VALIDATORS, balances, sudo, testnet_grant_terms())
}

/// The JSON of a preset, or `None` for an unknown id.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => {
			genesis(&[ALICE], endowments(), alice(), devnet_grant_terms())
		}
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => {
			genesis(&[ALICE, BOB, CHARLIE, DAVE], endowments(), alice(), devnet_grant_terms())
		}
		TESTNET_PRESET => testnet(),
		_ => return None,
	};
	Some(serde_json::to_string(&patch).expect("a JSON value serializes").into_bytes())
}

/// The presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
		PresetId::from(TESTNET_PRESET),
	]
}
