//! The welfare pool and join grants (docs/protocol.md "Welfare pool and join grant").
//!
//! A new account earns a grant with a proof of work and spends it only in the market: what is
//! left of it is held under [`HoldReason::Grant`], market deposits and bonds draw on it first,
//! and their refunds return to it. Nothing but a claim takes funds out of the pool; what a grant
//! leaves unspent returns to the pool at its expiry.
//!
//! An account's open deposits and bonds are all funded by its grant or all by its own funds,
//! never a mix: so the grant's share of each payment and refund is exact (`committed` is either
//! zero or everything the account holds in the market), and no deposit of its own can carry
//! grant funds out, nor a refund of grant funds be mistaken for its own.

use crate::{
	types::*, BalanceOf, Config, Error, Event, GrantHolders, Grants, HoldReason, JoinGrantClaimed,
	JoinGrantRate, JoinGrantTerms, NextGrantId, Pallet,
};
use codec::Encode;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, InspectHold, Mutate, MutateHold},
		tokens::{Fortitude, Precision, Preservation, Restriction},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{CheckedAdd, SaturatedConversion, Saturating, Zero},
	transaction_validity::{InvalidTransaction, TransactionPriority},
};

/// Claims are free, so they yield to every paid transaction.
pub const GRANT_CLAIM_PRIORITY: TransactionPriority = 0;

/// How far one period's difficulty may move from the last one's, either way.
const MAX_ADJUSTMENT: u128 = 4;

impl<T: Config> Pallet<T> {
	pub(crate) fn do_set_grant_terms(terms: GrantTermsOf<T>) -> DispatchResult {
		Self::ensure_valid_grant_terms(&terms)?;
		Self::put_grant_terms(terms.clone());
		Self::deposit_event(Event::GrantTermsSet { terms });
		Ok(())
	}

	/// Store `terms`; a new period starts now at their floor, so root can always bring the
	/// difficulty back down (after a farm drove it up) as well as up.
	pub(crate) fn put_grant_terms(terms: GrantTermsOf<T>) {
		let now = frame_system::Pallet::<T>::block_number();
		let rate = JoinGrantRate::<T>::get().unwrap_or_default();
		let difficulty = terms.min_difficulty;
		JoinGrantRate::<T>::put(GrantRate { period_start: now, claims: 0, difficulty, ..rate });
		JoinGrantTerms::<T>::put(terms);
	}

	/// Each rule of docs/protocol.md's grant terms, with its own error.
	pub fn ensure_valid_grant_terms(terms: &GrantTermsOf<T>) -> Result<(), Error<T>> {
		let existential = T::Currency::minimum_balance();
		ensure!(
			terms.amount > existential.saturating_mul(2u32.into()),
			Error::<T>::GrantAmountTooSmall
		);
		let kept: BlockNumberFor<T> = <T as frame_system::Config>::BlockHashCount::get();
		ensure!(
			!terms.proof_age.is_zero() && terms.proof_age < kept,
			Error::<T>::GrantProofAgeOutOfRange
		);
		ensure!(terms.expiry > terms.proof_age, Error::<T>::GrantExpiryTooShort);
		ensure!(!terms.period.is_zero(), Error::<T>::ZeroGrantPeriod);
		ensure!(terms.target > 0, Error::<T>::ZeroGrantTarget);
		ensure!(terms.max_per_block > 0, Error::<T>::ZeroMaxGrantsPerBlock);
		ensure!(terms.min_difficulty > 0, Error::<T>::ZeroGrantDifficulty);
		ensure!(terms.welfare_tax <= MAX_WELFARE_TAX, Error::<T>::WelfareTaxTooHigh);
		Ok(())
	}

	/// The grant rate as it stands at `now`: the period that has ended moves the difficulty
	/// towards `GrantTarget` claims per period (at most fourfold either way), each period after
	/// it that passed without a claim lowers it fourfold more, and it never falls below the
	/// floor.
	pub fn grant_rate_at(terms: &GrantTermsOf<T>, now: BlockNumberFor<T>) -> GrantRateOf<T> {
		let rate = JoinGrantRate::<T>::get().unwrap_or_default();
		let elapsed = now.saturating_sub(rate.period_start);
		if elapsed < terms.period {
			return rate;
		}
		let periods = elapsed / terms.period;
		let aimed =
			rate.difficulty.saturating_mul(rate.claims.into()) / u128::from(terms.target).max(1);
		let adjusted = aimed.clamp(
			rate.difficulty / MAX_ADJUSTMENT,
			rate.difficulty.saturating_mul(MAX_ADJUSTMENT),
		);
		// Each quiet period divides by 4 = 2²; 63 of them leave nothing of any u128.
		let quiet: u32 = periods.saturating_sub(1u32.into()).saturated_into::<u32>().min(63);
		let difficulty = (adjusted >> (2 * quiet)).max(terms.min_difficulty);
		GrantRate {
			period_start: rate.period_start.saturating_add(periods.saturating_mul(terms.period)),
			claims: 0,
			difficulty,
			..rate
		}
	}

	/// Every rule a claim must keep at `now`; the terms and the rate it would land at.
	pub(crate) fn check_claim(
		who: &T::AccountId,
		proof: &GrantProofOf<T>,
		now: BlockNumberFor<T>,
	) -> Result<(GrantTermsOf<T>, GrantRateOf<T>), Error<T>> {
		let terms = JoinGrantTerms::<T>::get().ok_or(Error::<T>::GrantsClosed)?;
		let pool = Self::account_id();
		ensure!(*who != pool, Error::<T>::NotANewAccount);
		ensure!(!JoinGrantClaimed::<T>::contains_key(who), Error::<T>::GrantAlreadyClaimed);
		ensure!(
			frame_system::Pallet::<T>::account_nonce(who).is_zero(),
			Error::<T>::NotANewAccount
		);
		ensure!(proof.block < now, Error::<T>::GrantProofFromFuture);
		ensure!(now.saturating_sub(proof.block) <= terms.proof_age, Error::<T>::GrantProofTooOld);
		// Genesis's hash is known before launch, and a pruned block's reads as zero: work on
		// either could be done in advance.
		let block_hash = frame_system::Pallet::<T>::block_hash(proof.block);
		ensure!(
			!proof.block.is_zero() && block_hash != Default::default(),
			Error::<T>::GrantProofBlockUnknown
		);
		let rate = Self::grant_rate_at(&terms, now);
		ensure!(
			rate.block != now || rate.in_block < terms.max_per_block,
			Error::<T>::GrantBlockFull
		);
		ensure!(
			rate.claims < terms.target.saturating_mul(MAX_ADJUSTMENT as u32),
			Error::<T>::GrantPeriodFull
		);
		let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
		let work = GrantPuzzle::new(genesis.as_ref(), &who.encode(), block_hash.as_ref())
			.work(proof.nonce);
		ensure!(GrantPuzzle::meets(&work, rate.difficulty), Error::<T>::GrantWorkTooEasy);
		ensure!(
			T::Currency::reducible_balance(&pool, Preservation::Preserve, Fortitude::Polite)
				>= terms.amount,
			Error::<T>::WelfarePoolShort
		);
		Ok((terms, rate))
	}

	/// How the transaction pool sees a failed check: the proof's own faults by their standard
	/// names, a full block as one to retry, anything else as the market's error index.
	pub(crate) fn claim_invalidity(error: Error<T>) -> InvalidTransaction {
		match error {
			Error::<T>::GrantWorkTooEasy => InvalidTransaction::BadProof,
			Error::<T>::GrantProofTooOld | Error::<T>::GrantProofBlockUnknown => {
				InvalidTransaction::Stale
			}
			Error::<T>::GrantProofFromFuture => InvalidTransaction::Future,
			Error::<T>::GrantBlockFull => InvalidTransaction::ExhaustsResources,
			other => InvalidTransaction::Custom(other.encode().first().copied().unwrap_or(u8::MAX)),
		}
	}

	pub(crate) fn do_claim_join_grant(who: T::AccountId, proof: GrantProofOf<T>) -> DispatchResult {
		let now = frame_system::Pallet::<T>::block_number();
		let (terms, rate) = Self::check_claim(&who, &proof, now)?;
		let id = NextGrantId::<T>::get();
		let next_id = id.checked_add(1).ok_or(Error::<T>::Overflow)?;
		let expires_at = now.checked_add(&terms.expiry).ok_or(Error::<T>::Overflow)?;

		T::Currency::transfer(&Self::account_id(), &who, terms.amount, Preservation::Preserve)?;
		// A new account keeps the existential deposit free to exist; the rest is held.
		let held = T::Currency::reducible_balance(&who, Preservation::Preserve, Fortitude::Polite)
			.min(terms.amount);
		T::Currency::hold(&HoldReason::Grant.into(), &who, held)?;
		Grants::<T>::insert(
			&who,
			Grant {
				id,
				amount: terms.amount,
				available: held,
				committed: Zero::zero(),
				expires_at,
			},
		);
		GrantHolders::<T>::insert(id, &who);
		NextGrantId::<T>::put(next_id);
		Self::schedule(expires_at, Deadline::Grant(id));
		// Claimed for good: the account's nonce stays 0, so what it signed before stays valid.
		JoinGrantClaimed::<T>::insert(&who, ());
		let in_block = if rate.block == now { rate.in_block.saturating_add(1) } else { 1 };
		JoinGrantRate::<T>::put(GrantRate {
			claims: rate.claims.saturating_add(1),
			block: now,
			in_block,
			..rate
		});
		Self::deposit_event(Event::JoinGrantClaimed {
			who,
			amount: terms.amount,
			held,
			expires_at,
			difficulty: rate.difficulty,
		});
		Ok(())
	}

	/// The sweep's expiry of grant `id`: what is held of it returns to the pool. The record
	/// stays while deposits it funded are open, so their refunds follow it there.
	pub(crate) fn expire_grant(id: GrantId, now: BlockNumberFor<T>) -> bool {
		let Some(who) = GrantHolders::<T>::get(id) else { return false };
		let Some(grant) = Grants::<T>::get(&who).filter(|g| g.id == id && now >= g.expires_at)
		else {
			return false;
		};
		let returned = T::Currency::transfer_on_hold(
			&HoldReason::Grant.into(),
			&who,
			&Self::account_id(),
			grant.available,
			Precision::BestEffort,
			Restriction::Free,
			Fortitude::Force,
		)
		.unwrap_or_else(|_| Zero::zero());
		GrantHolders::<T>::remove(id);
		Self::unschedule(grant.expires_at, Deadline::Grant(id));
		Self::keep_grant(&who, Grant { available: Zero::zero(), ..grant });
		Self::deposit_event(Event::JoinGrantExpired { who, returned });
		true
	}

	/// Store `grant`, or drop it once it has expired and funds no deposit.
	fn keep_grant(who: &T::AccountId, grant: GrantOf<T>) {
		let spent = grant.available.is_zero() && grant.committed.is_zero();
		if spent && !GrantHolders::<T>::contains_key(grant.id) {
			Grants::<T>::remove(who);
		} else {
			Grants::<T>::insert(who, grant);
		}
	}

	/// The live grant of `who`, if it has one that has not reached its expiry.
	fn live_grant(who: &T::AccountId) -> Option<GrantOf<T>> {
		let now = frame_system::Pallet::<T>::block_number();
		Grants::<T>::get(who).filter(|g| now < g.expires_at)
	}

	/// What of `who`'s grant the market can still spend.
	pub fn grant_available(who: &T::AccountId) -> BalanceOf<T> {
		Self::live_grant(who).map_or_else(Zero::zero, |g| g.available)
	}

	/// The largest deposit or bond `who` can hold next while staying alive: one is funded by
	/// its grant or by its own funds, never both, and never the one while the other is in the
	/// market.
	pub fn spendable_in_market(who: &T::AccountId) -> BalanceOf<T> {
		let own = T::Currency::reducible_balance(who, Preservation::Preserve, Fortitude::Polite);
		let Some(grant) = Grants::<T>::get(who) else { return own };
		let granted = Self::grant_available(who);
		if !grant.committed.is_zero() {
			granted
		} else if !Self::held_in_market(who).is_zero() {
			own
		} else {
			granted.max(own)
		}
	}

	/// The terms of join grants and the difficulty of a claim in the block after the current
	/// one.
	pub fn grant_terms_now() -> Option<(GrantTermsOf<T>, u128)> {
		let terms = JoinGrantTerms::<T>::get()?;
		let next = frame_system::Pallet::<T>::block_number().saturating_add(1u32.into());
		let difficulty = Self::grant_rate_at(&terms, next).difficulty;
		Some((terms, difficulty))
	}

	/// What the welfare pool can pay out while staying alive.
	pub fn welfare_pool_balance() -> BalanceOf<T> {
		T::Currency::reducible_balance(
			&Self::account_id(),
			Preservation::Preserve,
			Fortitude::Polite,
		)
	}

	/// What `who` holds in the market's deposits and bonds.
	pub(crate) fn held_in_market(who: &T::AccountId) -> BalanceOf<T> {
		[HoldReason::Bond, HoldReason::JobDeposit, HoldReason::ResourceDeposit]
			.into_iter()
			.map(|reason| T::Currency::balance_on_hold(&reason.into(), who))
			.fold(Zero::zero(), |sum: BalanceOf<T>, held| sum.saturating_add(held))
	}

	/// Before `who` holds `amount` for a deposit or bond: the grant funds all of it if it can
	/// and nothing of the account's own is in the market; otherwise its own funds do, unless
	/// grant-funded deposits are open (`GrantFundsInMarket`: the two never mix).
	pub(crate) fn grant_to_deposit(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		let Some(grant) = Grants::<T>::get(who) else { return Ok(()) };
		let live = frame_system::Pallet::<T>::block_number() < grant.expires_at;
		let can_fund = live && grant.available >= amount;
		if grant.committed.is_zero() {
			let own_in_market = !Self::held_in_market(who).is_zero();
			if !can_fund || own_in_market {
				return Ok(());
			}
		}
		ensure!(can_fund, Error::<T>::GrantFundsInMarket);
		T::Currency::release(&HoldReason::Grant.into(), who, amount, Precision::Exact)?;
		let committed = grant.committed.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
		let available = grant.available.saturating_sub(amount);
		Grants::<T>::insert(who, Grant { available, committed, ..grant });
		Ok(())
	}

	/// After `amount` of `who`'s deposits or bonds was released to it: what of it the grant
	/// funded goes back to the grant, or to the pool once the grant has expired.
	pub(crate) fn deposit_to_grant(who: &T::AccountId, amount: BalanceOf<T>) {
		let Some(grant) = Grants::<T>::get(who) else { return };
		let back = grant.committed.min(amount);
		if back.is_zero() {
			return;
		}
		// `back` was just released to `who`, so it is free above the existential deposit.
		let live = frame_system::Pallet::<T>::block_number() < grant.expires_at;
		let returned = if live {
			T::Currency::hold(&HoldReason::Grant.into(), who, back)
		} else {
			T::Currency::transfer(who, &Self::account_id(), back, Preservation::Preserve)
				.map(|_| ())
		};
		let available = match returned {
			Ok(()) if live => grant.available.saturating_add(back),
			Ok(()) => grant.available,
			Err(e) => {
				frame_support::defensive!("a refund could not return to its grant", e);
				grant.available
			}
		};
		let committed = grant.committed.saturating_sub(back);
		Self::keep_grant(who, Grant { available, committed, ..grant });
	}

	/// After `amount` left `who`'s deposits or bonds as a payment: if the grant funds them (it
	/// funds all or none), that much of it is gone from the market.
	pub(crate) fn deposit_spent(who: &T::AccountId, amount: BalanceOf<T>) {
		let Some(grant) = Grants::<T>::get(who) else { return };
		let spent = grant.committed.min(amount);
		if !spent.is_zero() {
			Self::keep_grant(
				who,
				Grant { committed: grant.committed.saturating_sub(spent), ..grant },
			);
		}
	}

	/// The fee of a market call by `who`, up to `fee`, freed from its grant first. Returns
	/// what the grant paid.
	pub fn grant_to_fee(who: &T::AccountId, fee: BalanceOf<T>) -> BalanceOf<T> {
		let Some(grant) = Self::live_grant(who) else { return Zero::zero() };
		let drawn = grant.available.min(fee);
		if drawn.is_zero()
			|| T::Currency::release(&HoldReason::Grant.into(), who, drawn, Precision::Exact)
				.is_err()
		{
			return Zero::zero();
		}
		Grants::<T>::insert(
			who,
			Grant { available: grant.available.saturating_sub(drawn), ..grant },
		);
		drawn
	}

	/// The refund of a fee the grant paid (`refund` at most what it paid) goes back to it.
	pub fn fee_refund_to_grant(who: &T::AccountId, refund: BalanceOf<T>) {
		let Some(grant) = Self::live_grant(who) else { return };
		if refund.is_zero() || T::Currency::hold(&HoldReason::Grant.into(), who, refund).is_err() {
			return;
		}
		Grants::<T>::insert(
			who,
			Grant { available: grant.available.saturating_add(refund), ..grant },
		);
	}
}
