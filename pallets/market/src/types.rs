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
	Hash,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
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
	PartialOrd,
	Ord,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
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
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
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
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
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

/// The most runs a mediator may declare to re-execute at once: the queue of its disputes
/// advances by whole blocks of n·(R + F) / slots.
pub const MAX_MEDIATOR_SLOTS: u32 = 1_024;

/// What a mediator keeps on chain.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
pub struct MediatorInfo<T: Config> {
	/// Architecture of the mediator's machine.
	pub architecture: Architecture,
	/// The largest run the mediator can re-execute: a job whose limits exceed it in any
	/// resource is never matched with this mediator.
	pub capacity: Resources,
	/// How many runs it re-executes at once (≥ 1): a dispute's n runs take ⌈n·R / slots⌉
	/// blocks of its queue.
	pub slots: u32,
	/// The block its queue of assigned disputes reaches: the next dispute's mediation deadline
	/// counts from here (or from now, if later).
	pub busy_until: BlockNumberFor<T>,
	/// Availability fee `f_M` each party of a match pays the mediator.
	pub fee: BalanceOf<T>,
	/// Directories this mediator fetches from.
	pub trusted_directories: TrustListOf<T>,
	/// Base layers installed on the mediator's machine.
	pub base_layers: BaseLayersOf<T>,
	/// The bond held while registered; pays the parties when the mediator misses a deadline.
	pub bond: BalanceOf<T>,
	/// The part of the bond open matches reserve: π̂_c of each match it mediates.
	pub reserved: BalanceOf<T>,
}

/// What a directory keeps on chain.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
pub struct DirectoryInfo<T: Config> {
	/// URL of the directory's OCI registry (`http://` or `https://`).
	pub endpoint: EndpointOf<T>,
	/// Availability fee `f_D` each party of a match pays the directory.
	pub fee: BalanceOf<T>,
	/// The bond held while registered; pays the mediator when the directory is at fault.
	pub bond: BalanceOf<T>,
	/// The part of the bond open matches reserve: π_m of each match whose job it holds.
	pub reserved: BalanceOf<T>,
	/// The block of the directory's last heartbeat (its registration counts as one).
	pub last_heartbeat: BlockNumberFor<T>,
	/// Mediators the directory accepts as judges of its availability: a match's mediator
	/// must be one of them.
	pub trusted_mediators: TrustListOf<T>,
}

/// Every registered actor of the market, as workers and wallets read them.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, TypeInfo, DebugNoBound)]
#[scale_info(skip_type_params(T))]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
pub struct ActorsOf<T: Config> {
	/// Job creators and their trusted mediators.
	pub job_creators: alloc::vec::Vec<(T::AccountId, JobCreatorInfo<T>)>,
	/// Resource providers and their terms.
	pub resource_providers: alloc::vec::Vec<(T::AccountId, ResourceProviderInfo<T>)>,
	/// Mediators and their terms.
	pub mediators: alloc::vec::Vec<(T::AccountId, MediatorInfo<T>)>,
	/// Directories and their terms.
	pub directories: alloc::vec::Vec<(T::AccountId, DirectoryInfo<T>)>,
	/// Resource providers with counted matches and their reputations; any other provider has
	/// the default reputation.
	pub provider_reputations: alloc::vec::Vec<(T::AccountId, Reputation)>,
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
	/// θ: how many job prices a faulty party forfeits (≥ 1; the paper's choice is 50).
	pub penalty_rate: u32,
	/// n: how many times a mediator re-executes a disputed job (≥ 1; the paper's choice is 2).
	pub verification_count: u32,
	/// Paid to the solver by each party of a match.
	pub match_incentive: Balance,
	/// Blocks the job creator has after a result, on top of one run of the job, to accept or
	/// reject it (≥ 2).
	pub reaction_window: BlockNumber,
	/// Blocks the mediator has for its verdict, on top of n runs of the job
	/// (≥ `heartbeat_period` + 2, so a directory's silence can be seen within it).
	pub mediation_window: BlockNumber,
	/// How far (relative) a claimed cpu usage may exceed the mediator's largest measurement.
	pub too_much_cost_tolerance: Perbill,
	/// How far (absolute, in cpu units) a claimed cpu usage may exceed the mediator's largest
	/// measurement on top of the tolerance.
	pub too_much_cost_floor: u64,
	/// The least deposit of a resource offer (covers the offer's storage deposit).
	pub min_resource_deposit: Balance,
	/// The least bond of a mediator or a directory (> 0).
	pub min_bond: Balance,
	/// A directory is available while its last heartbeat is at most this many blocks old.
	pub heartbeat_period: BlockNumber,
	/// Cpu units per block of the slowest machine the market supports (≥ 1); with
	/// `reference_bandwidth` it fixes a job's run length R.
	pub reference_speed: u64,
	/// KiB per block the slowest supported link moves (≥ 1).
	pub reference_bandwidth: u64,
	/// Blocks a run may take to fetch a job's image on top of ⌈bandwidth / reference
	/// bandwidth⌉; a directory slower than that is unavailable to the run.
	pub fetch_grace: BlockNumber,
	/// The longest run length R of a job, and the furthest a completion deadline may lie ahead.
	pub max_job_duration: BlockNumber,
	/// The furthest ahead a resource offer's window may end.
	pub max_offer_window: BlockNumber,
	/// λ: the weight a reputation keeps of its past at each counted match.
	pub reputation_decay: Perbill,
	/// The least π̂_c of a match that counts for reputation.
	pub min_reputation_price: Balance,
	/// Share of π̂_c each counted success pays to the welfare pool: the price of a bought score.
	pub reputation_fee: Perbill,
}

/// [`MarketParameters`] of a runtime.
pub type MarketParametersOf<T> = MarketParameters<BalanceOf<T>, BlockNumberFor<T>>;

impl<Balance, BlockNumber> MarketParameters<Balance, BlockNumber>
where
	BlockNumber: sp_runtime::traits::AtLeast32BitUnsigned + Copy,
{
	/// R = ⌈cpu / reference speed⌉ + ⌈bandwidth / reference bandwidth⌉ blocks: how long one run
	/// of a job with these limits may take on the slowest machine and link the market
	/// supports. `None` if it does not fit a block number.
	pub fn run_length(&self, limits: &Resources) -> Option<BlockNumber> {
		let cpu = limits.cpu.div_ceil(self.reference_speed.max(1));
		let bandwidth = limits.bandwidth.div_ceil(self.reference_bandwidth.max(1));
		BlockNumber::try_from(cpu.checked_add(bandwidth)?).ok()
	}

	/// ⌈bandwidth / reference bandwidth⌉ + fetch grace blocks: how long a run may take to
	/// fetch the image of a job with these limits before its directory counts as unavailable
	/// to it. `None` if it does not fit a block number.
	pub fn fetch_bound(&self, limits: &Resources) -> Option<BlockNumber> {
		let transfer = limits.bandwidth.div_ceil(self.reference_bandwidth.max(1));
		sp_runtime::traits::CheckedAdd::checked_add(
			&BlockNumber::try_from(transfer).ok()?,
			&self.fetch_grace,
		)
	}
}

/// Identifier of a job offer or a resource offer (one counter serves both).
pub type OfferId = u64;

/// Identifier of a match.
pub type MatchId = u64;

/// An amount of each resource: `cpu` in cpu units (ms of CPU time), `memory` and `storage` in
/// MiB, `bandwidth` in KiB.
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct Resources {
	/// CPU time, in cpu units (1 unit = 1 ms of user + system time).
	pub cpu: u64,
	/// Peak memory, in MiB.
	pub memory: u64,
	/// Size of what the job writes, in MiB.
	pub storage: u64,
	/// Image layers beyond the base layer plus the result archive, in KiB.
	pub bandwidth: u64,
}

impl Resources {
	/// Whether every resource is at most `bound`'s.
	pub fn within(&self, bound: &Resources) -> bool {
		self.cpu <= bound.cpu &&
			self.memory <= bound.memory &&
			self.storage <= bound.storage &&
			self.bandwidth <= bound.bandwidth
	}
}

/// A job image: an OCI repository name and the digest of its manifest.
#[derive(
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
pub struct ImageOf<T: Config> {
	/// Repository name within the directory's registry, e.g. `jobs/fib`.
	pub repository: BoundedVec<u8, <T as Config>::MaxRepositoryLength>,
	/// sha256 digest of the image manifest.
	pub digest: Digest,
}

/// Whether an offer is still on the market.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub enum OfferState {
	/// Waiting for a match.
	Open,
	/// Taken by this match; the offer closes with it.
	Matched(MatchId),
}

/// A resource provider's offer of its machine for a window of blocks.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
pub struct ResourceOfferOf<T: Config> {
	/// The resource provider.
	pub provider: T::AccountId,
	/// What the machine offers to one job.
	pub capacity: Resources,
	/// The machine's architecture.
	pub architecture: Architecture,
	/// Asked price per cpu unit.
	pub cpu_price: BalanceOf<T>,
	/// Asked price per KiB of bandwidth.
	pub bandwidth_price: BalanceOf<T>,
	/// First block the offer can be matched in.
	pub valid_from: BlockNumberFor<T>,
	/// Last block of the window; a match's completion deadline must not be later.
	pub valid_to: BlockNumberFor<T>,
	/// The highest fees this provider pays a mediator and a directory per match.
	pub max_fees: MaxFees<BalanceOf<T>>,
	/// The deposit held.
	pub deposit: BalanceOf<T>,
	/// Open or matched.
	pub state: OfferState,
}

/// A job creator's offer of a job.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
pub struct JobOfferOf<T: Config> {
	/// The job creator.
	pub creator: T::AccountId,
	/// The most the job may use of each resource.
	pub limits: Resources,
	/// The image's architecture.
	pub architecture: Architecture,
	/// The job image.
	pub image: ImageOf<T>,
	/// The uncompressed `diff_id` of the image's base layer.
	pub base_layer: Digest,
	/// The directory holding the image and, later, the result.
	pub directory: T::AccountId,
	/// Bid per cpu unit.
	pub cpu_bid: BalanceOf<T>,
	/// Bid per KiB of bandwidth.
	pub bandwidth_bid: BalanceOf<T>,
	/// The block by which the result must be posted.
	pub completion_deadline: BlockNumberFor<T>,
	/// The highest fees this job creator pays a mediator and a directory per match.
	pub max_fees: MaxFees<BalanceOf<T>>,
	/// The least reputation a provider needs to take the job, if any.
	pub min_reputation: Option<MinReputation>,
	/// R: blocks one run of the job may take, fixed from its limits when it was offered.
	pub run_length: BlockNumberFor<T>,
	/// The deposit held.
	pub deposit: BalanceOf<T>,
	/// Open or matched.
	pub state: OfferState,
}

/// The highest availability fees an offer accepts; `post_match` refuses a mediator or a
/// directory that charges more, so a fee raised after the offer cannot take its deposit.
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct MaxFees<Balance> {
	/// The highest mediator fee f_M.
	pub mediator: Balance,
	/// The highest directory fee f_D.
	pub directory: Balance,
}

/// The least reputation a job offer asks of its provider.
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct MinReputation {
	/// The least score.
	pub score: Perbill,
	/// The least number of counted matches.
	pub counted: u32,
}

/// One unit of the decayed success and failure sums: they are kept in 10⁻⁹ units.
pub const REPUTATION_UNIT: u64 = 1_000_000_000;

/// How often each ending closed the counted matches of a provider or a mediator.
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct EndingCounts {
	/// Results accepted.
	pub accepted: u32,
	/// Mediations that found the job creator at fault.
	pub creator_at_fault: u32,
	/// Mediations that found the provider at fault.
	pub provider_at_fault: u32,
	/// Mediations that found the directory at fault.
	pub directory_at_fault: u32,
	/// No result by the completion deadline.
	pub no_result: u32,
	/// No verdict by the mediation deadline.
	pub no_mediation_result: u32,
}

/// A provider's or a mediator's reputation: a decayed beta reputation over its counted
/// matches (docs/protocol.md, Reputation).
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct Reputation {
	/// s: decayed successes, in 10⁻⁹ units.
	pub successes: u64,
	/// f: decayed failures, in 10⁻⁹ units.
	pub failures: u64,
	/// The counted matches, by ending.
	pub endings: EndingCounts,
}

/// What a counted match does to a reputation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
	/// s grows.
	Success,
	/// f grows.
	Failure,
	/// Both only decay.
	Neither,
}

impl Reputation {
	/// score = (s + 1) / (s + f + 2): 50 % for a new account.
	pub fn score(&self) -> Perbill {
		let s = u128::from(self.successes) + u128::from(REPUTATION_UNIT);
		let total = s + u128::from(self.failures) + u128::from(REPUTATION_UNIT);
		Perbill::from_rational(s, total)
	}

	/// How many matches counted.
	pub fn counted(&self) -> u32 {
		let e = &self.endings;
		[
			e.accepted,
			e.creator_at_fault,
			e.provider_at_fault,
			e.directory_at_fault,
			e.no_result,
			e.no_mediation_result,
		]
		.into_iter()
		.fold(0u32, |sum, n| sum.saturating_add(n))
	}

	/// Whether the reputation meets `minimum`.
	pub fn meets(&self, minimum: &MinReputation) -> bool {
		self.score() >= minimum.score && self.counted() >= minimum.counted
	}

	/// One more counted match that ended in `ending` with `outcome`, under decay `decay`.
	pub fn record(&mut self, ending: Ending, outcome: Outcome, decay: Perbill) {
		self.successes = decay.mul_floor(self.successes);
		self.failures = decay.mul_floor(self.failures);
		match outcome {
			Outcome::Success => self.successes = self.successes.saturating_add(REPUTATION_UNIT),
			Outcome::Failure => self.failures = self.failures.saturating_add(REPUTATION_UNIT),
			Outcome::Neither => {}
		}
		let e = &mut self.endings;
		let count = match ending {
			Ending::Accepted => &mut e.accepted,
			Ending::Mediated(Party::JobCreator) => &mut e.creator_at_fault,
			Ending::Mediated(Party::ResourceProvider) => &mut e.provider_at_fault,
			Ending::Mediated(Party::Directory) => &mut e.directory_at_fault,
			Ending::NoResult => &mut e.no_result,
			Ending::NoMediationResult => &mut e.no_mediation_result,
		};
		*count = count.saturating_add(1);
	}
}

/// How a job ended, as the resource provider reports it.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub enum ResultStatus {
	/// The job ran to completion; the result archive is at the directory.
	Completed,
	/// The provider declined to run the job.
	Declined,
	/// The image could not be found at the directory.
	JobNotFound,
	/// The job offer describes an image that cannot run (bad manifest, wrong base layer, …).
	JobDescriptionError,
	/// The job exceeded its memory limit.
	MemoryExceeded,
	/// The job exceeded its storage limit.
	StorageExceeded,
	/// The job exceeded its cpu limit.
	CpuExceeded,
	/// The job exceeded its bandwidth limit.
	BandwidthExceeded,
	/// The job failed with a non-zero exit.
	ExceptionOccurred,
	/// The directory could not be reached.
	DirectoryUnavailable,
}

impl ResultStatus {
	/// Whether a result with this status is decided before the job's container starts: it
	/// carries no usage and no result digest (the price of a run nobody made is zero). Every
	/// other status comes from a run, whose archive keeps at least its logs.
	pub fn never_started(&self) -> bool {
		matches!(
			self,
			Self::Declined | Self::JobNotFound | Self::JobDescriptionError | Self::DirectoryUnavailable
		)
	}

	/// Every status, in declaration order.
	pub const ALL: [ResultStatus; 10] = [
		ResultStatus::Completed,
		ResultStatus::Declined,
		ResultStatus::JobNotFound,
		ResultStatus::JobDescriptionError,
		ResultStatus::MemoryExceeded,
		ResultStatus::StorageExceeded,
		ResultStatus::CpuExceeded,
		ResultStatus::BandwidthExceeded,
		ResultStatus::ExceptionOccurred,
		ResultStatus::DirectoryUnavailable,
	];
}

/// Why a job creator disputes a result.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub enum RejectReason {
	/// The result differs from a correct execution.
	WrongResults,
	/// The result archive is not at the directory.
	ResultNotFound,
	/// The claimed usage is higher than the job needs.
	TooMuchCost,
	/// The status does not match how the job really ends.
	InvalidResultStatus,
}

/// The party a mediator finds at fault.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub enum Party {
	/// The job creator (e.g. a non-deterministic job, or a correct result disputed).
	JobCreator,
	/// The resource provider (e.g. a wrong result or inflated usage).
	ResourceProvider,
	/// The directory (it was unavailable).
	Directory,
}

/// What the resource provider reported.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct Receipt {
	/// How the job ended.
	pub status: ResultStatus,
	/// What it used.
	pub usage: Resources,
	/// sha256 of the canonical result archive, uploaded to the directory.
	pub result_digest: Option<Digest>,
}

/// Where a match stands; each state has one deadline.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub enum MatchState<BlockNumber> {
	/// Waiting for the provider's result until the completion deadline.
	Matched,
	/// Waiting for the job creator to accept or reject until `reaction_deadline`.
	ResultPosted {
		/// The provider's report.
		receipt: Receipt,
		/// From this block on the result counts as accepted.
		reaction_deadline: BlockNumber,
	},
	/// Waiting for the mediator's verdict until `mediation_deadline`.
	InMediation {
		/// The provider's report.
		receipt: Receipt,
		/// The job creator's objection.
		reason: RejectReason,
		/// The last block the mediator may post its verdict in.
		mediation_deadline: BlockNumber,
	},
}

/// What a match fixes when it is made: its parties, the job, the prices, the fees and the chain
/// parameters of the moment, and what remains of each party's deposit.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[codec(mel_bound())]
#[scale_info(skip_type_params(T))]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", bound(serialize = "")))]
pub struct MatchOf<T: Config> {
	/// The job offer taken.
	pub job_offer: OfferId,
	/// The resource offer taken.
	pub resource_offer: OfferId,
	/// The job creator.
	pub creator: T::AccountId,
	/// The resource provider.
	pub provider: T::AccountId,
	/// The mediator both trust.
	pub mediator: T::AccountId,
	/// The directory of the job.
	pub directory: T::AccountId,
	/// The job's limits.
	pub limits: Resources,
	/// The job image.
	pub image: ImageOf<T>,
	/// The image's base layer.
	pub base_layer: Digest,
	/// The job's price per cpu unit: the provider's ask.
	pub cpu_price: BalanceOf<T>,
	/// The job's price per KiB: the provider's ask.
	pub bandwidth_price: BalanceOf<T>,
	/// π̂_c: the job creator's own estimate at its bids.
	pub estimated_price: BalanceOf<T>,
	/// f_M, copied from the mediator.
	pub mediator_fee: BalanceOf<T>,
	/// f_D, copied from the directory.
	pub directory_fee: BalanceOf<T>,
	/// What remains held of the job creator's deposit.
	pub job_deposit: BalanceOf<T>,
	/// What remains held of the provider's deposit.
	pub provider_deposit: BalanceOf<T>,
	/// R: blocks one run of the job may take, fixed when the job was offered.
	pub run_length: BlockNumberFor<T>,
	/// The block by which the result must be posted.
	pub completion_deadline: BlockNumberFor<T>,
	/// The chain parameters when the match was made.
	pub parameters: MarketParametersOf<T>,
	/// Where the match stands.
	pub state: MatchState<BlockNumberFor<T>>,
}

/// How a match ended.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub enum Ending {
	/// The result was accepted (by the job creator, after the reaction window, or by the chain).
	Accepted,
	/// The mediator found this party at fault.
	Mediated(Party),
	/// The provider posted no result by the completion deadline.
	NoResult,
	/// The mediator posted no verdict by the mediation deadline.
	NoMediationResult,
}

/// An entry of the deadline index.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
/// Entries of one block are swept in this order: matches first, so a flood of offers expiring
/// at the same block cannot delay a settlement (and the bond reservations it releases).
pub enum Deadline {
	/// A match whose current state's deadline passed.
	Match(MatchId),
	/// An unmatched job offer whose completion deadline passed.
	JobOffer(OfferId),
	/// An unmatched resource offer whose window ended.
	ResourceOffer(OfferId),
	/// A join grant whose expiry came.
	Grant(GrantId),
}

/// Identifier of a join grant.
pub type GrantId = u64;

/// The terms of join grants and the welfare tax, set at genesis and changed only by root; see
/// docs/economics.md for how the difficulty floor is priced.
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
pub struct GrantTerms<Balance, BlockNumber> {
	/// `GrantAmount`: what one join grant pays out of the welfare pool.
	pub amount: Balance,
	/// `GrantExpiry`: blocks after its claim at which what is left of a grant returns to the pool.
	pub expiry: BlockNumber,
	/// `GrantProofAge`: the oldest block a proof of work may name, in blocks before the claim.
	pub proof_age: BlockNumber,
	/// `GrantPeriod`: the blocks over which the difficulty aims at `target` claims.
	pub period: BlockNumber,
	/// `GrantTarget`: claims per period the difficulty aims at; at most four times as many land.
	pub target: u32,
	/// `MaxGrantsPerBlock`: claims one block takes.
	pub max_per_block: u32,
	/// The least difficulty, in expected hashes per proof: a claim's work must cost at least the
	/// grant's value on the fastest hardware.
	pub min_difficulty: u128,
	/// `WelfareTax`: the share of each job price paid to a provider that goes to the pool.
	pub welfare_tax: Perbill,
}

/// [`GrantTerms`] of a runtime.
pub type GrantTermsOf<T> = GrantTerms<BalanceOf<T>, BlockNumberFor<T>>;

/// The most `WelfareTax` root may set: the tax never takes the bulk of a provider's pay.
pub const MAX_WELFARE_TAX: Perbill = Perbill::from_percent(10);

/// Where the difficulty of join grants stands: the claims of the current period and block.
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct GrantRate<BlockNumber> {
	/// The first block of the current period.
	pub period_start: BlockNumber,
	/// Claims landed in the current period.
	pub claims: u32,
	/// Expected hashes per proof in the current period.
	pub difficulty: u128,
	/// The block of the last claim.
	pub block: BlockNumber,
	/// Claims landed in that block.
	pub in_block: u32,
}

/// [`GrantRate`] of a runtime.
pub type GrantRateOf<T> = GrantRate<BlockNumberFor<T>>;

/// An account's join grant: what of it is held for the market, what sits in the market's
/// deposits and bonds, and when it expires. Everything else the account has is its own.
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
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct Grant<Balance, BlockNumber> {
	/// Its id in the deadline index.
	pub id: GrantId,
	/// What the claim paid.
	pub amount: Balance,
	/// Held under `HoldReason::Grant`: spendable only on market deposits, bonds and fees.
	pub available: Balance,
	/// Inside the account's market deposits and bonds; their refunds come back to the grant
	/// first (to the pool once it has expired).
	pub committed: Balance,
	/// The block from which it is spent no more and its remainder returns to the pool.
	pub expires_at: BlockNumber,
}

/// [`Grant`] of a runtime.
pub type GrantOf<T> = Grant<BalanceOf<T>, BlockNumberFor<T>>;

/// A proof of work for a join grant: a recent block and the nonce that solves the puzzle.
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
pub struct GrantProof<BlockNumber> {
	/// The block whose hash the work binds: at most `GrantProofAge` blocks before the claim.
	pub block: BlockNumber,
	/// The nonce that makes the work meet the difficulty.
	pub nonce: u64,
}

/// [`GrantProof`] of a runtime.
pub type GrantProofOf<T> = GrantProof<BlockNumberFor<T>>;

/// The puzzle of one account's join grant: blake2-256 over the chain's genesis hash, the account
/// and a recent block hash, then a nonce. One hash verifies it; only search finds it.
pub struct GrantPuzzle {
	/// The domain, genesis hash, account and block hash, then the nonce's eight bytes.
	input: alloc::vec::Vec<u8>,
}

impl GrantPuzzle {
	/// Keeps the work of one chain, account and block apart from every other's.
	const DOMAIN: &'static [u8] = b"modicum/join-grant";

	/// The puzzle of `account` (its SCALE encoding) on the chain of `genesis` at `block_hash`.
	pub fn new(genesis: &[u8], account: &[u8], block_hash: &[u8]) -> Self {
		let input = [Self::DOMAIN, genesis, account, block_hash, &[0u8; 8]].concat();
		Self { input }
	}

	/// The work of `nonce`.
	pub fn work(&mut self, nonce: u64) -> [u8; 32] {
		let at = self.input.len() - 8;
		self.input[at..].copy_from_slice(&nonce.to_le_bytes());
		<sp_runtime::traits::BlakeTwo256 as sp_runtime::traits::Hash>::hash(&self.input).0
	}

	/// Whether `work` meets `difficulty` (expected hashes per solution): its first 16 bytes,
	/// read big-endian, are at most `u128::MAX / difficulty`.
	pub fn meets(work: &[u8; 32], difficulty: u128) -> bool {
		let mut head = [0u8; 16];
		head.copy_from_slice(&work[..16]);
		u128::from_be_bytes(head) <= u128::MAX / difficulty.max(1)
	}
}
