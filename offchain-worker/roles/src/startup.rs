//! Start-up: every enabled role checked (configuration, key, funds, Docker, registry) before
//! the node runs it; the first problem is the error the node stops with.

use crate::{
	chain::{self, Chain, ChainError, ChainState, Heads, Nonces, Submitter},
	config::{self},
	directory, mediator, metrics, provider, solver, Roles,
};
use modicum_common::{
	actors::is_registered,
	config::{Account, ConfigError},
	signing::KEY_TYPE,
};
use futures::future::BoxFuture;
use modicum_runtime::Balance;
use pallet_market::Role;
use sp_core::{crypto::Ss58Codec, sr25519};
use sp_keystore::KeystorePtr;
use std::{path::PathBuf, sync::Arc};
use tokio::sync::watch;

/// Why a role cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
	/// Its configuration is unusable.
	#[error(transparent)]
	Config(#[from] ConfigError),
	/// The chain could not be read or refused a transaction.
	#[error(transparent)]
	Chain(#[from] ChainError),
	/// The Docker engine or the host cannot run jobs.
	#[error("{role}: cannot run jobs: {source}")]
	Executor {
		/// The role.
		role: &'static str,
		/// The cause.
		source: modicum_executor::ExecutorError,
	},
	/// The directory's registry does not answer.
	#[error("directory: {0}")]
	Registry(#[from] modicum_registry::RegistryError),
	/// The keystore holds no usable key.
	#[error("{role}: {message}")]
	Key {
		/// The role.
		role: &'static str,
		/// What is wrong.
		message: String,
	},
	/// The configuration does not fit the chain's bounds.
	#[error("{role}: {message}")]
	Invalid {
		/// The role.
		role: &'static str,
		/// What is wrong.
		message: String,
	},
	/// The account cannot pay what the role needs.
	#[error("{role}: account {account} can spend {spendable} but needs {needed} ({what}); fund it first")]
	Unfunded {
		/// The role.
		role: &'static str,
		/// The account.
		account: String,
		/// What it can spend.
		spendable: Balance,
		/// What the role needs.
		needed: Balance,
		/// What for.
		what: &'static str,
	},
	/// The Prometheus registry refused the metrics.
	#[error("metrics: {0}")]
	Metrics(#[from] substrate_prometheus_endpoint::PrometheusError),
}

/// What the workers need of the node.
pub struct NodeHandles {
	/// The node's client, as market state.
	pub state: Arc<dyn ChainState>,
	/// Whether the node is major-syncing.
	pub syncing: chain::SyncOracle,
	/// Submits to the node's transaction pool.
	pub submitter: Submitter,
	/// The node keystore.
	pub keystore: KeystorePtr,
	/// Best and finalized heads.
	pub heads: watch::Receiver<Heads>,
	/// The node's Prometheus registry, if it serves one.
	pub prometheus: Option<substrate_prometheus_endpoint::Registry>,
	/// Where workers keep their files (journals, job work directories).
	pub work_dir: PathBuf,
	/// Turns true when the node stops: the roles stop taking work, and end or journal what
	/// runs (`handler::run`).
	pub stop: watch::Receiver<bool>,
}

/// A worker ready to run: its name and its endless loop.
pub type Worker = (&'static str, BoxFuture<'static, ()>);

/// Checks every enabled role (configuration, key, funds, Docker, registry) and returns their
/// loops; the first problem is the error the node stops with.
pub async fn prepare(roles: &Roles, node: NodeHandles) -> Result<Vec<Worker>, WorkerError> {
	let metrics = metrics::Metrics::new(node.prometheus.as_ref())?;
	let mut workers: Vec<Worker> = Vec::new();
	// State behind the network's would misjudge funds and open matches.
	while (node.syncing)() {
		tracing::info!(target: "modicum", "workers wait for the node to sync");
		tokio::time::sleep(std::time::Duration::from_secs(2)).await;
	}
	let nonces = Nonces::default();
	if let Some(path) = &roles.directory {
		let config: config::DirectoryConfig = config::load(path)?;
		let chain = chain_for(&node, &nonces, "directory", config.account.as_ref())?;
		let work_dir = node.work_dir.join("directory");
		workers.push((
			"modicum-directory",
			directory::start(chain, config, work_dir, metrics.clone()).await?,
		));
	}
	if let Some(path) = &roles.mediator {
		let config: config::MediatorConfig = config::load(path)?;
		let chain = chain_for(&node, &nonces, "mediator", config.account.as_ref())?;
		let work_dir = node.work_dir.join("mediator");
		workers.push((
			"modicum-mediator",
			mediator::start(chain, config, work_dir, metrics.clone()).await?,
		));
	}
	if let Some(path) = &roles.provider {
		let config: config::ProviderConfig = config::load(path)?;
		let chain = chain_for(&node, &nonces, "provider", config.account.as_ref())?;
		let work_dir = node.work_dir.join("provider");
		workers.push((
			"modicum-provider",
			provider::start(chain, config, work_dir, metrics.clone()).await?,
		));
	}
	if let Some(path) = &roles.solver {
		let config: config::SolverConfig = config::load(path)?;
		let chain = chain_for(&node, &nonces, "solver", config.account.as_ref())?;
		workers.push(("modicum-solver", solver::start(chain, config, metrics.clone())));
	}
	Ok(workers)
}

/// The chain client of a role: the named account's key, or the keystore's only `mdcm` key.
fn chain_for(
	node: &NodeHandles,
	nonces: &Nonces,
	role: &'static str,
	account: Option<&Account>,
) -> Result<Chain, WorkerError> {
	let signer = match account {
		Some(Account(account)) => sr25519::Public::from_raw(*account.as_ref()),
		None => match node.keystore.sr25519_public_keys(KEY_TYPE).as_slice() {
			[only] => *only,
			[] => {
				return Err(WorkerError::Key {
					role,
					message: "the node keystore has no `mdcm` key; insert one with `modicum-node key insert --key-type mdcm --scheme sr25519 --suri <seed>`".into(),
				})
			},
			_ => {
				return Err(WorkerError::Key {
					role,
					message: "the node keystore has several `mdcm` keys; name the role's `account`".into(),
				})
			},
		},
	};
	Chain::new(
		node.state.clone(),
		node.syncing.clone(),
		node.submitter.clone(),
		node.keystore.clone(),
		signer,
		node.heads.clone(),
		node.stop.clone(),
		nonces,
	)
	.map_err(|e| WorkerError::Key { role, message: e.to_string() })
}

/// `<chain>-<account>-<role>`, hex of the first bytes of the genesis hash and the account:
/// names what a role creates outside the node (containers, cgroups), so nodes of other chains
/// or accounts sharing the host never touch it.
pub fn namespace(chain: &Chain, role: &str) -> String {
	let genesis = chain.state().genesis();
	let account: &[u8] = chain.account().as_ref();
	format!("{}-{}-{role}", hex::encode(&genesis[..4]), hex::encode(&account[..4]))
}

/// Checks the role's account can spend `needed`.
pub(crate) fn ensure_funded(
	chain: &Chain,
	role: &'static str,
	needed: Balance,
	what: &'static str,
) -> Result<(), WorkerError> {
	let spendable = chain.state().spendable_balance(chain.heads().best.hash, chain.account())?;
	if spendable < needed {
		return Err(WorkerError::Unfunded {
			role,
			account: chain.account().to_ss58check(),
			spendable,
			needed,
			what,
		});
	}
	Ok(())
}

/// Checks a mediator's or directory's bond before it registers: at least the chain's least bond,
/// and spendable by the account. A registered role has its bond held already.
pub(crate) fn ensure_bond(
	chain: &Chain,
	role: &'static str,
	kind: Role,
	bond: Balance,
) -> Result<(), WorkerError> {
	let best = chain.heads().best.hash;
	if is_registered(&chain.state().actors(best)?, chain.account(), kind) {
		return Ok(());
	}
	let min_bond = chain.state().parameters(best)?.min_bond;
	if bond < min_bond {
		return Err(WorkerError::Invalid {
			role,
			message: format!("`bond` {bond} is below the chain's least bond {min_bond}"),
		});
	}
	ensure_funded(chain, role, bond, "the bond")
}

/// Bounded list conversion for trust lists and base layers.
pub(crate) fn bounded<T, S: frame_support::traits::Get<u32>>(
	role: &'static str,
	what: &str,
	items: Vec<T>,
) -> Result<frame_support::BoundedVec<T, S>, WorkerError> {
	let len = items.len();
	items.try_into().map_err(|_| WorkerError::Invalid {
		role,
		message: format!("`{what}` lists {len} entries; the chain keeps at most {}", S::get()),
	})
}
