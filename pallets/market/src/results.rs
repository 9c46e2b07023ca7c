//! Results: the provider posts, the job creator accepts or disputes.

use crate::{types::*, Config, Error, Event, Matches, Pallet};
use frame_support::{ensure, pallet_prelude::DispatchResult};
use sp_runtime::traits::{CheckedAdd, CheckedMul};

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
		let reaction_deadline =
			now.checked_add(&m.parameters.reaction_window).ok_or(Error::<T>::Overflow)?;

		Self::schedule(reaction_deadline, Deadline::Match(match_id))?;
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
		// The mediator gets its window plus n runs of the job at the provider's speed.
		let mediation_deadline = m
			.run_blocks
			.checked_mul(&m.parameters.verification_count.into())
			.and_then(|runs| runs.checked_add(&m.parameters.mediation_window))
			.and_then(|span| now.checked_add(&span))
			.ok_or(Error::<T>::Overflow)?;
		let sweep_at = mediation_deadline.checked_add(&1u32.into()).ok_or(Error::<T>::Overflow)?;

		Self::schedule(sweep_at, Deadline::Match(match_id))?;
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
