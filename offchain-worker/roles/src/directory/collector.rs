//! Deletions and pins carried out through the registry API, and the loop that feeds them from
//! finalized blocks.

use super::{retention::Retry, *};

/// Deletes due objects and pins results through the registry API, with its retry policy: a
/// `404` is already gone; a `405` (deletes disabled) is logged once with the fix and keeps the
/// entry; a registry that does not answer, or refuses this host's credentials, pauses the
/// deletions; other failures are retried later, each object with its own back-off.
pub struct Collector {
	registry: Registry,
	retries: HashMap<Object, Retry>,
	pin_retries: HashMap<MatchId, Retry>,
	paused: Retry,
	told_disabled: bool,
}

impl Collector {
	/// A collector deleting from `registry`.
	pub fn new(registry: Registry) -> Self {
		Self {
			registry,
			retries: HashMap::new(),
			pin_retries: HashMap::new(),
			paused: Retry::default(),
			told_disabled: false,
		}
	}

	/// Deletes what is due at `now` unless `pending` names it (open at the best block, not yet
	/// final: tried again later); whether the schedule changed.
	pub async fn collect(
		&mut self,
		retention: &mut Retention,
		now: BlockNumber,
		pending: &BTreeSet<Object>,
	) -> bool {
		let before = retention.schedule.len();
		if Retry::waiting(Some(&self.paused), now) {
			return false;
		}
		let due = retention.due(now);
		let mut sent = 0;
		for (object, due) in due {
			if pending.contains(&object) || Retry::waiting(self.retries.get(&object), now) {
				continue;
			}
			if sent == MAX_REQUESTS_PER_ROUND {
				break;
			}
			sent += 1;
			let (origin, match_id) = match due.origin {
				Origin::Match(id) => (None, Some(id)),
				Origin::Offer(id) => (Some(id), None),
			};
			match self.delete(&object, due.pin).await {
				Ok(Deletion::Deleted | Deletion::Absent) => {
					tracing::info!(target: "modicum", match_id, offer = origin, %object, "directory: retention over; deleted");
					retention.schedule.remove(&object);
					self.retries.remove(&object);
					self.paused = Retry::default();
					self.told_disabled = false;
				}
				Ok(Deletion::Disabled) => {
					if !self.told_disabled {
						tracing::error!(target: "modicum", registry = self.registry.host(), "directory: the registry refuses deletes (405), so images and results are kept until it accepts them; add `storage: delete: enabled: true` to its config.yml and restart it — unless it is read-only for a garbage collection (docs/how-to/remote-directory.md)");
						self.told_disabled = true;
					}
					self.paused.failed(now);
					break;
				}
				// Down, or refusing this host's credentials or certificate: every deletion
				// would fail alike.
				Err(e) if e.is_local() || matches!(e, RegistryError::Unavailable { .. }) => {
					self.paused.failed(now);
					tracing::warn!(target: "modicum", match_id, offer = origin, %object, error = %e, retry_at = self.paused.until, "directory: deletions paused");
					break;
				}
				Err(e) => {
					let retry = self.retries.entry(object.clone()).or_default();
					retry.failed(now);
					tracing::warn!(target: "modicum", match_id, offer = origin, %object, error = %e, retry_at = retry.until, "directory: deletion failed");
				}
			}
		}
		retention.schedule.len() != before
	}

	/// Deletes one object: a result's pin first, so that no manifest keeps its blob.
	pub(crate) async fn delete(
		&self,
		object: &Object,
		pin: Option<Digest>,
	) -> Result<Deletion, RegistryError> {
		match object {
			Object::Image { repository, digest } => {
				self.registry.delete_manifest(repository, digest).await
			}
			Object::Result { digest } => {
				if let Some(pin) = pin {
					match self.registry.delete_manifest(RESULTS_REPOSITORY, &pin).await? {
						Deletion::Disabled => return Ok(Deletion::Disabled),
						Deletion::Deleted | Deletion::Absent => {}
					}
				}
				self.registry.delete_blob(RESULTS_REPOSITORY, digest).await
			}
		}
	}

	/// Pins the posted results of open matches, so the registry's garbage collection keeps them;
	/// whether a pin was recorded.
	pub async fn pin(&mut self, retention: &mut Retention, now: BlockNumber) -> bool {
		let mut changed = false;
		let unpinned = retention.unpinned();
		self.pin_retries.retain(|id, _| unpinned.iter().any(|(open, _)| open == id));
		for (id, digest) in unpinned.into_iter().take(MAX_REQUESTS_PER_ROUND) {
			if Retry::waiting(self.pin_retries.get(&id), now) {
				continue;
			}
			match self.pin_result(&digest).await {
				Ok(Some(pin)) => {
					tracing::debug!(target: "modicum", match_id = id, pin = %digest_string(&pin), "directory: result pinned");
					if let Some(kept) = retention.matches.get_mut(&id) {
						kept.pin = Some(pin);
						changed = true;
					}
					self.pin_retries.remove(&id);
				}
				Ok(None) => {
					// The provider posted a result it did not upload (or not yet here).
					self.pin_retries.entry(id).or_default().failed(now);
				}
				Err(e) if e.is_local() || matches!(e, RegistryError::Unavailable { .. }) => break,
				Err(e) => {
					let retry = self.pin_retries.entry(id).or_default();
					retry.failed(now);
					tracing::warn!(target: "modicum", match_id = id, error = %e, retry_at = retry.until, "directory: pinning the result failed");
				}
			}
		}
		changed
	}

	/// Writes the manifest pinning a result blob; its digest, or `None` without the blob.
	pub(crate) async fn pin_result(&self, digest: &Digest) -> Result<Option<Digest>, RegistryError> {
		let Some(size) = self.registry.blob_size(RESULTS_REPOSITORY, digest).await? else {
			return Ok(None);
		};
		let manifest = pin_manifest(digest, size);
		self.registry
			.push_manifest(RESULTS_REPOSITORY, OCI_MANIFEST, manifest.into_bytes())
			.await
			.map(Some)
	}
}

/// The manifest pinning a result of `size` bytes: an OCI manifest whose config is the result
/// archive and which has no layers. The same result always gives the same manifest.
pub fn pin_manifest(digest: &Digest, size: u64) -> String {
	format!(
		r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{RESULT_MEDIA_TYPE}","digest":"{}","size":{size}}},"layers":[]}}"#,
		digest_string(digest)
	)
}

/// The retention loop's state.
pub(crate) struct Keeper {
	pub(crate) chain: Chain,
	pub(crate) retention: Retention,
	pub(crate) path: PathBuf,
	pub(crate) keep: BlockNumber,
	pub(crate) collector: Collector,
	/// An old block whose state could not be read, and in how many rounds.
	pub(crate) unreadable: Option<(BlockNumber, u32)>,
}

impl Handler for Keeper {
	type Output = ();
	const ROLE: &'static str = "directory retention";

	fn chain(&self) -> &Chain {
		&self.chain
	}

	async fn on_block(&mut self, heads: Heads, _: &mut Tasks<()>) -> Result<(), WorkerError> {
		let mut changed = self.follow(heads.finalized).await;
		let Some(now) = self.retention.processed() else { return Ok(()) };
		changed |= self.collector.pin(&mut self.retention, now).await;
		// The best block is read only when something is due.
		if self.retention.schedule().values().any(|due| due.at <= now) {
			match read(&self.chain, heads.best.hash) {
				Ok(best) => {
					let pending = best.objects();
					changed |= self.collector.collect(&mut self.retention, now, &pending).await;
				},
				Err(e) => {
					tracing::warn!(target: "modicum", error = %e, "directory: chain read failed; no deletions this round")
				},
			}
		}
		if changed {
			if let Err(e) = self.retention.save(&self.path) {
				tracing::error!(target: "modicum", path = %self.path.display(), error = %e, "directory: cannot save the retention schedule");
			}
		}
		Ok(())
	}
}

impl Keeper {
	/// Observes the finalized blocks after the last observed, up to [`MAX_BLOCKS_PER_ROUND`];
	/// whether any was.
	pub(crate) async fn follow(&mut self, finalized: BlockRef) -> bool {
		let Some(last) = self.retention.processed() else {
			// First start: the open offers and matches of now are the starting point; what
			// closed before was never this directory's to collect.
			return self.observe_at(finalized);
		};
		let end = finalized.number.min(last.saturating_add(MAX_BLOCKS_PER_ROUND));
		let mut changed = false;
		for number in last.saturating_add(1)..=end {
			let seen = self.chain.state().block_hash(number).and_then(|hash| {
				let hash = hash.ok_or_else(|| ChainError::Api(format!("no block #{number}")))?;
				read(&self.chain, hash)
			});
			match seen {
				Ok(seen) => {
					self.retention.observe(number, seen, self.keep);
					self.unreadable = None;
					changed = true;
				}
				Err(e) => {
					let rounds = match self.unreadable {
						Some((at, rounds)) if at == number => rounds + 1,
						_ => 1,
					};
					self.unreadable = Some((number, rounds));
					tracing::warn!(target: "modicum", block = number, error = %e, "directory: cannot read a finalized block");
					// A node keeps the state of recent blocks only (`--state-pruning`): past a
					// block it can no longer read, go on from the newest finalized one. What
					// opened and closed in between is left to the operator.
					if rounds >= UNREADABLE_ROUNDS && number < finalized.number {
						tracing::warn!(target: "modicum", from = number, to = finalized.number, "directory: skipping finalized blocks whose state is gone; images and results of jobs that opened and closed in between stay in the registry");
						changed |= self.observe_at(finalized);
					}
					break;
				}
			}
			tokio::task::yield_now().await;
		}
		changed
	}

	pub(crate) fn observe_at(&mut self, block: BlockRef) -> bool {
		match read(&self.chain, block.hash) {
			Ok(seen) => {
				self.retention.observe(block.number, seen, self.keep);
				self.unreadable = None;
				true
			}
			Err(e) => {
				tracing::warn!(target: "modicum", block = block.number, error = %e, "directory: chain read failed");
				false
			}
		}
	}
}

/// What names this directory at block `at`.
pub(crate) fn read(chain: &Chain, at: Hash) -> Result<Seen, ChainError> {
	let state = chain.state();
	Ok(Seen::new(chain.account(), state.open_job_offers(at)?, state.open_matches(at)?))
}

