//! # Market pallet
//!
//! The on-chain half of MODiCuM (Eisele et al., DEBS'20): a market where job creators buy
//! batch compute from resource providers, mediators settle disputes by re-execution and
//! directories serve images and results.
//!
//! ## Overview
//!
//! Every actor registers the role it plays and keeps its terms on chain:
//! - a **job creator** keeps the mediators it trusts;
//! - a **resource provider** keeps its architecture, its speed, the mediators and directories it
//!   trusts and the base layers it has installed;
//! - a **mediator** keeps its architecture, availability fee, trusted directories and base layers,
//!   and holds a bond;
//! - a **directory** keeps the URL of its OCI registry and its availability fee, and holds a bond.
//!
//! Trust lists are bounded and can be edited at any time by their owner; only the state at match
//! time counts. An actor that disagrees with a verdict drops that mediator or directory.
//!
//! ## Design
//!
//! Extrinsics are thin: they check the origin and call a `do_*` function of the module named for
//! its concern (`roles` for registration and trust lists). All deposit movement goes through the
//! helpers of `deposits`. Every check runs before the first write, so a failing call changes
//! nothing.
//!
//! ## Terms
//!
//! - *Bond*: balance a mediator or directory keeps on hold while registered, under
//!   [`HoldReason::Bond`].
//! - *Trust list*: the mediators or directories an actor accepts for its matches.
//! - *Base layer*: the uncompressed `diff_id` of an image layer kept installed, so jobs built on it
//!   only move their own layers.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use grants::GRANT_CLAIM_PRIORITY;
pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod deposits;
mod grants;
mod matching;
mod mediation;
pub mod migrations;
#[cfg(test)]
mod mock;
mod offers;
mod parameters;
mod payouts;
mod reputation;
mod results;
mod roles;
pub mod runtime_api;
#[cfg(test)]
mod tests;
mod timeouts;
pub mod types;
pub mod weights;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::fungible::{Inspect, Mutate, MutateHold},
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		traits::{AccountIdConversion, SaturatedConversion, Saturating, Zero},
		Perbill,
	};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the market.
	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency deposits and bonds are held in.
		type Currency: Inspect<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;

		/// Identifier of the market's own account (the welfare pool).
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// The most mediators or directories one trust list holds.
		#[pallet::constant]
		type MaxTrusted: Get<u32>;

		/// The most base layers one actor declares.
		#[pallet::constant]
		type MaxBaseLayers: Get<u32>;

		/// The longest directory endpoint URL, in bytes.
		#[pallet::constant]
		type MaxEndpointLength: Get<u32>;

		/// The longest image repository name, in bytes.
		#[pallet::constant]
		type MaxRepositoryLength: Get<u32>;

		/// The most deadlines the per-block hook settles; the rest wait, in order, for the next.
		/// At least what one full block of calls can schedule, so the sweep's lag stays bounded.
		#[pallet::constant]
		type MaxSweepPerBlock: Get<u32>;

		/// The storage deposit of one offer and its deadline-index entry; every offer's
		/// minimum deposit includes it.
		#[pallet::constant]
		type OfferStorageDeposit: Get<BalanceOf<Self>>;

		/// Weights of this pallet's calls.
		type WeightInfo: WeightInfo;
	}

	/// Why the market holds an account's balance.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The bond of a registered mediator or directory.
		#[codec(index = 0)]
		Bond,
		/// A job creator's deposit, for an open job offer or a match.
		#[codec(index = 1)]
		JobDeposit,
		/// A resource provider's deposit, for an open resource offer or a match.
		#[codec(index = 2)]
		ResourceDeposit,
		/// What is left of a join grant: spendable only in the market.
		#[codec(index = 3)]
		Grant,
	}

	/// The market's chain parameters.
	#[pallet::storage]
	pub type Parameters<T: Config> = StorageValue<_, MarketParametersOf<T>, OptionQuery>;

	/// Registered job creators.
	#[pallet::storage]
	pub type JobCreators<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, JobCreatorInfo<T>, OptionQuery>;

	/// Registered resource providers.
	#[pallet::storage]
	pub type ResourceProviders<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, ResourceProviderInfo<T>, OptionQuery>;

	/// Registered mediators.
	#[pallet::storage]
	pub type Mediators<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, MediatorInfo<T>, OptionQuery>;

	/// Registered directories.
	#[pallet::storage]
	pub type Directories<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, DirectoryInfo<T>, OptionQuery>;

	/// The id the next offer gets.
	#[pallet::storage]
	pub type NextOfferId<T: Config> = StorageValue<_, OfferId, ValueQuery>;

	/// The id the next match gets.
	#[pallet::storage]
	pub type NextMatchId<T: Config> = StorageValue<_, MatchId, ValueQuery>;

	/// Job offers, open or taken by a match that is still open.
	#[pallet::storage]
	pub type JobOffers<T: Config> =
		StorageMap<_, Twox64Concat, OfferId, JobOfferOf<T>, OptionQuery>;

	/// Resource offers, open or taken by a match that is still open.
	#[pallet::storage]
	pub type ResourceOffers<T: Config> =
		StorageMap<_, Twox64Concat, OfferId, ResourceOfferOf<T>, OptionQuery>;

	/// Open matches; a match is removed when it closes.
	#[pallet::storage]
	pub type Matches<T: Config> = StorageMap<_, Twox64Concat, MatchId, MatchOf<T>, OptionQuery>;

	/// The deadline index keyed by (block, entry): what falls due at each block. Exactly one
	/// entry per open offer and match, at the block its current deadline falls due; no block has
	/// a capacity a stranger could fill.
	#[pallet::storage]
	pub type Deadlines<T: Config> =
		StorageDoubleMap<_, Twox64Concat, BlockNumberFor<T>, Identity, Deadline, (), OptionQuery>;

	/// The first block of the deadline index not yet swept.
	#[pallet::storage]
	pub type SweepCursor<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// Reputation of resource providers and mediators, per role.
	#[pallet::storage]
	pub type Reputations<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		Role,
		Reputation,
		ValueQuery,
	>;

	/// How many open matches each account takes part in, per role.
	#[pallet::storage]
	pub type OpenMatches<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, Role, u32, ValueQuery>;

	/// The terms of join grants and the welfare tax; without them no grant is paid and no tax
	/// taken.
	#[pallet::storage]
	pub type JoinGrantTerms<T: Config> = StorageValue<_, GrantTermsOf<T>, OptionQuery>;

	/// The difficulty of join grants and the claims of the current period and block.
	#[pallet::storage]
	pub type JoinGrantRate<T: Config> = StorageValue<_, GrantRateOf<T>, OptionQuery>;

	/// Join grants by account: live ones, and expired ones until the deposits they funded are
	/// refunded to the pool.
	#[pallet::storage]
	pub type Grants<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, GrantOf<T>, OptionQuery>;

	/// Every account that has claimed a join grant: it never claims another. Each entry cost a
	/// proof of work worth a grant.
	#[pallet::storage]
	pub type JoinGrantClaimed<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, (), OptionQuery>;

	/// The account of each grant whose expiry is in the deadline index.
	#[pallet::storage]
	pub type GrantHolders<T: Config> =
		StorageMap<_, Twox64Concat, GrantId, T::AccountId, OptionQuery>;

	/// The id the next grant gets.
	#[pallet::storage]
	pub type NextGrantId<T: Config> = StorageValue<_, GrantId, ValueQuery>;

	/// Genesis configuration: the market's chain parameters and the terms of join grants.
	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		/// The chain parameters the market starts with.
		pub parameters: MarketParametersOf<T>,
		/// The terms of join grants and the welfare tax; `None` pays no grants.
		pub grant_terms: Option<GrantTermsOf<T>>,
	}

	impl<T: Config> Default for GenesisConfig<T> {
		fn default() -> Self {
			// The paper's θ = 50 and n = 2; small amounts and windows suit a test chain.
			Self {
				parameters: MarketParameters {
					penalty_rate: 50,
					verification_count: 2,
					match_incentive: 1u32.into(),
					reaction_window: 10u32.into(),
					mediation_window: 40u32.into(),
					too_much_cost_tolerance: Perbill::from_percent(25),
					too_much_cost_floor: 100,
					min_resource_deposit: T::OfferStorageDeposit::get().max(1u32.into()),
					min_bond: 1u32.into(),
					heartbeat_period: 30u32.into(),
					reference_speed: 50,
					reference_bandwidth: 50,
					fetch_grace: 5u32.into(),
					max_job_duration: 1_000u32.into(),
					max_offer_window: 1_000u32.into(),
					reputation_decay: Perbill::from_percent(98),
					min_reputation_price: 1_000u32.into(),
					reputation_fee: Perbill::from_percent(1),
				},
				grant_terms: None,
			}
		}
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			if let Err(e) = Pallet::<T>::ensure_valid_parameters(&self.parameters) {
				panic!("invalid market parameters at genesis: {e:?}");
			}
			Parameters::<T>::put(self.parameters.clone());
			if let Some(terms) = &self.grant_terms {
				if let Err(e) = Pallet::<T>::ensure_valid_grant_terms(terms) {
					panic!("invalid grant terms at genesis: {e:?}");
				}
				Pallet::<T>::put_grant_terms(terms.clone());
			}
		}
	}

	/// Events of the market.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An account registered as a job creator.
		JobCreatorRegistered {
			/// The job creator.
			who: T::AccountId,
		},
		/// An account registered as a resource provider.
		ResourceProviderRegistered {
			/// The resource provider.
			who: T::AccountId,
			/// Its machine's architecture.
			architecture: Architecture,
			/// Its declared speed in cpu units per block.
			speed: u64,
		},
		/// An account registered as a mediator and its bond was held.
		MediatorRegistered {
			/// The mediator.
			who: T::AccountId,
			/// Its machine's architecture.
			architecture: Architecture,
			/// The largest run it re-executes.
			capacity: Resources,
			/// How many runs it re-executes at once.
			slots: u32,
			/// Its availability fee.
			fee: BalanceOf<T>,
			/// The bond now held.
			bond: BalanceOf<T>,
		},
		/// An account registered as a directory and its bond was held.
		DirectoryRegistered {
			/// The directory.
			who: T::AccountId,
			/// URL of its OCI registry.
			endpoint: EndpointOf<T>,
			/// Its availability fee.
			fee: BalanceOf<T>,
			/// The bond now held.
			bond: BalanceOf<T>,
		},
		/// A resource provider changed its architecture, speed or base layers.
		ResourceProviderUpdated {
			/// The resource provider.
			who: T::AccountId,
			/// Its machine's architecture.
			architecture: Architecture,
			/// Its declared speed in cpu units per block.
			speed: u64,
		},
		/// A mediator changed its architecture, capacity, slots, fee or base layers.
		MediatorUpdated {
			/// The mediator.
			who: T::AccountId,
			/// Its machine's architecture.
			architecture: Architecture,
			/// The largest run it re-executes.
			capacity: Resources,
			/// How many runs it re-executes at once.
			slots: u32,
			/// Its availability fee.
			fee: BalanceOf<T>,
		},
		/// A directory changed its endpoint or fee.
		DirectoryUpdated {
			/// The directory.
			who: T::AccountId,
			/// URL of its OCI registry.
			endpoint: EndpointOf<T>,
			/// Its availability fee.
			fee: BalanceOf<T>,
		},
		/// An actor added a mediator to the trust list of one of its roles.
		MediatorTrusted {
			/// The trusting actor.
			who: T::AccountId,
			/// The role whose list changed.
			role: Role,
			/// The mediator now trusted.
			mediator: T::AccountId,
		},
		/// An actor removed a mediator from the trust list of one of its roles.
		MediatorDistrusted {
			/// The actor.
			who: T::AccountId,
			/// The role whose list changed.
			role: Role,
			/// The mediator no longer trusted.
			mediator: T::AccountId,
		},
		/// An actor added a directory to the trust list of one of its roles.
		DirectoryTrusted {
			/// The trusting actor.
			who: T::AccountId,
			/// The role whose list changed.
			role: Role,
			/// The directory now trusted.
			directory: T::AccountId,
		},
		/// An actor removed a directory from the trust list of one of its roles.
		DirectoryDistrusted {
			/// The actor.
			who: T::AccountId,
			/// The role whose list changed.
			role: Role,
			/// The directory no longer trusted.
			directory: T::AccountId,
		},
		/// An account left a role; its bond, if any, was released.
		Deregistered {
			/// The account.
			who: T::AccountId,
			/// The role it left.
			role: Role,
			/// The bond released.
			bond_released: BalanceOf<T>,
		},
		/// A mediator or directory added to its bond.
		BondToppedUp {
			/// The mediator or directory.
			who: T::AccountId,
			/// The role whose bond grew.
			role: Role,
			/// The bond now held.
			bond: BalanceOf<T>,
		},
		/// A directory announced it is available.
		DirectoryHeartbeat {
			/// The directory.
			directory: T::AccountId,
		},
		/// A resource provider offered its machine; the deposit is held.
		ResourceOfferPosted {
			/// The new offer.
			offer: OfferId,
			/// The resource provider.
			provider: T::AccountId,
			/// The deposit held.
			deposit: BalanceOf<T>,
			/// The last block of the offer's window.
			valid_to: BlockNumberFor<T>,
		},
		/// A job creator offered a job; the deposit is held.
		JobOfferPosted {
			/// The new offer.
			offer: OfferId,
			/// The job creator.
			creator: T::AccountId,
			/// The deposit held.
			deposit: BalanceOf<T>,
			/// The block by which the result must be posted.
			completion_deadline: BlockNumberFor<T>,
		},
		/// The owner withdrew an open offer; its whole deposit was released.
		OfferCancelled {
			/// The offer.
			offer: OfferId,
			/// Its owner.
			owner: T::AccountId,
		},
		/// An offer's window or deadline passed unmatched; its whole deposit was released.
		OfferExpired {
			/// The offer.
			offer: OfferId,
			/// Its owner.
			owner: T::AccountId,
		},
		/// A job offer and a resource offer were matched; both offers are closed.
		Matched {
			/// The new match.
			match_id: MatchId,
			/// The job offer taken.
			job_offer: OfferId,
			/// The resource offer taken.
			resource_offer: OfferId,
			/// The job creator.
			creator: T::AccountId,
			/// The resource provider, who now runs the job.
			provider: T::AccountId,
			/// The mediator of any dispute.
			mediator: T::AccountId,
			/// The directory holding the image.
			directory: T::AccountId,
			/// Who posted the match and earned the incentive from both parties.
			solver: T::AccountId,
			/// The job image.
			image: ImageOf<T>,
			/// The block by which the result must be posted.
			completion_deadline: BlockNumberFor<T>,
		},
		/// The provider posted the job's result.
		ResultPosted {
			/// The match.
			match_id: MatchId,
			/// The provider's report.
			receipt: Receipt,
			/// From this block on the result counts as accepted.
			reaction_deadline: BlockNumberFor<T>,
		},
		/// The result was accepted.
		ResultAccepted {
			/// The match.
			match_id: MatchId,
			/// π_c, paid to the provider.
			job_price: BalanceOf<T>,
		},
		/// The job creator disputed the result; the mediator must re-execute the job.
		JobAssignedForMediation {
			/// The match.
			match_id: MatchId,
			/// The mediator.
			mediator: T::AccountId,
			/// The job creator's objection.
			reason: RejectReason,
			/// The last block the mediator may post its verdict in.
			mediation_deadline: BlockNumberFor<T>,
		},
		/// The mediator posted its verdict.
		MediationResultPosted {
			/// The match.
			match_id: MatchId,
			/// The party at fault.
			faulty_party: Party,
			/// sha256 of the mediator's own result archive, if its runs produced one.
			result_digest: Option<Digest>,
		},
		/// A match closed and every payment of its ending was made.
		MatchClosed {
			/// The match.
			match_id: MatchId,
			/// How it ended.
			ending: Ending,
			/// What the job creator got back of its deposit.
			creator_refund: BalanceOf<T>,
			/// What the provider got back of its deposit.
			provider_refund: BalanceOf<T>,
			/// What the faulty party forfeited to the welfare pool, with any reputation fee.
			penalty: BalanceOf<T>,
			/// The welfare tax on the job price, paid to the welfare pool from the provider's pay.
			welfare_tax: BalanceOf<T>,
		},
		/// Root changed the market's chain parameters; open matches keep their copy.
		ParametersSet {
			/// The new parameters.
			parameters: MarketParametersOf<T>,
		},
		/// A new account claimed its join grant from the welfare pool.
		JoinGrantClaimed {
			/// The account.
			who: T::AccountId,
			/// What the pool paid.
			amount: BalanceOf<T>,
			/// Of it, what is held for the market (the rest keeps the account alive).
			held: BalanceOf<T>,
			/// The block at which what is left returns to the pool.
			expires_at: BlockNumberFor<T>,
			/// The difficulty the proof met, in expected hashes.
			difficulty: u128,
		},
		/// A join grant expired and what was left of it returned to the welfare pool.
		JoinGrantExpired {
			/// The account.
			who: T::AccountId,
			/// What returned to the pool now; what is still in the market's deposits follows
			/// when they are refunded.
			returned: BalanceOf<T>,
		},
		/// Root changed the terms of join grants and the welfare tax.
		GrantTermsSet {
			/// The new terms.
			terms: GrantTermsOf<T>,
		},
	}

	/// Errors of the market.
	#[pallet::error]
	pub enum Error<T> {
		/// The account is already registered in this role.
		AlreadyRegistered,
		/// The account is not registered in this role.
		NotRegistered,
		/// A trust list names the same account twice.
		DuplicateTrusted,
		/// The account is already on this trust list.
		AlreadyTrusted,
		/// The account is not on this trust list.
		NotTrusted,
		/// The trust list is full.
		TooManyTrusted,
		/// An actor cannot trust itself as mediator or directory.
		CannotTrustSelf,
		/// The account named as mediator is not a registered mediator.
		UnknownMediator,
		/// The account named as directory is not a registered directory.
		UnknownDirectory,
		/// This role keeps no trust list of that kind.
		NoSuchTrustList,
		/// A base layer is declared twice.
		DuplicateBaseLayer,
		/// A resource provider's speed must be at least one cpu unit per block.
		ZeroSpeed,
		/// A directory endpoint must be an `http://` or `https://` URL of printable characters.
		InvalidEndpoint,
		/// The bond is below the market's minimum bond.
		BondTooLow,
		/// The account cannot hold that much: its free balance is too low.
		InsufficientBalance,
		/// Parameters: the mediator must re-execute at least once (n ≥ 1).
		ZeroVerificationCount,
		/// Parameters: a faulty party must forfeit at least one job price (θ ≥ 1).
		ZeroPenaltyRate,
		/// Parameters: the reaction window must be at least 2 blocks.
		ReactionWindowTooShort,
		/// Parameters: the mediation window must exceed the heartbeat period by 2 blocks.
		MediationWindowTooShort,
		/// Parameters: the too-much-cost tolerance is above 100 %.
		TooMuchCostToleranceAbove100,
		/// Parameters: the reputation decay is above 100 %.
		ReputationDecayAbove100,
		/// Parameters: the reputation fee is above 100 %.
		ReputationFeeAbove100,
		/// Parameters: the reference speed must be at least one cpu unit per block.
		ZeroReferenceSpeed,
		/// Parameters: the reference bandwidth must be at least one KiB per block.
		ZeroReferenceBandwidth,
		/// Parameters: the minimum bond must be above zero.
		ZeroMinBond,
		/// Parameters: the longest job duration must be at least one block.
		ZeroMaxJobDuration,
		/// Parameters: the longest offer window must be at least one block.
		ZeroMaxOfferWindow,
		/// Parameters: the minimum resource deposit is below an offer's storage deposit.
		MinResourceDepositBelowStorageDeposit,
		/// Parameters: the longest deadline a call can set does not fit a block number.
		HorizonOverflow,
		/// The market's parameters were never set at genesis.
		ParametersMissing,
		/// A mediator or directory with open matches cannot leave its role.
		HasOpenMatches,
		/// No offer with that id.
		UnknownOffer,
		/// No open match with that id.
		UnknownMatch,
		/// Only the owner may do this.
		NotOwner,
		/// The offer was already taken by a match.
		AlreadyMatched,
		/// The offer's architecture differs from the provider's registered machine.
		ArchitectureNotRegistered,
		/// The window must end no earlier than it starts and not in the past.
		InvalidWindow,
		/// The completion deadline must be in the future.
		DeadlineInPast,
		/// The completion deadline lies further ahead than the longest job duration.
		DeadlineTooFar,
		/// The job's run length R (from its limits) exceeds the longest job duration.
		JobTooLong,
		/// The resource offer's window ends further ahead than the longest offer window.
		OfferWindowTooLong,
		/// The job must be allowed some cpu time.
		ZeroCpuLimit,
		/// The deposit is below the minimum for this offer.
		DepositTooLow,
		/// The resource offer's window has not started.
		ResourceOfferNotYetValid,
		/// The offer's window or deadline has passed.
		OfferExpired,
		/// The resource offer's window ends before the job's completion deadline.
		WindowTooShort,
		/// At the provider's speed the job cannot finish by its completion deadline.
		DeadlineTooSoon,
		/// The provider offers less cpu than the job's limit.
		InsufficientCpu,
		/// The provider offers less memory than the job's limit.
		InsufficientMemory,
		/// The provider offers less storage than the job's limit.
		InsufficientStorage,
		/// The provider offers less bandwidth than the job's limit.
		InsufficientBandwidth,
		/// The job's architecture differs from the provider's.
		ArchitectureMismatch,
		/// The job's architecture differs from the mediator's.
		MediatorArchitectureMismatch,
		/// The provider does not have the job's base layer.
		BaseLayerUnsupported,
		/// The mediator does not have the job's base layer.
		MediatorBaseLayerUnsupported,
		/// The job creator does not trust the mediator.
		MediatorNotTrustedByJobCreator,
		/// The provider does not trust the mediator.
		MediatorNotTrustedByProvider,
		/// The mediator is the job creator or the provider of the match.
		MediatorIsParty,
		/// The job's directory is its job creator: it could refuse the provider's result and
		/// dispute it.
		DirectoryIsJobCreator,
		/// The provider does not trust the job's directory.
		DirectoryNotTrustedByProvider,
		/// The mediator does not trust the job's directory.
		DirectoryNotTrustedByMediator,
		/// The provider asks more per cpu unit than the job bids.
		CpuPriceAboveBid,
		/// The provider asks more per KiB than the job bids.
		BandwidthPriceAboveBid,
		/// The job creator's deposit is below d_min for this match.
		JobDepositBelowMinimum,
		/// The provider's deposit is below d_min for this match.
		ProviderDepositBelowMinimum,
		/// The mediator charges more than the job offer accepts.
		MediatorFeeAboveJobMaximum,
		/// The mediator charges more than the resource offer accepts.
		MediatorFeeAboveProviderMaximum,
		/// The directory charges more than the job offer accepts.
		DirectoryFeeAboveJobMaximum,
		/// The directory charges more than the resource offer accepts.
		DirectoryFeeAboveProviderMaximum,
		/// The mediator's bond is below the minimum bond.
		MediatorBondBelowMinimum,
		/// The directory's bond is below the minimum bond.
		DirectoryBondBelowMinimum,
		/// The mediator's bond not reserved by open matches cannot cover π̂_c of this one.
		MediatorBondShort,
		/// The directory's bond not reserved by open matches cannot cover π_m of this one.
		DirectoryBondShort,
		/// The provider's reputation is below the minimum the job offer names.
		ReputationTooLow,
		/// Only the match's resource provider may do this.
		NotProvider,
		/// Only the match's job creator may do this.
		NotJobCreator,
		/// Only the match's mediator may do this.
		NotMediator,
		/// Only a registered directory may do this.
		NotDirectory,
		/// The match is not in the state this call needs.
		WrongState,
		/// The deadline for this call has passed.
		TooLate,
		/// This may only be done once the reaction deadline has passed.
		TooEarly,
		/// A result of a run (every status but `Declined`, `JobNotFound`,
		/// `JobDescriptionError` and `DirectoryUnavailable`) needs the digest of its archive.
		MissingResultDigest,
		/// `ResultNotFound` disputes a result archive, and the provider posted none.
		NoResultToFind,
		/// The directory can be found at fault only for a missing result, or for a disputed
		/// claim that the directory was unavailable or had no image.
		DirectoryVerdictNotAllowed,
		/// Only a mediator or a directory holds a bond.
		NoBond,
		/// The match has no deadline due yet.
		NotDue,
		/// An amount or block number overflowed.
		Overflow,
		/// A result decided before the container started (`Declined`, `JobNotFound`,
		/// `JobDescriptionError`, `DirectoryUnavailable`) claims usage: it would be paid for no
		/// work.
		UsageWithoutRun,
		/// A result decided before the container started names a result archive: no run wrote
		/// one.
		DigestWithoutRun,
		/// A `Completed` result claims more of a resource than the job's limit: a run over a
		/// limit ends in that limit's status.
		UsageAboveLimits,
		/// A mediator runs at least one job at a time.
		ZeroSlots,
		/// A mediator runs at most `MAX_MEDIATOR_SLOTS` jobs at a time.
		TooManySlots,
		/// A mediator lowers its slots only once the disputes queued on them have passed.
		DisputesQueued,
		/// The job's directory does not trust the mediator to judge its availability.
		MediatorNotTrustedByDirectory,
		/// The job's limits exceed the largest run the mediator can re-execute.
		MediatorCapacityShort,
		/// `fetch_grace` is longer than the longest job.
		FetchGraceTooLong,
		/// `fetch_grace` is zero: a run of a job of no bandwidth would get no time to fetch it.
		ZeroFetchGrace,
		/// The chain pays no join grants: it has no grant terms.
		GrantsClosed,
		/// Only an account that has never sent a transaction (nonce 0) claims a join grant.
		NotANewAccount,
		/// The account has claimed its join grant already.
		GrantAlreadyClaimed,
		/// The proof names a block more than `GrantProofAge` blocks old.
		GrantProofTooOld,
		/// The proof names a block that is not yet in the chain.
		GrantProofFromFuture,
		/// The proof's work does not meet the current difficulty.
		GrantWorkTooEasy,
		/// This block has taken `MaxGrantsPerBlock` claims.
		GrantBlockFull,
		/// This period has taken four times `GrantTarget` claims.
		GrantPeriodFull,
		/// The welfare pool cannot pay a grant and stay alive.
		WelfarePoolShort,
		/// A grant must exceed twice the existential deposit, so most of it is held.
		GrantAmountTooSmall,
		/// `GrantExpiry` must exceed `GrantProofAge`, so no proof outlives the grant it earned.
		GrantExpiryTooShort,
		/// `GrantProofAge` must be at least 1 and within the blocks whose hashes the chain keeps.
		GrantProofAgeOutOfRange,
		/// `GrantPeriod` is zero.
		ZeroGrantPeriod,
		/// `GrantTarget` is zero.
		ZeroGrantTarget,
		/// `MaxGrantsPerBlock` is zero.
		ZeroMaxGrantsPerBlock,
		/// The difficulty floor is zero.
		ZeroGrantDifficulty,
		/// `WelfareTax` is above `MAX_WELFARE_TAX`.
		WelfareTaxTooHigh,
		/// The account's grant funds open market deposits and cannot fund this one too; its own
		/// funds may hold a deposit once those close (the two never mix).
		GrantFundsInMarket,
		/// A proof names the genesis block, or a block whose hash the chain no longer keeps.
		GrantProofBlockUnknown,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Settle what fell due, oldest first, within the sweep budget.
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::sweep(now)
		}

		fn integrity_test() {
			assert!(T::MaxTrusted::get() > 0, "MaxTrusted must allow at least one entry");
			assert!(T::MaxBaseLayers::get() > 0, "MaxBaseLayers must allow at least one entry");
			assert!(
				T::MaxEndpointLength::get() > 8,
				"MaxEndpointLength must fit at least `https://` and a host"
			);
			assert!(T::MaxRepositoryLength::get() > 0, "MaxRepositoryLength must allow a name");
			assert!(T::MaxSweepPerBlock::get() > 0, "MaxSweepPerBlock must allow progress");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	/// Calls that schedule a deadline entry (offers, results, rejections) also pay for its
	/// settlement, so what one full block schedules the sweep can settle in one block.
	#[pallet::call(weight(<T as Config>::WeightInfo))]
	impl<T: Config> Pallet<T> {
		/// Register the caller as a job creator trusting `trusted_mediators`.
		#[pallet::call_index(0)]
		pub fn register_job_creator(
			origin: OriginFor<T>,
			trusted_mediators: TrustListOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_job_creator(who, trusted_mediators)
		}

		/// Register the caller as a resource provider.
		///
		/// `speed` is how many cpu units (ms of CPU time) the machine delivers per block; the
		/// chain uses it to refuse matches that could not finish before their deadline.
		#[pallet::call_index(1)]
		pub fn register_resource_provider(
			origin: OriginFor<T>,
			architecture: Architecture,
			speed: u64,
			trusted_mediators: TrustListOf<T>,
			trusted_directories: TrustListOf<T>,
			base_layers: BaseLayersOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_resource_provider(
				who,
				architecture,
				speed,
				trusted_mediators,
				trusted_directories,
				base_layers,
			)
		}

		/// Register the caller as a mediator charging `fee` per match, holding `bond`.
		///
		/// `capacity` is the largest run its machine re-executes, `slots` how many at once:
		/// it is named only for jobs within that capacity, and its disputes queue by slots.
		#[pallet::call_index(2)]
		#[allow(clippy::too_many_arguments)]
		pub fn register_mediator(
			origin: OriginFor<T>,
			architecture: Architecture,
			capacity: Resources,
			slots: u32,
			fee: BalanceOf<T>,
			trusted_directories: TrustListOf<T>,
			base_layers: BaseLayersOf<T>,
			bond: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let terms = roles::MediatorTerms { architecture, capacity, slots, fee, base_layers };
			Self::do_register_mediator(who, terms, trusted_directories, bond)
		}

		/// Register the caller as a directory serving from `endpoint`, charging `fee` per match,
		/// trusting `trusted_mediators` to judge its availability, holding `bond`.
		#[pallet::call_index(3)]
		pub fn register_directory(
			origin: OriginFor<T>,
			endpoint: EndpointOf<T>,
			fee: BalanceOf<T>,
			trusted_mediators: TrustListOf<T>,
			bond: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_directory(who, endpoint, fee, trusted_mediators, bond)
		}

		/// Change the caller's resource provider terms; trust lists are edited on their own.
		#[pallet::call_index(4)]
		pub fn update_resource_provider(
			origin: OriginFor<T>,
			architecture: Architecture,
			speed: u64,
			base_layers: BaseLayersOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_resource_provider(who, architecture, speed, base_layers)
		}

		/// Change the caller's mediator terms; the bond, trust list and queue are unchanged.
		#[pallet::call_index(5)]
		pub fn update_mediator(
			origin: OriginFor<T>,
			architecture: Architecture,
			capacity: Resources,
			slots: u32,
			fee: BalanceOf<T>,
			base_layers: BaseLayersOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let terms = roles::MediatorTerms { architecture, capacity, slots, fee, base_layers };
			Self::do_update_mediator(who, terms)
		}

		/// Change the caller's directory endpoint and fee; the bond is unchanged.
		#[pallet::call_index(6)]
		pub fn update_directory(
			origin: OriginFor<T>,
			endpoint: EndpointOf<T>,
			fee: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_directory(who, endpoint, fee)
		}

		/// Add a registered mediator to the trust list of the caller's `role`.
		#[pallet::call_index(7)]
		pub fn trust_mediator(
			origin: OriginFor<T>,
			role: Role,
			mediator: T::AccountId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_trust_mediator(who, role, mediator)
		}

		/// Remove a mediator from the trust list of the caller's `role`.
		#[pallet::call_index(8)]
		pub fn distrust_mediator(
			origin: OriginFor<T>,
			role: Role,
			mediator: T::AccountId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_distrust_mediator(who, role, mediator)
		}

		/// Add a registered directory to the trust list of the caller's `role`.
		#[pallet::call_index(9)]
		pub fn trust_directory(
			origin: OriginFor<T>,
			role: Role,
			directory: T::AccountId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_trust_directory(who, role, directory)
		}

		/// Remove a directory from the trust list of the caller's `role`.
		#[pallet::call_index(10)]
		pub fn distrust_directory(
			origin: OriginFor<T>,
			role: Role,
			directory: T::AccountId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_distrust_directory(who, role, directory)
		}

		/// Leave `role`, releasing its bond.
		#[pallet::call_index(11)]
		pub fn deregister(origin: OriginFor<T>, role: Role) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_deregister(who, role)
		}

		/// Set the market's chain parameters (root only). Open matches keep their own copy.
		#[pallet::call_index(12)]
		pub fn set_parameters(
			origin: OriginFor<T>,
			parameters: MarketParametersOf<T>,
		) -> DispatchResult {
			ensure_root(origin)?;
			Self::do_set_parameters(parameters)
		}

		/// Announce that the caller's directory is available (its registry answers).
		#[pallet::call_index(13)]
		pub fn directory_heartbeat(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_directory_heartbeat(who)
		}

		/// Offer the caller's machine to one job for the blocks `valid_from..=valid_to`, asking
		/// `cpu_price` per cpu unit and `bandwidth_price` per KiB, paying a mediator and a
		/// directory at most `max_fees`. `deposit` is held until the offer is cancelled,
		/// expires, or its match closes.
		#[pallet::weight(T::WeightInfo::post_resource_offer().saturating_add(T::WeightInfo::sweep_deadline()))]
		#[pallet::call_index(14)]
		#[allow(clippy::too_many_arguments)]
		pub fn post_resource_offer(
			origin: OriginFor<T>,
			capacity: Resources,
			architecture: Architecture,
			cpu_price: BalanceOf<T>,
			bandwidth_price: BalanceOf<T>,
			valid_from: BlockNumberFor<T>,
			valid_to: BlockNumberFor<T>,
			max_fees: MaxFees<BalanceOf<T>>,
			deposit: BalanceOf<T>,
		) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			let offer = ResourceOfferOf::<T> {
				provider,
				capacity,
				architecture,
				cpu_price,
				bandwidth_price,
				valid_from,
				valid_to,
				max_fees,
				deposit,
				state: OfferState::Open,
			};
			Self::do_post_resource_offer(offer)
		}

		/// Offer a job: `image` (built on `base_layer`) from `directory`, run within `limits`,
		/// bidding `cpu_bid` per cpu unit and `bandwidth_bid` per KiB, result due by
		/// `completion_deadline`, paying a mediator and a directory at most `max_fees`, taken
		/// only by a provider with at least `min_reputation`. `deposit` must cover
		/// π̂_c·(θ + n), the match incentive, both maximum fees and the offer's storage deposit.
		/// The job's run length R is fixed here from its limits.
		#[pallet::weight(T::WeightInfo::post_job_offer().saturating_add(T::WeightInfo::sweep_deadline()))]
		#[pallet::call_index(15)]
		#[allow(clippy::too_many_arguments)]
		pub fn post_job_offer(
			origin: OriginFor<T>,
			limits: Resources,
			architecture: Architecture,
			image: ImageOf<T>,
			base_layer: Digest,
			directory: T::AccountId,
			cpu_bid: BalanceOf<T>,
			bandwidth_bid: BalanceOf<T>,
			completion_deadline: BlockNumberFor<T>,
			max_fees: MaxFees<BalanceOf<T>>,
			min_reputation: Option<MinReputation>,
			deposit: BalanceOf<T>,
		) -> DispatchResult {
			let creator = ensure_signed(origin)?;
			let offer = JobOfferOf::<T> {
				creator,
				limits,
				architecture,
				image,
				base_layer,
				directory,
				cpu_bid,
				bandwidth_bid,
				completion_deadline,
				max_fees,
				min_reputation,
				// Fixed by `do_post_job_offer` from the limits.
				run_length: Zero::zero(),
				deposit,
				state: OfferState::Open,
			};
			Self::do_post_job_offer(offer)
		}

		/// Withdraw an open job offer of the caller's; its whole deposit is released.
		#[pallet::call_index(16)]
		pub fn cancel_job_offer(origin: OriginFor<T>, offer: OfferId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_cancel_job_offer(who, offer)
		}

		/// Withdraw an open resource offer of the caller's; its whole deposit is released.
		#[pallet::call_index(17)]
		pub fn cancel_resource_offer(origin: OriginFor<T>, offer: OfferId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_cancel_resource_offer(who, offer)
		}

		/// Match a job offer to a resource offer with a mediator both trust. Anyone may post a
		/// match; the chain checks its feasibility and pays the caller the match incentive from
		/// each party's deposit.
		#[pallet::call_index(18)]
		pub fn post_match(
			origin: OriginFor<T>,
			job_offer: OfferId,
			resource_offer: OfferId,
			mediator: T::AccountId,
		) -> DispatchResult {
			let solver = ensure_signed(origin)?;
			Self::do_post_match(solver, job_offer, resource_offer, mediator)
		}

		/// Post the result of a matched job (the match's provider, by the completion deadline).
		#[pallet::weight(T::WeightInfo::post_result().saturating_add(T::WeightInfo::sweep_deadline()))]
		#[pallet::call_index(19)]
		pub fn post_result(
			origin: OriginFor<T>,
			match_id: MatchId,
			status: ResultStatus,
			usage: Resources,
			result_digest: Option<Digest>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_post_result(who, match_id, Receipt { status, usage, result_digest })
		}

		/// Accept a posted result: the job creator at any time, anyone else once the reaction
		/// deadline has passed. The provider is paid and the match closes.
		#[pallet::call_index(20)]
		pub fn accept_result(origin: OriginFor<T>, match_id: MatchId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_accept_result(who, match_id)
		}

		/// Dispute a posted result before the reaction deadline (the job creator only); the
		/// match goes to its mediator.
		#[pallet::weight(T::WeightInfo::reject_result().saturating_add(T::WeightInfo::sweep_deadline()))]
		#[pallet::call_index(21)]
		pub fn reject_result(
			origin: OriginFor<T>,
			match_id: MatchId,
			reason: RejectReason,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_reject_result(who, match_id, reason)
		}

		/// Post the verdict of a mediation (the match's mediator, by the mediation deadline).
		#[pallet::call_index(22)]
		pub fn post_mediation_result(
			origin: OriginFor<T>,
			match_id: MatchId,
			faulty_party: Party,
			result_digest: Option<Digest>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_post_mediation_result(who, match_id, faulty_party, result_digest)
		}

		/// Settle a match whose deadline has passed. Anyone may call it; the per-block hook
		/// does the same for every due match.
		#[pallet::call_index(23)]
		pub fn claim_timeout(origin: OriginFor<T>, match_id: MatchId) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_claim_timeout(match_id)
		}

		/// Add `amount` to the bond of the caller's mediator or directory, e.g. after it paid
		/// a fault and fell below the minimum bond.
		#[pallet::call_index(24)]
		pub fn top_up_bond(
			origin: OriginFor<T>,
			role: Role,
			amount: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_top_up_bond(who, role, amount)
		}

		/// Pay `who`, an account that has never sent a transaction, its join grant from the
		/// welfare pool, earned by `proof`'s work. Unsigned and free: the transaction pool runs
		/// every check below before it takes the claim (see `validate_unsigned`).
		#[pallet::call_index(25)]
		#[pallet::weight(T::WeightInfo::claim_join_grant().saturating_add(T::WeightInfo::sweep_deadline()))]
		pub fn claim_join_grant(
			origin: OriginFor<T>,
			who: T::AccountId,
			proof: GrantProofOf<T>,
		) -> DispatchResult {
			ensure_none(origin)?;
			Self::do_claim_join_grant(who, proof)
		}

		/// Set the terms of join grants and the welfare tax (root only); live grants keep their
		/// expiry.
		#[pallet::call_index(26)]
		pub fn set_grant_terms(origin: OriginFor<T>, terms: GrantTermsOf<T>) -> DispatchResult {
			ensure_root(origin)?;
			Self::do_set_grant_terms(terms)
		}
	}

	// `validate_unsigned` is deprecated in frame-support 49 and due to be removed after April
	// 2027 (polkadot-sdk#2415); `#[pallet::authorize]` replaces it but needs general
	// transactions, which Polkadot.js 16 does not build. Move before that release (noted
	// 2026-12-07 in docs/maintainers.md).
	#[allow(deprecated)]
	#[pallet::validate_unsigned]
	impl<T: Config> ValidateUnsigned for Pallet<T> {
		type Call = Call<T>;

		/// A claim enters the pool only if it would land now; it provides its account, so one
		/// claim per account waits there, and lives no longer than its proof.
		fn validate_unsigned(_source: TransactionSource, call: &Self::Call) -> TransactionValidity {
			let Call::claim_join_grant { who, proof } = call else {
				return InvalidTransaction::Call.into();
			};
			let now = frame_system::Pallet::<T>::block_number();
			let (terms, _) = Self::check_claim(who, proof, now).map_err(Self::claim_invalidity)?;
			let expires = proof.block.saturating_add(terms.proof_age);
			let longevity: u64 = expires.saturating_sub(now).saturated_into::<u64>().max(1);
			ValidTransaction::with_tag_prefix("MarketJoinGrant")
				.priority(GRANT_CLAIM_PRIORITY)
				.and_provides(who)
				.longevity(longevity)
				.propagate(true)
				.build()
		}
	}

	impl<T: Config> Pallet<T> {
		/// The market's own account; it receives what no party may keep (the welfare pool).
		pub fn account_id() -> T::AccountId {
			T::PalletId::get().into_account_truncating()
		}

		/// The chain parameters, or an error if genesis never set them.
		pub fn parameters() -> Result<MarketParametersOf<T>, Error<T>> {
			Parameters::<T>::get().ok_or(Error::<T>::ParametersMissing)
		}

		/// Invariants of the market's state, checked after every test and every fuzzed call:
		/// - the parameters exist and are valid;
		/// - every account's balance held under [`HoldReason::Bond`] equals the bonds of its
		///   mediator and directory registrations, under [`HoldReason::JobDeposit`] the deposits
		///   of its open job offers plus what remains of them in its open matches, and likewise
		///   under [`HoldReason::ResourceDeposit`] for resource offers;
		/// - each bond's reservation is what its open matches reserve (π̂_c of each match a
		///   mediator mediates, π_m of each match whose job a directory holds) and never more
		///   than the bond;
		/// - the deadline index holds exactly one entry per open offer and match, at the block
		///   its current deadline falls due, and nothing else;
		/// - the open match counts agree with the matches;
		/// - no trust list names an account twice or names its owner, and no base layer list
		///   repeats an entry.
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			use alloc::collections::{btree_map::BTreeMap, btree_set::BTreeSet};
			use frame_support::traits::fungible::InspectHold;

			let parameters = Self::parameters()?;
			Self::ensure_valid_parameters(&parameters)?;

			// What each account should have on hold, per reason.
			const REASONS: [HoldReason; 4] = [
				HoldReason::Bond,
				HoldReason::JobDeposit,
				HoldReason::ResourceDeposit,
				HoldReason::Grant,
			];
			let mut expected = BTreeMap::<T::AccountId, [BalanceOf<T>; 4]>::new();
			let mut add = |who: &T::AccountId, reason: HoldReason, amount: BalanceOf<T>| {
				let index = REASONS.iter().position(|r| *r == reason).unwrap_or_default();
				let entry =
					&mut expected.entry(who.clone()).or_insert_with(Default::default)[index];
				*entry = entry.checked_add(&amount).ok_or("held sum overflows")?;
				Ok::<_, &'static str>(())
			};
			for (who, m) in Mediators::<T>::iter() {
				add(&who, HoldReason::Bond, m.bond)?;
			}
			for (who, d) in Directories::<T>::iter() {
				add(&who, HoldReason::Bond, d.bond)?;
			}
			let mut index = BTreeSet::<(BlockNumberFor<T>, Deadline)>::new();
			let mut index_once = |at: BlockNumberFor<T>, entry: Deadline| {
				ensure!(index.insert((at, entry)), "two objects share an index entry");
				Ok::<_, &'static str>(())
			};
			for (id, offer) in JobOffers::<T>::iter().filter(|(_, o)| o.state == OfferState::Open) {
				add(&offer.creator, HoldReason::JobDeposit, offer.deposit)?;
				index_once(Self::job_offer_due(&offer)?, Deadline::JobOffer(id))?;
			}
			for (id, offer) in
				ResourceOffers::<T>::iter().filter(|(_, o)| o.state == OfferState::Open)
			{
				add(&offer.provider, HoldReason::ResourceDeposit, offer.deposit)?;
				index_once(Self::resource_offer_due(&offer)?, Deadline::ResourceOffer(id))?;
			}
			let mut open = BTreeMap::<(T::AccountId, Role), u32>::new();
			let mut reserved = BTreeMap::<(T::AccountId, Role), BalanceOf<T>>::new();
			for (id, m) in Matches::<T>::iter() {
				add(&m.creator, HoldReason::JobDeposit, m.job_deposit)?;
				add(&m.provider, HoldReason::ResourceDeposit, m.provider_deposit)?;
				index_once(Self::match_due(&m)?, Deadline::Match(id))?;
				for (who, role) in [
					(&m.creator, Role::JobCreator),
					(&m.provider, Role::ResourceProvider),
					(&m.mediator, Role::Mediator),
					(&m.directory, Role::Directory),
				] {
					*open.entry((who.clone(), role)).or_default() += 1;
				}
				let (mediator_share, directory_share) = Self::bond_reservations(&m)?;
				for (who, role, share) in [
					(&m.mediator, Role::Mediator, mediator_share),
					(&m.directory, Role::Directory, directory_share),
				] {
					let sum = reserved.entry((who.clone(), role)).or_default();
					*sum = sum.checked_add(&share).ok_or("reservations overflow")?;
				}
			}
			for (who, grant) in Grants::<T>::iter() {
				ensure!(JoinGrantClaimed::<T>::contains_key(&who), "a grant of an unclaimed account");
				add(&who, HoldReason::Grant, grant.available)?;
				if GrantHolders::<T>::get(grant.id).as_ref() == Some(&who) {
					index_once(grant.expires_at, Deadline::Grant(grant.id))?;
				} else {
					ensure!(
						grant.available.is_zero() && !grant.committed.is_zero(),
						"an expired grant is kept without deposits it funded"
					);
				}
			}
			for (id, who) in GrantHolders::<T>::iter() {
				ensure!(
					Grants::<T>::get(&who).is_some_and(|grant| grant.id == id),
					"a scheduled grant has no record"
				);
			}
			let indexed: BTreeSet<(BlockNumberFor<T>, Deadline)> =
				Deadlines::<T>::iter_keys().collect();
			ensure!(
				indexed == index,
				"the deadline index differs from the open offers and matches"
			);
			let holders: BTreeSet<T::AccountId> = expected
				.keys()
				.cloned()
				.chain(OpenMatches::<T>::iter_keys().map(|(who, _)| who))
				.collect();
			for who in &holders {
				let want = expected.get(who).copied().unwrap_or_default();
				for (reason, want) in REASONS.into_iter().zip(want) {
					ensure!(
						T::Currency::balance_on_hold(&reason.into(), who) == want,
						"held balance differs from open deposits"
					);
				}
				// A grant funds none of the account's deposits and bonds, or all of them.
				if let Some(grant) = Grants::<T>::get(who) {
					let in_market = want[..3]
						.iter()
						.try_fold(BalanceOf::<T>::zero(), |sum, held| sum.checked_add(held))
						.ok_or("held sum overflows")?;
					ensure!(
						grant.committed.is_zero() || grant.committed == in_market,
						"grant and own funds mix in the market"
					);
				}
			}
			if let Some(terms) = JoinGrantTerms::<T>::get() {
				Self::ensure_valid_grant_terms(&terms)?;
				let rate = JoinGrantRate::<T>::get().ok_or("grant terms without a rate")?;
				ensure!(rate.difficulty >= terms.min_difficulty, "grant difficulty below its floor");
			}
			let reserved_of = |who: &T::AccountId, role| {
				reserved.get(&(who.clone(), role)).copied().unwrap_or_default()
			};
			for (who, m) in Mediators::<T>::iter() {
				ensure!(
					m.reserved == reserved_of(&who, Role::Mediator) && m.reserved <= m.bond,
					"mediator bond reservation differs from its open matches"
				);
			}
			for (who, d) in Directories::<T>::iter() {
				ensure!(
					d.reserved == reserved_of(&who, Role::Directory) && d.reserved <= d.bond,
					"directory bond reservation differs from its open matches"
				);
			}
			for (who, role, count) in OpenMatches::<T>::iter() {
				ensure!(open.get(&(who, role)) == Some(&count), "open match count is wrong");
			}
			ensure!(open.len() == OpenMatches::<T>::iter().count(), "an open match is not counted");

			let distinct = |owner: &T::AccountId, list: &[T::AccountId]| {
				list.iter().collect::<BTreeSet<_>>().len() == list.len() && !list.contains(owner)
			};
			let distinct_layers =
				|list: &[Digest]| list.iter().collect::<BTreeSet<_>>().len() == list.len();
			for (who, jc) in JobCreators::<T>::iter() {
				ensure!(distinct(&who, &jc.trusted_mediators), "job creator trust list invalid");
			}
			for (who, rp) in ResourceProviders::<T>::iter() {
				ensure!(
					distinct(&who, &rp.trusted_mediators)
						&& distinct(&who, &rp.trusted_directories)
						&& distinct_layers(&rp.base_layers),
					"resource provider lists invalid"
				);
			}
			for (who, m) in Mediators::<T>::iter() {
				ensure!(
					distinct(&who, &m.trusted_directories) && distinct_layers(&m.base_layers),
					"mediator lists invalid"
				);
				ensure!(
					(1..=MAX_MEDIATOR_SLOTS).contains(&m.slots),
					"a mediator's slots are out of bounds"
				);
			}
			for (who, d) in Directories::<T>::iter() {
				ensure!(distinct(&who, &d.trusted_mediators), "directory trust list invalid");
			}
			// Every posted receipt keeps the status rules, and every dispute lies within its
			// mediator's queue: the queue only grows, so a deadline is at most the queue's end
			// plus the window and the dispute's runs.
			for (_, m) in Matches::<T>::iter() {
				let (receipt, mediation_deadline) = match m.state {
					MatchState::Matched => continue,
					MatchState::ResultPosted { receipt, .. } => (receipt, None),
					MatchState::InMediation { receipt, mediation_deadline, .. } =>
						(receipt, Some(mediation_deadline)),
				};
				Self::check_receipt(&receipt, &m.limits)?;
				if let Some(deadline) = mediation_deadline {
					let mediator = Mediators::<T>::get(&m.mediator).ok_or("a mediator in mediation left")?;
					let latest = m
						.parameters
						.fetch_bound(&m.limits)
						.and_then(|fetch| m.run_length.checked_add(&fetch))
						.and_then(|run| run.checked_mul(&m.parameters.verification_count.into()))
						.and_then(|runs| runs.checked_add(&m.parameters.mediation_window))
						.map(|span| sp_runtime::Saturating::saturating_add(mediator.busy_until, span))
						.ok_or("mediation span overflows")?;
					ensure!(deadline <= latest, "a mediation deadline lies beyond its mediator's queue");
				}
			}
			Ok(())
		}
	}
}
