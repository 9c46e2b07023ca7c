//! Configuration of each pallet of the runtime.

mod fees;
mod supply;
mod validators;

pub use fees::MarketFees;
pub use supply::{block_author, IssuanceChanging, SudoCall, ToBlockAuthor};
pub use validators::{
	CANDIDACY_BOND, KICK_THRESHOLD, MAX_CANDIDATES, MAX_INVULNERABLES, MAX_VALIDATORS,
	SESSION_PERIOD,
};

use super::{
	AccountId, Aura, Balance, Balances, Block, BlockNumber, CollatorSelection, Hash, Nonce,
	PalletInfo, Runtime, RuntimeCall, RuntimeEvent, RuntimeFreezeReason, RuntimeHoldReason,
	RuntimeOrigin, RuntimeTask, Session, SessionKeys, EXISTENTIAL_DEPOSIT, SLOT_DURATION,
	SS58_PREFIX, VERSION,
};
use frame_support::{
	derive_impl,
	dispatch::DispatchClass,
	parameter_types,
	traits::{ConstBool, ConstU128, ConstU32, ConstU64, ConstU8, EverythingBut, VariantCountOf},
	weights::{
		constants::{ParityDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		IdentityFee, Weight,
	},
	PalletId,
};
use frame_system::limits::{BlockLength, BlockWeights};
use pallet_transaction_payment::{ConstFeeMultiplier, Multiplier};
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_runtime::{traits::One, Perbill};
use sp_version::RuntimeVersion;

const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);

parameter_types! {
	/// A day of block hashes: a join grant's proof of work may name a block up to
	/// `GrantProofAge` old, and a priced proof takes hours of a core to find.
	pub const BlockHashCount: BlockNumber = 24 * crate::HOURS;
	pub const Version: RuntimeVersion = VERSION;
	/// Half a second of compute per 2 s block: a validator on a small machine authors within
	/// its slot and every other validator imports in time.
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
		Weight::from_parts(WEIGHT_REF_TIME_PER_SECOND / 2, u64::MAX),
		NORMAL_DISPATCH_RATIO,
	);
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(5 * 1024 * 1024)
		.modify_max_length_for_class(DispatchClass::Normal, |max| *max = NORMAL_DISPATCH_RATIO * *max)
		.build();
	pub const SS58Prefix: u16 = SS58_PREFIX;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	/// Calls that mint or burn are refused to every signed origin.
	type BaseCallFilter = EverythingBut<IssuanceChanging>;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = BlockHashCount;
	/// The node stores its state in ParityDb.
	type DbWeight = ParityDbWeight;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
	/// Run when the chain upgrades in place to this runtime.
	type SingleBlockMigrations = crate::migrations::Migrations;
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = AuraId;
	type DisabledValidators = ();
	type MaxAuthorities = ConstU32<MAX_VALIDATORS>;
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<MAX_VALIDATORS>;
	type MaxNominators = ConstU32<0>;
	type MaxSetIdSessionEntries = ConstU64<0>;
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

impl pallet_timestamp::Config for Runtime {
	/// Milliseconds since the Unix epoch.
	type Moment = u64;
	type OnTimestampSet = Aura;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = ();
}

impl pallet_balances::Config for Runtime {
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ();
	type ReserveIdentifier = [u8; 8];
	type Balance = Balance;
	type RuntimeEvent = RuntimeEvent;
	/// Dust is not burned: it goes to the block author.
	type DustRemoval = ToBlockAuthor;
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = frame_system::Pallet<Runtime>;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type DoneSlashHandler = ();
}

parameter_types! {
	pub FeeMultiplier: Multiplier = Multiplier::one();
}

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	/// Fees and tips are not burned: they go to the block author. A market call's fee comes
	/// out of the caller's join grant first.
	type OnChargeTransaction = MarketFees;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = IdentityFee<Balance>;
	type LengthToFee = IdentityFee<Balance>;
	type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
	type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	/// Root may do anything but mint or burn.
	type RuntimeCall = SudoCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

/// What one byte of market state costs its owner in deposit.
pub const STORAGE_BYTE_DEPOSIT: Balance = 10 * crate::MICRO_MDC;

/// Bytes of one deadline-index entry: the map's prefix, the hashed block and the entry.
const INDEX_ENTRY_BYTES: usize = 32 + 8 + 4 + 9;

/// C: the most deadline-index entries one full block of calls can create or move to one block
/// (the cheapest such call, with its base weight, repeated until the normal class is full).
/// Each such call's weight includes the settlement it schedules (`sweep_deadline`).
pub fn market_entries_per_full_block() -> u32 {
	use pallet_market::WeightInfo;
	type Weights = pallet_market::weights::SubstrateWeight<Runtime>;
	let weights = RuntimeBlockWeights::get();
	let normal = weights.get(DispatchClass::Normal);
	let room = normal.max_total.unwrap_or(weights.max_block).ref_time();
	let cheapest = [
		Weights::post_resource_offer(),
		Weights::post_job_offer(),
		Weights::post_result(),
		Weights::reject_result(),
	]
	.into_iter()
	.map(|w| {
		w.saturating_add(Weights::sweep_deadline()).saturating_add(normal.base_extrinsic).ref_time()
	})
	.min()
	.unwrap_or(1)
	.max(1);
	u32::try_from(room.div_ceil(cheapest)).unwrap_or(u32::MAX)
}

parameter_types! {
	pub const MarketPalletId: PalletId = PalletId(*b"mdc/mrkt");
	/// S = C: the sweep settles in one block what one full block can schedule, so a flood of
	/// k full blocks due at one block is settled within k + 1 blocks.
	pub MarketMaxSweepPerBlock: u32 = market_entries_per_full_block();
	/// The larger offer's encoding plus its index entry, at the byte deposit.
	pub MarketOfferStorageDeposit: Balance = {
		use codec::MaxEncodedLen;
		let offer = pallet_market::JobOfferOf::<Runtime>::max_encoded_len()
			.max(pallet_market::ResourceOfferOf::<Runtime>::max_encoded_len());
		STORAGE_BYTE_DEPOSIT.saturating_mul((offer + INDEX_ENTRY_BYTES) as Balance)
	};
}

parameter_types! {
	/// The grant terms a chain upgrading from release 1 gets: a public test network's.
	pub ReleaseOneGrantTerms: pallet_market::GrantTermsOf<Runtime> =
		crate::genesis_config_presets::testnet_grant_terms();
}

impl pallet_market::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type PalletId = MarketPalletId;
	type MaxTrusted = ConstU32<16>;
	type MaxBaseLayers = ConstU32<8>;
	type MaxEndpointLength = ConstU32<128>;
	type MaxRepositoryLength = ConstU32<128>;
	type MaxSweepPerBlock = MarketMaxSweepPerBlock;
	type OfferStorageDeposit = MarketOfferStorageDeposit;
	type WeightInfo = pallet_market::weights::SubstrateWeight<Runtime>;
}
