//! Transaction fees: they go to the block author (`ToBlockAuthor`), and the fee of a market
//! call comes out of the caller's join grant first, so a newcomer holding only a grant can
//! register, post offers and pay for them. No other call touches a grant.

use super::ToBlockAuthor;
use crate::{AccountId, Balance, Balances, Market, Runtime, RuntimeCall};
use frame_support::traits::{fungible::Inspect, tokens::Fortitude, tokens::Preservation};
use pallet_transaction_payment::{FungibleAdapter, OnChargeTransaction, TxCreditHold};
use sp_runtime::{
	traits::{DispatchInfoOf, PostDispatchInfoOf},
	transaction_validity::TransactionValidityError,
};

/// Fees paid as `FungibleAdapter` pays them, with a market call's fee drawn from the caller's
/// grant first and the refund of what the grant paid returned to it.
pub struct MarketFees;

type Plain = FungibleAdapter<Balances, ToBlockAuthor>;

impl TxCreditHold<Runtime> for MarketFees {
	type Credit = <Plain as TxCreditHold<Runtime>>::Credit;
}

/// What of `fee` (the tip excluded: a tip is a gift to the author, never the market's) the
/// grant of `who` may pay: only that of a market call.
fn grant_share(who: &AccountId, call: &RuntimeCall, fee: Balance) -> Balance {
	match call {
		RuntimeCall::Market(_) => Market::grant_available(who).min(fee),
		_ => 0,
	}
}

impl OnChargeTransaction<Runtime> for MarketFees {
	type Balance = Balance;
	/// The plain adapter's tip credit and what the grant paid.
	type LiquidityInfo = (<Plain as OnChargeTransaction<Runtime>>::LiquidityInfo, Balance);

	fn withdraw_fee(
		who: &AccountId,
		call: &RuntimeCall,
		info: &DispatchInfoOf<RuntimeCall>,
		fee_with_tip: Balance,
		tip: Balance,
	) -> Result<Self::LiquidityInfo, TransactionValidityError> {
		let granted = match grant_share(who, call, fee_with_tip.saturating_sub(tip)) {
			0 => 0,
			share => Market::grant_to_fee(who, share),
		};
		// Should the withdrawal fail, the transaction is invalid and its writes are discarded.
		let credit = <Plain as OnChargeTransaction<Runtime>>::withdraw_fee(
			who,
			call,
			info,
			fee_with_tip,
			tip,
		)?;
		Ok((credit, granted))
	}

	fn can_withdraw_fee(
		who: &AccountId,
		call: &RuntimeCall,
		info: &DispatchInfoOf<RuntimeCall>,
		fee_with_tip: Balance,
		tip: Balance,
	) -> Result<(), TransactionValidityError> {
		let granted = grant_share(who, call, fee_with_tip.saturating_sub(tip));
		<Plain as OnChargeTransaction<Runtime>>::can_withdraw_fee(
			who,
			call,
			info,
			fee_with_tip - granted,
			tip,
		)
	}

	fn correct_and_deposit_fee(
		who: &AccountId,
		info: &DispatchInfoOf<RuntimeCall>,
		post_info: &PostDispatchInfoOf<RuntimeCall>,
		corrected_fee_with_tip: Balance,
		tip: Balance,
		(credit, granted): Self::LiquidityInfo,
	) -> Result<(), TransactionValidityError> {
		let free = || Balances::reducible_balance(who, Preservation::Expendable, Fortitude::Force);
		let before = free();
		<Plain as OnChargeTransaction<Runtime>>::correct_and_deposit_fee(
			who,
			info,
			post_info,
			corrected_fee_with_tip,
			tip,
			credit,
		)?;
		let refunded = free().saturating_sub(before);
		Market::fee_refund_to_grant(who, refunded.min(granted));
		Ok(())
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn endow_account(who: &AccountId, amount: Balance) {
		<Plain as OnChargeTransaction<Runtime>>::endow_account(who, amount)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn minimum_balance() -> Balance {
		<Plain as OnChargeTransaction<Runtime>>::minimum_balance()
	}
}
