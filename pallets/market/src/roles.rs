//! Registration of roles and editing of their trust lists.

use crate::{
	types::*, Config, Directories, Error, Event, HoldReason, JobCreators, Mediators, OpenMatches,
	Pallet, ResourceProviders,
};
use alloc::collections::btree_set::BTreeSet;
use frame_support::{ensure, pallet_prelude::DispatchResult};
use sp_runtime::{
	traits::{CheckedAdd, Saturating, Zero},
	DispatchError,
};

/// What a mediator registers and may change: what its machine runs and what it charges.
pub(crate) struct MediatorTerms<T: Config> {
	pub(crate) architecture: Architecture,
	pub(crate) capacity: Resources,
	pub(crate) slots: u32,
	pub(crate) fee: BalanceOf<T>,
	pub(crate) base_layers: BaseLayersOf<T>,
}

/// The two kinds of trust list.
#[derive(Clone, Copy)]
enum TrustKind {
	Mediators,
	Directories,
}

impl<T: Config> Pallet<T> {
	pub(crate) fn do_register_job_creator(
		who: T::AccountId,
		trusted_mediators: TrustListOf<T>,
	) -> DispatchResult {
		ensure!(!JobCreators::<T>::contains_key(&who), Error::<T>::AlreadyRegistered);
		Self::ensure_trust_list(&who, &trusted_mediators, TrustKind::Mediators)?;

		JobCreators::<T>::insert(&who, JobCreatorInfo { trusted_mediators });
		Self::deposit_event(Event::JobCreatorRegistered { who });
		Ok(())
	}

	pub(crate) fn do_register_resource_provider(
		who: T::AccountId,
		architecture: Architecture,
		speed: u64,
		trusted_mediators: TrustListOf<T>,
		trusted_directories: TrustListOf<T>,
		base_layers: BaseLayersOf<T>,
	) -> DispatchResult {
		ensure!(!ResourceProviders::<T>::contains_key(&who), Error::<T>::AlreadyRegistered);
		ensure!(speed > 0, Error::<T>::ZeroSpeed);
		Self::ensure_trust_list(&who, &trusted_mediators, TrustKind::Mediators)?;
		Self::ensure_trust_list(&who, &trusted_directories, TrustKind::Directories)?;
		Self::ensure_base_layers(&base_layers)?;

		ResourceProviders::<T>::insert(
			&who,
			ResourceProviderInfo {
				architecture,
				speed,
				trusted_mediators,
				trusted_directories,
				base_layers,
			},
		);
		Self::deposit_event(Event::ResourceProviderRegistered { who, architecture, speed });
		Ok(())
	}

	pub(crate) fn do_register_mediator(
		who: T::AccountId,
		terms: MediatorTerms<T>,
		trusted_directories: TrustListOf<T>,
		bond: BalanceOf<T>,
	) -> DispatchResult {
		ensure!(!Mediators::<T>::contains_key(&who), Error::<T>::AlreadyRegistered);
		ensure!(bond >= Self::parameters()?.min_bond, Error::<T>::BondTooLow);
		Self::ensure_slots(terms.slots)?;
		Self::ensure_trust_list(&who, &trusted_directories, TrustKind::Directories)?;
		Self::ensure_base_layers(&terms.base_layers)?;

		Self::take_deposit(&who, HoldReason::Bond, bond)?;
		let MediatorTerms { architecture, capacity, slots, fee, base_layers } = terms;
		Mediators::<T>::insert(
			&who,
			MediatorInfo {
				architecture,
				capacity,
				slots,
				busy_until: frame_system::Pallet::<T>::block_number(),
				fee,
				trusted_directories,
				base_layers,
				bond,
				reserved: Zero::zero(),
			},
		);
		Self::deposit_event(Event::MediatorRegistered {
			who,
			architecture,
			capacity,
			slots,
			fee,
			bond,
		});
		Ok(())
	}

	pub(crate) fn do_register_directory(
		who: T::AccountId,
		endpoint: EndpointOf<T>,
		fee: BalanceOf<T>,
		trusted_mediators: TrustListOf<T>,
		bond: BalanceOf<T>,
	) -> DispatchResult {
		ensure!(!Directories::<T>::contains_key(&who), Error::<T>::AlreadyRegistered);
		ensure!(bond >= Self::parameters()?.min_bond, Error::<T>::BondTooLow);
		Self::ensure_endpoint(&endpoint)?;
		Self::ensure_trust_list(&who, &trusted_mediators, TrustKind::Mediators)?;

		Self::take_deposit(&who, HoldReason::Bond, bond)?;
		let last_heartbeat = frame_system::Pallet::<T>::block_number();
		Directories::<T>::insert(
			&who,
			DirectoryInfo {
				endpoint: endpoint.clone(),
				fee,
				bond,
				reserved: Zero::zero(),
				last_heartbeat,
				trusted_mediators,
			},
		);
		Self::deposit_event(Event::DirectoryRegistered { who, endpoint, fee, bond });
		Ok(())
	}

	pub(crate) fn do_update_resource_provider(
		who: T::AccountId,
		architecture: Architecture,
		speed: u64,
		base_layers: BaseLayersOf<T>,
	) -> DispatchResult {
		ensure!(speed > 0, Error::<T>::ZeroSpeed);
		Self::ensure_base_layers(&base_layers)?;
		ResourceProviders::<T>::try_mutate(&who, |info| {
			let info = info.as_mut().ok_or(Error::<T>::NotRegistered)?;
			info.architecture = architecture;
			info.speed = speed;
			info.base_layers = base_layers;
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::ResourceProviderUpdated { who, architecture, speed });
		Ok(())
	}

	pub(crate) fn do_update_mediator(who: T::AccountId, terms: MediatorTerms<T>) -> DispatchResult {
		Self::ensure_slots(terms.slots)?;
		Self::ensure_base_layers(&terms.base_layers)?;
		let MediatorTerms { architecture, capacity, slots, fee, base_layers } = terms;
		let now = frame_system::Pallet::<T>::block_number();
		// Open matches keep the terms they were made with; the queue stays as it is. Fewer slots
		// wait until the queue has passed: its disputes were given the time of the slots then.
		Mediators::<T>::try_mutate(&who, |info| {
			let info = info.as_mut().ok_or(Error::<T>::NotRegistered)?;
			ensure!(slots >= info.slots || info.busy_until <= now, Error::<T>::DisputesQueued);
			info.architecture = architecture;
			info.capacity = capacity;
			info.slots = slots;
			info.fee = fee;
			info.base_layers = base_layers;
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::MediatorUpdated { who, architecture, capacity, slots, fee });
		Ok(())
	}

	pub(crate) fn do_update_directory(
		who: T::AccountId,
		endpoint: EndpointOf<T>,
		fee: BalanceOf<T>,
	) -> DispatchResult {
		Self::ensure_endpoint(&endpoint)?;
		Directories::<T>::try_mutate(&who, |info| {
			let info = info.as_mut().ok_or(Error::<T>::NotRegistered)?;
			info.endpoint = endpoint.clone();
			info.fee = fee;
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::DirectoryUpdated { who, endpoint, fee });
		Ok(())
	}

	pub(crate) fn do_trust_mediator(
		who: T::AccountId,
		role: Role,
		mediator: T::AccountId,
	) -> DispatchResult {
		ensure!(mediator != who, Error::<T>::CannotTrustSelf);
		ensure!(Mediators::<T>::contains_key(&mediator), Error::<T>::UnknownMediator);
		Self::mutate_trust_list(&who, role, TrustKind::Mediators, |list| {
			Self::add_trusted(list, &mediator)
		})?;
		Self::deposit_event(Event::MediatorTrusted { who, role, mediator });
		Ok(())
	}

	pub(crate) fn do_distrust_mediator(
		who: T::AccountId,
		role: Role,
		mediator: T::AccountId,
	) -> DispatchResult {
		Self::mutate_trust_list(&who, role, TrustKind::Mediators, |list| {
			Self::remove_trusted(list, &mediator)
		})?;
		Self::deposit_event(Event::MediatorDistrusted { who, role, mediator });
		Ok(())
	}

	pub(crate) fn do_trust_directory(
		who: T::AccountId,
		role: Role,
		directory: T::AccountId,
	) -> DispatchResult {
		ensure!(directory != who, Error::<T>::CannotTrustSelf);
		ensure!(Directories::<T>::contains_key(&directory), Error::<T>::UnknownDirectory);
		Self::mutate_trust_list(&who, role, TrustKind::Directories, |list| {
			Self::add_trusted(list, &directory)
		})?;
		Self::deposit_event(Event::DirectoryTrusted { who, role, directory });
		Ok(())
	}

	pub(crate) fn do_distrust_directory(
		who: T::AccountId,
		role: Role,
		directory: T::AccountId,
	) -> DispatchResult {
		Self::mutate_trust_list(&who, role, TrustKind::Directories, |list| {
			Self::remove_trusted(list, &directory)
		})?;
		Self::deposit_event(Event::DirectoryDistrusted { who, role, directory });
		Ok(())
	}

	pub(crate) fn do_directory_heartbeat(directory: T::AccountId) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		Directories::<T>::try_mutate(&directory, |info| {
			info.as_mut().ok_or(Error::<T>::NotDirectory)?.last_heartbeat = now;
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::DirectoryHeartbeat { directory });
		Ok(())
	}

	/// Whether `directory` is registered and sent a heartbeat within the heartbeat period.
	pub fn is_directory_available(directory: &T::AccountId) -> bool {
		let now = frame_system::Pallet::<T>::block_number();
		let period = Self::parameters().map(|p| p.heartbeat_period).unwrap_or_default();
		Directories::<T>::get(directory)
			.is_some_and(|d| now.saturating_sub(d.last_heartbeat) <= period)
	}

	pub(crate) fn do_top_up_bond(
		who: T::AccountId,
		role: Role,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		let bond = match role {
			Role::Mediator => Mediators::<T>::get(&who).map(|m| m.bond),
			Role::Directory => Directories::<T>::get(&who).map(|d| d.bond),
			Role::JobCreator | Role::ResourceProvider => return Err(Error::<T>::NoBond.into()),
		}
		.ok_or(Error::<T>::NotRegistered)?;
		let bond = bond.checked_add(&amount).ok_or(Error::<T>::Overflow)?;

		Self::take_deposit(&who, HoldReason::Bond, amount)?;
		match role {
			Role::Mediator => Mediators::<T>::mutate_extant(&who, |m| m.bond = bond),
			Role::Directory => Directories::<T>::mutate_extant(&who, |d| d.bond = bond),
			Role::JobCreator | Role::ResourceProvider => {}
		}
		Self::deposit_event(Event::BondToppedUp { who, role, bond });
		Ok(())
	}

	pub(crate) fn do_deregister(who: T::AccountId, role: Role) -> DispatchResult {
		ensure!(OpenMatches::<T>::get(&who, role) == 0, Error::<T>::HasOpenMatches);
		let bond_released = match role {
			Role::JobCreator => JobCreators::<T>::take(&who).map(|_| Zero::zero()),
			Role::ResourceProvider => ResourceProviders::<T>::take(&who).map(|_| Zero::zero()),
			Role::Mediator => Mediators::<T>::take(&who).map(|m| m.bond),
			Role::Directory => Directories::<T>::take(&who).map(|d| d.bond),
		}
		.ok_or(Error::<T>::NotRegistered)?;
		Self::release_deposit(&who, HoldReason::Bond, bond_released)?;
		Self::deposit_event(Event::Deregistered { who, role, bond_released });
		Ok(())
	}

	/// Apply `f` to the `kind` trust list of `who`'s `role`; nothing is written if `f` fails.
	fn mutate_trust_list(
		who: &T::AccountId,
		role: Role,
		kind: TrustKind,
		f: impl FnOnce(&mut TrustListOf<T>) -> DispatchResult,
	) -> DispatchResult {
		let not_registered = || DispatchError::from(Error::<T>::NotRegistered);
		match (role, kind) {
			(Role::JobCreator, TrustKind::Mediators) => JobCreators::<T>::try_mutate(who, |i| {
				f(&mut i.as_mut().ok_or_else(not_registered)?.trusted_mediators)
			}),
			(Role::ResourceProvider, TrustKind::Mediators) => {
				ResourceProviders::<T>::try_mutate(who, |i| {
					f(&mut i.as_mut().ok_or_else(not_registered)?.trusted_mediators)
				})
			}
			(Role::ResourceProvider, TrustKind::Directories) => {
				ResourceProviders::<T>::try_mutate(who, |i| {
					f(&mut i.as_mut().ok_or_else(not_registered)?.trusted_directories)
				})
			}
			(Role::Mediator, TrustKind::Directories) => Mediators::<T>::try_mutate(who, |i| {
				f(&mut i.as_mut().ok_or_else(not_registered)?.trusted_directories)
			}),
			(Role::Directory, TrustKind::Mediators) => Directories::<T>::try_mutate(who, |i| {
				f(&mut i.as_mut().ok_or_else(not_registered)?.trusted_mediators)
			}),
			_ => Err(Error::<T>::NoSuchTrustList.into()),
		}
	}

	fn add_trusted(list: &mut TrustListOf<T>, account: &T::AccountId) -> DispatchResult {
		ensure!(!list.contains(account), Error::<T>::AlreadyTrusted);
		list.try_push(account.clone()).map_err(|_| Error::<T>::TooManyTrusted.into())
	}

	fn remove_trusted(list: &mut TrustListOf<T>, account: &T::AccountId) -> DispatchResult {
		let index = list.iter().position(|a| a == account).ok_or(Error::<T>::NotTrusted)?;
		list.remove(index);
		Ok(())
	}

	/// A new trust list: distinct registered accounts of `kind`, not including its owner.
	fn ensure_trust_list(
		owner: &T::AccountId,
		list: &TrustListOf<T>,
		kind: TrustKind,
	) -> DispatchResult {
		let mut seen = BTreeSet::new();
		for account in list.iter() {
			ensure!(account != owner, Error::<T>::CannotTrustSelf);
			ensure!(seen.insert(account), Error::<T>::DuplicateTrusted);
			match kind {
				TrustKind::Mediators => {
					ensure!(Mediators::<T>::contains_key(account), Error::<T>::UnknownMediator)
				}
				TrustKind::Directories => {
					ensure!(Directories::<T>::contains_key(account), Error::<T>::UnknownDirectory)
				}
			}
		}
		Ok(())
	}

	fn ensure_slots(slots: u32) -> DispatchResult {
		ensure!(slots > 0, Error::<T>::ZeroSlots);
		ensure!(slots <= MAX_MEDIATOR_SLOTS, Error::<T>::TooManySlots);
		Ok(())
	}

	fn ensure_base_layers(layers: &BaseLayersOf<T>) -> DispatchResult {
		let distinct = layers.iter().collect::<BTreeSet<_>>().len() == layers.len();
		ensure!(distinct, Error::<T>::DuplicateBaseLayer);
		Ok(())
	}

	/// `http://` or `https://` followed by a non-empty run of printable, non-space ASCII.
	fn ensure_endpoint(endpoint: &EndpointOf<T>) -> DispatchResult {
		let rest = endpoint
			.strip_prefix(b"https://")
			.or_else(|| endpoint.strip_prefix(b"http://"))
			.ok_or(Error::<T>::InvalidEndpoint)?;
		let printable = rest.iter().all(|b| (0x21..=0x7e).contains(b));
		ensure!(!rest.is_empty() && printable, Error::<T>::InvalidEndpoint);
		Ok(())
	}
}
