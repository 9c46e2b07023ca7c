//! `market_*` JSON-RPC methods: the market runtime API over JSON, for scripts and the CLI.
//! Polkadot.js users can call the same queries as `api.call.marketApi.*` with no definitions.

use jsonrpsee::{
	core::RpcResult,
	proc_macros::rpc,
	types::{error::ErrorObject, ErrorObjectOwned},
};
use modicum_runtime::{opaque::Block, AccountId, Balance, Runtime};
use pallet_market::{
	runtime_api::MarketApi as MarketRuntimeApi, ActorsOf, JobOfferOf, MatchId, MatchOf, OfferId,
	Reputation, ResourceOfferOf, Resources, Role,
};
use serde::Serialize;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_runtime::Perbill;
use std::sync::Arc;

type Hash = <Block as sp_runtime::traits::Block>::Hash;

/// The open offers of both kinds.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenOffers {
	/// Job offers waiting for a match, by id.
	pub job_offers: Vec<(OfferId, JobOfferOf<Runtime>)>,
	/// Resource offers waiting for a match, by id.
	pub resource_offers: Vec<(OfferId, ResourceOfferOf<Runtime>)>,
}

/// The answer to "why no match?".
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feasibility {
	/// Whether `post_match` would succeed now.
	pub feasible: bool,
	/// d_min of the match, when feasible.
	pub minimum_deposit: Option<Balance>,
	/// The first rule it breaks (the pallet's error name), when not.
	pub failed_check: Option<String>,
}

/// A provider's or mediator's reputation with its score.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReputationReport {
	/// score = (s + 1) / (s + f + 2), in parts per billion.
	pub score: Perbill,
	/// How many matches counted.
	pub counted: u32,
	/// The decayed sums and the counted matches by ending.
	#[serde(flatten)]
	pub reputation: Reputation,
}

/// The market's JSON-RPC methods.
#[rpc(server, namespace = "market")]
pub trait MarketApi {
	/// Every open job offer and resource offer.
	#[method(name = "openOffers")]
	fn open_offers(&self, at: Option<Hash>) -> RpcResult<OpenOffers>;

	/// An open match: parties, terms, state and deadlines.
	#[method(name = "match")]
	fn match_info(
		&self,
		match_id: MatchId,
		at: Option<Hash>,
	) -> RpcResult<Option<MatchOf<Runtime>>>;

	/// The reputation of `who` as a resource provider or a mediator.
	#[method(name = "reputation")]
	fn reputation(
		&self,
		who: AccountId,
		role: Role,
		at: Option<Hash>,
	) -> RpcResult<ReputationReport>;

	/// Every open match, by id.
	#[method(name = "openMatches")]
	fn open_matches(&self, at: Option<Hash>) -> RpcResult<Vec<(MatchId, MatchOf<Runtime>)>>;

	/// Every registered job creator, resource provider, mediator and directory.
	#[method(name = "actors")]
	fn actors(&self, at: Option<Hash>) -> RpcResult<ActorsOf<Runtime>>;

	/// d_min (Eq. 2) of a job with these limits and bids under this mediator and directory.
	#[method(name = "minimumDeposit")]
	fn minimum_deposit(
		&self,
		limits: Resources,
		cpu_bid: Balance,
		bandwidth_bid: Balance,
		mediator: AccountId,
		directory: AccountId,
		at: Option<Hash>,
	) -> RpcResult<Balance>;

	/// Dry-run of `post_match`: feasible, or the first check it fails.
	#[method(name = "checkMatch")]
	fn check_match(
		&self,
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: AccountId,
		at: Option<Hash>,
	) -> RpcResult<Feasibility>;
}

/// Serves [`MarketApiServer`] from the client's runtime API.
pub struct Market<C> {
	client: Arc<C>,
}

impl<C> Market<C> {
	/// Serve the market queries of `client`.
	pub fn new(client: Arc<C>) -> Self {
		Self { client }
	}
}

fn call_failed(error: impl std::fmt::Display) -> ErrorObjectOwned {
	ErrorObject::owned(1, format!("the market runtime API call failed: {error}"), None::<()>)
}

fn market_error(error: pallet_market::Error<Runtime>) -> ErrorObjectOwned {
	ErrorObject::owned(2, format!("{error:?}"), None::<()>)
}

impl<C> Market<C>
where
	C: HeaderBackend<Block>,
{
	fn at(&self, at: Option<Hash>) -> Hash {
		at.unwrap_or_else(|| self.client.info().best_hash)
	}
}

pub use modicum_roles::chain::RuntimeMarketApi;

impl<C> MarketApiServer for Market<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: RuntimeMarketApi,
{
	fn open_offers(&self, at: Option<Hash>) -> RpcResult<OpenOffers> {
		let (api, at) = (self.client.runtime_api(), self.at(at));
		Ok(OpenOffers {
			job_offers: api.open_job_offers(at).map_err(call_failed)?,
			resource_offers: api.open_resource_offers(at).map_err(call_failed)?,
		})
	}

	fn match_info(
		&self,
		match_id: MatchId,
		at: Option<Hash>,
	) -> RpcResult<Option<MatchOf<Runtime>>> {
		self.client.runtime_api().match_info(self.at(at), match_id).map_err(call_failed)
	}

	fn reputation(
		&self,
		who: AccountId,
		role: Role,
		at: Option<Hash>,
	) -> RpcResult<ReputationReport> {
		let reputation =
			self.client.runtime_api().reputation(self.at(at), who, role).map_err(call_failed)?;
		Ok(ReputationReport {
			score: reputation.score(),
			counted: reputation.counted(),
			reputation,
		})
	}

	fn open_matches(&self, at: Option<Hash>) -> RpcResult<Vec<(MatchId, MatchOf<Runtime>)>> {
		self.client.runtime_api().open_matches(self.at(at)).map_err(call_failed)
	}

	fn actors(&self, at: Option<Hash>) -> RpcResult<ActorsOf<Runtime>> {
		self.client.runtime_api().actors(self.at(at)).map_err(call_failed)
	}

	fn minimum_deposit(
		&self,
		limits: Resources,
		cpu_bid: Balance,
		bandwidth_bid: Balance,
		mediator: AccountId,
		directory: AccountId,
		at: Option<Hash>,
	) -> RpcResult<Balance> {
		self.client
			.runtime_api()
			.minimum_deposit(self.at(at), limits, cpu_bid, bandwidth_bid, mediator, directory)
			.map_err(call_failed)?
			.map_err(market_error)
	}

	fn check_match(
		&self,
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: AccountId,
		at: Option<Hash>,
	) -> RpcResult<Feasibility> {
		let result = self
			.client
			.runtime_api()
			.check_match(self.at(at), job_offer, resource_offer, mediator)
			.map_err(call_failed)?;
		Ok(match result {
			Ok(deposit) => {
				Feasibility { feasible: true, minimum_deposit: Some(deposit), failed_check: None }
			}
			Err(error) => Feasibility {
				feasible: false,
				minimum_deposit: None,
				failed_check: Some(format!("{error:?}")),
			},
		})
	}
}
