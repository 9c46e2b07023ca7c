//! Every movement of held balance goes through these helpers.

use crate::{BalanceOf, Config, Error, HoldReason, Pallet};
use frame_support::{
	pallet_prelude::*,
	traits::{fungible::MutateHold, tokens::Precision},
};
use sp_runtime::traits::Zero;

impl<T: Config> Pallet<T> {
	/// Hold `amount` of `who`'s free balance for `reason`.
	pub(crate) fn take_deposit(
		who: &T::AccountId,
		reason: HoldReason,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
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
		T::Currency::release(&reason.into(), who, amount, Precision::Exact).map(|_| ())
	}
}
