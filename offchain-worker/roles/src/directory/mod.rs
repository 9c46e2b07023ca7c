//! The directory: registers the account in front of its OCI registry, posts a heartbeat every
//! half heartbeat period while the registry answers, so the chain (and every mediator) can tell
//! when it is down, and keeps the registry from filling up (`docs/how-to/remote-directory.md`).
//!
//! **Retention.** A job's image and result stay in the registry while its match is open — the
//! provider, the mediator and the job creator's verifier read them — and for `retention` blocks
//! after it closes; then the directory deletes the image's manifest and the result blob. A job
//! offer naming the directory that is cancelled or expires unmatched has its image deleted the
//! same way. Layer blobs are never deleted: other images share them (the base layer first of
//! all); the registry's own garbage collection reclaims what no manifest references any more.
//! Because that collection also sweeps blobs no manifest references, each result of an open
//! match is pinned by a small manifest naming it, deleted with the result.
//!
//! The directory follows finalized blocks one at a time and compares the job offers and matches
//! naming it that are open in each block with those open in the block before: what left closed
//! in that block — except a job offer that left in the block its match appeared, which was
//! matched. The chain forgets a closed match, so the image and result of each open match are
//! remembered.
//! That view, the last block it describes and the schedule of deletions are written to the
//! work directory after every round, so a restarted directory neither forgets a deletion nor
//! reads a block twice. Nothing is deleted while an open job offer or match of this directory
//! names it: the same image, or the same result, may serve several jobs.

mod collector;
mod retention;

pub use collector::{pin_manifest, Collector};
pub use retention::{Due, Kept, Object, Origin, Retention, Seen};

use crate::{
	chain::{BlockRef, Chain, ChainError, Heads},
	config::DirectoryConfig,
	context::Context,
	handler::{self, Handler},
	metrics::Metrics,
	registration::{due, Registration},
	startup::{bounded, ensure_bond},
	tasks::Tasks,
	WorkerError,
};
use collector::Keeper;
use modicum_common::{digest::digest_string, durable::write_durably};
use modicum_registry::{Deletion, Registries, Registry, RegistryError, RESULTS_REPOSITORY};
use futures::future::BoxFuture;
use modicum_common::config::accounts;
use modicum_runtime::{AccountId, BlockNumber, Hash, MarketCall, Runtime};
use pallet_market::{
	ActorsOf, Digest, JobOfferOf, MatchId, MatchOf, MatchState, OfferId, Role, TrustListOf,
};
use serde::{Deserialize, Serialize};
use std::{
	collections::{btree_map::Entry, BTreeMap, BTreeSet, HashMap},
	path::{Path, PathBuf},
};

const ROLE: &str = "directory";

/// Finalized blocks read per round: a directory catching up after a long stop reads its backlog
/// a slice at a time, between its other work.
const MAX_BLOCKS_PER_ROUND: BlockNumber = 64;

/// Deletions and pins sent per round.
const MAX_REQUESTS_PER_ROUND: usize = 64;

/// The longest pause, in blocks, before a failed deletion or pin is tried again (an hour of 2 s
/// blocks).
const MAX_BACKOFF: BlockNumber = 1_800;

/// Rounds an old finalized block's state may be unreadable before the blocks up to the
/// newest finalized one are skipped (the node prunes old state).
const UNREADABLE_ROUNDS: u32 = 3;

/// Media type of a result pin: an OCI manifest whose config is the result archive.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// What a result pin says its one blob is: an uncompressed tar.
const RESULT_MEDIA_TYPE: &str = "application/vnd.modicum.result.v1.tar";

/// Checks the registry answers and the account can bond, and returns the directory's loop:
/// heartbeats and retention side by side.
pub async fn start(
	chain: Chain,
	config: DirectoryConfig,
	work_dir: PathBuf,
	metrics: Metrics,
) -> Result<BoxFuture<'static, ()>, WorkerError> {
	ensure_bond(&chain, ROLE, Role::Directory, config.bond.0)?;
	let registry = Registries::load(&config.registry)?.client(&config.endpoint)?;
	registry.ping().await?;
	let endpoint: pallet_market::EndpointOf<modicum_runtime::Runtime> =
		config.endpoint.clone().into_bytes().try_into().map_err(|_| WorkerError::Invalid {
			role: ROLE,
			message: "`endpoint` is longer than the chain keeps".into(),
		})?;
	let invalid = |message: String| WorkerError::Invalid { role: ROLE, message };
	std::fs::create_dir_all(&work_dir)
		.map_err(|e| invalid(format!("work directory {}: {e}", work_dir.display())))?;
	// One file per chain and account: another chain's or account's schedule is never applied.
	let path = work_dir.join(format!("retention-{}.json", crate::namespace(&chain, ROLE)));
	let retention = Retention::load(&path).map_err(|e| {
		invalid(format!(
			"{}: {e}; move it away to start afresh (its deletions are then left to the operator)",
			path.display()
		))
	})?;
	tracing::info!(target: "modicum", account = %chain.account(), endpoint = %config.endpoint, retention = config.retention, "directory ready");
	// The trusted mediators follow once registered (`Heartbeat::keep_trust`): a mediator not
	// registered yet would fail the registration.
	let trusted: TrustListOf<Runtime> =
		bounded(ROLE, "trusted_mediators", accounts(&config.trusted_mediators))?;
	let call = MarketCall::register_directory {
		endpoint,
		fee: config.fee.0,
		trusted_mediators: Default::default(),
		bond: config.bond.0,
	};
	let registration =
		Registration::new(Role::Directory, "register_directory", call.into()).bonded(config.bond.0);
	let keeper = Keeper {
		chain: chain.clone(),
		retention,
		path,
		keep: config.retention,
		collector: Collector::new(registry.clone()),
		unreadable: None,
	};
	let heartbeat = Heartbeat {
		ctx: Context { chain, config, metrics },
		registry,
		registration,
		trusted,
		sent: None,
		trust_sent: None,
	};
	Ok(Box::pin(async move {
		futures::future::join(handler::run(heartbeat), handler::run(keeper)).await;
	}))
}

/// Registers the directory, then posts a heartbeat every half heartbeat period while the
/// registry answers.
struct Heartbeat {
	ctx: Context<DirectoryConfig>,
	registry: Registry,
	/// `register_directory` with the configured terms.
	registration: Registration,
	/// The mediators of the role file.
	trusted: TrustListOf<Runtime>,
	/// When the last heartbeat was sent.
	sent: Option<BlockNumber>,
	/// When the trust list was last edited.
	trust_sent: Option<BlockNumber>,
}

impl Handler for Heartbeat {
	type Output = ();
	const ROLE: &'static str = ROLE;

	fn chain(&self) -> &Chain {
		&self.ctx.chain
	}

	async fn on_block(&mut self, heads: Heads, _: &mut Tasks<()>) -> Result<(), WorkerError> {
		let best = heads.best;
		let state = self.ctx.chain.state();
		let (actors, parameters) = (state.actors(best.hash)?, state.parameters(best.hash)?);
		if !self.registration.ensure(&self.ctx, &actors, best.number).await {
			return Ok(());
		}
		let me = self.ctx.chain.account();
		let Some((_, info)) = actors.directories.iter().find(|(who, _)| who == me) else {
			return Ok(());
		};
		self.keep_trust(&actors, &info.trusted_mediators, best.number).await;
		let next = info.last_heartbeat.saturating_add(parameters.heartbeat_period / 2);
		if best.number < next || !due(self.sent, best.number) {
			return Ok(());
		}
		match self.registry.ping().await {
			Ok(()) => {
				self.sent = Some(best.number);
				self.ctx.submit("directory_heartbeat", MarketCall::directory_heartbeat {}.into()).await;
			},
			Err(e) => {
				tracing::warn!(target: "modicum", error = %e, "directory: registry down, no heartbeat")
			},
		}
		Ok(())
	}
}

impl Heartbeat {
	/// Keeps the directory's trusted mediators on chain those of its role file that are
	/// registered: a configured mediator is trusted once it registers, one no longer configured
	/// is dropped.
	async fn keep_trust(
		&mut self,
		actors: &ActorsOf<Runtime>,
		on_chain: &TrustListOf<Runtime>,
		now: BlockNumber,
	) {
		let registered = |who: &AccountId| actors.mediators.iter().any(|(m, _)| m == who);
		let trust: Vec<AccountId> = self
			.trusted
			.iter()
			.filter(|m| registered(m) && !on_chain.contains(m))
			.cloned()
			.collect();
		let drop: Vec<AccountId> =
			on_chain.iter().filter(|m| !self.trusted.contains(m)).cloned().collect();
		if (trust.is_empty() && drop.is_empty()) || !due(self.trust_sent, now) {
			return;
		}
		self.trust_sent = Some(now);
		for mediator in trust {
			tracing::info!(target: "modicum", %mediator, "directory: trusting a mediator of the role file");
			let call = MarketCall::trust_mediator { role: Role::Directory, mediator };
			self.ctx.submit("trust_mediator", call.into()).await;
		}
		for mediator in drop {
			tracing::info!(target: "modicum", %mediator, "directory: dropping a mediator the role file no longer names");
			let call = MarketCall::distrust_mediator { role: Role::Directory, mediator };
			self.ctx.submit("distrust_mediator", call.into()).await;
		}
	}
}
