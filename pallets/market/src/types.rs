//! Records the market keeps on chain, generic over the runtime with `…Of<T>` aliases.

use crate::Config;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	pallet_prelude::*, traits::fungible::Inspect, CloneNoBound, DebugNoBound, EqNoBound,
	PartialEqNoBound,
};
use frame_system::pallet_prelude::BlockNumberFor;
use scale_info::TypeInfo;
use sp_runtime::Perbill;

/// Balance of the market's currency.
pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;

/// A sha256 digest: an image manifest, a layer's uncompressed `diff_id`, or a result archive.
pub type Digest = [u8; 32];

/// A bounded list of trusted accounts (mediators or directories).
pub type TrustListOf<T> =
	BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxTrusted>;

/// The base layers (uncompressed `diff_id`s) an actor keeps installed.
pub type BaseLayersOf<T> = BoundedVec<Digest, <T as Config>::MaxBaseLayers>;

/// The URL of a directory's OCI registry.
pub type EndpointOf<T> = BoundedVec<u8, <T as Config>::MaxEndpointLength>;

/// CPU architecture of a job image, a resource provider or a mediator.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum Architecture {
	/// x86-64 (`linux/amd64`).
	Amd64,
	/// 64-bit ARM (`linux/arm64`).
	Arm64,
	/// 64-bit RISC-V (`linux/riscv64`).
	Riscv64,
}

/// The roles an account can register for.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum Role {
	/// Posts job offers and pays for their execution.
	JobCreator,
	/// Posts resource offers and runs matched jobs.
	ResourceProvider,
	/// Re-executes disputed jobs and names the faulty party.
	Mediator,
	/// Serves job images and result archives from an OCI registry.
	Directory,
}

/// What a job creator keeps on chain.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
pub struct JobCreatorInfo<T: Config> {
	/// Mediators this job creator accepts for its matches.
	pub trusted_mediators: TrustListOf<T>,
}

/// What a resource provider keeps on chain.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
pub struct ResourceProviderInfo<T: Config> {
	/// Architecture of the provider's machine.
	pub architecture: Architecture,
	/// Declared speed in cpu units (ms of CPU time) per block; bounds how soon a job can finish.
	pub speed: u64,
	/// Mediators this provider accepts for its matches.
	pub trusted_mediators: TrustListOf<T>,
	/// Directories this provider fetches images from and uploads results to.
	pub trusted_directories: TrustListOf<T>,
	/// Base layers installed on the provider's machine.
	pub base_layers: BaseLayersOf<T>,
}

/// What a mediator keeps on chain.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
pub struct MediatorInfo<T: Config> {
	/// Architecture of the mediator's machine.
	pub architecture: Architecture,
	/// Availability fee `f_M` each party of a match pays the mediator.
	pub fee: BalanceOf<T>,
	/// Directories this mediator fetches from.
	pub trusted_directories: TrustListOf<T>,
	/// Base layers installed on the mediator's machine.
	pub base_layers: BaseLayersOf<T>,
	/// The bond held while registered.
	pub bond: BalanceOf<T>,
}

/// What a directory keeps on chain.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
pub struct DirectoryInfo<T: Config> {
	/// URL of the directory's OCI registry (`http://` or `https://`).
	pub endpoint: EndpointOf<T>,
	/// Availability fee `f_D` each party of a match pays the directory.
	pub fee: BalanceOf<T>,
	/// The bond held while registered; pays the mediator when the directory is at fault.
	pub bond: BalanceOf<T>,
	/// The block of the directory's last heartbeat (its registration counts as one).
	pub last_heartbeat: BlockNumberFor<T>,
}

/// Chain parameters of the market, set at genesis and changed only by root. Each match copies
/// them when it is made, so a change never touches an open match.
#[derive(
	Clone,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct MarketParameters<Balance, BlockNumber> {
	/// θ: how many job prices a faulty party forfeits (the paper's choice is 50).
	pub penalty_rate: u32,
	/// n: how many times a mediator re-executes a disputed job (≥ 1; the paper's choice is 2).
	pub verification_count: u32,
	/// Paid to the solver by each party of a match.
	pub match_incentive: Balance,
	/// Blocks the job creator has after a result to accept or reject it.
	pub reaction_window: BlockNumber,
	/// Blocks the mediator has for its verdict, on top of n times the job's run time.
	pub mediation_window: BlockNumber,
	/// How far a claimed usage may exceed the mediator's largest measurement.
	pub too_much_cost_tolerance: Perbill,
	/// The least deposit of a resource offer.
	pub min_resource_deposit: Balance,
	/// The least bond of a mediator or a directory.
	pub min_bond: Balance,
	/// A directory is available while its last heartbeat is at most this many blocks old.
	pub heartbeat_period: BlockNumber,
}

/// [`MarketParameters`] of a runtime.
pub type MarketParametersOf<T> = MarketParameters<BalanceOf<T>, BlockNumberFor<T>>;

impl<Balance, BlockNumber> MarketParameters<Balance, BlockNumber> {
	/// Whether the parameters can run a market: the mediator must re-execute at least once.
	pub fn is_valid(&self) -> bool {
		self.verification_count >= 1
	}
}
