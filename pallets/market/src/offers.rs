//! Job offers and resource offers: posting, cancelling and expiring.

use crate::{
	types::*, Config, Directories, Error, Event, HoldReason, JobCreators, JobOffers, Matches,
	Mediators, NextOfferId, Pallet, ResourceOffers, ResourceProviders,
};
use frame_support::{ensure, pallet_prelude::DispatchResult};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{CheckedAdd, CheckedMul, One};

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
		ensure!(offer.deposit >= parameters.min_resource_deposit, Error::<T>::DepositTooLow);
		let expiry = offer.valid_to.checked_add(&One::one()).ok_or(Error::<T>::Overflow)?;
		let id = Self::next_offer_id()?;

		Self::take_deposit(&offer.provider, HoldReason::ResourceDeposit, offer.deposit)?;
		Self::schedule(expiry, Deadline::ResourceOffer(id))?;
		Self::deposit_event(Event::ResourceOfferPosted {
			offer: id,
			provider: offer.provider.clone(),
			deposit: offer.deposit,
			valid_to: offer.valid_to,
		});
		ResourceOffers::<T>::insert(id, offer);
		Ok(())
	}

	pub(crate) fn do_post_job_offer(offer: JobOfferOf<T>) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let parameters = Self::parameters()?;
		ensure!(JobCreators::<T>::contains_key(&offer.creator), Error::<T>::NotRegistered);
		ensure!(offer.completion_deadline > now, Error::<T>::DeadlineInPast);
		ensure!(offer.limits.cpu > 0, Error::<T>::ZeroCpuLimit);
		ensure!(Directories::<T>::contains_key(&offer.directory), Error::<T>::UnknownDirectory);
		// Fees are unknown until a mediator is chosen; `post_match` checks the full d_min.
		let estimate = Self::estimated_price(&offer)?;
		let minimum = estimate
			.checked_mul(
				&parameters.penalty_rate.saturating_add(parameters.verification_count).into(),
			)
			.and_then(|d| d.checked_add(&parameters.match_incentive))
			.ok_or(Error::<T>::Overflow)?;
		ensure!(offer.deposit >= minimum, Error::<T>::DepositTooLow);
		let expiry =
			offer.completion_deadline.checked_add(&One::one()).ok_or(Error::<T>::Overflow)?;
		let id = Self::next_offer_id()?;

		Self::take_deposit(&offer.creator, HoldReason::JobDeposit, offer.deposit)?;
		Self::schedule(expiry, Deadline::JobOffer(id))?;
		Self::deposit_event(Event::JobOfferPosted {
			offer: id,
			creator: offer.creator.clone(),
			deposit: offer.deposit,
			completion_deadline: offer.completion_deadline,
		});
		JobOffers::<T>::insert(id, offer);
		Ok(())
	}

	pub(crate) fn do_cancel_job_offer(who: T::AccountId, id: OfferId) -> DispatchResult {
		let offer = JobOffers::<T>::get(id).ok_or(Error::<T>::UnknownOffer)?;
		ensure!(offer.creator == who, Error::<T>::NotOwner);
		ensure!(offer.state == OfferState::Open, Error::<T>::AlreadyMatched);

		Self::release_deposit(&who, HoldReason::JobDeposit, offer.deposit)?;
		JobOffers::<T>::remove(id);
		Self::deposit_event(Event::OfferCancelled { offer: id, owner: who });
		Ok(())
	}

	pub(crate) fn do_cancel_resource_offer(who: T::AccountId, id: OfferId) -> DispatchResult {
		let offer = ResourceOffers::<T>::get(id).ok_or(Error::<T>::UnknownOffer)?;
		ensure!(offer.provider == who, Error::<T>::NotOwner);
		ensure!(offer.state == OfferState::Open, Error::<T>::AlreadyMatched);

		Self::release_deposit(&who, HoldReason::ResourceDeposit, offer.deposit)?;
		ResourceOffers::<T>::remove(id);
		Self::deposit_event(Event::OfferCancelled { offer: id, owner: who });
		Ok(())
	}

	/// Release an unmatched job offer whose completion deadline has passed; a matched,
	/// cancelled or not yet due offer is left alone.
	pub(crate) fn expire_job_offer(id: OfferId, now: BlockNumberFor<T>) {
		let Some(offer) = JobOffers::<T>::get(id) else { return };
		if offer.state != OfferState::Open || now <= offer.completion_deadline {
			return;
		}
		if Self::release_deposit(&offer.creator, HoldReason::JobDeposit, offer.deposit).is_ok() {
			JobOffers::<T>::remove(id);
			Self::deposit_event(Event::OfferExpired { offer: id, owner: offer.creator });
		}
	}

	/// Release an unmatched resource offer whose window has ended; as [`Self::expire_job_offer`].
	pub(crate) fn expire_resource_offer(id: OfferId, now: BlockNumberFor<T>) {
		let Some(offer) = ResourceOffers::<T>::get(id) else { return };
		if offer.state != OfferState::Open || now <= offer.valid_to {
			return;
		}
		if Self::release_deposit(&offer.provider, HoldReason::ResourceDeposit, offer.deposit)
			.is_ok()
		{
			ResourceOffers::<T>::remove(id);
			Self::deposit_event(Event::OfferExpired { offer: id, owner: offer.provider });
		}
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

	fn next_offer_id() -> Result<OfferId, Error<T>> {
		NextOfferId::<T>::try_mutate(|next| {
			let id = *next;
			*next = id.checked_add(1).ok_or(Error::<T>::Overflow)?;
			Ok(id)
		})
	}
}
