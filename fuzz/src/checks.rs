//! What must hold after every fuzzed call, and once every deadline has passed.

use frame_support::traits::fungible::InspectHold;
use modicum_runtime::{AccountId, Balance, Runtime, RuntimeHoldReason};
use pallet_market::{
	Deadlines, Directories, HoldReason, JobOffers, Matches, Mediators, ResourceOffers,
};

type Balances = pallet_balances::Pallet<Runtime>;
type Market = pallet_market::Pallet<Runtime>;

/// A broken invariant: what and where.
pub type Violation = String;

/// After every call: the market's own invariants (holds equal open deposits, bonds and
/// reservations; exactly one index entry per open offer and match at its current deadline),
/// total issuance unchanged, and the welfare pool never shrinking.
pub fn after_call(issuance: Balance, pool: &mut Balance) -> Result<(), Violation> {
	Market::do_try_state().map_err(|e| format!("market invariant: {e:?}"))?;
	let now = Balances::total_issuance();
	if now != issuance {
		return Err(format!("total issuance changed from {issuance} to {now}"));
	}
	let balance = pool_balance();
	if balance < *pool {
		return Err(format!("the welfare pool shrank from {pool} to {balance}"));
	}
	*pool = balance;
	Ok(())
}

/// The welfare pool's balance: what `after_call` checks never shrinks.
pub fn pool_balance() -> Balance {
	Balances::free_balance(Market::account_id())
}

/// The last block any deadline of the index falls due at.
pub fn last_deadline() -> Option<modicum_runtime::BlockNumber> {
	Deadlines::<Runtime>::iter_keys().map(|(block, _)| block).max()
}

/// Once every deadline has passed and the sweep has caught up: no offer or match is open, the
/// index is empty, and nobody has a deposit held; only registered bonds stay held.
pub fn nothing_held(accounts: &[AccountId]) -> Result<(), Violation> {
	let open = (
		JobOffers::<Runtime>::iter().count(),
		ResourceOffers::<Runtime>::iter().count(),
		Matches::<Runtime>::iter().count(),
		Deadlines::<Runtime>::iter().count(),
	);
	if open != (0, 0, 0, 0) {
		return Err(format!("still open (job offers, resource offers, matches, index): {open:?}"));
	}
	for who in accounts {
		let held =
			|reason: HoldReason| Balances::balance_on_hold(&RuntimeHoldReason::from(reason), who);
		let bonds = Mediators::<Runtime>::get(who).map_or(0, |m| m.bond)
			+ Directories::<Runtime>::get(who).map_or(0, |d| d.bond);
		let holds = (
			held(HoldReason::JobDeposit),
			held(HoldReason::ResourceDeposit),
			held(HoldReason::Bond),
		);
		if holds != (0, 0, bonds) {
			return Err(format!(
				"{who} holds {holds:?} with every deadline passed (bonds {bonds})"
			));
		}
	}
	Ok(())
}
