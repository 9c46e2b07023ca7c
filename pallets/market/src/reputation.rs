//! Reputation (docs/protocol.md, Reputation): per resource provider and per mediator, the counted
//! matches by ending and a decayed beta reputation. A match counts only when its four parties
//! are distinct accounts and π̂_c ≥ `MinReputationPrice`; each counted success pays
//! `ReputationFee`·π̂_c to the welfare pool, so a score bought with self-made matches has a
//! price.

use crate::{types::*, Config, HoldReason, Mediators, Pallet, Reputations};
use sp_runtime::traits::{Saturating, Zero};

impl<T: Config> Pallet<T> {
	/// Record what `ending` of `m` does to its provider's and mediator's reputations and take the
	/// fee of each counted success: the provider's from `provider_deposit` (what remains of its
	/// deposit), the mediator's from the part of its bond no open match reserves. Returns what
	/// went to the welfare pool.
	pub(crate) fn record_reputations(
		m: &MatchOf<T>,
		ending: Ending,
		status: Option<ResultStatus>,
		provider_deposit: &mut BalanceOf<T>,
	) -> BalanceOf<T> {
		let parameters = &m.parameters;
		let parties = [&m.creator, &m.provider, &m.mediator, &m.directory];
		let distinct = parties.iter().enumerate().all(|(i, a)| !parties[..i].contains(a));
		if !distinct || m.estimated_price < parameters.min_reputation_price {
			return Zero::zero();
		}
		let fee = parameters.reputation_fee.mul_floor(m.estimated_price);
		let pool = Self::account_id();
		let mut paid = BalanceOf::<T>::zero();

		let provider = match ending {
			Ending::Accepted if status == Some(ResultStatus::Completed) => Outcome::Success,
			Ending::Mediated(Party::JobCreator) => Outcome::Success,
			Ending::Mediated(Party::ResourceProvider) | Ending::NoResult => Outcome::Failure,
			Ending::Accepted | Ending::Mediated(Party::Directory) | Ending::NoMediationResult => {
				Outcome::Neither
			}
		};
		if provider == Outcome::Success {
			paid.saturating_accrue(Self::pay_from_deposit(
				&m.provider,
				HoldReason::ResourceDeposit,
				&pool,
				fee,
				provider_deposit,
			));
		}
		Self::record(&m.provider, Role::ResourceProvider, ending, provider, parameters);

		let mediator = match ending {
			Ending::Mediated(_) => Outcome::Success,
			Ending::NoMediationResult => Outcome::Failure,
			// The mediator had nothing to do.
			Ending::Accepted | Ending::NoResult => return paid,
		};
		if mediator == Outcome::Success {
			let free = Mediators::<T>::get(&m.mediator)
				.map(|info| info.bond.saturating_sub(info.reserved))
				.unwrap_or_default();
			paid.saturating_accrue(Self::pay_from_bond(
				&m.mediator,
				Role::Mediator,
				&pool,
				fee.min(free),
			));
		}
		Self::record(&m.mediator, Role::Mediator, ending, mediator, parameters);
		paid
	}

	fn record(
		who: &T::AccountId,
		role: Role,
		ending: Ending,
		outcome: Outcome,
		parameters: &MarketParametersOf<T>,
	) {
		Reputations::<T>::mutate(who, role, |reputation| {
			reputation.record(ending, outcome, parameters.reputation_decay)
		});
	}

	/// The reputation of `who` in `role` (a provider or a mediator): a new account has score
	/// 50 % and no counted matches.
	pub fn reputation(who: &T::AccountId, role: Role) -> Reputation {
		Reputations::<T>::get(who, role)
	}
}
