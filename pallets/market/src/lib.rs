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

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod deposits;
#[cfg(test)]
mod mock;
mod roles;
#[cfg(test)]
mod tests;
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
	use sp_runtime::{traits::AccountIdConversion, Perbill};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

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

		/// Identifier of the market's own account (the penalty pool).
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

		/// Weights of this pallet's calls.
		type WeightInfo: WeightInfo;
	}

	/// Why the market holds an account's balance.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The bond of a registered mediator or directory.
		#[codec(index = 0)]
		Bond,
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

	/// Genesis configuration: the market's chain parameters.
	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		/// The chain parameters the market starts with.
		pub parameters: MarketParametersOf<T>,
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
					mediation_window: 20u32.into(),
					too_much_cost_tolerance: Perbill::from_percent(5),
					min_resource_deposit: 1u32.into(),
					min_bond: 1u32.into(),
					heartbeat_period: 30u32.into(),
				},
			}
		}
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(self.parameters.is_valid(), "market parameters need verification_count >= 1");
			Parameters::<T>::put(self.parameters.clone());
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
		/// A mediator changed its architecture, fee or base layers.
		MediatorUpdated {
			/// The mediator.
			who: T::AccountId,
			/// Its machine's architecture.
			architecture: Architecture,
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
		/// Root changed the market's chain parameters; open matches keep their copy.
		ParametersSet {
			/// The new parameters.
			parameters: MarketParametersOf<T>,
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
		/// The parameters cannot run a market (verification count must be at least one).
		InvalidParameters,
		/// The market's parameters were never set at genesis.
		ParametersMissing,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxTrusted::get() > 0, "MaxTrusted must allow at least one entry");
			assert!(T::MaxBaseLayers::get() > 0, "MaxBaseLayers must allow at least one entry");
			assert!(
				T::MaxEndpointLength::get() > 8,
				"MaxEndpointLength must fit at least `https://` and a host"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

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
		#[pallet::call_index(2)]
		pub fn register_mediator(
			origin: OriginFor<T>,
			architecture: Architecture,
			fee: BalanceOf<T>,
			trusted_directories: TrustListOf<T>,
			base_layers: BaseLayersOf<T>,
			bond: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_mediator(who, architecture, fee, trusted_directories, base_layers, bond)
		}

		/// Register the caller as a directory serving from `endpoint`, charging `fee` per match,
		/// holding `bond`.
		#[pallet::call_index(3)]
		pub fn register_directory(
			origin: OriginFor<T>,
			endpoint: EndpointOf<T>,
			fee: BalanceOf<T>,
			bond: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_directory(who, endpoint, fee, bond)
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

		/// Change the caller's mediator terms; the bond and trust list are unchanged.
		#[pallet::call_index(5)]
		pub fn update_mediator(
			origin: OriginFor<T>,
			architecture: Architecture,
			fee: BalanceOf<T>,
			base_layers: BaseLayersOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_mediator(who, architecture, fee, base_layers)
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
			ensure!(parameters.is_valid(), Error::<T>::InvalidParameters);
			Parameters::<T>::put(parameters.clone());
			Self::deposit_event(Event::ParametersSet { parameters });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The market's own account; it receives what no party may keep (the penalty pool).
		pub fn account_id() -> T::AccountId {
			T::PalletId::get().into_account_truncating()
		}

		/// The chain parameters, or an error if genesis never set them.
		pub fn parameters() -> Result<MarketParametersOf<T>, Error<T>> {
			Parameters::<T>::get().ok_or(Error::<T>::ParametersMissing)
		}

		/// Invariants of the market's state:
		/// - the parameters exist and are valid;
		/// - every account's balance held under [`HoldReason::Bond`] equals the bonds of its
		///   mediator and directory registrations;
		/// - no trust list names an account twice or names its owner, and no base layer list
		///   repeats an entry.
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			use alloc::collections::btree_set::BTreeSet;
			use frame_support::traits::fungible::InspectHold;
			use sp_runtime::traits::{CheckedAdd, Zero};

			ensure!(Self::parameters().is_ok_and(|p| p.is_valid()), "market parameters invalid");

			let mut bonded = BTreeSet::new();
			bonded.extend(Mediators::<T>::iter_keys());
			bonded.extend(Directories::<T>::iter_keys());
			for who in bonded {
				let expected = Mediators::<T>::get(&who)
					.map_or_else(Zero::zero, |m| m.bond)
					.checked_add(&Directories::<T>::get(&who).map_or_else(Zero::zero, |d| d.bond))
					.ok_or("bond sum overflows")?;
				ensure!(
					T::Currency::balance_on_hold(&HoldReason::Bond.into(), &who) == expected,
					"held bond differs from registered bonds"
				);
			}

			let distinct = |owner: &T::AccountId, list: &[T::AccountId]| {
				list.iter().collect::<BTreeSet<_>>().len() == list.len() &&
					!list.contains(owner)
			};
			let distinct_layers =
				|list: &[Digest]| list.iter().collect::<BTreeSet<_>>().len() == list.len();
			for (who, jc) in JobCreators::<T>::iter() {
				ensure!(distinct(&who, &jc.trusted_mediators), "job creator trust list invalid");
			}
			for (who, rp) in ResourceProviders::<T>::iter() {
				ensure!(
					distinct(&who, &rp.trusted_mediators) &&
						distinct(&who, &rp.trusted_directories) &&
						distinct_layers(&rp.base_layers),
					"resource provider lists invalid"
				);
			}
			for (who, m) in Mediators::<T>::iter() {
				ensure!(
					distinct(&who, &m.trusted_directories) && distinct_layers(&m.base_layers),
					"mediator lists invalid"
				);
			}
			Ok(())
		}
	}
}
