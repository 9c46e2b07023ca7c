//! A test runtime with balances and the market.

use crate as pallet_market;
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU32, ConstU64},
	PalletId,
};
use sp_runtime::BuildStorage;

type Block = frame_system::mocking::MockBlock<Test>;

/// Balance type of the test runtime.
pub type Balance = u64;

/// Every test account starts with this much.
pub const ENDOWMENT: Balance = 1_000_000;
/// The minimum bond of the test parameters.
pub const MIN_BOND: Balance = 1_000;

/// The welfare pool exists from genesis, as in the runtime.
pub const POOL_ENDOWMENT: Balance = 1;

/// Accounts of the story.
pub const ALICE: u64 = 1;
pub const BOB: u64 = 2;
pub const CHARLIE: u64 = 3;
pub const DAVE: u64 = 4;
pub const EVE: u64 = 5;
/// An account with no balance at all.
pub const PAUPER: u64 = 99;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Test;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;
	#[runtime::pallet_index(1)]
	pub type Balances = pallet_balances;
	#[runtime::pallet_index(2)]
	pub type Market = pallet_market;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
	type RuntimeHoldReason = RuntimeHoldReason;
}

parameter_types! {
	pub const MarketPalletId: PalletId = PalletId(*b"mdc/mrkt");
}

impl pallet_market::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type PalletId = MarketPalletId;
	type MaxTrusted = ConstU32<4>;
	type MaxBaseLayers = ConstU32<4>;
	type MaxEndpointLength = ConstU32<64>;
	type MaxRepositoryLength = ConstU32<64>;
	type MaxSweepPerBlock = ConstU32<3>;
	type OfferStorageDeposit = ConstU64<1>;
	type WeightInfo = ();
}

/// What the welfare pool starts with when the chain pays join grants.
pub const GRANT_POOL: Balance = 1_000_000;

/// Join grants of the test chain: cheap proofs (16 expected hashes), a grant that covers a
/// job offer's deposit and its registration, a 5 % welfare tax.
pub fn test_grant_terms() -> pallet_market::GrantTerms<Balance, u64> {
	pallet_market::GrantTerms {
		amount: 20_000,
		expiry: 50,
		proof_age: 5,
		period: 20,
		target: 2,
		max_per_block: 3,
		min_difficulty: 16,
		welfare_tax: sp_runtime::Perbill::from_percent(5),
	}
}

/// Builds the test externalities: endowed accounts and the market's genesis parameters.
pub struct ExtBuilder {
	min_bond: Balance,
	grants: bool,
}

impl Default for ExtBuilder {
	fn default() -> Self {
		Self { min_bond: MIN_BOND, grants: false }
	}
}

impl ExtBuilder {
	/// A chain that pays join grants on [`test_grant_terms`] from a pool of [`GRANT_POOL`].
	pub fn with_grants(self) -> Self {
		Self { grants: true, ..self }
	}

	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> {
			balances: [ALICE, BOB, CHARLIE, DAVE, EVE]
				.map(|who| (who, ENDOWMENT))
				.into_iter()
				.chain([(
					Market::account_id(),
					if self.grants { GRANT_POOL } else { POOL_ENDOWMENT },
				)])
				.collect(),
			..Default::default()
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		let mut parameters = pallet_market::GenesisConfig::<Test>::default();
		parameters.parameters.min_bond = self.min_bond;
		parameters.grant_terms = self.grants.then(test_grant_terms);
		parameters.assimilate_storage(&mut storage).unwrap();

		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| System::set_block_number(1));
		ext
	}

	/// Runs `test`, then checks the pallet's invariants.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			test();
			Market::do_try_state().expect("market invariants hold");
		});
	}
}

/// Run the chain's hooks block by block up to `n`, as a node would, each block recording its
/// parent's hash (a distinct one per block) as a node's import does.
pub fn run_to_block(n: u64) {
	let record_parent = |number: u64| {
		frame_system::BlockHash::<Test>::insert(number - 1, sp_core::H256::from_low_u64_be(number));
	};
	System::run_to_block_with::<AllPalletsWithSystem>(
		n,
		frame_system::RunToBlockHooks::default().before_initialize(record_parent),
	);
}
