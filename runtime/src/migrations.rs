//! What a chain running an older release needs when it upgrades in place: frame-system runs
//! [`Migrations`] (its `SingleBlockMigrations`) on the first block of a new `spec_version`,
//! before the pallets' own. Each
//! migration says which release it comes from and leaves once no chain runs that release
//! (docs/how-to/release.md).

use crate::{
	configs::{CANDIDACY_BOND, MAX_CANDIDATES, MAX_INVULNERABLES},
	AccountId, Runtime, SessionKeys,
};
use alloc::vec::Vec;
use frame_support::{
	traits::OnRuntimeUpgrade,
	weights::Weight,
	BoundedVec,
};
use sp_core::crypto::ByteArray;
use sp_runtime::{traits::OpaqueKeys, TryRuntimeError};

/// The migrations of this release, oldest first.
pub type Migrations = (
	ValidatorsFromFixedAuthorities,
	pallet_market::migrations::v1::MigrateToV1<Runtime, crate::configs::ReleaseOneGrantTerms>,
);

/// Release 0 had fixed authorities: Aura and GRANDPA keys listed at genesis in the same order,
/// each validator's account the public key of its Aura key. Release 1 keeps them as the
/// session's first validators and as invulnerables of the candidate selection, with those
/// keys, so block production and finality carry on across the upgrade. Runs only on a chain
/// with no session validators yet.
pub struct ValidatorsFromFixedAuthorities;

impl ValidatorsFromFixedAuthorities {
	/// Each validator and its keys, from release 0's authority lists.
	fn validators() -> Result<Vec<(AccountId, SessionKeys)>, TryRuntimeError> {
		let aura = pallet_aura::Authorities::<Runtime>::get();
		let grandpa = pallet_grandpa::Pallet::<Runtime>::grandpa_authorities();
		if aura.len() != grandpa.len() {
			return Err("release 0 lists as many Aura as GRANDPA authorities".into());
		}
		aura.iter()
			.zip(grandpa)
			.map(|(aura, (grandpa, _))| {
				let account = AccountId::try_from(aura.as_slice())
					.map_err(|()| TryRuntimeError::from("an Aura key is an account"))?;
				Ok((account, SessionKeys { aura: aura.clone(), grandpa }))
			})
			.collect()
	}

	fn pending() -> bool {
		pallet_session::Validators::<Runtime>::get().is_empty()
	}

	/// What must hold before: release 0's authorities, one account each, and no session yet.
	/// Returns the validators for [`Self::check_after`].
	pub fn check_before() -> Result<Vec<u8>, TryRuntimeError> {
		use codec::Encode;
		if !Self::pending() {
			return Ok(Vec::<(AccountId, SessionKeys)>::new().encode());
		}
		let validators = Self::validators()?;
		if validators.is_empty() {
			return Err("release 0 has authorities".into());
		}
		if validators.len() > MAX_INVULNERABLES as usize {
			return Err("release 0's validators fit the invulnerable seats".into());
		}
		Ok(validators.encode())
	}

	/// What must hold after: each of release 0's validators is a session validator and an
	/// invulnerable with its keys, and Aura's and GRANDPA's authorities are unchanged.
	pub fn check_after(before: Vec<u8>) -> Result<(), TryRuntimeError> {
		use codec::Decode;
		let validators = Vec::<(AccountId, SessionKeys)>::decode(&mut &before[..])
			.map_err(|_| TryRuntimeError::from("the state before decodes"))?;
		if validators.is_empty() {
			// Migrated before: nothing ran.
			return Ok(());
		}
		let accounts: Vec<AccountId> = validators.iter().map(|(a, _)| a.clone()).collect();
		if pallet_session::Validators::<Runtime>::get() != accounts {
			return Err("the session's validators are release 0's, in its order".into());
		}
		let aura: Vec<_> = validators.iter().map(|(_, keys)| keys.aura.clone()).collect();
		if pallet_aura::Authorities::<Runtime>::get().to_vec() != aura {
			return Err("Aura's authorities are unchanged".into());
		}
		let grandpa: Vec<_> =
			validators.iter().map(|(_, keys)| (keys.grandpa.clone(), 1)).collect();
		if pallet_grandpa::Pallet::<Runtime>::grandpa_authorities() != grandpa {
			return Err("GRANDPA's authorities are unchanged".into());
		}
		for (account, keys) in &validators {
			if pallet_session::NextKeys::<Runtime>::get(account).as_ref() != Some(keys) {
				return Err("each validator keeps its keys".into());
			}
			for id in SessionKeys::key_ids() {
				let owner = pallet_session::Pallet::<Runtime>::key_owner(*id, keys.get_raw(*id));
				if owner.as_ref() != Some(account) {
					return Err("each key is owned by its validator".into());
				}
			}
			if !pallet_collator_selection::Invulnerables::<Runtime>::get().contains(account) {
				return Err("each validator is invulnerable".into());
			}
		}
		if pallet_collator_selection::CandidacyBond::<Runtime>::get() != CANDIDACY_BOND {
			return Err("candidates bond the candidacy bond".into());
		}
		if Self::pending() {
			return Err("the session has validators".into());
		}
		Ok(())
	}
}

impl OnRuntimeUpgrade for ValidatorsFromFixedAuthorities {
	fn on_runtime_upgrade() -> Weight {
		let db = <Runtime as frame_system::Config>::DbWeight::get();
		if !Self::pending() {
			return db.reads(1);
		}
		let Ok(validators) = Self::validators() else {
			// Not a release 0 chain: nothing of ours to carry over.
			return db.reads(3);
		};
		let count = validators.len() as u64;
		let mut invulnerables: Vec<AccountId> = Vec::with_capacity(validators.len());
		for (account, keys) in &validators {
			for id in SessionKeys::key_ids() {
				pallet_session::KeyOwner::<Runtime>::insert(
					(*id, keys.get_raw(*id).to_vec()),
					account,
				);
			}
			pallet_session::NextKeys::<Runtime>::insert(account, keys);
			// As the session's genesis does: keys are a consumer of their account.
			if frame_system::Pallet::<Runtime>::inc_consumers_without_limit(account).is_err() {
				frame_system::Pallet::<Runtime>::inc_providers(account);
			}
			invulnerables.push(account.clone());
		}
		invulnerables.sort();
		invulnerables.dedup();
		pallet_session::Validators::<Runtime>::put(
			validators.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>(),
		);
		pallet_session::QueuedKeys::<Runtime>::put(validators);
		pallet_collator_selection::Invulnerables::<Runtime>::put(BoundedVec::truncate_from(
			invulnerables,
		));
		pallet_collator_selection::CandidacyBond::<Runtime>::put(CANDIDACY_BOND);
		pallet_collator_selection::DesiredCandidates::<Runtime>::put(MAX_CANDIDATES);
		db.reads_writes(3 + count, 5 + 4 * count)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, TryRuntimeError> {
		Self::check_before()
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(before: Vec<u8>) -> Result<(), TryRuntimeError> {
		Self::check_after(before)
	}
}
