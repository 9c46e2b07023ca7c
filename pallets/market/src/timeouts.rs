//! Deadlines: the index keyed by block, the per-block sweep over it, and `claim_timeout`.
//!
//! Every open offer and match has an entry at the block its current deadline falls due. A state
//! change adds a new entry rather than searching for the old one; an entry whose object has
//! moved on (matched, closed, or given a later deadline) is dropped when its block is swept.

use crate::{types::*, Config, Deadlines, Error, Matches, Pallet, SweepCursor, WeightInfo};
use frame_support::{
	pallet_prelude::*,
	weights::{Weight, WeightMeter},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::Saturating;

/// How many blocks past a full one `schedule` tries before giving up.
const SPILL_BLOCKS: u32 = 16;

impl<T: Config> Pallet<T> {
	/// Add `entry` to the index at `at`, or at the first later block with room. Never earlier
	/// than the sweep cursor, so every entry is swept.
	pub(crate) fn schedule(at: BlockNumberFor<T>, entry: Deadline) -> DispatchResult {
		let mut at = at.max(SweepCursor::<T>::get());
		for _ in 0..SPILL_BLOCKS {
			if Deadlines::<T>::try_mutate(at, |list| list.try_push(entry)).is_ok() {
				return Ok(());
			}
			at.saturating_inc();
		}
		Err(Error::<T>::DeadlineIndexFull.into())
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

	/// Settle what fell due up to `now`, oldest block first and in order within a block, until
	/// the budget of `MaxSweepPerBlock` entries is spent; the rest waits for the next block.
	pub(crate) fn sweep(now: BlockNumberFor<T>) -> Weight {
		let per_block = T::WeightInfo::sweep_block();
		let per_entry = T::WeightInfo::sweep_deadline();
		let mut meter = WeightMeter::with_limit(
			per_block.saturating_add(per_entry).saturating_mul(T::MaxSweepPerBlock::get().into()),
		);
		let mut block = SweepCursor::<T>::get();
		while block <= now && meter.try_consume(per_block).is_ok() {
			let mut entries = Deadlines::<T>::take(block).into_inner();
			let mut settled = 0;
			for entry in &entries {
				if meter.try_consume(per_entry).is_err() {
					break;
				}
				Self::settle_due(*entry, now);
				settled += 1;
			}
			if settled < entries.len() {
				let rest = BoundedVec::truncate_from(entries.split_off(settled));
				Deadlines::<T>::insert(block, rest);
				break;
			}
			block.saturating_inc();
		}
		SweepCursor::<T>::put(block);
		// Reading the cursor counts even when nothing is due.
		meter.consumed().saturating_add(T::DbWeight::get().reads_writes(1, 1))
	}

	fn settle_due(entry: Deadline, now: BlockNumberFor<T>) {
		match entry {
			Deadline::JobOffer(id) => {
				Self::expire_job_offer(id, now);
			}
			Deadline::ResourceOffer(id) => {
				Self::expire_resource_offer(id, now);
			}
			Deadline::Match(id) => {
				if let Some(m) = Matches::<T>::get(id) {
					if let Some(ending) = Self::due_ending(&m, now) {
						Self::close_match(id, m, ending);
					}
				}
			}
		}
	}
}
