//! The validator set: open to anyone who bonds MDC, rotated every session.
//!
//! A candidate sets its session keys (`session.set_keys`, with the ownership proof of
//! `author_rotateKeysWithOwner`), bonds `collatorSelection.candidacyBond`
//! (`register_as_candidate`) and authors and votes from the second session boundary on; root
//! names the invulnerable validators. Beside I invulnerables at most ⌊(I − 1)/2⌋ candidates
//! (the highest bonds) validate, so bonded strangers never hold a third of GRANDPA's votes or
//! of the slots: silent ones can neither halt finality nor stall blocks. A candidate that
//! authors no block for `KickThreshold` is dropped at a session boundary and its bond returned;
//! bonds are reserved, never slashed or paid out, so the supply stays fixed. Validators earn
//! the fees of the blocks they author (`supply::ToBlockAuthor`), found through
//! pallet-authorship and the session's validator list, so they reach the validator's account
//! whatever its current keys.

use alloc::vec::Vec;

use super::{
	AccountId, Aura, Balance, Balances, BlockNumber, CollatorSelection, Runtime, RuntimeEvent,
	Session, SessionKeys, STORAGE_BYTE_DEPOSIT,
};
use frame_support::{parameter_types, traits::ConstU32, PalletId};
use frame_system::EnsureRoot;
use pallet_collator_selection::IdentityCollator;
use pallet_session::{FindAccountFromAuthorIndex, PeriodicSessions, SessionManager};
use sp_runtime::traits::OpaqueKeys;

/// Blocks per session: a new candidate authors within two sessions of bonding, and a rotation
/// costs one pass over at most [`MAX_VALIDATORS`] seats.
pub const SESSION_PERIOD: BlockNumber = crate::MINUTES;

/// A seated candidate that authors no block for this long (three sessions, each with at least
/// one of its slots) is dropped at the next session boundary; the count starts a session after
/// it is seated (and no earlier than this long after it bonds).
pub const KICK_THRESHOLD: BlockNumber = 3 * SESSION_PERIOD;

/// Seats for validators named by root.
pub const MAX_INVULNERABLES: u32 = 8;
/// Seats for bonded candidates.
pub const MAX_CANDIDATES: u32 = 24;
/// Every seat: Aura's and GRANDPA's authority lists hold this many.
pub const MAX_VALIDATORS: u32 = MAX_INVULNERABLES + MAX_CANDIDATES;

/// What a candidate bonds to join the validators: at genesis and after the upgrade from
/// release 0; root may change it.
pub const CANDIDACY_BOND: Balance = 1_000 * crate::MDC;

/// Bytes a validator's keys occupy: its `NextKeys` entry and one `KeyOwner` entry per key,
/// each with its map prefix and hashed key.
const SESSION_KEYS_BYTES: Balance = 96 + 32 + 2 * (32 + 16 + 4 + 32 + 32);

parameter_types! {
	pub const SessionPeriod: BlockNumber = SESSION_PERIOD;
	pub const SessionOffset: BlockNumber = 0;
	pub const ValidatorPotId: PalletId = PalletId(*b"mdc/vals");
	pub const KeyDeposit: Balance = STORAGE_BYTE_DEPOSIT * SESSION_KEYS_BYTES;
	pub const KickThreshold: BlockNumber = KICK_THRESHOLD;
}

/// The candidate selection's set for each session, as the session may seat it: accounts with
/// keys (the session drops the others anyway), at most ⌊(I − 1)/2⌋ candidates beside the I
/// invulnerables, highest bonds first (with no invulnerables, every candidate). Passed on only
/// when it differs from the set that starts now: the selection names a set at every boundary,
/// and the session would count each as a change, making GRANDPA start a new authority set (and
/// keep a justification for it) every minute.
pub struct SeatedValidators;

/// A session's number (sp-staking's `SessionIndex`).
type SessionIndex = u32;

fn has_keys(who: &AccountId) -> bool {
	pallet_session::NextKeys::<Runtime>::contains_key(who)
}

/// `selection` (invulnerables, then candidates by bond) cut to the seats strangers may hold.
fn seated(selection: Vec<AccountId>) -> Vec<AccountId> {
	let invulnerables = pallet_collator_selection::Invulnerables::<Runtime>::get();
	let (named, bonded): (Vec<_>, Vec<_>) =
		selection.into_iter().filter(has_keys).partition(|who| invulnerables.contains(who));
	let seats = if named.is_empty() { bonded.len() } else { (named.len() - 1) / 2 };
	named.into_iter().chain(bonded.into_iter().take(seats)).collect()
}

fn sorted(mut accounts: Vec<AccountId>) -> Vec<AccountId> {
	accounts.sort();
	accounts
}

/// A candidate waiting for a seat cannot author: the selection's idle count (`KickThreshold`
/// since `LastAuthoredBlock`) starts for it only a session after it is seated.
fn spare_waiting_candidates(seated: &[AccountId]) {
	let spared_until =
		frame_system::Pallet::<Runtime>::block_number().saturating_add(SESSION_PERIOD);
	for candidate in pallet_collator_selection::CandidateList::<Runtime>::get() {
		if !seated.contains(&candidate.who) {
			pallet_collator_selection::LastAuthoredBlock::<Runtime>::mutate(
				&candidate.who,
				|last| *last = (*last).max(spared_until),
			);
		}
	}
}

impl SessionManager<AccountId> for SeatedValidators {
	fn new_session(index: SessionIndex) -> Option<Vec<AccountId>> {
		// At a boundary the session has made the queued set current already.
		let current = Session::validators();
		spare_waiting_candidates(&current);
		// The selection drops idle candidates here.
		let next = seated(<CollatorSelection as SessionManager<AccountId>>::new_session(index)?);
		if next.is_empty() {
			// A set with no validator would stop the chain: those of the current one that
			// still have keys stay.
			let keyed: Vec<AccountId> = current.iter().filter(|v| has_keys(v)).cloned().collect();
			return (!keyed.is_empty() && keyed.len() < current.len()).then_some(keyed);
		}
		// A change GRANDPA could not take (a forced change of `note_stalled` pending) is
		// offered again at every boundary until it does.
		let unchanged = sorted(next.clone()) == sorted(current.clone())
			&& current.iter().all(has_keys)
			&& !pallet_grandpa::PendingChange::<Runtime>::exists();
		(!unchanged).then_some(next)
	}

	fn new_session_genesis(index: SessionIndex) -> Option<Vec<AccountId>> {
		// With no invulnerable keyed, the session falls back to its genesis keys.
		<CollatorSelection as SessionManager<AccountId>>::new_session_genesis(index)
			.map(seated)
			.filter(|set| !set.is_empty())
	}

	fn start_session(index: SessionIndex) {
		<CollatorSelection as SessionManager<AccountId>>::start_session(index)
	}

	fn end_session(index: SessionIndex) {
		<CollatorSelection as SessionManager<AccountId>>::end_session(index)
	}
}

impl pallet_authorship::Config for Runtime {
	/// The Aura slot's author index, mapped to the validator's account by the session.
	type FindAuthor = FindAccountFromAuthorIndex<Runtime, Aura>;
	/// Notes when each candidate last authored, for dropping the idle ones.
	type EventHandler = (CollatorSelection,);
}

impl pallet_session::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type ValidatorId = AccountId;
	type ValidatorIdOf = IdentityCollator;
	type ShouldEndSession = PeriodicSessions<SessionPeriod, SessionOffset>;
	type NextSessionRotation = PeriodicSessions<SessionPeriod, SessionOffset>;
	type SessionManager = SeatedValidators;
	/// Aura's and GRANDPA's authorities follow the session.
	type SessionHandler = <SessionKeys as OpaqueKeys>::KeyTypeIdProviders;
	type Keys = SessionKeys;
	type DisablingStrategy = ();
	type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	type KeyDeposit = KeyDeposit;
}

impl pallet_collator_selection::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type UpdateOrigin = EnsureRoot<AccountId>;
	/// Its account receives nothing: fees go to the author directly.
	type PotId = ValidatorPotId;
	type MaxCandidates = ConstU32<MAX_CANDIDATES>;
	/// A single validator keeps a chain producing blocks (the development chain has one).
	type MinEligibleCollators = ConstU32<1>;
	type MaxInvulnerables = ConstU32<MAX_INVULNERABLES>;
	type KickThreshold = KickThreshold;
	type ValidatorId = AccountId;
	type ValidatorIdOf = IdentityCollator;
	type ValidatorRegistration = Session;
	type WeightInfo = pallet_collator_selection::weights::SubstrateWeight<Runtime>;
}
