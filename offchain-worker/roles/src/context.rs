//! What a role works over: its chain client, its role file and the worker metrics.

use crate::{chain::Chain, metrics::Metrics};
use modicum_runtime::{BlockNumber, RuntimeCall};

/// A role's clients, configuration and metrics, owned by its handler.
pub(crate) struct Context<C> {
	/// The role account's view of the chain.
	pub(crate) chain: Chain,
	/// The role file.
	pub(crate) config: C,
	/// The node's worker metrics.
	pub(crate) metrics: Metrics,
}

impl<C> Context<C> {
	/// The best block's number now.
	pub(crate) fn now(&self) -> BlockNumber {
		self.chain.heads().best.number
	}

	/// Submits `call`, counting it and logging the outcome; whether the pool took it. A refused
	/// transaction is the caller's to send again at a later block.
	pub(crate) async fn submit(&self, name: &str, call: RuntimeCall) -> bool {
		submit(&self.chain, &self.metrics, name, call).await
	}
}

/// [`Context::submit`] for work that holds a chain client and metrics but no context.
pub(crate) async fn submit(chain: &Chain, metrics: &Metrics, name: &str, call: RuntimeCall) -> bool {
	match chain.submit(call).await {
		Ok(hash) => {
			tracing::debug!(target: "modicum", call = name, ?hash, "transaction submitted");
			metrics.transaction(name, true);
			true
		},
		Err(e) => {
			tracing::warn!(target: "modicum", call = name, error = %e, "transaction refused");
			metrics.transaction(name, false);
			false
		},
	}
}
