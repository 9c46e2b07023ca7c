//! Every movement of held balance goes through these helpers: take, release, and pay out of a
//! hold to another account. Each keeps the account's join grant in step (grants.rs): a deposit
//! is funded wholly by the grant or wholly by the account's own funds, a payment out of a
//! grant-funded deposit spends grant funds, and a refund of one returns to the grant.

use crate::{BalanceOf, Config, Error, HoldReason, Pallet};
use frame_support::{
	pallet_prelude::*,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
	},
};
use sp_runtime::traits::{Saturating, Zero};

impl<T: Config> Pallet<T> {
	/// Hold `amount` of `who`'s grant and free balance, in that order, for `reason`.
	pub(crate) fn take_deposit(
		who: &T::AccountId,
		reason: HoldReason,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
		Self::grant_to_deposit(who, amount)?;
		T::Currency::hold(&reason.into(), who, amount)
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	/// Release exactly `amount` held from `who` for `reason`.
	pub(crate) fn release_deposit(
		who: &T::AccountId,
		reason: HoldReason,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
		T::Currency::release(&reason.into(), who, amount, Precision::Exact)?;
		Self::deposit_to_grant(who, amount);
		Ok(())
	}

	/// Pay up to `wanted` out of `from`'s hold, never more than the `held` that remains of it,
	/// and lower `held` by what left the hold. A payment to `from` itself (a job creator that is
	/// its own solver or directory) is a release, so grant funds return to the grant. A
	/// recipient that cannot receive (e.g. a new account below the existential deposit) is
	/// replaced by the welfare pool, so a settlement never fails; should the pool refuse too, the
	/// amount stays held for its owner. Returns what `to` received.
	pub(crate) fn pay_from_deposit(
		from: &T::AccountId,
		reason: HoldReason,
		to: &T::AccountId,
		wanted: BalanceOf<T>,
		held: &mut BalanceOf<T>,
	) -> BalanceOf<T> {
		let amount = wanted.min(*held);
		if amount.is_zero() {
			return amount;
		}
		if from == to {
			if Self::release_deposit(from, reason, amount).is_err() {
				return Zero::zero();
			}
			held.saturating_reduce(amount);
			return amount;
		}
		let transfer = |to: &T::AccountId| {
			T::Currency::transfer_on_hold(
				&reason.into(),
				from,
				to,
				amount,
				Precision::Exact,
				Restriction::Free,
				Fortitude::Force,
			)
		};
		if transfer(to).is_ok() {
			held.saturating_reduce(amount);
			Self::deposit_spent(from, amount);
			return amount;
		}
		if transfer(&Self::account_id()).is_ok() {
			held.saturating_reduce(amount);
			Self::deposit_spent(from, amount);
		}
		Zero::zero()
	}
}
