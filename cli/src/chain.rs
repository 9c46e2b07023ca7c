//! The chain as the CLI reads and changes it over JSON-RPC: runtime API calls and storage
//! decoded with the runtime's own types, extrinsics signed with the worker's signing function.

use crate::rpc::{Rpc, RpcError};
use codec::{Decode, Encode};
use modicum_common::signing::{birth_number, signed_extrinsic, SigningContext, MORTALITY};
use modicum_runtime::{
	AccountId, Balance, BlockNumber, Hash, Runtime, RuntimeCall, RuntimeEvent,
};
use pallet_market::{
	ActorsOf, GrantOf, GrantTermsOf, JobOfferOf, MarketParametersOf, MatchId, MatchOf, OfferId,
	Reputation, ResourceOfferOf, Role,
};
use serde_json::{json, Value};
use sp_core::{bytes, sr25519, Pair};
use sp_runtime::generic::Era;
use std::{sync::Arc, time::Duration};

/// A market error with its name and the pallet's own explanation of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
	/// The pallet's error name (`DepositTooLow`).
	pub error: String,
	/// Its documentation, from the runtime's type information.
	pub explanation: String,
}

impl std::fmt::Display for Refusal {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "{}", self.error)?;
		if !self.explanation.is_empty() {
			write!(f, " ({})", self.explanation)?;
		}
		Ok(())
	}
}

/// A market error explained by the docs of its variant.
pub fn refusal(error: &pallet_market::Error<Runtime>) -> Refusal {
	let name = format!("{error:?}");
	let info = <pallet_market::Error<Runtime> as scale_info::TypeInfo>::type_info();
	let explanation = match info.type_def {
		scale_info::TypeDef::Variant(def) => def
			.variants
			.iter()
			.find(|v| v.name == name)
			.map(|v| v.docs.join(" ").trim().to_string())
			.unwrap_or_default(),
		_ => String::new(),
	};
	Refusal { error: name, explanation }
}

/// Why the chain did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
	/// The node did not answer.
	#[error(transparent)]
	Rpc(#[from] RpcError),
	/// An answer did not decode with the runtime's types: the node runs another runtime.
	#[error("{0} did not decode with this CLI's runtime types: is the node a Modicum node of the same version?")]
	Decode(String),
	/// The transaction was included and failed.
	#[error("the chain refused the transaction: {0}")]
	Refused(Refusal),
	/// It failed outside the market (fees, a bad origin…).
	#[error("the transaction failed: {0}")]
	Failed(String),
	/// It did not show up in a block before its era ended.
	#[error("the transaction was not included within {0} blocks (dropped by the pool?)")]
	NotIncluded(u64),
	/// The node's best block did not move.
	#[error("the node's best block stayed at #{0} for {STALL_TIMEOUT:?}: is it syncing or cut off from its peers?")]
	Stalled(BlockNumber),
	/// There is no signing account.
	#[error("no account: give --seed, --seed-file or --keystore, or set MODICUM_SEED")]
	NoAccount,
}

/// How long the best block may stand still before a wait for the next one fails.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
	/// Its number.
	pub number: BlockNumber,
	/// Its hash.
	pub hash: Hash,
}

/// An included transaction.
#[derive(Clone, Debug)]
pub struct Included {
	/// The block it is in.
	pub block: Block,
	/// The events it emitted.
	pub events: Vec<RuntimeEvent>,
}

/// Free, reserved (held) and frozen balance of an account.
pub type AccountData = pallet_balances::AccountData<Balance>;

/// A hold on an account's balance and its reason.
pub type Hold = frame_support::traits::tokens::IdAmount<modicum_runtime::RuntimeHoldReason, Balance>;

/// The chain through one node.
#[derive(Clone)]
pub struct Chain {
	rpc: Rpc,
	genesis: Hash,
	signer: Option<sr25519::Pair>,
	/// The next nonce this process hands out: submissions from tasks side by side take one
	/// each, never the same.
	next_nonce: Arc<tokio::sync::Mutex<Option<u32>>>,
}

fn hex_of(bytes: &[u8]) -> String {
	bytes::to_hex(bytes, false)
}

fn hash_of(value: &Value, what: &str) -> Result<Hash, ChainError> {
	let text = value.as_str().ok_or_else(|| ChainError::Decode(what.into()))?;
	let raw = bytes::from_hex(text).map_err(|_| ChainError::Decode(what.into()))?;
	(raw.len() == 32)
		.then(|| Hash::from_slice(&raw))
		.ok_or_else(|| ChainError::Decode(what.into()))
}

fn decode<T: Decode>(raw: &[u8], what: &str) -> Result<T, ChainError> {
	T::decode(&mut &raw[..]).map_err(|_| ChainError::Decode(what.into()))
}

impl Chain {
	/// Connects to the node at `url`, signing as `signer` when given.
	pub async fn connect(url: &str, signer: Option<sr25519::Pair>) -> Result<Self, ChainError> {
		let rpc = Rpc::new(url)?;
		let genesis: Value = rpc.call("chain_getBlockHash", json!([0])).await?;
		let genesis = hash_of(&genesis, "the genesis hash")?;
		Ok(Self { rpc, genesis, signer, next_nonce: Default::default() })
	}

	/// The account the CLI signs as.
	pub fn account(&self) -> Result<AccountId, ChainError> {
		self.signer.as_ref().map(|pair| pair.public().into()).ok_or(ChainError::NoAccount)
	}

	/// The genesis hash.
	pub fn genesis(&self) -> Hash {
		self.genesis
	}

	async fn header_of(&self, hash: Option<Hash>) -> Result<Block, ChainError> {
		let header: Value = self.rpc.call("chain_getHeader", json!([hash])).await?;
		let number = header["number"]
			.as_str()
			.and_then(|n| BlockNumber::from_str_radix(n.trim_start_matches("0x"), 16).ok())
			.ok_or_else(|| ChainError::Decode("a header".into()))?;
		let hash = match hash {
			Some(hash) => hash,
			None => self.block_hash(number).await?.ok_or_else(|| ChainError::Decode("the best block".into()))?,
		};
		Ok(Block { number, hash })
	}

	/// The best block.
	pub async fn best(&self) -> Result<Block, ChainError> {
		self.header_of(None).await
	}

	/// The last finalized block.
	pub async fn finalized(&self) -> Result<Block, ChainError> {
		let hash: Value = self.rpc.call("chain_getFinalizedHead", json!([])).await?;
		self.header_of(Some(hash_of(&hash, "the finalized head")?)).await
	}

	/// The hash of block `number` of the best chain.
	pub async fn block_hash(&self, number: BlockNumber) -> Result<Option<Hash>, ChainError> {
		let hash: Value = self.rpc.call("chain_getBlockHash", json!([number])).await?;
		if hash.is_null() {
			return Ok(None);
		}
		hash_of(&hash, "a block hash").map(Some)
	}

	/// A runtime API call of the market at `at`.
	async fn market_api<T: Decode>(&self, function: &str, args: impl Encode, at: Hash) -> Result<T, ChainError> {
		self.runtime_api(&format!("MarketApi_{function}"), args, at).await
	}

	/// A runtime API call of join grants at `at`.
	async fn grant_api<T: Decode>(&self, function: &str, args: impl Encode, at: Hash) -> Result<T, ChainError> {
		self.runtime_api(&format!("GrantApi_{function}"), args, at).await
	}

	async fn runtime_api<T: Decode>(&self, method: &str, args: impl Encode, at: Hash) -> Result<T, ChainError> {
		let raw: String =
			self.rpc.call("state_call", json!([method, hex_of(&args.encode()), at])).await?;
		let raw = bytes::from_hex(&raw).map_err(|_| ChainError::Decode(method.into()))?;
		decode(&raw, method)
	}

	async fn storage<T: Decode>(&self, key: Vec<u8>, at: Hash, what: &str) -> Result<Option<T>, ChainError> {
		let raw: Option<String> = self.rpc.call("state_getStorage", json!([hex_of(&key), at])).await?;
		let Some(raw) = raw else { return Ok(None) };
		let raw = bytes::from_hex(&raw).map_err(|_| ChainError::Decode(what.into()))?;
		decode(&raw, what).map(Some)
	}

	/// The market's parameters.
	pub async fn parameters(&self, at: Hash) -> Result<MarketParametersOf<Runtime>, ChainError> {
		let parameters: Option<MarketParametersOf<Runtime>> = self.market_api("parameters", (), at).await?;
		parameters.ok_or_else(|| ChainError::Decode("the market has no parameters".into()))
	}

	/// Every registered actor.
	pub async fn actors(&self, at: Hash) -> Result<ActorsOf<Runtime>, ChainError> {
		self.market_api("actors", (), at).await
	}

	/// Open resource offers.
	pub async fn open_resource_offers(&self, at: Hash) -> Result<Vec<(OfferId, ResourceOfferOf<Runtime>)>, ChainError> {
		self.market_api("open_resource_offers", (), at).await
	}

	/// Open job offers.
	pub async fn open_job_offers(&self, at: Hash) -> Result<Vec<(OfferId, JobOfferOf<Runtime>)>, ChainError> {
		self.market_api("open_job_offers", (), at).await
	}

	/// Open matches.
	pub async fn open_matches(&self, at: Hash) -> Result<Vec<(MatchId, MatchOf<Runtime>)>, ChainError> {
		self.market_api("open_matches", (), at).await
	}

	/// An open match.
	pub async fn match_info(&self, id: MatchId, at: Hash) -> Result<Option<MatchOf<Runtime>>, ChainError> {
		self.market_api("match_info", id, at).await
	}

	/// A job offer, open or taken by an open match.
	pub async fn job_offer(&self, id: OfferId, at: Hash) -> Result<Option<JobOfferOf<Runtime>>, ChainError> {
		let key = pallet_market::JobOffers::<Runtime>::hashed_key_for(id);
		self.storage(key, at, "a job offer").await
	}

	/// The dry-run of `post_match`: `Ok(d_min)` or the rule it breaks.
	pub async fn check_match(
		&self,
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: &AccountId,
		at: Hash,
	) -> Result<Result<Balance, pallet_market::Error<Runtime>>, ChainError> {
		self.market_api("check_match", (job_offer, resource_offer, mediator), at).await
	}

	/// A provider's or mediator's reputation.
	pub async fn reputation(&self, who: &AccountId, role: Role, at: Hash) -> Result<Reputation, ChainError> {
		self.market_api("reputation", (who, role), at).await
	}

	/// Whether a directory heartbeats.
	pub async fn directory_available(&self, directory: &AccountId, at: Hash) -> Result<bool, ChainError> {
		self.market_api("directory_available", directory, at).await
	}

	/// What an account can spend while staying alive.
	pub async fn spendable(&self, who: &AccountId, at: Hash) -> Result<Balance, ChainError> {
		self.market_api("spendable_balance", who, at).await
	}

	/// An account's join grant, if it has one.
	pub async fn grant(&self, who: &AccountId, at: Hash) -> Result<Option<GrantOf<Runtime>>, ChainError> {
		self.grant_api("grant", who, at).await
	}

	/// The chain's grant terms and the difficulty of a claim in the next block; `None` if it
	/// pays no grants.
	pub async fn grant_terms(&self, at: Hash) -> Result<Option<(GrantTermsOf<Runtime>, u128)>, ChainError> {
		self.grant_api("grant_terms", (), at).await
	}

	/// The welfare pool's account and what it can pay out.
	pub async fn welfare_pool(&self, at: Hash) -> Result<(AccountId, Balance), ChainError> {
		self.grant_api("welfare_pool", (), at).await
	}

	/// The nonce the account's next transaction takes, counting those in the node's pool.
	pub async fn next_nonce(&self, who: &AccountId) -> Result<u32, ChainError> {
		Ok(self.rpc.call("system_accountNextIndex", json!([who.to_string()])).await?)
	}

	/// An account's balances.
	pub async fn balances(&self, who: &AccountId, at: Hash) -> Result<AccountData, ChainError> {
		let key = frame_system::Account::<Runtime>::hashed_key_for(who);
		let info: Option<frame_system::AccountInfo<u32, AccountData>> =
			self.storage(key, at, "an account").await?;
		Ok(info.map(|info| info.data).unwrap_or_default())
	}

	/// The holds on an account's balance.
	pub async fn holds(&self, who: &AccountId, at: Hash) -> Result<Vec<Hold>, ChainError> {
		let key = pallet_balances::Holds::<Runtime>::hashed_key_for(who);
		let holds: Option<Vec<Hold>> = self.storage(key, at, "holds").await?;
		Ok(holds.unwrap_or_default())
	}

	/// Every event of a block, with the extrinsic index that emitted it.
	pub async fn events(&self, at: Hash) -> Result<Vec<(Option<u32>, RuntimeEvent)>, ChainError> {
		let key = frame_support::storage::storage_prefix(b"System", b"Events").to_vec();
		let records: Option<Vec<frame_system::EventRecord<RuntimeEvent, Hash>>> =
			self.storage(key, at, "events").await?;
		Ok(records
			.unwrap_or_default()
			.into_iter()
			.map(|record| {
				let index = match record.phase {
					frame_system::Phase::ApplyExtrinsic(index) => Some(index),
					_ => None,
				};
				(index, record.event)
			})
			.collect())
	}

	/// Waits for the next best block after `after`, polling; a chain that makes none for
	/// [`STALL_TIMEOUT`] is an error, not a wait without end.
	pub async fn next_block(&self, after: BlockNumber) -> Result<Block, ChainError> {
		let started = std::time::Instant::now();
		loop {
			let best = self.best().await?;
			if best.number > after {
				return Ok(best);
			}
			if started.elapsed() > STALL_TIMEOUT {
				return Err(ChainError::Stalled(after));
			}
			tokio::time::sleep(Duration::from_millis(500)).await;
		}
	}

	/// Signs `call`, submits it and waits for its block; its events, or the market's refusal.
	pub async fn submit(&self, call: impl Into<RuntimeCall>) -> Result<Included, ChainError> {
		let call = call.into();
		let pair = self.signer.clone().ok_or(ChainError::NoAccount)?;
		let account: AccountId = pair.public().into();
		// Held from reading the nonce until the pool took the transaction (or refused it).
		let mut next_nonce = self.next_nonce.lock().await;
		let pending = self.next_nonce(&account).await?;
		let nonce = next_nonce.map_or(pending, |next| next.max(pending));
		let (best, finalized) = (self.best().await?, self.finalized().await?);
		let birth = birth_number(best.number, finalized.number);
		let birth_hash =
			self.block_hash(birth).await?.ok_or_else(|| ChainError::Decode("the era's birth block".into()))?;
		let version: Value = self.rpc.call("state_getRuntimeVersion", json!([best.hash])).await?;
		let version_field = |field: &str| {
			version[field].as_u64().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| ChainError::Decode(field.into()))
		};
		let context = SigningContext {
			spec_version: version_field("specVersion")?,
			transaction_version: version_field("transactionVersion")?,
			genesis: self.genesis,
			era: (Era::mortal(MORTALITY, birth.into()), birth_hash),
		};
		let extrinsic = signed_extrinsic(call, account, nonce, context, |payload| {
			Ok::<_, std::convert::Infallible>(pair.sign(payload))
		})
		.unwrap_or_else(|never| match never {});
		let encoded = hex_of(&extrinsic.encode());
		let _: Value = self.rpc.call("author_submitExtrinsic", json!([encoded])).await?;
		*next_nonce = Some(nonce + 1);
		drop(next_nonce);
		self.included(&encoded, best.number + 1, birth + MORTALITY as BlockNumber).await
	}

	/// Submits `call` unsigned (a claim the runtime checks by its content) and waits for its
	/// block, at most `blocks` blocks.
	pub async fn submit_unsigned(&self, call: impl Into<RuntimeCall>, blocks: BlockNumber) -> Result<Included, ChainError> {
		let extrinsic = modicum_runtime::UncheckedExtrinsic::new_bare(call.into());
		let encoded = hex_of(&extrinsic.encode());
		let best = self.best().await?;
		let _: Value = self.rpc.call("author_submitExtrinsic", json!([encoded])).await?;
		self.included(&encoded, best.number + 1, best.number + blocks).await
	}

	/// Waits for the extrinsic `encoded` in the best chain from block `next` on, until `last`;
	/// its events, or why it failed.
	async fn included(&self, encoded: &str, first: BlockNumber, last: BlockNumber) -> Result<Included, ChainError> {
		let mut next = first;
		loop {
			let best = self.next_block(next - 1).await?;
			while next <= best.number {
				let Some(hash) = self.block_hash(next).await? else { break };
				let block: Value = self.rpc.call("chain_getBlock", json!([hash])).await?;
				let extrinsics = block["block"]["extrinsics"].as_array().cloned().unwrap_or_default();
				if let Some(index) = extrinsics.iter().position(|x| x.as_str() == Some(encoded)) {
					let events: Vec<RuntimeEvent> = self
						.events(hash)
						.await?
						.into_iter()
						.filter(|(at, _)| *at == Some(index as u32))
						.map(|(_, event)| event)
						.collect();
					return outcome(Included { block: Block { number: next, hash }, events });
				}
				next += 1;
			}
			if next > last {
				return Err(ChainError::NotIncluded(u64::from(last.saturating_sub(first)) + 1));
			}
		}
	}
}

/// The included transaction, or why it failed.
fn outcome(included: Included) -> Result<Included, ChainError> {
	for event in &included.events {
		if let RuntimeEvent::System(frame_system::Event::ExtrinsicFailed { dispatch_error, .. }) = event {
			if let sp_runtime::DispatchError::Module(module) = dispatch_error {
				if let Ok(error) = pallet_market::Error::<Runtime>::decode(&mut &module.error[..]) {
					if usize::from(module.index) == market_index() {
						return Err(ChainError::Refused(refusal(&error)));
					}
				}
			}
			return Err(ChainError::Failed(format!("{dispatch_error:?}")));
		}
	}
	Ok(included)
}

/// The Market pallet's index in the runtime.
fn market_index() -> usize {
	use frame_support::traits::PalletInfo;
	<Runtime as frame_system::Config>::PalletInfo::index::<pallet_market::Pallet<Runtime>>()
		.unwrap_or(usize::MAX)
}
