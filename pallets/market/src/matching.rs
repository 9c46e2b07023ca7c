//! `post_match`: the on-chain verifier of matches found by off-chain solvers. Each feasibility
//! rule is one `check_*` function with its own error, so the runtime API's dry-run reports
//! exactly which rule a candidate match breaks.

use crate::{
	types::*, Config, Directories, Error, Event, HoldReason, JobCreators, JobOffers, Matches,
	Mediators, NextMatchId, OpenMatches, Pallet, Reputations, ResourceOffers, ResourceProviders,
};
use frame_support::{ensure, pallet_prelude::DispatchResult};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{CheckedAdd, CheckedMul, CheckedSub, Saturating};

/// Everything a feasible match is made of.
pub(crate) struct Feasible<T: Config> {
	job: JobOfferOf<T>,
	resource: ResourceOfferOf<T>,
	mediator_fee: BalanceOf<T>,
	directory_fee: BalanceOf<T>,
	estimated_price: BalanceOf<T>,
	minimum_deposit: BalanceOf<T>,
	parameters: MarketParametersOf<T>,
	mediator_info: MediatorInfo<T>,
	directory_info: DirectoryInfo<T>,
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
			parameters,
			mut mediator_info,
			mut directory_info,
			..
		} = Self::check_match(job_offer, resource_offer, &mediator)?;
		let match_id = NextMatchId::<T>::get();
		let next_match_id = match_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
		let job_due = Self::job_offer_due(&job)?;
		let resource_due = Self::resource_offer_due(&resource)?;
		let (mediator_share, directory_share) =
			Self::reservations(estimated_price, parameters.verification_count)?;
		// `check_bonds` made sure both fit under the bonds.
		mediator_info.reserved =
			mediator_info.reserved.checked_add(&mediator_share).ok_or(Error::<T>::Overflow)?;
		directory_info.reserved =
			directory_info.reserved.checked_add(&directory_share).ok_or(Error::<T>::Overflow)?;

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
		Self::unschedule(job_due, Deadline::JobOffer(job_offer));
		Self::unschedule(resource_due, Deadline::ResourceOffer(resource_offer));
		// The result timeout is due the block after the completion deadline, as the job offer was.
		Self::schedule(job_due, Deadline::Match(match_id));
		Mediators::<T>::insert(&mediator, mediator_info);
		Directories::<T>::insert(&job.directory, directory_info);
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
				run_length: job.run_length,
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

	/// Every feasibility rule of a match, in the order docs/protocol.md lists them; the first that
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
		Self::check_deadline(&job, now, provider.speed)?;
		// 2. Capacities, architectures and base layers.
		Self::check_capacity(&job.limits, &resource.capacity)?;
		Self::check_architecture(&job, &resource, &mediator_info)?;
		Self::check_base_layer(&job, &provider, &mediator_info)?;
		// 3. Trust, and a mediator able to run the job.
		Self::check_mediator(&job, &resource, mediator, &creator, &provider, &directory_info)?;
		Self::check_directory(&job, &provider, &mediator_info)?;
		Self::check_mediator_capacity(&job.limits, &mediator_info)?;
		// 4. Prices and deposits.
		Self::check_prices(&job, &resource)?;
		let estimated_price = Self::estimated_price(&job)?;
		let minimum_deposit = Self::minimum_deposit(
			estimated_price,
			&parameters,
			mediator_info.fee,
			directory_info.fee,
		)?;
		// Fees first: a fee raised above an offer's maximum is refused as such, not as the
		// deposit shortfall it would also cause.
		Self::check_fees(&job, &resource, mediator_info.fee, directory_info.fee)?;
		ensure!(job.deposit >= minimum_deposit, Error::<T>::JobDepositBelowMinimum);
		ensure!(resource.deposit >= minimum_deposit, Error::<T>::ProviderDepositBelowMinimum);
		Self::check_bonds(&mediator_info, &directory_info, estimated_price, &parameters)?;
		Self::check_reputation(
			&job,
			&Reputations::<T>::get(&resource.provider, Role::ResourceProvider),
		)?;

		Ok(Feasible {
			job,
			resource,
			mediator_fee: mediator_info.fee,
			directory_fee: directory_info.fee,
			estimated_price,
			minimum_deposit,
			parameters,
			mediator_info,
			directory_info,
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

	/// now + ⌈cpu_limit / speed⌉ ≤ completion deadline: the provider's own speed only refuses
	/// jobs it could not finish; no deadline protecting another party comes from it.
	pub fn check_deadline(
		job: &JobOfferOf<T>,
		now: BlockNumberFor<T>,
		speed: u64,
	) -> Result<(), Error<T>> {
		let blocks = BlockNumberFor::<T>::try_from(job.limits.cpu.div_ceil(speed.max(1)))
			.map_err(|_| Error::<T>::DeadlineTooSoon)?;
		let done = now.checked_add(&blocks).ok_or(Error::<T>::DeadlineTooSoon)?;
		ensure!(done <= job.completion_deadline, Error::<T>::DeadlineTooSoon);
		Ok(())
	}

	/// Both offers accept the mediator's and the directory's fees: a fee raised after an offer
	/// was posted cannot take more of its deposit than its owner agreed to.
	pub fn check_fees(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		mediator_fee: BalanceOf<T>,
		directory_fee: BalanceOf<T>,
	) -> Result<(), Error<T>> {
		ensure!(mediator_fee <= job.max_fees.mediator, Error::<T>::MediatorFeeAboveJobMaximum);
		ensure!(
			mediator_fee <= resource.max_fees.mediator,
			Error::<T>::MediatorFeeAboveProviderMaximum
		);
		ensure!(directory_fee <= job.max_fees.directory, Error::<T>::DirectoryFeeAboveJobMaximum);
		ensure!(
			directory_fee <= resource.max_fees.directory,
			Error::<T>::DirectoryFeeAboveProviderMaximum
		);
		Ok(())
	}

	/// Both bonds are at least the minimum bond, and what open matches have not reserved of
	/// them covers what the mediator (π̂_c) and the directory (π_m) may owe in this match.
	pub fn check_bonds(
		mediator: &MediatorInfo<T>,
		directory: &DirectoryInfo<T>,
		estimated_price: BalanceOf<T>,
		parameters: &MarketParametersOf<T>,
	) -> Result<(), Error<T>> {
		ensure!(mediator.bond >= parameters.min_bond, Error::<T>::MediatorBondBelowMinimum);
		ensure!(directory.bond >= parameters.min_bond, Error::<T>::DirectoryBondBelowMinimum);
		let (mediator_share, directory_share) =
			Self::reservations(estimated_price, parameters.verification_count)?;
		let free = |bond: BalanceOf<T>, reserved: BalanceOf<T>| bond.saturating_sub(reserved);
		ensure!(
			free(mediator.bond, mediator.reserved) >= mediator_share,
			Error::<T>::MediatorBondShort
		);
		ensure!(
			free(directory.bond, directory.reserved) >= directory_share,
			Error::<T>::DirectoryBondShort
		);
		Ok(())
	}

	/// The provider's reputation meets the job's minimum, if it names one.
	pub fn check_reputation(job: &JobOfferOf<T>, provider: &Reputation) -> Result<(), Error<T>> {
		if let Some(minimum) = &job.min_reputation {
			ensure!(provider.meets(minimum), Error::<T>::ReputationTooLow);
		}
		Ok(())
	}

	/// What a match reserves of the mediator's bond (π̂_c, the most a mediation timeout costs
	/// it) and of the directory's bond (π_m = π̂_c·n, the most a directory fault costs it).
	pub fn reservations(
		estimated_price: BalanceOf<T>,
		verification_count: u32,
	) -> Result<(BalanceOf<T>, BalanceOf<T>), Error<T>> {
		let mediation =
			estimated_price.checked_mul(&verification_count.into()).ok_or(Error::<T>::Overflow)?;
		Ok((estimated_price, mediation))
	}

	/// The reservations an open match holds on its mediator's and directory's bonds.
	pub(crate) fn bond_reservations(
		m: &MatchOf<T>,
	) -> Result<(BalanceOf<T>, BalanceOf<T>), Error<T>> {
		Self::reservations(m.estimated_price, m.parameters.verification_count)
	}

	/// Give back the reservations of a closing match.
	pub(crate) fn release_reservations(m: &MatchOf<T>) {
		// Computed without overflow when the match was made.
		let Ok((mediator_share, directory_share)) = Self::bond_reservations(m) else { return };
		Mediators::<T>::mutate_extant(&m.mediator, |info| {
			info.reserved = info.reserved.checked_sub(&mediator_share).unwrap_or_default();
		});
		Directories::<T>::mutate_extant(&m.directory, |info| {
			info.reserved = info.reserved.checked_sub(&directory_share).unwrap_or_default();
		});
	}

	pub fn check_capacity(limits: &Resources, capacity: &Resources) -> Result<(), Error<T>> {
		ensure!(capacity.cpu >= limits.cpu, Error::<T>::InsufficientCpu);
		ensure!(capacity.memory >= limits.memory, Error::<T>::InsufficientMemory);
		ensure!(capacity.storage >= limits.storage, Error::<T>::InsufficientStorage);
		ensure!(capacity.bandwidth >= limits.bandwidth, Error::<T>::InsufficientBandwidth);
		Ok(())
	}

	/// The rules between a job offer, a resource offer and its provider alone — prices,
	/// capacity, architecture, base layer, directory trust, window and deadline — the most
	/// selective first (the solver asks them of every candidate pair; [`Self::check_match`]
	/// reports failures in its own order): what the solver and the job creators' CLI ask of an
	/// offer before a mediator is chosen.
	pub fn check_pair(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		provider: &ResourceProviderInfo<T>,
		now: BlockNumberFor<T>,
	) -> Result<(), Error<T>> {
		Self::check_prices(job, resource)?;
		Self::check_capacity(&job.limits, &resource.capacity)?;
		Self::check_offer_architecture(job, resource)?;
		Self::check_provider_base_layer(job, provider)?;
		Self::check_provider_directory(job, provider)?;
		Self::check_window(job, resource, now)?;
		Self::check_deadline(job, now, provider.speed)
	}

	fn check_offer_architecture(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
	) -> Result<(), Error<T>> {
		ensure!(job.architecture == resource.architecture, Error::<T>::ArchitectureMismatch);
		Ok(())
	}

	fn check_architecture(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		Self::check_offer_architecture(job, resource)?;
		Self::check_mediator_architecture(job, mediator)
	}

	fn check_mediator_architecture(
		job: &JobOfferOf<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(
			job.architecture == mediator.architecture,
			Error::<T>::MediatorArchitectureMismatch
		);
		Ok(())
	}

	fn check_provider_base_layer(
		job: &JobOfferOf<T>,
		provider: &ResourceProviderInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(provider.base_layers.contains(&job.base_layer), Error::<T>::BaseLayerUnsupported);
		Ok(())
	}

	fn check_base_layer(
		job: &JobOfferOf<T>,
		provider: &ResourceProviderInfo<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		Self::check_provider_base_layer(job, provider)?;
		Self::check_mediator_base_layer(job, mediator)
	}

	fn check_mediator_base_layer(
		job: &JobOfferOf<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(
			mediator.base_layers.contains(&job.base_layer),
			Error::<T>::MediatorBaseLayerUnsupported
		);
		Ok(())
	}

	/// The mediator is none of the parties and every party trusts it: the job creator, the
	/// provider, and the job's directory, whose bond its verdict may take.
	fn check_mediator(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		mediator: &T::AccountId,
		creator: &JobCreatorInfo<T>,
		provider: &ResourceProviderInfo<T>,
		directory: &DirectoryInfo<T>,
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
		Self::check_directory_trusts(mediator, directory)
	}

	fn check_directory_trusts(
		mediator: &T::AccountId,
		directory: &DirectoryInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(
			directory.trusted_mediators.contains(mediator),
			Error::<T>::MediatorNotTrustedByDirectory
		);
		Ok(())
	}

	/// Limits within the largest run the mediator re-executes: a mediator is never named for a
	/// job it cannot run, so it never times out on one.
	pub fn check_mediator_capacity(
		limits: &Resources,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(limits.within(&mediator.capacity), Error::<T>::MediatorCapacityShort);
		Ok(())
	}

	/// Every rule between a mediator and a job offer with its provider but its capacity
	/// ([`Self::check_mediator_capacity`]): architecture, base layer, none of the parties,
	/// trusted by the job creator, the provider and the directory, trusting the directory. What
	/// a solver asks of a candidate mediator for a pair of offers.
	pub fn check_mediator_for(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
		mediator: &T::AccountId,
		mediator_info: &MediatorInfo<T>,
		creator: &JobCreatorInfo<T>,
		provider: &ResourceProviderInfo<T>,
		directory: &DirectoryInfo<T>,
	) -> Result<(), Error<T>> {
		Self::check_mediator_architecture(job, mediator_info)?;
		Self::check_mediator_base_layer(job, mediator_info)?;
		Self::check_mediator(job, resource, mediator, creator, provider, directory)?;
		Self::check_mediator_directory(job, mediator_info)
	}

	/// Every rule between a mediator and a job offer alone: not its creator, architecture, base
	/// layer, capacity, trusting the job's directory and trusted by it. What a job creator asks
	/// of a mediator before it trusts it for a job; the providers' trust is checked per offer.
	pub fn check_mediator_serves(
		job: &JobOfferOf<T>,
		mediator: &T::AccountId,
		mediator_info: &MediatorInfo<T>,
		directory: &DirectoryInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(*mediator != job.creator, Error::<T>::MediatorIsParty);
		Self::check_mediator_architecture(job, mediator_info)?;
		Self::check_mediator_base_layer(job, mediator_info)?;
		Self::check_mediator_directory(job, mediator_info)?;
		Self::check_directory_trusts(mediator, directory)?;
		Self::check_mediator_capacity(&job.limits, mediator_info)
	}

	fn check_provider_directory(
		job: &JobOfferOf<T>,
		provider: &ResourceProviderInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(job.directory != job.creator, Error::<T>::DirectoryIsJobCreator);
		ensure!(
			provider.trusted_directories.contains(&job.directory),
			Error::<T>::DirectoryNotTrustedByProvider
		);
		Ok(())
	}

	fn check_directory(
		job: &JobOfferOf<T>,
		provider: &ResourceProviderInfo<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		Self::check_provider_directory(job, provider)?;
		Self::check_mediator_directory(job, mediator)
	}

	fn check_mediator_directory(
		job: &JobOfferOf<T>,
		mediator: &MediatorInfo<T>,
	) -> Result<(), Error<T>> {
		ensure!(
			mediator.trusted_directories.contains(&job.directory),
			Error::<T>::DirectoryNotTrustedByMediator
		);
		Ok(())
	}

	pub fn check_prices(
		job: &JobOfferOf<T>,
		resource: &ResourceOfferOf<T>,
	) -> Result<(), Error<T>> {
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
}
