//! The built-in chains: `dev` (Alice alone), `local` (Alice, Bob, Charlie and Dave) and
//! `testnet` (the template of a public test network, docs/how-to/start-a-network.md).

use modicum_runtime::{SS58_PREFIX, TOKEN_DECIMALS, TOKEN_SYMBOL, WASM_BINARY};
use sc_network::config::MultiaddrWithPeerId;
use sc_service::{ChainType, Properties};

/// A chain spec of the Modicum runtime.
pub type ChainSpec = sc_service::GenericChainSpec;

/// Token symbol, decimals and address format, so wallets show MDC with no configuration.
fn properties() -> Properties {
	let mut properties = Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_PREFIX.into());
	properties
}

fn builder(
	name: &str,
	id: &str,
	chain_type: ChainType,
	preset: &str,
) -> Result<sc_chain_spec::ChainSpecBuilder<sc_chain_spec::NoExtension>, String> {
	let wasm = WASM_BINARY.ok_or_else(|| "the runtime wasm was not built".to_string())?;
	Ok(ChainSpec::builder(wasm, None)
		.with_name(name)
		.with_id(id)
		.with_protocol_id("mdc")
		.with_chain_type(chain_type)
		.with_properties(properties())
		.with_genesis_config_preset_name(preset))
}

fn chain_spec(
	name: &str,
	id: &str,
	chain_type: ChainType,
	preset: &str,
) -> Result<ChainSpec, String> {
	Ok(builder(name, id, chain_type, preset)?.build())
}

/// A single-validator development chain.
pub fn development() -> Result<ChainSpec, String> {
	chain_spec(
		"Modicum Development",
		"modicum_dev",
		ChainType::Development,
		sp_genesis_builder::DEV_RUNTIME_PRESET,
	)
}

/// A four-validator local testnet.
pub fn local_testnet() -> Result<ChainSpec, String> {
	chain_spec(
		"Modicum Local Testnet",
		"modicum_local",
		ChainType::Local,
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET,
	)
}

/// The bootnode placeholders of `testnet`: the addresses and peer IDs (`key inspect-node-key`)
/// of the operator's first validators go here.
const TESTNET_BOOTNODES: [&str; 3] = [
	"/dns/validator-1.testnet.example/tcp/30333/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
	"/dns/validator-2.testnet.example/tcp/30333/p2p/12D3KooWHdiAxVd8uMQR1hGWXccidmfCwLqcMpGwR6QcTP6QRMuD",
	"/dns/validator-3.testnet.example/tcp/30333/p2p/12D3KooWSCufgHzV4fCwRijfH2k3abrpAJxTKxEvN1FDuRXA2U9x",
];

/// The id of `testnet`; a node refuses to run a chain of this id (the unmodified template).
pub const TESTNET_ID: &str = "modicum_testnet";

/// The template of a public test network: three validators, a sudo key and bootnodes, each a
/// placeholder its operator replaces before launch.
pub fn testnet() -> Result<ChainSpec, String> {
	let boot_nodes = TESTNET_BOOTNODES
		.iter()
		.map(|address| address.parse().map_err(|e| format!("bootnode {address}: {e}")))
		.collect::<Result<Vec<MultiaddrWithPeerId>, String>>()?;
	Ok(builder(
		"Modicum Testnet",
		TESTNET_ID,
		ChainType::Live,
		modicum_runtime::genesis_config_presets::TESTNET_PRESET,
	)?
	.with_boot_nodes(boot_nodes)
	.build())
}
