//! Deadlines: the index keyed by (block, entry), the per-block sweep over it, and
//! `claim_timeout`.
//!
//! Every open offer and match has exactly one entry, at the block its current deadline falls
//! due; every transition moves it (`reschedule`) and every ending removes it (`unschedule`), so
//! a cancelled offer leaves nothing behind. The index has no per-block capacity: no account can
//! fill the block another party's step needs. Every entry is paid for by the deposit of the
//! offer that made it (`OfferStorageDeposit`).

use crate::{types::*, Config, Deadlines, Error, Matches, Pallet, SweepCursor, WeightInfo};
use frame_support::{
	pallet_prelude::*,
	weights::{Weight, WeightMeter},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{One, Saturating};

impl<T: Config> Pallet<T> {
	/// Add `entry` to the index at `at`.
	pub(crate) fn schedule(at: BlockNumberFor<T>, entry: Deadline) {
		Deadlines::<T>::insert(at, entry, ());
	}

	/// Remove `entry` from the index at `at`.
	pub(crate) fn unschedule(at: BlockNumberFor<T>, entry: Deadline) {
		Deadlines::<T>::remove(at, entry);
	}

	/// Move `entry` from `from` to `to`.
	pub(crate) fn reschedule(from: BlockNumberFor<T>, to: BlockNumberFor<T>, entry: Deadline) {
		Self::unschedule(from, entry);
		Self::schedule(to, entry);
	}

	/// The block an open job offer expires at: the one after its completion deadline.
	pub(crate) fn job_offer_due(offer: &JobOfferOf<T>) -> Result<BlockNumberFor<T>, Error<T>> {
		offer.completion_deadline.checked_add(&One::one()).ok_or(Error::<T>::Overflow)
	}

	/// The block an open resource offer expires at: the one after its window.
	pub(crate) fn resource_offer_due(
		offer: &ResourceOfferOf<T>,
	) -> Result<BlockNumberFor<T>, Error<T>> {
		offer.valid_to.checked_add(&One::one()).ok_or(Error::<T>::Overflow)
	}

	/// The block the current state of a match falls due at (see [`Self::due_ending`]).
	pub(crate) fn match_due(m: &MatchOf<T>) -> Result<BlockNumberFor<T>, Error<T>> {
		match m.state {
			MatchState::Matched => m.completion_deadline.checked_add(&One::one()),
			MatchState::ResultPosted { reaction_deadline, .. } => Some(reaction_deadline),
			MatchState::InMediation { mediation_deadline, .. } => {
				mediation_deadline.checked_add(&One::one())
			}
		}
		.ok_or(Error::<T>::Overflow)
	}

	/// The ending a match reaches by timeout at `now`, if one is due.
	pub fn due_ending(m: &MatchOf<T>, now: BlockNumberFor<T>) -> Option<Ending> {
		match m.state {
			MatchState::Matched if now > m.completion_deadline => Some(Ending::NoResult),
			MatchState::ResultPosted { reaction_deadline, .. } if now >= reaction_deadline => {
				Some(Ending::Accepted)
			}
			MatchState::InMediation { mediation_deadline, .. } if now > mediation_deadline => {
				Some(Ending::NoMediationResult)
			}
			_ => None,
		}
	}

	pub(crate) fn do_claim_timeout(match_id: MatchId) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let m = Matches::<T>::get(match_id).ok_or(Error::<T>::UnknownMatch)?;
		let ending = Self::due_ending(&m, now).ok_or(Error::<T>::NotDue)?;
		Self::close_match(match_id, m, ending);
		Ok(())
	}

	/// Settle what fell due up to `now`, oldest block first and in entry order within a block,
	/// until the budget of `MaxSweepPerBlock` entries is spent; the rest waits for the next
	/// block. Calls never depend on how far the sweep has got: each checks its own deadline.
	pub(crate) fn sweep(now: BlockNumberFor<T>) -> Weight {
		let per_block = T::WeightInfo::sweep_block();
		let per_entry = T::WeightInfo::sweep_deadline();
		let budget = T::MaxSweepPerBlock::get();
		let mut meter = WeightMeter::with_limit(
			per_block.saturating_add(per_entry.saturating_mul(budget.into())),
		);
		let mut block = SweepCursor::<T>::get();
		let mut settled = 0u32;
		while block <= now && meter.try_consume(per_block).is_ok() {
			let room = budget.saturating_sub(settled) as usize;
			let entries: alloc::vec::Vec<Deadline> =
				Deadlines::<T>::iter_key_prefix(block).take(room).collect();
			for entry in entries {
				if meter.try_consume(per_entry).is_err() {
					break;
				}
				Self::settle_due(block, entry, now);
				settled.saturating_inc();
			}
			// Every settlement removed its entry: what is left did not fit the budget.
			if Deadlines::<T>::iter_key_prefix(block).next().is_some() {
				break;
			}
			block.saturating_inc();
		}
		SweepCursor::<T>::put(block);
		// Reading and writing the cursor counts even when nothing is due.
		meter.consumed().saturating_add(T::DbWeight::get().reads_writes(1, 1))
	}

	/// Settle the entry `entry` found at `block`. Each settlement removes the entry itself; an
	/// entry whose object has gone or is not due breaks the index invariant and is dropped so
	/// the sweep never stalls on it.
	fn settle_due(block: BlockNumberFor<T>, entry: Deadline, now: BlockNumberFor<T>) {
		let settled = match entry {
			Deadline::JobOffer(id) => Self::expire_job_offer(id, now),
			Deadline::ResourceOffer(id) => Self::expire_resource_offer(id, now),
			Deadline::Match(id) => Matches::<T>::get(id)
				.and_then(|m| Some((Self::due_ending(&m, now)?, m)))
				.map(|(ending, m)| Self::close_match(id, m, ending))
				.is_some(),
			Deadline::Grant(id) => Self::expire_grant(id, now),
		};
		if !settled {
			defensive!("a deadline entry without a due object", entry);
			Self::unschedule(block, entry);
		}
	}
}
