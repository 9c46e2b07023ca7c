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
		let MatchState::InMediation { mediation_deadline, .. } = m.state else {
			return Err(Error::<T>::WrongState.into());
		};
		ensure!(now <= mediation_deadline, Error::<T>::TooLate);

		Self::deposit_event(Event::MediationResultPosted { match_id, faulty_party, result_digest });
		Self::close_match(match_id, m, Ending::Mediated(faulty_party));
		Ok(())
	}
}
