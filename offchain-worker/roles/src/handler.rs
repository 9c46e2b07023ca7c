//! The loop every role runs. A role is a [`Handler`]: it decides what a new block and each
//! finished task of a match mean, and keeps its own retry policy. This loop owns what is the same
//! for every role: following the heads, the tasks of matches, a failed chain read (logged; the
//! next block reads again), and the stop — no new block is handled, running tasks get
//! [`SHUTDOWN_GRACE`] to end and are then cancelled (their containers removed, their matches
//! taken up again at the next start), and every task is joined.

use crate::{
	chain::{Chain, Heads},
	tasks::{Panicked, Tasks},
	WorkerError,
};
use pallet_market::MatchId;
use std::{future::Future, time::Duration};

/// How long a stopping node lets running jobs and mediations end before it cancels them: well
/// within the 60 s a Substrate node gives its tasks to end.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long the handler of a task that ended while stopping may take, a transaction it sends
/// included: the node's pool may be gone already (a result is journaled and posted at the next
/// start; a verdict is reached again).
const LAST_SUBMIT: Duration = Duration::from_secs(5);

/// A role's decisions.
pub(crate) trait Handler: Send + 'static {
	/// What a task of a match ends with.
	type Output: Send + 'static;
	/// The role's name, in log lines.
	const ROLE: &'static str;

	/// The chain client whose heads the loop follows.
	fn chain(&self) -> &Chain;

	/// A new best or finalized block: decide, send, start tasks. An error is a failed chain
	/// read: the next block tries again.
	fn on_block(
		&mut self,
		heads: Heads,
		tasks: &mut Tasks<Self::Output>,
	) -> impl Future<Output = Result<(), WorkerError>> + Send;

	/// A task of match `id` ended (`Err` if it panicked: its guards removed what it created).
	fn on_done(
		&mut self,
		_id: MatchId,
		_ended: Result<Self::Output, Panicked>,
		_tasks: &mut Tasks<Self::Output>,
	) -> impl Future<Output = ()> + Send {
		async {}
	}

	/// A task of match `id` ended while the node stops: the last chance to send what it
	/// reached, within [`LAST_SUBMIT`].
	fn on_stopping(
		&mut self,
		_id: MatchId,
		_ended: Result<Self::Output, Panicked>,
	) -> impl Future<Output = ()> + Send {
		async {}
	}
}

/// Runs `handler` until the node stops, then shuts its tasks down.
pub(crate) async fn run<H: Handler>(mut handler: H) {
	let mut heads = handler.chain().clone();
	let mut tasks = Tasks::default();
	loop {
		tokio::select! {
			next = heads.next_heads() => {
				let Some(next) = next else { break };
				if let Err(e) = handler.on_block(next, &mut tasks).await {
					tracing::warn!(target: "modicum", error = %e, "{}: chain read failed; trying at the next block", H::ROLE);
				}
			},
			Some((id, ended)) = tasks.join_next() => {
				if let Err(e) = &ended {
					tracing::error!(target: "modicum", match_id = id, error = %e, "{}: task failed", H::ROLE);
				}
				handler.on_done(id, ended, &mut tasks).await;
			},
		}
	}
	tracing::info!(target: "modicum", running = tasks.len(), "{}: stopping", H::ROLE);
	for (id, ended) in tasks.drain(SHUTDOWN_GRACE).await {
		if let Err(e) = &ended {
			tracing::error!(target: "modicum", match_id = id, error = %e, "{}: task failed while stopping", H::ROLE);
		}
		let last = handler.on_stopping(id, ended);
		if tokio::time::timeout(LAST_SUBMIT, last).await.is_err() {
			tracing::info!(target: "modicum", match_id = id, "{}: no time left to send what the task reached; it is taken up at the next start", H::ROLE);
		}
	}
	tracing::info!(target: "modicum", "{}: stopped", H::ROLE);
}
