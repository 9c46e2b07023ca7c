//! What must hold after every fuzzed call, and once every deadline has passed.

use frame_support::traits::fungible::InspectHold;
use modicum_runtime::{AccountId, Balance, Runtime, RuntimeHoldReason};
use pallet_market::{
	Deadlines, Directories, Grants, HoldReason, JobOffers, Matches, Mediators, ResourceOffers,
};

type Balances = pallet_balances::Pallet<Runtime>;
type Market = pallet_market::Pallet<Runtime>;

/// A broken invariant: what and where.
pub type Violation = String;

/// After every call: the market's own invariants (holds equal open deposits, bonds, grants and
/// reservations; exactly one index entry per open offer, match and grant at its current
/// deadline; a grant funds all of its account's deposits and bonds or none), total issuance
/// unchanged, and the welfare pool never shrinking but by the grants it paid (`pool` is
/// lowered by each before the check).
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

/// What is held of `who`'s join grant.
pub fn grant_held(who: &AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::from(HoldReason::Grant), who)
}

/// A transfer left its sender's grant as it was.
pub fn grant_untouched(who: &AccountId, before: Balance) -> Result<(), Violation> {
	let after = grant_held(who);
	if after != before {
		return Err(format!("a transfer by {who} moved its grant from {before} to {after}"));
	}
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

/// Once every deadline has passed and the sweep has caught up: no offer, match or grant is
/// open, the index is empty, and nobody has a deposit or grant held; only registered bonds stay
/// held.
pub fn nothing_held(accounts: &[AccountId]) -> Result<(), Violation> {
	let open = (
		JobOffers::<Runtime>::iter().count(),
		ResourceOffers::<Runtime>::iter().count(),
		Matches::<Runtime>::iter().count(),
		Deadlines::<Runtime>::iter().count(),
		Grants::<Runtime>::iter().count(),
	);
	if open != (0, 0, 0, 0, 0) {
		return Err(format!(
			"still open (job offers, resource offers, matches, index, grants): {open:?}"
		));
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
			held(HoldReason::Grant),
		);
		if holds != (0, 0, bonds, 0) {
			return Err(format!(
				"{who} holds {holds:?} with every deadline passed (bonds {bonds})"
			));
		}
	}
	Ok(())
}
