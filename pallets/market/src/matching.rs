//! `post_match`: the on-chain verifier of matches found by off-chain solvers. Each feasibility
//! rule is one `check_*` function with its own error, so the runtime API's dry-run reports
//! exactly which rule a candidate match breaks.

use crate::{
	types::*, Config, Directories, Error, Event, HoldReason, JobCreators, JobOffers, Matches,
	Mediators, NextMatchId, OpenMatches, Pallet, ResourceOffers, ResourceProviders,
};
use frame_support::{ensure, pallet_prelude::DispatchResult};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{CheckedAdd, CheckedMul, One};

/// Everything a feasible match is made of.
pub(crate) struct Feasible<T: Config> {
	job: JobOfferOf<T>,
	resource: ResourceOfferOf<T>,
	mediator_fee: BalanceOf<T>,
	directory_fee: BalanceOf<T>,
	estimated_price: BalanceOf<T>,
	minimum_deposit: BalanceOf<T>,
	run_blocks: BlockNumberFor<T>,
	parameters: MarketParametersOf<T>,
}

impl<T: Config> Pallet<T> {
	pub(crate) fn do_post_match(
		solver: T::AccountId,
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: T::AccountId,
	) -> DispatchResult {
		let Feasible {
			mut job,
			mut resource,
			mediator_fee,
			directory_fee,
			estimated_price,
			run_blocks,
			parameters,
			..
		} = Self::check_match(job_offer, resource_offer, &mediator)?;
		let match_id = NextMatchId::<T>::get();
		let next_match_id = match_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
		let result_timeout =
			job.completion_deadline.checked_add(&One::one()).ok_or(Error::<T>::Overflow)?;

		// What stays held of each deposit once the solver is paid.
		let mut job_deposit = job.deposit;
		Self::pay_from_deposit(
			&job.creator,
			HoldReason::JobDeposit,
			&solver,
			parameters.match_incentive,
			&mut job_deposit,
		);
		let mut provider_deposit = resource.deposit;
		Self::pay_from_deposit(
			&resource.provider,
			HoldReason::ResourceDeposit,
			&solver,
			parameters.match_incentive,
			&mut provider_deposit,
		);
		Self::schedule(result_timeout, Deadline::Match(match_id))?;
		for (who, role) in [
			(&job.creator, Role::JobCreator),
			(&resource.provider, Role::ResourceProvider),
			(&mediator, Role::Mediator),
			(&job.directory, Role::Directory),
		] {
			OpenMatches::<T>::mutate(who, role, |open| *open = open.saturating_add(1));
		}
		job.state = OfferState::Matched(match_id);
		resource.state = OfferState::Matched(match_id);
		Self::deposit_event(Event::Matched {
			match_id,
			job_offer,
			resource_offer,
			creator: job.creator.clone(),
			provider: resource.provider.clone(),
			mediator: mediator.clone(),
			directory: job.directory.clone(),
			solver,
			image: job.image.clone(),
			completion_deadline: job.completion_deadline,
		});
		Matches::<T>::insert(
			match_id,
			MatchOf::<T> {
				job_offer,
				resource_offer,
				creator: job.creator.clone(),
				provider: resource.provider.clone(),
				mediator,
				directory: job.directory.clone(),
				limits: job.limits,
				image: job.image.clone(),
				base_layer: job.base_layer,
				cpu_price: resource.cpu_price,
				bandwidth_price: resource.bandwidth_price,
				estimated_price,
				mediator_fee,
				directory_fee,
				job_deposit,
				provider_deposit,
				run_blocks,
				completion_deadline: job.completion_deadline,
				parameters,
				state: MatchState::Matched,
			},
		);
		NextMatchId::<T>::put(next_match_id);
		JobOffers::<T>::insert(job_offer, job);
		ResourceOffers::<T>::insert(resource_offer, resource);
		Ok(())
	}

	/// Every feasibility rule of a match, in the order PROTOCOL.md lists them; the first that
	/// fails names the error. Writes nothing.
	pub(crate) fn check_match(
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: &T::AccountId,
	) -> Result<Feasible<T>, Error<T>> {
		let now = frame_system::Pallet::<T>::block_number();
		let parameters = Self::parameters()?;
		let job = JobOffers::<T>::get(job_offer).ok_or(Error::<T>::UnknownOffer)?;
		let resource = ResourceOffers::<T>::get(resource_offer).ok_or(Error::<T>::UnknownOffer)?;
		let provider =
			ResourceProviders::<T>::get(&resource.provider).ok_or(Error::<T>::NotRegistered)?;
		let creator = JobCreators::<T>::get(&job.creator).ok_or(Error::<T>::NotRegistered)?;
		let mediator_info = Mediators::<T>::get(mediator).ok_or(Error::<T>::UnknownMediator)?;
		let directory_info =
			Directories::<T>::get(&job.directory).ok_or(Error::<T>::UnknownDirectory)?;

		// 1. Both offers open and unexpired; the window and the provider's speed fit the deadline.
		Self::check_open(&job, &resource)?;
		Self::check_window(&job, &resource, now)?;
		let run_blocks = Self::run_blocks(job.limits.cpu, provider.speed)?;
		Self::check_deadline(&job, now, run_blocks)?;
		// 2. Capacities, architectures and base layers.
		Self::check_capacity(&job.limits, &resource.capacity)?;
		Self::check_architecture(&job, &resource, &mediator_info)?;
		Self::check_base_layer(&job, &provider, &mediator_info)?;
		// 3. Trust.
		Self::check_mediator(&job, &resource, mediator, &creator, &provider)?;
		Self::check_directory(&job, &provider, &mediator_info)?;
		// 4. Prices and deposits.
		Self::check_prices(&job, &resource)?;
		let estimated_price = Self::estimated_price(&job)?;
		let minimum_deposit = Self::minimum_deposit(
			estimated_price,
			&parameters,
			mediator_info.fee,
			directory_info.fee,
		)?;
		ensure!(job.deposit >= minimum_deposit, Error::<T>::JobDepositBelowMinimum);
		ensure!(resource.deposit >= minimum_deposit, Error::<T>::ProviderDepositBelowMinimum);

		Ok(Feasible {
			job,
			resource,
			mediator_fee: mediator_info.fee,
			directory_fee: directory_info.fee,
			estimated_price,
			minimum_deposit,
			run_blocks,
			parameters,
		})
	}

	fn check_open(job: &JobOfferOf<T>, resource: &ResourceOfferOf<T>) -> Result<(), Error<T>> {
		ensure!(job.state == OfferState::Open, Error::<T>::AlreadyMatched);
		ensure!(resource.state == OfferState::Open, Error::<T>::AlreadyMatched);
		Ok(())
	}

	fn check_window(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		now: BlockNumberFor<T>,
	) -> Result<(), Error<T>> {
		ensure!(now >= resource.valid_from, Error::<T>::ResourceOfferNotYetValid);
		ensure!(
			now <= resource.valid_to && now <= job.completion_deadline,
			Error::<T>::OfferExpired
		);
		ensure!(resource.valid_to >= job.completion_deadline, Error::<T>::WindowTooShort);
		Ok(())
	}

	fn check_deadline(
		job: &JobOfferOf<T>,
		now: BlockNumberFor<T>,
		run_blocks: BlockNumberFor<T>,
	) -> Result<(), Error<T>> {
		let done = now.checked_add(&run_blocks).ok_or(Error::<T>::DeadlineTooSoon)?;
		ensure!(done <= job.completion_deadline, Error::<T>::DeadlineTooSoon);
		Ok(())
	}

	fn check_capacity(limits: &Resources, capacity: &Resources) -> Result<(), Error<T>> {
		ensure!(capacity.cpu >= limits.cpu, Error::<T>::InsufficientCpu);
		ensure!(capacity.memory >= limits.memory, Error::<T>::InsufficientMemory);
		ensure!(capacity.storage >= limits.storage, Error::<T>::InsufficientStorage);
		ensure!(capacity.bandwidth >= limits.bandwidth, Error::<T>::InsufficientBandwidth);
		Ok(())
	}

	fn check_architecture(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(job.architecture == resource.architecture, Error::<T>::ArchitectureMismatch);
		ensure!(
			job.architecture == mediator.architecture,
			Error::<T>::MediatorArchitectureMismatch
		);
		Ok(())
	}

	fn check_base_layer(
		job: &JobOfferOf<T>,
		provider: &ResourceProviderInfo<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(provider.base_layers.contains(&job.base_layer), Error::<T>::BaseLayerUnsupported);
		ensure!(
			mediator.base_layers.contains(&job.base_layer),
			Error::<T>::MediatorBaseLayerUnsupported
		);
		Ok(())
	}

	fn check_mediator(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		mediator: &T::AccountId,
		creator: &JobCreatorInfo<T>,
		provider: &ResourceProviderInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(
			*mediator != job.creator && *mediator != resource.provider,
			Error::<T>::MediatorIsParty
		);
		ensure!(
			creator.trusted_mediators.contains(mediator),
			Error::<T>::MediatorNotTrustedByJobCreator
		);
		ensure!(
			provider.trusted_mediators.contains(mediator),
			Error::<T>::MediatorNotTrustedByProvider
		);
		Ok(())
	}

	fn check_directory(
		job: &JobOfferOf<T>,
		provider: &ResourceProviderInfo<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(
			provider.trusted_directories.contains(&job.directory),
			Error::<T>::DirectoryNotTrustedByProvider
		);
		ensure!(
			mediator.trusted_directories.contains(&job.directory),
			Error::<T>::DirectoryNotTrustedByMediator
		);
		Ok(())
	}

	fn check_prices(job: &JobOfferOf<T>, resource: &ResourceOfferOf<T>) -> Result<(), Error<T>> {
		ensure!(resource.cpu_price <= job.cpu_bid, Error::<T>::CpuPriceAboveBid);
		ensure!(resource.bandwidth_price <= job.bandwidth_bid, Error::<T>::BandwidthPriceAboveBid);
		Ok(())
	}

	/// The runtime API's dry-run: `Ok(d_min)` if the match is feasible now.
	pub fn feasibility(
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: &T::AccountId,
	) -> Result<BalanceOf<T>, Error<T>> {
		Self::check_match(job_offer, resource_offer, mediator).map(|f| f.minimum_deposit)
	}

	/// The runtime API's d_min for a job not yet offered.
	pub fn minimum_deposit_for(
		limits: Resources,
		cpu_bid: BalanceOf<T>,
		bandwidth_bid: BalanceOf<T>,
		mediator: &T::AccountId,
		directory: &T::AccountId,
	) -> Result<BalanceOf<T>, Error<T>> {
		let mediator = Mediators::<T>::get(mediator).ok_or(Error::<T>::UnknownMediator)?;
		let directory = Directories::<T>::get(directory).ok_or(Error::<T>::UnknownDirectory)?;
		let estimated_price = Self::price(&limits, cpu_bid, bandwidth_bid)?;
		Self::minimum_deposit(estimated_price, &Self::parameters()?, mediator.fee, directory.fee)
	}

	/// Eq. 2: d_min = π̂_c·θ + π̂_c·n + π_a, with π_a = incentive + f_M + f_D.
	pub fn minimum_deposit(
		estimated_price: BalanceOf<T>,
		parameters: &MarketParametersOf<T>,
		mediator_fee: BalanceOf<T>,
		directory_fee: BalanceOf<T>,
	) -> Result<BalanceOf<T>, Error<T>> {
		let penalty = estimated_price.checked_mul(&parameters.penalty_rate.into());
		let mediation = estimated_price.checked_mul(&parameters.verification_count.into());
		let availability = parameters
			.match_incentive
			.checked_add(&mediator_fee)
			.and_then(|a| a.checked_add(&directory_fee));
		penalty
			.zip(mediation)
			.zip(availability)
			.and_then(|((p, m), a)| p.checked_add(&m)?.checked_add(&a))
			.ok_or(Error::<T>::Overflow)
	}

	/// ⌈cpu / speed⌉: blocks one run takes at the provider's declared speed.
	pub fn run_blocks(cpu: u64, speed: u64) -> Result<BlockNumberFor<T>, Error<T>> {
		let blocks = cpu.div_ceil(speed.max(1));
		BlockNumberFor::<T>::try_from(blocks).map_err(|_| Error::<T>::DeadlineTooSoon)
	}
}
