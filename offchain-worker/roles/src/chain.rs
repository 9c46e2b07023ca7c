//! The chain client: market state read through the runtime API at the best or the finalized
//! block, and extrinsics signed with a keystore key and submitted to the node's own pool.

use codec::Encode;
use futures::{future::BoxFuture, StreamExt};
use modicum_runtime::{
	opaque::Block, AccountId, Balance, BlockNumber, Hash, Nonce, Runtime, RuntimeCall,
	UncheckedExtrinsic,
};
use pallet_market::{
	runtime_api::MarketApi, ActorsOf, JobOfferOf, MarketParametersOf, MatchId, MatchOf, OfferId,
	ResourceOfferOf,
};
use sc_client_api::BlockchainEvents;
use sp_api::{Core, ProvideRuntimeApi};
use sp_blockchain::HeaderBackend;
use modicum_common::signing::{
	birth_number, signed_extrinsic, SigningContext, KEY_TYPE, MORTALITY,
};
use sp_core::sr25519;
use sp_keystore::KeystorePtr;
use sp_runtime::{generic::Era, traits::Header as _};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Blocks the account's on-chain nonce may stand still while later transactions wait before
/// the lowest one is taken as dropped and the sequence restarts from the chain.
const STALL_BLOCKS: BlockNumber = 4;

/// The market runtime API as this runtime instantiates it.
pub trait RuntimeMarketApi:
	MarketApi<
	Block,
	AccountId,
	Balance,
	JobOfferOf<Runtime>,
	ResourceOfferOf<Runtime>,
	MatchOf<Runtime>,
	pallet_market::Error<Runtime>,
	ActorsOf<Runtime>,
	MarketParametersOf<Runtime>,
>
{
}

impl<A> RuntimeMarketApi for A where
	A: MarketApi<
		Block,
		AccountId,
		Balance,
		JobOfferOf<Runtime>,
		ResourceOfferOf<Runtime>,
		MatchOf<Runtime>,
		pallet_market::Error<Runtime>,
		ActorsOf<Runtime>,
		MarketParametersOf<Runtime>,
	>
{
}

/// Why the chain could not answer or take a transaction.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
	/// A runtime API call failed.
	#[error("runtime API call failed: {0}")]
	Api(String),
	/// The market refuses the call (a dry-run's answer).
	#[error("refused: {0}")]
	Refused(String),
	/// The keystore has no sr25519 key of type `mdcm` for the account.
	#[error(
		"no `mdcm` sr25519 key for {0} in the node keystore; insert one with `modicum-node key insert --key-type mdcm --scheme sr25519 --suri <seed>`"
	)]
	MissingKey(String),
	/// The keystore refused to sign.
	#[error("signing failed: {0}")]
	Signing(String),
	/// The transaction pool refused the transaction.
	#[error("transaction pool refused the transaction: {0}")]
	Pool(String),
}

/// A block the worker acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
	/// Its hash.
	pub hash: Hash,
	/// Its number.
	pub number: BlockNumber,
}

/// What the chain client needs of the node's client, erased so workers stay non-generic.
pub trait ChainState: Send + Sync {
	/// The best block.
	fn best(&self) -> BlockRef;
	/// The last finalized block.
	fn finalized(&self) -> BlockRef;
	/// The genesis hash.
	fn genesis(&self) -> Hash;
	/// The hash of block `number` of the best chain.
	fn block_hash(&self, number: BlockNumber) -> Result<Option<Hash>, ChainError>;
	/// The runtime's `(spec_version, transaction_version)` at a block.
	fn versions(&self, at: Hash) -> Result<(u32, u32), ChainError>;
	/// The next nonce of an account at a block.
	fn account_nonce(&self, at: Hash, who: &AccountId) -> Result<Nonce, ChainError>;
	/// What an account can spend at a block (keeping it alive).
	fn spendable_balance(&self, at: Hash, who: &AccountId) -> Result<Balance, ChainError>;
	/// Open job offers at a block.
	fn open_job_offers(&self, at: Hash) -> Result<Vec<(OfferId, JobOfferOf<Runtime>)>, ChainError>;
	/// Open resource offers at a block.
	fn open_resource_offers(
		&self,
		at: Hash,
	) -> Result<Vec<(OfferId, ResourceOfferOf<Runtime>)>, ChainError>;
	/// Open matches at a block.
	fn open_matches(&self, at: Hash) -> Result<Vec<(MatchId, MatchOf<Runtime>)>, ChainError>;
	/// Registered actors at a block.
	fn actors(&self, at: Hash) -> Result<ActorsOf<Runtime>, ChainError>;
	/// Market parameters at a block.
	fn parameters(&self, at: Hash) -> Result<MarketParametersOf<Runtime>, ChainError>;
	/// Dry-run of `post_match` at a block: d_min, or the rule the match breaks.
	fn check_match(
		&self,
		at: Hash,
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: &AccountId,
	) -> Result<Balance, ChainError>;
	/// Whether a directory's heartbeat is recent at a block.
	fn directory_available(&self, at: Hash, directory: &AccountId) -> Result<bool, ChainError>;
}

fn api_error(e: impl std::fmt::Debug) -> ChainError {
	ChainError::Api(format!("{e:?}"))
}

impl<C> ChainState for C
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync,
	C::Api: RuntimeMarketApi
		+ frame_system_rpc_runtime_api::AccountNonceApi<Block, AccountId, Nonce>
		+ Core<Block>,
{
	fn best(&self) -> BlockRef {
		let info = self.info();
		BlockRef { hash: info.best_hash, number: info.best_number }
	}

	fn finalized(&self) -> BlockRef {
		let info = self.info();
		BlockRef { hash: info.finalized_hash, number: info.finalized_number }
	}

	fn genesis(&self) -> Hash {
		self.info().genesis_hash
	}

	fn block_hash(&self, number: BlockNumber) -> Result<Option<Hash>, ChainError> {
		self.hash(number).map_err(api_error)
	}

	fn versions(&self, at: Hash) -> Result<(u32, u32), ChainError> {
		let version = self.runtime_api().version(at).map_err(api_error)?;
		Ok((version.spec_version, version.transaction_version))
	}

	fn account_nonce(&self, at: Hash, who: &AccountId) -> Result<Nonce, ChainError> {
		use frame_system_rpc_runtime_api::AccountNonceApi;
		self.runtime_api().account_nonce(at, who.clone()).map_err(api_error)
	}

	fn spendable_balance(&self, at: Hash, who: &AccountId) -> Result<Balance, ChainError> {
		self.runtime_api().spendable_balance(at, who.clone()).map_err(api_error)
	}

	fn open_job_offers(&self, at: Hash) -> Result<Vec<(OfferId, JobOfferOf<Runtime>)>, ChainError> {
		self.runtime_api().open_job_offers(at).map_err(api_error)
	}

	fn open_resource_offers(
		&self,
		at: Hash,
	) -> Result<Vec<(OfferId, ResourceOfferOf<Runtime>)>, ChainError> {
		self.runtime_api().open_resource_offers(at).map_err(api_error)
	}

	fn open_matches(&self, at: Hash) -> Result<Vec<(MatchId, MatchOf<Runtime>)>, ChainError> {
		self.runtime_api().open_matches(at).map_err(api_error)
	}

	fn actors(&self, at: Hash) -> Result<ActorsOf<Runtime>, ChainError> {
		self.runtime_api().actors(at).map_err(api_error)
	}

	fn parameters(&self, at: Hash) -> Result<MarketParametersOf<Runtime>, ChainError> {
		self.runtime_api()
			.parameters(at)
			.map_err(api_error)?
			.ok_or_else(|| ChainError::Api("the market has no parameters".into()))
	}

	fn check_match(
		&self,
		at: Hash,
		job_offer: OfferId,
		resource_offer: OfferId,
		mediator: &AccountId,
	) -> Result<Balance, ChainError> {
		self.runtime_api()
			.check_match(at, job_offer, resource_offer, mediator.clone())
			.map_err(api_error)?
			.map_err(|e| ChainError::Refused(format!("{e:?}")))
	}

	fn directory_available(&self, at: Hash, directory: &AccountId) -> Result<bool, ChainError> {
		self.runtime_api().directory_available(at, directory.clone()).map_err(api_error)
	}
}

/// Submits an encoded extrinsic to the node's pool at a block; erased from the pool's type.
pub type Submitter =
	Arc<dyn Fn(Hash, Vec<u8>) -> BoxFuture<'static, Result<Hash, String>> + Send + Sync>;

/// The newest best and finalized blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
	/// The best block: workers act on it.
	pub best: BlockRef,
	/// The finalized block: workers settle on it.
	pub finalized: BlockRef,
}

/// Follows the node's best and finalized blocks into a watch channel; the returned future runs
/// for as long as the node does.
pub fn follow<C>(client: Arc<C>) -> (watch::Receiver<Heads>, BoxFuture<'static, ()>)
where
	C: BlockchainEvents<Block> + ChainState + 'static,
{
	let heads = Heads { best: client.best(), finalized: client.finalized() };
	let (sender, receiver) = watch::channel(heads);
	let task = async move {
		let mut imports = client.import_notification_stream();
		let mut finality = client.finality_notification_stream();
		loop {
			let mut heads = *sender.borrow();
			tokio::select! {
				Some(block) = imports.next() => {
					if !block.is_new_best {
						continue;
					}
					heads.best = BlockRef { hash: block.hash, number: *block.header.number() };
				},
				Some(block) = finality.next() => {
					heads.finalized = BlockRef { hash: block.hash, number: *block.header.number() };
				},
				else => break,
			}
			if sender.send(heads).is_err() {
				break;
			}
		}
	};
	(receiver, Box::pin(task))
}

/// An account's nonce sequence as its node's workers hand it out.
struct NonceSequence {
	/// The nonce the next transaction takes.
	next: Nonce,
	/// The account's nonce on chain when last read.
	on_chain: Nonce,
	/// The block from which the transaction at `on_chain` is awaited.
	since: BlockNumber,
}

impl NonceSequence {
	/// The nonce for a transaction at `best`, the chain's being `on_chain`: the next of the
	/// sequence, unless nothing is pending or the lowest pending transaction has not shown for
	/// [`STALL_BLOCKS`] (dropped, or refused at inclusion): then the chain's.
	fn next(sequence: &mut Option<Self>, on_chain: Nonce, best: BlockNumber) -> Nonce {
		let s = sequence.get_or_insert(Self { next: on_chain, on_chain, since: best });
		if on_chain != s.on_chain {
			s.on_chain = on_chain;
			s.since = best;
		}
		if s.next <= on_chain {
			s.next = on_chain;
			s.since = best;
		} else if best >= s.since.saturating_add(STALL_BLOCKS) {
			tracing::warn!(target: "modicum", on_chain, next = s.next, "transaction nonce sequence stalled; resyncing from the chain");
			s.next = on_chain;
			s.since = best;
		}
		s.next
	}
}

/// One nonce sequence per account, shared by every role of a node that signs as it.
#[derive(Clone, Default)]
pub struct Nonces(Arc<Mutex<std::collections::HashMap<AccountId, SharedSequence>>>);

type SharedSequence = Arc<tokio::sync::Mutex<Option<NonceSequence>>>;

impl Nonces {
	fn of(&self, account: &AccountId) -> SharedSequence {
		let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
		all.entry(account.clone()).or_default().clone()
	}
}

/// Whether the node is still catching up with the network.
pub type SyncOracle = Arc<dyn Fn() -> bool + Send + Sync>;

/// One worker account's view of the chain: reads market state, signs and submits.
#[derive(Clone)]
pub struct Chain {
	state: Arc<dyn ChainState>,
	syncing: SyncOracle,
	submitter: Submitter,
	keystore: KeystorePtr,
	signer: sr25519::Public,
	account: AccountId,
	heads: watch::Receiver<Heads>,
	/// Turns true when the node stops.
	stop: watch::Receiver<bool>,
	nonces: SharedSequence,
	/// The last runtime versions seen, keyed by the block they were read at.
	versions: Arc<Mutex<Option<(Hash, (u32, u32))>>>,
}

impl Chain {
	/// A chain client signing as `signer`, which must have an `mdcm` key in the keystore; its
	/// nonces come from the node's sequence for the account.
	pub fn new(
		state: Arc<dyn ChainState>,
		syncing: SyncOracle,
		submitter: Submitter,
		keystore: KeystorePtr,
		signer: sr25519::Public,
		heads: watch::Receiver<Heads>,
		stop: watch::Receiver<bool>,
		nonces: &Nonces,
	) -> Result<Self, ChainError> {
		let account = AccountId::from(signer);
		let nonces = nonces.of(&account);
		if !keystore.has_keys(&[(signer.to_vec(), KEY_TYPE)]) {
			return Err(ChainError::MissingKey(account.to_string()));
		}
		Ok(Self {
			state,
			syncing,
			submitter,
			keystore,
			signer,
			account,
			heads,
			stop,
			nonces,
			versions: Default::default(),
		})
	}

	/// The account this client signs as.
	pub fn account(&self) -> &AccountId {
		&self.account
	}

	/// Market state.
	pub fn state(&self) -> &dyn ChainState {
		&*self.state
	}

	/// The newest heads.
	pub fn heads(&self) -> Heads {
		*self.heads.borrow()
	}

	/// Waits for a new best or finalized block while the node is in sync (the state of a block
	/// behind the network's is stale: acting on it would rerun settled work); `None` once the
	/// node stops, so that every role's loop ends and shuts down.
	pub async fn next_heads(&mut self) -> Option<Heads> {
		loop {
			tokio::select! {
				biased;
				// A stop signal gone with its sender is a stop too.
				_ = self.stop.wait_for(|stop| *stop) => return None,
				changed = self.heads.changed() => changed.ok()?,
			}
			let heads = *self.heads.borrow_and_update();
			if !(self.syncing)() {
				return Some(heads);
			}
		}
	}

	/// Signs `call` with the next nonce and submits it to the node's pool at the best block.
	pub async fn submit(&self, call: impl Into<RuntimeCall>) -> Result<Hash, ChainError> {
		let call = call.into();
		// One submission at a time per account, so nonces are handed out in order.
		let mut sequence = self.nonces.lock().await;
		let best = self.state.best();
		let on_chain = self.state.account_nonce(best.hash, &self.account)?;
		let nonce = NonceSequence::next(&mut sequence, on_chain, best.number);
		let birth_number = birth_number(best.number, self.state.finalized().number);
		let birth = BlockRef {
			number: birth_number,
			hash: self
				.state
				.block_hash(birth_number)?
				.ok_or_else(|| ChainError::Api(format!("no block #{birth_number}")))?,
		};
		let extrinsic = self.sign(call, nonce, best, birth)?;
		let submitted = (self.submitter)(best.hash, extrinsic.encode()).await;
		if let Some(sequence) = sequence.as_mut() {
			// A refused transaction takes no nonce: the next one starts from the chain's.
			sequence.next = if submitted.is_ok() { nonce + 1 } else { on_chain };
		}
		submitted.map_err(ChainError::Pool)
	}

	fn versions(&self, at: Hash) -> Result<(u32, u32), ChainError> {
		// Nothing panics while holding the lock; a poisoned cache is still a valid cache.
		let mut cached = self.versions.lock().unwrap_or_else(|e| e.into_inner());
		match *cached {
			Some((hash, versions)) if hash == at => Ok(versions),
			_ => {
				let versions = self.state.versions(at)?;
				*cached = Some((at, versions));
				Ok(versions)
			}
		}
	}

	/// Signs `call` for the runtime of `best`, in a mortal era born at `birth` (see
	/// [`birth_number`]): a best block can be reorganised away, and with it the hash the
	/// signature covers.
	fn sign(
		&self,
		call: RuntimeCall,
		nonce: Nonce,
		best: BlockRef,
		birth: BlockRef,
	) -> Result<UncheckedExtrinsic, ChainError> {
		let (spec_version, transaction_version) = self.versions(best.hash)?;
		let era = Era::mortal(MORTALITY, birth.number.into());
		let context = SigningContext {
			spec_version,
			transaction_version,
			genesis: self.state.genesis(),
			era: (era, birth.hash),
		};
		signed_extrinsic(call, self.account.clone(), nonce, context, |payload| {
			self.keystore
				.sr25519_sign(KEY_TYPE, &self.signer, payload)
				.map_err(|e| ChainError::Signing(e.to_string()))?
				.ok_or_else(|| ChainError::MissingKey(self.account.to_string()))
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_dropped_transaction_stalls_later_ones_for_a_few_blocks_only() {
		let mut sequence = None;
		// Three transactions at block 10: nonces 5, 6, 7.
		for expected in 5..8 {
			assert_eq!(NonceSequence::next(&mut sequence, 5, 10), expected);
			sequence.as_mut().unwrap().next = expected + 1;
		}
		// The first is included, the second dropped: the chain stands at 6.
		assert_eq!(NonceSequence::next(&mut sequence, 6, 11), 8);
		sequence.as_mut().unwrap().next = 9;
		assert_eq!(NonceSequence::next(&mut sequence, 6, 11 + STALL_BLOCKS - 1), 9);
		// No progress for STALL_BLOCKS: the sequence restarts at the chain's nonce.
		assert_eq!(NonceSequence::next(&mut sequence, 6, 11 + STALL_BLOCKS), 6);
	}

	#[test]
	fn roles_sharing_an_account_share_one_sequence() {
		let nonces = Nonces::default();
		let alice = AccountId::from([1; 32]);
		assert!(Arc::ptr_eq(&nonces.of(&alice), &nonces.of(&alice)));
		assert!(!Arc::ptr_eq(&nonces.of(&alice), &nonces.of(&AccountId::from([2; 32]))));
	}
}
