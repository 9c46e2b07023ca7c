//! The directory: registers the account in front of its OCI registry and posts a heartbeat every
//! half heartbeat period while the registry answers, so the chain (and every mediator) can tell
//! when it is down.

use crate::{
	chain::Chain, config::DirectoryConfig, due, ensure_bond, metrics::Metrics,
	registry::Registries, submit, Registration, WorkerError,
};
use futures::future::BoxFuture;
use modicum_runtime::{BlockNumber, MarketCall};
use pallet_market::Role;

const ROLE: &str = "directory";

/// Checks the registry answers and the account can bond, and returns the heartbeat loop.
pub async fn start(
	chain: Chain,
	config: DirectoryConfig,
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
	tracing::info!(target: "modicum", account = %chain.account(), endpoint = %config.endpoint, "directory ready");
	let call = MarketCall::register_directory { endpoint, fee: config.fee.0, bond: config.bond.0 };
	let mut registration =
		Registration::new(Role::Directory, "register_directory", call.into()).bonded(config.bond.0);
	Ok(Box::pin(async move {
		let mut heads_chain = chain.clone();
		let mut heartbeat_sent: Option<BlockNumber> = None;
		while let Some(heads) = heads_chain.next_heads().await {
			let best = heads.best;
			let state = chain.state();
			let (actors, parameters) = match (state.actors(best.hash), state.parameters(best.hash))
			{
				(Ok(actors), Ok(parameters)) => (actors, parameters),
				(Err(e), _) | (_, Err(e)) => {
					tracing::warn!(target: "modicum", error = %e, "directory: chain read failed");
					continue;
				}
			};
			if !registration.ensure(&chain, &metrics, &actors, best.number).await {
				continue;
			}
			let Some((_, info)) = actors.directories.iter().find(|(who, _)| who == chain.account())
			else {
				continue;
			};
			let next = info.last_heartbeat.saturating_add(parameters.heartbeat_period / 2);
			if best.number < next || !due(heartbeat_sent, best.number) {
				continue;
			}
			match registry.ping().await {
				Ok(()) => {
					heartbeat_sent = Some(best.number);
					submit(
						&chain,
						&metrics,
						"directory_heartbeat",
						MarketCall::directory_heartbeat {}.into(),
					)
					.await;
				}
				Err(e) => {
					tracing::warn!(target: "modicum", error = %e, "directory: registry down, no heartbeat")
				}
			}
		}
	}))
}
