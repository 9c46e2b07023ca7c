//! Results: the provider posts, the job creator accepts or disputes.

use crate::{types::*, Config, Error, Event, Matches, Mediators, Pallet};
use frame_support::{ensure, pallet_prelude::DispatchResult};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{CheckedAdd, CheckedMul, One, Saturating, Zero};

impl<T: Config> Pallet<T> {
	pub(crate) fn do_post_result(
		who: T::AccountId,
		match_id: MatchId,
		receipt: Receipt,
	) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let mut m = Matches::<T>::get(match_id).ok_or(Error::<T>::UnknownMatch)?;
		ensure!(who == m.provider, Error::<T>::NotProvider);
		ensure!(m.state == MatchState::Matched, Error::<T>::WrongState);
		ensure!(now <= m.completion_deadline, Error::<T>::TooLate);
		Self::check_receipt(&receipt, &m.limits)?;
		// The job creator's window to react includes one run of the job, so it can verify.
		let reaction_deadline = m
			.parameters
			.reaction_window
			.checked_add(&m.run_length)
			.and_then(|span| now.checked_add(&span))
			.ok_or(Error::<T>::Overflow)?;
		let due = Self::match_due(&m)?;

		Self::reschedule(due, reaction_deadline, Deadline::Match(match_id));
		m.state = MatchState::ResultPosted { receipt, reaction_deadline };
		Matches::<T>::insert(match_id, m);
		Self::deposit_event(Event::ResultPosted { match_id, receipt, reaction_deadline });
		Ok(())
	}

	pub(crate) fn do_accept_result(who: T::AccountId, match_id: MatchId) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let m = Matches::<T>::get(match_id).ok_or(Error::<T>::UnknownMatch)?;
		let MatchState::ResultPosted { reaction_deadline, .. } = m.state else {
			return Err(Error::<T>::WrongState.into());
		};
		// The job creator may accept at once; anyone else only once its silence is consent.
		ensure!(who == m.creator || now >= reaction_deadline, Error::<T>::TooEarly);

		Self::close_match(match_id, m, Ending::Accepted);
		Ok(())
	}

	pub(crate) fn do_reject_result(
		who: T::AccountId,
		match_id: MatchId,
		reason: RejectReason,
	) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let mut m = Matches::<T>::get(match_id).ok_or(Error::<T>::UnknownMatch)?;
		ensure!(who == m.creator, Error::<T>::NotJobCreator);
		let MatchState::ResultPosted { receipt, reaction_deadline } = m.state else {
			return Err(Error::<T>::WrongState.into());
		};
		ensure!(now < reaction_deadline, Error::<T>::TooLate);
		// With no archive posted there is nothing the directory could have lost; a wrong status
		// is disputed as `InvalidResultStatus`.
		ensure!(
			reason != RejectReason::ResultNotFound || receipt.result_digest.is_some(),
			Error::<T>::NoResultToFind
		);
		// A mediator with open matches stays registered.
		let mut mediator_info = Mediators::<T>::get(&m.mediator).ok_or(Error::<T>::UnknownMediator)?;
		let (mediation_deadline, busy_until) = Self::mediation_slot(&m, &mediator_info, now)?;
		let due = Self::match_due(&m)?;
		let mediation_due =
			mediation_deadline.checked_add(&One::one()).ok_or(Error::<T>::Overflow)?;

		Self::reschedule(due, mediation_due, Deadline::Match(match_id));
		mediator_info.busy_until = busy_until;
		Mediators::<T>::insert(&m.mediator, mediator_info);
		let mediator = m.mediator.clone();
		m.state = MatchState::InMediation { receipt, reason, mediation_deadline };
		Matches::<T>::insert(match_id, m);
		Self::deposit_event(Event::JobAssignedForMediation {
			match_id,
			mediator,
			reason,
			mediation_deadline,
		});
		Ok(())
	}

	/// A receipt's status, usage and digest agree: a status decided before the container
	/// started carries no usage and no digest; every other comes from a run whose archive keeps
	/// at least its logs, so it names the archive; `Completed` is within every limit as runs
	/// enforce them — memory within memory + storage, since the container's memory limit covers
	/// both (the job's files live in memory).
	pub fn check_receipt(receipt: &Receipt, limits: &Resources) -> Result<(), Error<T>> {
		let enforced = Resources { memory: limits.memory.saturating_add(limits.storage), ..*limits };
		if receipt.status.never_started() {
			ensure!(receipt.usage == Resources::default(), Error::<T>::UsageWithoutRun);
			ensure!(receipt.result_digest.is_none(), Error::<T>::DigestWithoutRun);
		} else {
			ensure!(receipt.result_digest.is_some(), Error::<T>::MissingResultDigest);
		}
		ensure!(
			receipt.status != ResultStatus::Completed || receipt.usage.within(&enforced),
			Error::<T>::UsageAboveLimits
		);
		Ok(())
	}

	/// A dispute's place in its mediator's queue: the mediation deadline, start +
	/// MediationWindow + n·(R + F), and the mediator's queue after it, advanced by
	/// ⌈n·(R + F) / slots⌉, where start = max(now, busy until) but at most one longest job
	/// ahead. R is the job's run length fixed when it was offered and F its fetch bound, so each
	/// of the n runs has its fetch and its run: neither the provider's declared speed nor the
	/// match block can shorten the mediator's time, a flood of disputes queues instead of timing
	/// out at the mediator's expense, and no state of the mediator's can make a dispute fail.
	pub(crate) fn mediation_slot(
		m: &MatchOf<T>,
		mediator: &MediatorInfo<T>,
		now: BlockNumberFor<T>,
	) -> Result<(BlockNumberFor<T>, BlockNumberFor<T>), Error<T>> {
		let parameters = &m.parameters;
		let fetch = parameters.fetch_bound(&m.limits).ok_or(Error::<T>::Overflow)?;
		let runs = m
			.run_length
			.checked_add(&fetch)
			.and_then(|run| run.checked_mul(&parameters.verification_count.into()))
			.ok_or(Error::<T>::Overflow)?;
		let latest = now.checked_add(&parameters.max_job_duration).ok_or(Error::<T>::Overflow)?;
		let start = now.max(mediator.busy_until).min(latest);
		let deadline = runs
			.checked_add(&parameters.mediation_window)
			.and_then(|span| start.checked_add(&span))
			.ok_or(Error::<T>::Overflow)?;
		let slots: BlockNumberFor<T> = mediator.slots.max(1).into();
		let rounded_up = if (runs % slots).is_zero() { Zero::zero() } else { One::one() };
		let queued = start.saturating_add(runs / slots).saturating_add(rounded_up);
		Ok((deadline, queued.max(mediator.busy_until)))
	}
}
