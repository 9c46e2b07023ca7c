//! Job offers and resource offers: posting, cancelling and expiring.

use crate::{
	types::*, Config, Directories, Error, Event, HoldReason, JobCreators, JobOffers, Matches,
	Mediators, NextOfferId, Pallet, Reputations, ResourceOffers, ResourceProviders,
};
use frame_support::{ensure, pallet_prelude::DispatchResult, traits::Get};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{CheckedAdd, CheckedMul, Saturating};

impl<T: Config> Pallet<T> {
	pub(crate) fn do_post_resource_offer(offer: ResourceOfferOf<T>) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let parameters = Self::parameters()?;
		let provider =
			ResourceProviders::<T>::get(&offer.provider).ok_or(Error::<T>::NotRegistered)?;
		ensure!(offer.architecture == provider.architecture, Error::<T>::ArchitectureNotRegistered);
		ensure!(
			offer.valid_from <= offer.valid_to && offer.valid_to >= now,
			Error::<T>::InvalidWindow
		);
		// Neither the window itself nor its end may lie further than the longest offer window.
		ensure!(
			offer.valid_to.saturating_sub(offer.valid_from.min(now)) <= parameters.max_offer_window,
			Error::<T>::OfferWindowTooLong
		);
		// The minimum covers the offer's storage deposit (`ensure_valid_parameters`).
		ensure!(offer.deposit >= parameters.min_resource_deposit, Error::<T>::DepositTooLow);
		let due = Self::resource_offer_due(&offer)?;
		let (id, next_id) = Self::offer_ids()?;

		Self::take_deposit(&offer.provider, HoldReason::ResourceDeposit, offer.deposit)?;
		Self::schedule(due, Deadline::ResourceOffer(id));
		Self::deposit_event(Event::ResourceOfferPosted {
			offer: id,
			provider: offer.provider.clone(),
			deposit: offer.deposit,
			valid_to: offer.valid_to,
		});
		ResourceOffers::<T>::insert(id, offer);
		NextOfferId::<T>::put(next_id);
		Ok(())
	}

	pub(crate) fn do_post_job_offer(mut offer: JobOfferOf<T>) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let parameters = Self::parameters()?;
		ensure!(JobCreators::<T>::contains_key(&offer.creator), Error::<T>::NotRegistered);
		ensure!(offer.completion_deadline > now, Error::<T>::DeadlineInPast);
		ensure!(
			offer.completion_deadline.saturating_sub(now) <= parameters.max_job_duration,
			Error::<T>::DeadlineTooFar
		);
		ensure!(offer.limits.cpu > 0, Error::<T>::ZeroCpuLimit);
		ensure!(Directories::<T>::contains_key(&offer.directory), Error::<T>::UnknownDirectory);
		// R comes from the job's own limits, never from a provider's claim or a solver's choice.
		offer.run_length = parameters.run_length(&offer.limits).ok_or(Error::<T>::JobTooLong)?;
		ensure!(offer.run_length <= parameters.max_job_duration, Error::<T>::JobTooLong);
		ensure!(
			offer.deposit >= Self::minimum_job_deposit(&offer, &parameters)?,
			Error::<T>::DepositTooLow
		);
		let due = Self::job_offer_due(&offer)?;
		let (id, next_id) = Self::offer_ids()?;

		Self::take_deposit(&offer.creator, HoldReason::JobDeposit, offer.deposit)?;
		Self::schedule(due, Deadline::JobOffer(id));
		Self::deposit_event(Event::JobOfferPosted {
			offer: id,
			creator: offer.creator.clone(),
			deposit: offer.deposit,
			completion_deadline: offer.completion_deadline,
		});
		JobOffers::<T>::insert(id, offer);
		NextOfferId::<T>::put(next_id);
		Ok(())
	}

	/// The least deposit of a job offer: π̂_c·(θ + n) + incentive + both maximum fees + the
	/// offer's storage deposit. It covers d_min of any match the offer accepts.
	pub fn minimum_job_deposit(
		offer: &JobOfferOf<T>,
		parameters: &MarketParametersOf<T>,
	) -> Result<BalanceOf<T>, Error<T>> {
		let estimate = Self::estimated_price(offer)?;
		let rate = parameters
			.penalty_rate
			.checked_add(parameters.verification_count)
			.ok_or(Error::<T>::Overflow)?;
		estimate
			.checked_mul(&rate.into())
			.and_then(|d| d.checked_add(&parameters.match_incentive))
			.and_then(|d| d.checked_add(&offer.max_fees.mediator))
			.and_then(|d| d.checked_add(&offer.max_fees.directory))
			.and_then(|d| d.checked_add(&T::OfferStorageDeposit::get()))
			.ok_or(Error::<T>::Overflow)
	}

	pub(crate) fn do_cancel_job_offer(who: T::AccountId, id: OfferId) -> DispatchResult {
		let offer = JobOffers::<T>::get(id).ok_or(Error::<T>::UnknownOffer)?;
		ensure!(offer.creator == who, Error::<T>::NotOwner);
		ensure!(offer.state == OfferState::Open, Error::<T>::AlreadyMatched);
		let due = Self::job_offer_due(&offer)?;

		Self::release_deposit(&who, HoldReason::JobDeposit, offer.deposit)?;
		Self::unschedule(due, Deadline::JobOffer(id));
		JobOffers::<T>::remove(id);
		Self::deposit_event(Event::OfferCancelled { offer: id, owner: who });
		Ok(())
	}

	pub(crate) fn do_cancel_resource_offer(who: T::AccountId, id: OfferId) -> DispatchResult {
		let offer = ResourceOffers::<T>::get(id).ok_or(Error::<T>::UnknownOffer)?;
		ensure!(offer.provider == who, Error::<T>::NotOwner);
		ensure!(offer.state == OfferState::Open, Error::<T>::AlreadyMatched);
		let due = Self::resource_offer_due(&offer)?;

		Self::release_deposit(&who, HoldReason::ResourceDeposit, offer.deposit)?;
		Self::unschedule(due, Deadline::ResourceOffer(id));
		ResourceOffers::<T>::remove(id);
		Self::deposit_event(Event::OfferCancelled { offer: id, owner: who });
		Ok(())
	}

	/// Release an unmatched job offer whose completion deadline has passed, with its index
	/// entry. Returns whether it did.
	pub(crate) fn expire_job_offer(id: OfferId, now: BlockNumberFor<T>) -> bool {
		let Some(offer) = JobOffers::<T>::get(id) else { return false };
		let Ok(due) = Self::job_offer_due(&offer) else { return false };
		if offer.state != OfferState::Open || now < due {
			return false;
		}
		if Self::release_deposit(&offer.creator, HoldReason::JobDeposit, offer.deposit).is_err() {
			return false;
		}
		Self::unschedule(due, Deadline::JobOffer(id));
		JobOffers::<T>::remove(id);
		Self::deposit_event(Event::OfferExpired { offer: id, owner: offer.creator });
		true
	}

	/// Release an unmatched resource offer whose window has ended; as [`Self::expire_job_offer`].
	pub(crate) fn expire_resource_offer(id: OfferId, now: BlockNumberFor<T>) -> bool {
		let Some(offer) = ResourceOffers::<T>::get(id) else { return false };
		let Ok(due) = Self::resource_offer_due(&offer) else { return false };
		if offer.state != OfferState::Open || now < due {
			return false;
		}
		if Self::release_deposit(&offer.provider, HoldReason::ResourceDeposit, offer.deposit)
			.is_err()
		{
			return false;
		}
		Self::unschedule(due, Deadline::ResourceOffer(id));
		ResourceOffers::<T>::remove(id);
		Self::deposit_event(Event::OfferExpired { offer: id, owner: offer.provider });
		true
	}

	/// Every job offer waiting for a match.
	pub fn open_job_offers() -> alloc::vec::Vec<(OfferId, JobOfferOf<T>)> {
		JobOffers::<T>::iter().filter(|(_, offer)| offer.state == OfferState::Open).collect()
	}

	/// Every resource offer waiting for a match.
	pub fn open_resource_offers() -> alloc::vec::Vec<(OfferId, ResourceOfferOf<T>)> {
		ResourceOffers::<T>::iter().filter(|(_, offer)| offer.state == OfferState::Open).collect()
	}

	/// Every open match.
	pub fn open_matches() -> alloc::vec::Vec<(MatchId, MatchOf<T>)> {
		Matches::<T>::iter().collect()
	}

	/// Every registered actor, by role.
	pub fn actors() -> ActorsOf<T> {
		ActorsOf {
			job_creators: JobCreators::<T>::iter().collect(),
			resource_providers: ResourceProviders::<T>::iter().collect(),
			mediators: Mediators::<T>::iter().collect(),
			directories: Directories::<T>::iter().collect(),
			provider_reputations: Reputations::<T>::iter()
				.filter(|(_, role, _)| *role == Role::ResourceProvider)
				.map(|(who, _, reputation)| (who, reputation))
				.collect(),
		}
	}

	/// π̂_c = cpu_limit · cpu_bid + bandwidth_limit · bandwidth_bid.
	pub fn estimated_price(offer: &JobOfferOf<T>) -> Result<BalanceOf<T>, Error<T>> {
		Self::price(&offer.limits, offer.cpu_bid, offer.bandwidth_bid)
	}

	/// `usage.cpu · cpu_price + usage.bandwidth · bandwidth_price`, checked.
	pub(crate) fn price(
		usage: &Resources,
		cpu_price: BalanceOf<T>,
		bandwidth_price: BalanceOf<T>,
	) -> Result<BalanceOf<T>, Error<T>> {
		let amount = |units: u64, price: BalanceOf<T>| {
			BalanceOf::<T>::try_from(units).ok().and_then(|units| units.checked_mul(&price))
		};
		amount(usage.cpu, cpu_price)
			.zip(amount(usage.bandwidth, bandwidth_price))
			.and_then(|(cpu, bandwidth)| cpu.checked_add(&bandwidth))
			.ok_or(Error::<T>::Overflow)
	}

	/// The id the next offer gets and the one after it, written only once the offer is.
	fn offer_ids() -> Result<(OfferId, OfferId), Error<T>> {
		let id = NextOfferId::<T>::get();
		Ok((id, id.checked_add(1).ok_or(Error::<T>::Overflow)?))
	}
}
