//! Results: the provider posts, the job creator accepts or disputes.

use crate::{types::*, Config, Error, Event, Matches, Pallet};
use frame_support::{ensure, pallet_prelude::DispatchResult};
use sp_runtime::traits::{CheckedAdd, CheckedMul, One};

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
		ensure!(
			receipt.status != ResultStatus::Completed || receipt.result_digest.is_some(),
			Error::<T>::MissingResultDigest
		);
		ensure!(
			!receipt.status.ran_nothing() || (receipt.usage.cpu == 0 && receipt.usage.bandwidth == 0),
			Error::<T>::UsageWithoutRun
		);
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
		// The mediator gets its window plus n runs of R, the job's run length fixed when it was
		// offered: neither the provider's declared speed nor the match block can shorten it.
		let mediation_deadline = m
			.run_length
			.checked_mul(&m.parameters.verification_count.into())
			.and_then(|runs| runs.checked_add(&m.parameters.mediation_window))
			.and_then(|span| now.checked_add(&span))
			.ok_or(Error::<T>::Overflow)?;
		let due = Self::match_due(&m)?;
		let mediation_due =
			mediation_deadline.checked_add(&One::one()).ok_or(Error::<T>::Overflow)?;

		Self::reschedule(due, mediation_due, Deadline::Match(match_id));
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
}
