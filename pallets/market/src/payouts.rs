//! Closing a match: the payments of each ending of docs/protocol.md's payout table.
//!
//! J and R are what remains of the job creator's and the provider's deposits after the match
//! incentive. Payments are made in the table's order and stop at what is held; what a faulty
//! party has left goes to the welfare pool, and what an innocent party has left is released.
//! The welfare tax is the pool's share of each job price paid to the provider.

use crate::{
	types::*, Config, Directories, Event, HoldReason, JobOffers, JoinGrantTerms, Matches,
	Mediators, OpenMatches, Pallet, ResourceOffers,
};
use sp_runtime::traits::{Saturating, Zero};

impl<T: Config> Pallet<T> {
	/// π_c (Eq. 1): usage capped at the limits, at the provider's asks. It cannot exceed π̂_c,
	/// which was computed without overflow when the match was made.
	pub(crate) fn job_price(m: &MatchOf<T>, usage: &Resources) -> BalanceOf<T> {
		let used = Resources {
			cpu: usage.cpu.min(m.limits.cpu),
			bandwidth: usage.bandwidth.min(m.limits.bandwidth),
			..*usage
		};
		Self::price(&used, m.cpu_price, m.bandwidth_price).unwrap_or(m.estimated_price)
	}

	/// π_m = π̂_c · n.
	fn mediation_price(m: &MatchOf<T>) -> BalanceOf<T> {
		m.estimated_price.saturating_mul(m.parameters.verification_count.into())
	}

	/// Make every payment of `ending`, record the reputations it earns, release what remains
	/// and the bond reservations, and remove the match, its offers and its index entry.
	pub(crate) fn close_match(match_id: MatchId, m: MatchOf<T>, ending: Ending) {
		let (jc, rp) = (&m.creator, &m.provider);
		let (mediator, directory) = (&m.mediator, &m.directory);
		let (f_m, f_d) = (m.mediator_fee, m.directory_fee);
		let mut j = m.job_deposit;
		let mut r = m.provider_deposit;
		let receipt = match m.state {
			MatchState::ResultPosted { receipt, .. } | MatchState::InMediation { receipt, .. } => {
				Some(receipt)
			}
			MatchState::Matched => None,
		};
		let job_price =
			receipt.map_or_else(Zero::zero, |receipt| Self::job_price(&m, &receipt.usage));
		let from_j = |to: &T::AccountId, amount, j: &mut BalanceOf<T>| {
			Self::pay_from_deposit(jc, HoldReason::JobDeposit, to, amount, j)
		};
		let from_r = |to: &T::AccountId, amount, r: &mut BalanceOf<T>| {
			Self::pay_from_deposit(rp, HoldReason::ResourceDeposit, to, amount, r)
		};
		let pool = Self::account_id();
		let mut penalty = BalanceOf::<T>::zero();
		// The tax in force at settlement, at most `MAX_WELFARE_TAX` of the job price.
		let tax_rate = JoinGrantTerms::<T>::get().map(|terms| terms.welfare_tax).unwrap_or_default();
		let mut welfare_tax = BalanceOf::<T>::zero();
		let mut pay_job_price = |j: &mut BalanceOf<T>| {
			welfare_tax = from_j(&pool, tax_rate * job_price, j);
			from_j(rp, job_price.saturating_sub(welfare_tax), j);
		};

		match ending {
			Ending::Accepted => {
				pay_job_price(&mut j);
				from_j(mediator, f_m, &mut j);
				from_j(directory, f_d, &mut j);
				from_r(mediator, f_m, &mut r);
				from_r(directory, f_d, &mut r);
			}
			Ending::Mediated(Party::JobCreator) => {
				from_j(mediator, Self::mediation_price(&m), &mut j);
				from_j(mediator, f_m, &mut j);
				from_j(directory, f_d, &mut j);
				pay_job_price(&mut j);
				penalty = from_j(&pool, j, &mut j);
				from_r(mediator, f_m, &mut r);
				from_r(directory, f_d, &mut r);
			}
			Ending::Mediated(Party::ResourceProvider) => {
				from_j(mediator, f_m, &mut j);
				from_j(directory, f_d, &mut j);
				from_r(mediator, Self::mediation_price(&m), &mut r);
				from_r(mediator, f_m, &mut r);
				from_r(directory, f_d, &mut r);
				from_r(jc, job_price, &mut r);
				penalty = from_r(&pool, r, &mut r);
			}
			Ending::Mediated(Party::Directory) => {
				from_j(mediator, f_m, &mut j);
				from_r(mediator, f_m, &mut r);
				Self::pay_from_bond(
					directory,
					Role::Directory,
					mediator,
					Self::mediation_price(&m),
				);
			}
			Ending::NoResult => {
				from_j(mediator, f_m, &mut j);
				from_j(directory, f_d, &mut j);
				from_r(jc, m.estimated_price, &mut r);
				from_r(mediator, f_m, &mut r);
				from_r(directory, f_d, &mut r);
			}
			Ending::NoMediationResult => {
				// The mediator's failure is paid from its own bond, never by the parties.
				let half = m.estimated_price / 2u32.into();
				from_j(directory, f_d, &mut j);
				from_r(directory, f_d, &mut r);
				Self::pay_from_bond(mediator, Role::Mediator, rp, half);
				Self::pay_from_bond(mediator, Role::Mediator, jc, half);
			}
		}
		Self::release_reservations(&m);
		let receipt_status = receipt.map(|receipt| receipt.status);
		penalty.saturating_accrue(Self::record_reputations(&m, ending, receipt_status, &mut r));

		// What is left is the parties' own; a release can only fail if the hold is short,
		// in which case what is there stays held and `try_state` reports it.
		let creator_refund = Self::release_deposit(jc, HoldReason::JobDeposit, j)
			.map_or_else(|_| Zero::zero(), |_| j);
		let provider_refund = Self::release_deposit(rp, HoldReason::ResourceDeposit, r)
			.map_or_else(|_| Zero::zero(), |_| r);

		for (who, role) in [
			(jc, Role::JobCreator),
			(rp, Role::ResourceProvider),
			(mediator, Role::Mediator),
			(directory, Role::Directory),
		] {
			OpenMatches::<T>::mutate_exists(who, role, |open| {
				*open = open.and_then(|n| n.checked_sub(1)).filter(|n| *n > 0);
			});
		}
		if let Ok(due) = Self::match_due(&m) {
			Self::unschedule(due, Deadline::Match(match_id));
		}
		JobOffers::<T>::remove(m.job_offer);
		ResourceOffers::<T>::remove(m.resource_offer);
		Matches::<T>::remove(match_id);
		if ending == Ending::Accepted {
			Self::deposit_event(Event::ResultAccepted { match_id, job_price });
		}
		Self::deposit_event(Event::MatchClosed {
			match_id,
			ending,
			creator_refund,
			provider_refund,
			penalty,
			welfare_tax,
		});
	}

	/// Pay up to `amount` out of the bond of `who`'s mediator or directory registration, as
	/// far as the bond goes. Returns what left the bond.
	pub(crate) fn pay_from_bond(
		who: &T::AccountId,
		role: Role,
		to: &T::AccountId,
		amount: BalanceOf<T>,
	) -> BalanceOf<T> {
		let pay = |bond: &mut BalanceOf<T>| {
			let before = *bond;
			Self::pay_from_deposit(who, HoldReason::Bond, to, amount, bond);
			before.saturating_sub(*bond)
		};
		match role {
			Role::Mediator => Mediators::<T>::mutate_extant(who, |info| pay(&mut info.bond)),
			Role::Directory => Directories::<T>::mutate_extant(who, |info| pay(&mut info.bond)),
			Role::JobCreator | Role::ResourceProvider => Zero::zero(),
		}
	}
}
