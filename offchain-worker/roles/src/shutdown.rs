//! The end of a role's running work when the node stops: each run or mediation gets
//! [`SHUTDOWN_GRACE`] to finish, then every one still going is cancelled (its container removed,
//! its match taken up again at the next start), and every task is joined.

use pallet_market::MatchId;
use std::{collections::HashMap, time::Duration};
use tokio::{
	sync::watch,
	task::{Id, JoinError, JoinSet},
};

/// How long a stopping node lets running jobs and mediations end before it cancels them: well
/// within the 60 s a Substrate node gives its tasks to end.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a transaction sent while stopping may take: the node's pool may be gone already
/// (a result is journaled and posted at the next start; a verdict is reached again).
pub(crate) const LAST_SUBMIT: Duration = Duration::from_secs(5);

/// Joins every task of `tasks`, cancelling through `cancels` those still running after the
/// grace; how each ended, in the order they did.
pub(crate) async fn drain<T: Send + 'static>(
	tasks: &mut JoinSet<T>,
	cancels: &HashMap<MatchId, watch::Sender<bool>>,
) -> Vec<Result<(Id, T), JoinError>> {
	let mut ended = Vec::new();
	let grace = tokio::time::sleep(SHUTDOWN_GRACE);
	tokio::pin!(grace);
	loop {
		tokio::select! {
			done = tasks.join_next_with_id() => match done {
				Some(done) => ended.push(done),
				None => return ended,
			},
			_ = &mut grace => break,
		}
	}
	tracing::info!(target: "modicum", running = tasks.len(), "cancelling what still runs");
	for cancel in cancels.values() {
		let _ = cancel.send(true);
	}
	while let Some(done) = tasks.join_next_with_id().await {
		ended.push(done);
	}
	ended
}
