//! The fixed token supply: every token exists from genesis, none is minted or burned later.
//!
//! Fees, tips and dust go to the block author's account (or, with no author, to the market's
//! welfare pool). Calls that would change the total issuance are refused to every origin: signed
//! origins through the base call filter, root through [`SudoCall`], the only call type sudo
//! dispatches.

use super::{AccountId, Balances, Runtime, RuntimeCall, RuntimeOrigin};
use codec::{Decode, DecodeWithMemTracking, Encode};
use frame_support::{
	dispatch::{DispatchInfo, DispatchResultWithPostInfo, GetDispatchInfo},
	traits::{
		fungible::{Balanced, Credit},
		Contains, OnUnbalanced, UnfilteredDispatchable,
	},
};
use scale_info::{Type, TypeInfo};

/// Calls that would change the total issuance.
pub struct IssuanceChanging;

impl Contains<RuntimeCall> for IssuanceChanging {
	fn contains(call: &RuntimeCall) -> bool {
		use frame_system::Call as System;
		use pallet_balances::Call as Balances;
		matches!(
			call,
			RuntimeCall::Balances(
				Balances::force_set_balance { .. }
					| Balances::force_adjust_total_issuance { .. }
					| Balances::burn { .. }
			) | RuntimeCall::System(
				// Raw storage writes could rewrite any balance.
				System::set_storage { .. }
					| System::kill_storage { .. }
					| System::kill_prefix { .. }
			)
		)
	}
}

/// A call dispatched by sudo. It encodes, decodes and describes itself exactly as the
/// [`RuntimeCall`] it wraps, so clients see `sudo.sudo(call)` as usual, but it refuses to
/// dispatch calls that mint or burn.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Debug)]
pub struct SudoCall(pub RuntimeCall);

impl TypeInfo for SudoCall {
	type Identity = RuntimeCall;

	fn type_info() -> Type {
		RuntimeCall::type_info()
	}
}

impl UnfilteredDispatchable for SudoCall {
	type RuntimeOrigin = RuntimeOrigin;

	fn dispatch_bypass_filter(self, origin: RuntimeOrigin) -> DispatchResultWithPostInfo {
		if IssuanceChanging::contains(&self.0) {
			return Err(frame_system::Error::<Runtime>::CallFiltered.into());
		}
		self.0.dispatch_bypass_filter(origin)
	}
}

impl GetDispatchInfo for SudoCall {
	fn get_dispatch_info(&self) -> DispatchInfo {
		self.0.get_dispatch_info()
	}
}

impl From<RuntimeCall> for SudoCall {
	fn from(call: RuntimeCall) -> Self {
		Self(call)
	}
}

impl From<frame_system::Call<Runtime>> for SudoCall {
	fn from(call: frame_system::Call<Runtime>) -> Self {
		Self(call.into())
	}
}

/// The account of the validator authoring the current block: its Aura slot's index in the
/// session's validators, whatever keys it signs with.
pub fn block_author() -> Option<AccountId> {
	pallet_authorship::Pallet::<Runtime>::author()
}

/// Sends fees, tips and dust to the block author instead of burning them.
pub struct ToBlockAuthor;

impl OnUnbalanced<Credit<AccountId, Balances>> for ToBlockAuthor {
	fn on_nonzero_unbalanced(amount: Credit<AccountId, Balances>) {
		let pool = pallet_market::Pallet::<Runtime>::account_id();
		let amount = match block_author() {
			Some(author) => match Balances::resolve(&author, amount) {
				Ok(()) => return,
				Err(amount) => amount,
			},
			None => amount,
		};
		// The pool is endowed at genesis, so it exists and this cannot fail short of overflowing
		// the whole supply.
		let _ = Balances::resolve(&pool, amount);
	}
}
