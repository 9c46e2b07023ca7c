//! A role's work on matches: one task per match, each in a span with its `match_id` and with a
//! switch that cancels it (its guards then remove what it created).

use pallet_market::MatchId;
use std::{collections::HashMap, future::Future, time::Duration};
use tokio::{
	sync::watch,
	task::{self, JoinError, JoinSet},
};
use tracing::Instrument as _;

/// A match's task that ended without an output: it panicked (or the runtime went away).
#[derive(Debug, thiserror::Error)]
#[error("the task of the match failed: {0}")]
pub(crate) struct Panicked(#[from] JoinError);

/// The running tasks of a role, at most one per match.
pub(crate) struct Tasks<T> {
	set: JoinSet<T>,
	matches: HashMap<task::Id, MatchId>,
	cancels: HashMap<MatchId, watch::Sender<bool>>,
}

impl<T> Default for Tasks<T> {
	fn default() -> Self {
		Self { set: JoinSet::new(), matches: HashMap::new(), cancels: HashMap::new() }
	}
}

impl<T: Send + 'static> Tasks<T> {
	/// Starts `work` for match `id`; it is handed the switch that turns true when it is
	/// cancelled.
	pub(crate) fn spawn<F>(&mut self, id: MatchId, work: impl FnOnce(watch::Receiver<bool>) -> F)
	where
		F: Future<Output = T> + Send + 'static,
	{
		let (cancel, cancelled) = watch::channel(false);
		let task = self.set.spawn(work(cancelled).instrument(tracing::info_span!("match", match_id = id)));
		self.matches.insert(task.id(), id);
		self.cancels.insert(id, cancel);
	}

	/// Whether a task of match `id` runs.
	pub(crate) fn contains(&self, id: MatchId) -> bool {
		self.cancels.contains_key(&id)
	}

	/// The matches whose tasks run.
	pub(crate) fn matches(&self) -> Vec<MatchId> {
		self.cancels.keys().copied().collect()
	}

	/// How many tasks run.
	pub(crate) fn len(&self) -> usize {
		self.cancels.len()
	}

	/// Cancels the task of match `id`; whether this call did (it ran and was not cancelled yet).
	pub(crate) fn cancel(&self, id: MatchId) -> bool {
		self.cancels.get(&id).is_some_and(|cancel| !cancel.send_replace(true))
	}

	/// The next task to end, with its match; `None` while none runs.
	pub(crate) async fn join_next(&mut self) -> Option<(MatchId, Result<T, Panicked>)> {
		let ended = self.set.join_next_with_id().await?;
		let (task, output) = match ended {
			Ok((task, output)) => (task, Ok(output)),
			Err(e) => (e.id(), Err(Panicked(e))),
		};
		// Every task is spawned with its match.
		let id = self.matches.remove(&task).expect("a task of Tasks has its match");
		self.cancels.remove(&id);
		Some((id, output))
	}

	/// Joins every task, cancelling those still running after `grace`; how each ended, in the
	/// order they did.
	pub(crate) async fn drain(&mut self, grace: Duration) -> Vec<(MatchId, Result<T, Panicked>)> {
		let mut ended = Vec::new();
		let grace = tokio::time::sleep(grace);
		tokio::pin!(grace);
		loop {
			tokio::select! {
				done = self.join_next() => match done {
					Some(done) => ended.push(done),
					None => return ended,
				},
				_ = &mut grace => break,
			}
		}
		tracing::info!(target: "modicum", running = self.len(), "cancelling what still runs");
		for id in self.matches() {
			self.cancel(id);
		}
		while let Some(done) = self.join_next().await {
			ended.push(done);
		}
		ended
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[tokio::test]
	async fn a_task_ends_with_its_match_and_leaves_no_trace() {
		let mut tasks = Tasks::default();
		tasks.spawn(7, |_| async { "done" });
		assert!(tasks.contains(7));
		let (id, output) = tasks.join_next().await.expect("one task");
		assert_eq!((id, output.expect("no panic")), (7, "done"));
		assert_eq!(tasks.len(), 0);
		assert!(tasks.join_next().await.is_none());
	}

	#[tokio::test]
	async fn a_panicked_task_names_its_match() {
		let mut tasks: Tasks<()> = Tasks::default();
		tasks.spawn(3, |_| async { panic!("a bug") });
		let (id, output) = tasks.join_next().await.expect("one task");
		assert_eq!(id, 3);
		assert!(output.is_err());
		assert!(!tasks.contains(3));
	}

	#[tokio::test]
	async fn cancelling_reaches_the_task_once() {
		let mut tasks = Tasks::default();
		tasks.spawn(1, |mut cancelled| async move {
			cancelled.wait_for(|c| *c).await.map(|_| "cancelled").unwrap_or("dropped")
		});
		assert!(tasks.cancel(1), "the first cancel cancels");
		assert!(!tasks.cancel(1), "a second cancel does nothing");
		assert!(!tasks.cancel(2), "no task of match 2");
		assert_eq!(tasks.join_next().await.map(|(id, o)| (id, o.unwrap())), Some((1, "cancelled")));
	}

	#[tokio::test]
	async fn draining_lets_quick_tasks_end_and_cancels_the_rest_after_the_grace() {
		let mut tasks = Tasks::default();
		tasks.spawn(1, |_| async { "quick" });
		tasks.spawn(2, |mut cancelled| async move {
			tokio::select! {
				_ = tokio::time::sleep(Duration::from_secs(3600)) => "ran to the end",
				_ = cancelled.wait_for(|c| *c) => "cancelled",
			}
		});
		let ended: Vec<_> =
			tasks.drain(Duration::from_millis(200)).await.into_iter().map(|(id, o)| (id, o.unwrap())).collect();
		assert_eq!(ended, vec![(1, "quick"), (2, "cancelled")]);
		assert_eq!(tasks.len(), 0);
	}
}
