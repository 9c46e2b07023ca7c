//! Assembles the node: client, transaction pool, networking, Aura authoring, GRANDPA voting.

use modicum_runtime::{apis::RuntimeApi, opaque::Block};
use sc_client_api::BlockBackend;
use sc_consensus_aura::{ImportQueueParams, SlotProportion, StartAuraParams};
use sc_consensus_grandpa::SharedVoterState;
use sc_service::{error::Error as ServiceError, Configuration, TaskManager, WarpSyncConfig};
use sc_telemetry::{Telemetry, TelemetryWorker};
use sc_transaction_pool_api::OffchainTransactionPoolFactory;
use sp_consensus_aura::sr25519::AuthorityPair as AuraPair;
use std::{sync::Arc, time::Duration};

/// The node's client.
pub type FullClient = sc_service::TFullClient<
	Block,
	RuntimeApi,
	sc_executor::WasmExecutor<sp_io::SubstrateHostFunctions>,
>;
type FullBackend = sc_service::TFullBackend<Block>;
type FullSelectChain = sc_consensus::LongestChain<FullBackend, Block>;
type GrandpaBlockImport =
	sc_consensus_grandpa::GrandpaBlockImport<FullBackend, Block, FullClient, FullSelectChain>;
type GrandpaLinkHalf = sc_consensus_grandpa::LinkHalf<Block, FullClient, FullSelectChain>;

/// Every this many blocks GRANDPA stores a justification, so light syncing can skip ahead.
const GRANDPA_JUSTIFICATION_PERIOD: u32 = 512;

/// What the subcommands share with the full node.
pub type Service = sc_service::PartialComponents<
	FullClient,
	FullBackend,
	FullSelectChain,
	sc_consensus::DefaultImportQueue<Block>,
	sc_transaction_pool::TransactionPoolHandle<Block, FullClient>,
	(GrandpaBlockImport, GrandpaLinkHalf, Option<Telemetry>),
>;

/// Aura's inherents: the wall-clock timestamp and the slot it falls in.
fn aura_inherents(
	slot_duration: sp_consensus_aura::SlotDuration,
) -> (sp_consensus_aura::inherents::InherentDataProvider, sp_timestamp::InherentDataProvider) {
	let timestamp = sp_timestamp::InherentDataProvider::from_system_time();
	let slot = sp_consensus_aura::inherents::InherentDataProvider::from_timestamp_and_slot_duration(
		*timestamp,
		slot_duration,
	);
	(slot, timestamp)
}

/// The client, pool and import queue, without networking or authoring.
pub fn new_partial(config: &Configuration) -> Result<Service, ServiceError> {
	let telemetry = config
		.telemetry_endpoints
		.clone()
		.filter(|endpoints| !endpoints.is_empty())
		.map(|endpoints| -> Result<_, sc_telemetry::Error> {
			let worker = TelemetryWorker::new(16)?;
			let telemetry = worker.handle().new_telemetry(endpoints);
			Ok((worker, telemetry))
		})
		.transpose()?;

	let executor = sc_service::new_wasm_executor::<sp_io::SubstrateHostFunctions>(&config.executor);
	let (client, backend, keystore_container, task_manager) =
		sc_service::new_full_parts::<Block, RuntimeApi, _>(
			config,
			telemetry.as_ref().map(|(_, telemetry)| telemetry.handle()),
			executor,
			Vec::new(),
		)?;
	let client = Arc::new(client);

	let telemetry = telemetry.map(|(worker, telemetry)| {
		task_manager.spawn_handle().spawn("telemetry", None, worker.run());
		telemetry
	});

	let select_chain = sc_consensus::LongestChain::new(backend.clone());

	let transaction_pool = Arc::from(
		sc_transaction_pool::Builder::new(
			task_manager.spawn_essential_handle(),
			client.clone(),
			config.role.is_authority().into(),
		)
		.with_options(config.transaction_pool.clone())
		.with_prometheus(config.prometheus_registry())
		.build(),
	);

	let (grandpa_block_import, grandpa_link) = sc_consensus_grandpa::block_import(
		client.clone(),
		GRANDPA_JUSTIFICATION_PERIOD,
		&client,
		select_chain.clone(),
		telemetry.as_ref().map(|x| x.handle()),
	)?;

	let slot_duration = sc_consensus_aura::slot_duration(&*client)?;
	let import_queue =
		sc_consensus_aura::import_queue::<AuraPair, _, _, _, _, _>(ImportQueueParams {
			block_import: grandpa_block_import.clone(),
			justification_import: Some(Box::new(grandpa_block_import.clone())),
			client: client.clone(),
			create_inherent_data_providers: move |_, ()| async move {
				Ok(aura_inherents(slot_duration))
			},
			spawner: &task_manager.spawn_essential_handle(),
			registry: config.prometheus_registry(),
			check_for_equivocation: Default::default(),
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			compatibility_mode: Default::default(),
		})?;

	Ok(sc_service::PartialComponents {
		client,
		backend,
		task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (grandpa_block_import, grandpa_link, telemetry),
	})
}

/// The full node: networking, RPC, for validators Aura authoring and GRANDPA voting, and the
/// market workers of the enabled roles.
pub async fn new_full<
	N: sc_network::NetworkBackend<Block, <Block as sp_runtime::traits::Block>::Hash>,
>(
	config: Configuration,
	roles: modicum_roles::Roles,
) -> Result<TaskManager, ServiceError> {
	let sc_service::PartialComponents {
		client,
		backend,
		mut task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (block_import, grandpa_link, mut telemetry),
	} = new_partial(&config)?;

	let mut net_config = sc_network::config::FullNetworkConfiguration::<
		Block,
		<Block as sp_runtime::traits::Block>::Hash,
		N,
	>::new(&config.network, config.prometheus_registry().cloned());
	let metrics = N::register_notification_metrics(config.prometheus_registry());

	let genesis_hash = client
		.block_hash(0)?
		.ok_or_else(|| ServiceError::Other("the genesis block is missing".into()))?;
	let grandpa_protocol_name =
		sc_consensus_grandpa::protocol_standard_name(&genesis_hash, &config.chain_spec);
	let (grandpa_protocol_config, grandpa_notification_service) =
		sc_consensus_grandpa::grandpa_peers_set_config::<_, N>(
			grandpa_protocol_name.clone(),
			metrics.clone(),
			net_config.peer_store_handle(),
		);
	net_config.add_notification_protocol(grandpa_protocol_config);

	let warp_sync = Arc::new(sc_consensus_grandpa::warp_proof::NetworkProvider::new(
		backend.clone(),
		grandpa_link.shared_authority_set().clone(),
		Vec::default(),
	));

	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		sc_service::build_network(sc_service::BuildNetworkParams {
			config: &config,
			net_config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			import_queue,
			block_announce_validator_builder: None,
			warp_sync_config: Some(WarpSyncConfig::WithProvider(warp_sync)),
			block_relay: None,
			metrics,
			gap_sync_body_policy: None,
		})?;

	let role = config.role;
	let force_authoring = config.force_authoring;
	let name = config.network.node_name.clone();
	let enable_grandpa = !config.disable_grandpa;
	let prometheus_registry = config.prometheus_registry().cloned();
	let work_dir = config.base_path.path().join("workers");

	let rpc_builder = {
		let client = client.clone();
		let pool = transaction_pool.clone();
		Box::new(move |_| {
			let deps = crate::rpc::FullDeps { client: client.clone(), pool: pool.clone() };
			crate::rpc::create_full(deps).map_err(Into::into)
		})
	};

	sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		network: network.clone(),
		client: client.clone(),
		keystore: keystore_container.keystore(),
		task_manager: &mut task_manager,
		transaction_pool: transaction_pool.clone(),
		rpc_builder,
		backend,
		system_rpc_tx,
		tx_handler_controller,
		sync_service: sync_service.clone(),
		config,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	if roles.any() {
		start_workers(
			&roles,
			&task_manager,
			client.clone(),
			transaction_pool.clone(),
			keystore_container.keystore(),
			prometheus_registry.clone(),
			work_dir,
			{
				use sc_consensus_aura::SyncOracle;
				let sync = sync_service.clone();
				Arc::new(move || sync.is_major_syncing())
			},
		)
		.await?;
	}

	if role.is_authority() {
		let proposer_factory = sc_basic_authorship::ProposerFactory::new(
			task_manager.spawn_handle(),
			client.clone(),
			transaction_pool.clone(),
			prometheus_registry.as_ref(),
			telemetry.as_ref().map(|x| x.handle()),
		);
		let slot_duration = sc_consensus_aura::slot_duration(&*client)?;
		let aura = sc_consensus_aura::start_aura::<AuraPair, _, _, _, _, _, _, _, _, _, _>(
			StartAuraParams {
				slot_duration,
				client,
				select_chain,
				block_import,
				proposer_factory,
				create_inherent_data_providers: move |_, ()| async move {
					Ok(aura_inherents(slot_duration))
				},
				force_authoring,
				backoff_authoring_blocks: Option::<()>::None,
				keystore: keystore_container.keystore(),
				sync_oracle: sync_service.clone(),
				justification_sync_link: sync_service.clone(),
				block_proposal_slot_portion: SlotProportion::new(2f32 / 3f32),
				max_block_proposal_slot_portion: None,
				telemetry: telemetry.as_ref().map(|x| x.handle()),
				compatibility_mode: Default::default(),
			},
		)?;
		// Authoring is essential: if it fails the node stops.
		task_manager.spawn_essential_handle().spawn_blocking("aura", Some("block-authoring"), aura);
	}

	if enable_grandpa {
		// Only a validator votes, so only a validator needs the keystore.
		let keystore = role.is_authority().then(|| keystore_container.keystore());
		let grandpa_config = sc_consensus_grandpa::Config {
			gossip_duration: Duration::from_millis(333),
			justification_generation_period: GRANDPA_JUSTIFICATION_PERIOD,
			name: Some(name),
			observer_enabled: false,
			keystore,
			local_role: role,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			protocol_name: grandpa_protocol_name,
		};
		let voter = sc_consensus_grandpa::run_grandpa_voter(sc_consensus_grandpa::GrandpaParams {
			config: grandpa_config,
			link: grandpa_link,
			network,
			sync: sync_service,
			notification_service: grandpa_notification_service,
			voting_rule: sc_consensus_grandpa::VotingRulesBuilder::default().build(),
			prometheus_registry,
			shared_voter_state: SharedVoterState::empty(),
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			offchain_tx_pool_factory: OffchainTransactionPoolFactory::new(transaction_pool),
		})?;
		// Finality is essential: if the voter fails the node stops.
		task_manager.spawn_essential_handle().spawn_blocking("grandpa-voter", None, voter);
	}

	Ok(task_manager)
}

/// How long the workers may take to stop: within the 60 s a Substrate node waits for them.
const WORKERS_STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(45);

/// Starts the market workers of the enabled roles; a role that cannot work stops the node with
/// the reason.
///
/// The workers run on a runtime of their own, inside a blocking task of the node's: when the
/// node stops, Substrate drops its tasks at once but waits up to 60 s for blocking ones, so the
/// workers are told to stop (a guard dropped with the task manager) and get to end or journal
/// their running jobs and join their tasks ([`modicum_roles::SHUTDOWN_GRACE`]).
async fn start_workers(
	roles: &modicum_roles::Roles,
	task_manager: &TaskManager,
	client: Arc<FullClient>,
	pool: Arc<sc_transaction_pool::TransactionPoolHandle<Block, FullClient>>,
	keystore: sp_keystore::KeystorePtr,
	prometheus: Option<substrate_prometheus_endpoint::Registry>,
	work_dir: std::path::PathBuf,
	syncing: modicum_roles::chain::SyncOracle,
) -> Result<(), ServiceError> {
	use codec::Decode;
	use sc_transaction_pool_api::{TransactionPool, TransactionSource};
	let (heads, follow) = modicum_roles::chain::follow(client.clone());
	task_manager.spawn_essential_handle().spawn("modicum-heads", Some("modicum"), follow);
	let submitter: modicum_roles::chain::Submitter = Arc::new(move |at, encoded| {
		let pool = pool.clone();
		Box::pin(async move {
			let extrinsic =
				<Block as sp_runtime::traits::Block>::Extrinsic::decode(&mut &encoded[..])
					.map_err(|e| e.to_string())?;
			pool.submit_one(at, TransactionSource::Local, extrinsic)
				.await
				.map_err(|e| e.to_string())
		})
	});
	let (stop, stopping) = tokio::sync::watch::channel(false);
	let mut stopped = stopping.clone();
	let node = modicum_roles::NodeHandles {
		state: client,
		syncing,
		submitter,
		keystore,
		heads,
		prometheus,
		work_dir,
		stop: stopping,
	};
	// Told to stop when the task manager drops its tasks, before the runtime shuts down.
	struct StopOnDrop(tokio::sync::watch::Sender<bool>);
	impl Drop for StopOnDrop {
		fn drop(&mut self) {
			let _ = self.0.send(true);
		}
	}
	let guard = StopOnDrop(stop);
	task_manager.spawn_handle().spawn("modicum-stop", Some("modicum"), async move {
		let _guard = guard;
		std::future::pending::<()>().await
	});
	let roles = roles.clone();
	let (ready, started) = tokio::sync::oneshot::channel();
	// Not essential: a worker that fails logs it and ends, and the validator goes on.
	tokio::task::spawn_blocking(move || {
		let runtime = match tokio::runtime::Builder::new_multi_thread()
			.thread_name("modicum-worker")
			.enable_all()
			.build()
		{
			Ok(runtime) => runtime,
			Err(e) => {
				let _ = ready.send(Err(format!("the workers' runtime: {e}")));
				return;
			},
		};
		runtime.block_on(async move {
			let workers = match modicum_roles::prepare(&roles, node).await {
				Ok(workers) => workers,
				Err(e) => {
					let _ = ready.send(Err(e.to_string()));
					return;
				},
			};
			let _ = ready.send(Ok(()));
			let running = workers.into_iter().map(|(name, worker)| async move {
				worker.await;
				log::info!(target: "modicum", "{name} stopped");
			});
			// Whatever a worker waits on while it stops, the node ends within its 60 s: what
			// is left then is removed at the next start.
			let deadline = async {
				let _ = stopped.wait_for(|stop| *stop).await;
				tokio::time::sleep(WORKERS_STOP_WITHIN).await;
			};
			tokio::select! {
				_ = futures::future::join_all(running) => {},
				_ = deadline => log::warn!(target: "modicum", "workers still running {WORKERS_STOP_WITHIN:?} after the stop; left to the next start"),
			}
		});
	});
	started
		.await
		.map_err(|_| ServiceError::Other("the workers ended before they started".into()))?
		.map_err(ServiceError::Other)
}
