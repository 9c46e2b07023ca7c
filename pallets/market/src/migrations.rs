//! Storage migrations of the market, one module per storage version. Each says which release
//! it comes from and leaves once no chain runs that release (docs/how-to/release.md).

/// Storage version 1 (release 2): join grants. Release 1's penalty pool becomes the welfare
/// pool as it is (the same account, nothing moves); the chain gets the grant terms `Terms`,
/// and the difficulty starts at their floor.
pub mod v1 {
	use crate::{types::*, Config, JoinGrantRate, JoinGrantTerms, Pallet};
	use core::marker::PhantomData;
	use frame_support::{
		migrations::VersionedMigration,
		traits::{Get, UncheckedOnRuntimeUpgrade},
		weights::Weight,
	};

	/// Stores `Terms` as the chain's grant terms unless it has some.
	pub struct InitJoinGrants<T, Terms>(PhantomData<(T, Terms)>);

	impl<T: Config, Terms: Get<GrantTermsOf<T>>> InitJoinGrants<T, Terms> {
		/// What must hold before: no grant state yet.
		pub fn check_before() -> Result<(), sp_runtime::TryRuntimeError> {
			frame_support::ensure!(
				!JoinGrantTerms::<T>::exists() && !JoinGrantRate::<T>::exists(),
				"release 1 has no grant terms"
			);
			Pallet::<T>::ensure_valid_grant_terms(&Terms::get())
				.map_err(|_| "the terms the migration stores are valid")?;
			Ok(())
		}

		/// What must hold after: the terms are `Terms`, the difficulty at their floor, and
		/// every invariant of the market holds.
		pub fn check_after() -> Result<(), sp_runtime::TryRuntimeError> {
			let terms = Terms::get();
			frame_support::ensure!(
				JoinGrantTerms::<T>::get().as_ref() == Some(&terms),
				"the grant terms are stored"
			);
			let rate = JoinGrantRate::<T>::get().ok_or("the grant rate is stored")?;
			frame_support::ensure!(
				rate.difficulty == terms.min_difficulty && rate.claims == 0,
				"the difficulty starts at its floor"
			);
			Pallet::<T>::do_try_state()
		}
	}

	impl<T: Config, Terms: Get<GrantTermsOf<T>>> UncheckedOnRuntimeUpgrade
		for InitJoinGrants<T, Terms>
	{
		fn on_runtime_upgrade() -> Weight {
			let db = T::DbWeight::get();
			if JoinGrantTerms::<T>::exists() {
				return db.reads(1);
			}
			let terms = Terms::get();
			if let Err(e) = Pallet::<T>::ensure_valid_grant_terms(&terms) {
				frame_support::defensive!("invalid grant terms in the migration", e);
				return db.reads(1);
			}
			Pallet::<T>::put_grant_terms(terms);
			db.reads_writes(3, 2)
		}

		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<alloc::vec::Vec<u8>, sp_runtime::TryRuntimeError> {
			Self::check_before().map(|()| alloc::vec::Vec::new())
		}

		#[cfg(feature = "try-runtime")]
		fn post_upgrade(_: alloc::vec::Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::check_after()
		}
	}

	/// [`InitJoinGrants`] run once, from storage version 0 to 1.
	pub type MigrateToV1<T, Terms> = VersionedMigration<
		0,
		1,
		InitJoinGrants<T, Terms>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}
