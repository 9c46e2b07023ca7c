//! The chain parameters: every field validated with its own error, at genesis and by
//! `set_parameters`, so root cannot set a market in which a protocol step can never land.

use crate::{types::*, Config, Error, Event, Pallet, Parameters};
use frame_support::{ensure, pallet_prelude::DispatchResult, traits::Get};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{Bounded, CheckedAdd, CheckedMul, One, Zero},
	PerThing, Perbill,
};

impl<T: Config> Pallet<T> {
	pub(crate) fn do_set_parameters(parameters: MarketParametersOf<T>) -> DispatchResult {
		Self::ensure_valid_parameters(&parameters)?;
		Parameters::<T>::put(parameters.clone());
		Self::deposit_event(Event::ParametersSet { parameters });
		Ok(())
	}

	/// Each rule of docs/protocol.md's Chain parameters, in its order, with its own error.
	pub fn ensure_valid_parameters(p: &MarketParametersOf<T>) -> Result<(), Error<T>> {
		let two: BlockNumberFor<T> = 2u32.into();
		let at_most_all = |share: Perbill| share.deconstruct() <= Perbill::ACCURACY;
		ensure!(p.verification_count >= 1, Error::<T>::ZeroVerificationCount);
		ensure!(p.penalty_rate >= 1, Error::<T>::ZeroPenaltyRate);
		ensure!(p.reaction_window >= two, Error::<T>::ReactionWindowTooShort);
		ensure!(
			p.heartbeat_period.checked_add(&two).is_some_and(|least| p.mediation_window >= least),
			Error::<T>::MediationWindowTooShort
		);
		ensure!(at_most_all(p.too_much_cost_tolerance), Error::<T>::TooMuchCostToleranceAbove100);
		ensure!(at_most_all(p.reputation_decay), Error::<T>::ReputationDecayAbove100);
		ensure!(at_most_all(p.reputation_fee), Error::<T>::ReputationFeeAbove100);
		ensure!(p.reference_speed >= 1, Error::<T>::ZeroReferenceSpeed);
		ensure!(p.reference_bandwidth >= 1, Error::<T>::ZeroReferenceBandwidth);
		ensure!(!p.min_bond.is_zero(), Error::<T>::ZeroMinBond);
		ensure!(!p.max_job_duration.is_zero(), Error::<T>::ZeroMaxJobDuration);
		ensure!(!p.max_offer_window.is_zero(), Error::<T>::ZeroMaxOfferWindow);
		ensure!(!p.fetch_grace.is_zero(), Error::<T>::ZeroFetchGrace);
		ensure!(p.fetch_grace <= p.max_job_duration, Error::<T>::FetchGraceTooLong);
		ensure!(
			p.min_resource_deposit >= T::OfferStorageDeposit::get(),
			Error::<T>::MinResourceDepositBelowStorageDeposit
		);
		ensure!(Self::longest_horizon(p).is_some(), Error::<T>::HorizonOverflow);
		Ok(())
	}

	/// How far ahead of its call the furthest deadline can lie: an offer's expiry, or a match's
	/// mediation deadline ((3n + 2)·MaxJobDuration + both windows). `None` unless it fits in half
	/// a block number, which leaves the other half for the chain's age.
	pub fn longest_horizon(p: &MarketParametersOf<T>) -> Option<BlockNumberFor<T>> {
		// A dispute may wait one longest job in its mediator's queue, then has n runs of at most
		// R + F ≤ 3·max_job_duration each (R and the transfer part of F are at most one longest
		// job, fetch_grace too).
		let runs: BlockNumberFor<T> = p.verification_count.checked_mul(3)?.checked_add(2)?.into();
		let mediation = p
			.max_job_duration
			.checked_mul(&runs)?
			.checked_add(&p.reaction_window)?
			.checked_add(&p.mediation_window)?;
		let longest = mediation.max(p.max_offer_window).checked_add(&One::one())?;
		(longest <= BlockNumberFor::<T>::max_value() / 2u32.into()).then_some(longest)
	}
}
