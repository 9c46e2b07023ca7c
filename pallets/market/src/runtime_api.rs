//! The market as off-chain workers, wallets and the node's RPC read it. Polkadot.js builds
//! `api.call.marketApi.*` from the runtime's metadata, so these need no client configuration.

use crate::types::{Grant, GrantTerms, MatchId, OfferId, Reputation, Resources, Role};
use alloc::vec::Vec;
use codec::Codec;

sp_api::decl_runtime_apis! {
	/// Read-only queries of the market.
	pub trait MarketApi<AccountId, Balance, JobOffer, ResourceOffer, Match, Error, Actors, Parameters>
	where
		AccountId: Codec,
		Balance: Codec,
		JobOffer: Codec,
		ResourceOffer: Codec,
		Match: Codec,
		Error: Codec,
		Actors: Codec,
		Parameters: Codec,
	{
		/// Every job offer still waiting for a match.
		fn open_job_offers() -> Vec<(OfferId, JobOffer)>;

		/// Every resource offer still waiting for a match.
		fn open_resource_offers() -> Vec<(OfferId, ResourceOffer)>;

		/// Every open match, by id.
		fn open_matches() -> Vec<(MatchId, Match)>;

		/// Every registered job creator, resource provider, mediator and directory.
		fn actors() -> Actors;

		/// The market's chain parameters.
		fn parameters() -> Option<Parameters>;

		/// An open match: its parties, terms, state and deadlines.
		fn match_info(match_id: MatchId) -> Option<Match>;

		/// d_min (Eq. 2) of a job with these limits and bids, under this mediator and directory.
		fn minimum_deposit(
			limits: Resources,
			cpu_bid: Balance,
			bandwidth_bid: Balance,
			mediator: AccountId,
			directory: AccountId,
		) -> Result<Balance, Error>;

		/// Dry-run of `post_match`: `Ok(d_min)` if the match is feasible now, else the error of
		/// the first rule it breaks (the "why no match?" question).
		fn check_match(job_offer: OfferId, resource_offer: OfferId, mediator: AccountId) -> Result<Balance, Error>;

		/// The largest deposit or bond the account can hold next while staying alive: funded by
		/// its join grant or by its own funds, never both.
		fn spendable_balance(who: AccountId) -> Balance;

		/// Whether the directory's last heartbeat is within the heartbeat period.
		fn directory_available(directory: AccountId) -> bool;

		/// The reputation of a resource provider or mediator (`role`): counted matches by
		/// ending and the decayed successes and failures its score comes from.
		fn reputation(who: AccountId, role: Role) -> Reputation;
	}

	/// Join grants and the welfare pool, as the CLI and wallets read them.
	pub trait GrantApi<AccountId, Balance, BlockNumber>
	where
		AccountId: Codec,
		Balance: Codec,
		BlockNumber: Codec,
	{
		/// The account's join grant: what of it is held for the market, what funds its market
		/// deposits and bonds, and when it expires. `None` for an account without one.
		fn grant(who: AccountId) -> Option<Grant<Balance, BlockNumber>>;

		/// The grant terms and the difficulty a claim in the next block must meet, in expected
		/// hashes; `None` if the chain pays no grants.
		fn grant_terms() -> Option<(GrantTerms<Balance, BlockNumber>, u128)>;

		/// The welfare pool's account and what it can pay out while staying alive.
		fn welfare_pool() -> (AccountId, Balance);
	}
}
