//! Mediation: the assigned mediator's verdict closes a disputed match.

use crate::{types::*, Config, Error, Event, Matches, Pallet};
use frame_support::{ensure, pallet_prelude::DispatchResult};

impl<T: Config> Pallet<T> {
	pub(crate) fn do_post_mediation_result(
		who: T::AccountId,
		match_id: MatchId,
		faulty_party: Party,
		result_digest: Option<Digest>,
	) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let m = Matches::<T>::get(match_id).ok_or(Error::<T>::UnknownMatch)?;
		ensure!(who == m.mediator, Error::<T>::NotMediator);
		let MatchState::InMediation { receipt, reason, mediation_deadline } = m.state else {
			return Err(Error::<T>::WrongState.into());
		};
		ensure!(now <= mediation_deadline, Error::<T>::TooLate);
		ensure!(
			faulty_party != Party::Directory || Self::directory_may_be_at_fault(reason, &receipt),
			Error::<T>::DirectoryVerdictNotAllowed
		);

		Self::deposit_event(Event::MediationResultPosted { match_id, faulty_party, result_digest });
		Self::close_match(match_id, m, Ending::Mediated(faulty_party));
		Ok(())
	}

	/// The directory can be at fault only where its availability was the question: a missing
	/// result, or a disputed claim that the directory was unavailable or had no image.
	pub fn directory_may_be_at_fault(reason: RejectReason, receipt: &Receipt) -> bool {
		match reason {
			RejectReason::ResultNotFound => true,
			RejectReason::InvalidResultStatus => matches!(
				receipt.status,
				ResultStatus::DirectoryUnavailable | ResultStatus::JobNotFound
			),
			RejectReason::WrongResults | RejectReason::TooMuchCost => false,
		}
	}
}
