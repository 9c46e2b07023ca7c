//! Node-side Modicum workers. A node started with role flags runs, inside its own process:
//!
//! - [`provider`]: posts resource offers, runs matched jobs in Docker ([`executor`]), uploads the
//!   result archive to the job's directory ([`registry`]) and posts the result;
//! - [`solver`]: matches open job offers to open resource offers and posts the matches;
//! - [`mediator`]: re-executes disputed jobs and posts verdicts;
//! - [`directory`]: keeps a directory's registration alive with heartbeats while its registry
//!   answers, and deletes jobs' images and results a retention period after their matches
//!   close.
//!
//! Each role signs with an `mdcm` key of the node keystore ([`chain::KEY_TYPE`]), acts on best
//! blocks and settles on finalized ones. Whatever would leave a role idle — a missing key, an
//! unfunded account, an unreachable Docker engine or registry — is an error at start.

pub mod chain;
pub mod config;
pub mod directory;
pub mod executor;
pub mod mediator;
pub mod metrics;
pub mod pricing;
pub mod provider;
pub mod registry;
pub mod scratch;
pub mod slots;
pub mod solver;
pub mod verdict;

use chain::{Chain, ChainError, ChainState, Heads, Nonces, Submitter, KEY_TYPE};
use config::{Account, ConfigError};
use futures::future::BoxFuture;
use modicum_runtime::{AccountId, Balance, BlockNumber, Runtime, RuntimeCall};
use pallet_market::{ActorsOf, Role};
use sp_core::{crypto::Ss58Codec, sr25519};
use sp_keystore::KeystorePtr;
use std::{path::PathBuf, sync::Arc};
use tokio::sync::watch;

/// Blocks a worker waits for its transaction to show before sending it again.
pub const RESUBMIT_AFTER: BlockNumber = 10;

/// What a bond top-up leaves spendable for the role's own transaction fees.
const TOP_UP_FEE_RESERVE: Balance = modicum_runtime::MILLI_MDC * 100;

/// The role configuration files a node was started with.
#[derive(Clone, Debug, Default)]
pub struct Roles {
	/// `--provider <file>`.
	pub provider: Option<PathBuf>,
	/// `--solver <file>`.
	pub solver: Option<PathBuf>,
	/// `--mediator <file>`.
	pub mediator: Option<PathBuf>,
	/// `--directory <file>`.
	pub directory: Option<PathBuf>,
}

impl Roles {
	/// Whether any role is enabled.
	pub fn any(&self) -> bool {
		self.provider.is_some()
			|| self.solver.is_some()
			|| self.mediator.is_some()
			|| self.directory.is_some()
	}
}

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
		source: executor::ExecutorError,
	},
	/// The directory's registry does not answer.
	#[error("directory: {0}")]
	Registry(#[from] registry::RegistryError),
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
fn ensure_funded(
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
fn ensure_bond(
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

/// A role's registration call, sent (and sent again while it does not show) until the account is
/// registered; for a bonded role, the bond topped up again to what the operator configured
/// whenever fees or faults took it lower (below `MinBond` the role is never matched).
pub(crate) struct Registration {
	role: Role,
	name: &'static str,
	call: RuntimeCall,
	sent: Option<BlockNumber>,
	bond: Option<Balance>,
	topped_up: Option<BlockNumber>,
}

impl Registration {
	fn new(role: Role, name: &'static str, call: RuntimeCall) -> Self {
		Self { role, name, call, sent: None, bond: None, topped_up: None }
	}

	/// The same, keeping the bond at `bond`.
	fn bonded(mut self, bond: Balance) -> Self {
		self.bond = Some(bond);
		self
	}

	/// Tops the held bond up to the configured one when it fell below it.
	async fn top_up(&mut self, chain: &Chain, metrics: &metrics::Metrics, actors: &ActorsOf<Runtime>, now: BlockNumber) {
		let Some(target) = self.bond else { return };
		let me = chain.account();
		let held = match self.role {
			Role::Mediator => actors.mediators.iter().find(|(a, _)| a == me).map(|(_, i)| i.bond),
			Role::Directory => actors.directories.iter().find(|(a, _)| a == me).map(|(_, i)| i.bond),
			_ => None,
		};
		let Some(held) = held.filter(|held| *held < target) else { return };
		// Once per era: a top-up still in the pool is never sent twice (the bond would
		// overshoot), and an account that cannot pay is not charged fees every few blocks.
		if self.topped_up.is_some_and(|sent| now < sent.saturating_add(chain::MORTALITY as BlockNumber)) {
			return;
		}
		self.topped_up = Some(now);
		let best = chain.heads().best.hash;
		let spendable = chain.state().spendable_balance(best, me).unwrap_or_default();
		let amount = (target - held).min(spendable.saturating_sub(TOP_UP_FEE_RESERVE));
		if amount == 0 {
			tracing::warn!(target: "modicum", role = self.name, held, target, spendable, "the bond is below its configured amount and the account cannot top it up: fund it");
			return;
		}
		tracing::info!(target: "modicum", role = self.name, held, target, amount, "topping the bond up");
		let call = pallet_market::Call::<Runtime>::top_up_bond { role: self.role, amount };
		submit(chain, metrics, "top_up_bond", call.into()).await;
	}

	/// Whether the account is registered among `actors`; if not, sends the call when due.
	async fn ensure(
		&mut self,
		chain: &Chain,
		metrics: &metrics::Metrics,
		actors: &ActorsOf<Runtime>,
		now: BlockNumber,
	) -> bool {
		if is_registered(actors, chain.account(), self.role) {
			self.top_up(chain, metrics, actors, now).await;
			return true;
		}
		if due(self.sent, now) {
			self.sent = Some(now);
			submit(chain, metrics, self.name, self.call.clone()).await;
		}
		false
	}
}

/// Whether `who` is registered for `role` among `actors`.
pub fn is_registered(actors: &ActorsOf<Runtime>, who: &AccountId, role: Role) -> bool {
	match role {
		Role::JobCreator => actors.job_creators.iter().any(|(a, _)| a == who),
		Role::ResourceProvider => actors.resource_providers.iter().any(|(a, _)| a == who),
		Role::Mediator => actors.mediators.iter().any(|(a, _)| a == who),
		Role::Directory => actors.directories.iter().any(|(a, _)| a == who),
	}
}

/// Submits `call`, counting it and logging the outcome; a refused transaction is retried by the
/// caller's next block.
pub async fn submit(
	chain: &Chain,
	metrics: &metrics::Metrics,
	name: &str,
	call: RuntimeCall,
) -> bool {
	match chain.submit(call).await {
		Ok(hash) => {
			tracing::debug!(target: "modicum", call = name, ?hash, "transaction submitted");
			metrics.transaction(name, true);
			true
		}
		Err(e) => {
			tracing::warn!(target: "modicum", call = name, error = %e, "transaction refused");
			metrics.transaction(name, false);
			false
		}
	}
}

/// Writes `bytes` to `path` through a synced temporary file beside it, then syncs the folder:
/// a crash leaves the old content or the new, never a torn one, and a written file stays.
fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
	use std::io::Write;
	let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
	let dir = dir.unwrap_or(std::path::Path::new("."));
	let temporary = dir.join(format!(".{}", path.file_name().unwrap_or_default().to_string_lossy()));
	let mut file = std::fs::File::create(&temporary)?;
	file.write_all(bytes)?;
	file.sync_all()?;
	std::fs::rename(temporary, path)?;
	std::fs::File::open(dir)?.sync_all()
}

/// Whether a transaction last sent at `sent` may be sent again at `now`.
fn due(sent: Option<BlockNumber>, now: BlockNumber) -> bool {
	sent.is_none_or(|sent| now >= sent.saturating_add(RESUBMIT_AFTER))
}

/// The registry URL of a registered directory.
pub fn directory_endpoint(actors: &ActorsOf<Runtime>, directory: &AccountId) -> Option<String> {
	actors
		.directories
		.iter()
		.find(|(who, _)| who == directory)
		.map(|(_, info)| String::from_utf8_lossy(&info.endpoint).into_owned())
}

/// The accounts of a configured trust list.
fn accounts(list: &[Account]) -> Vec<AccountId> {
	list.iter().map(|a| a.0.clone()).collect()
}

/// Bounded list conversion for trust lists and base layers.
fn bounded<T, S: frame_support::traits::Get<u32>>(
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
