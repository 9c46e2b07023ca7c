//! The built-in chains: `dev` (Alice alone) and `local` (Alice, Bob, Charlie and Dave).

use modicum_runtime::{SS58_PREFIX, TOKEN_DECIMALS, TOKEN_SYMBOL, WASM_BINARY};
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

fn chain_spec(
	name: &str,
	id: &str,
	chain_type: ChainType,
	preset: &str,
) -> Result<ChainSpec, String> {
	let wasm = WASM_BINARY.ok_or_else(|| "the runtime wasm was not built".to_string())?;
	Ok(ChainSpec::builder(wasm, None)
		.with_name(name)
		.with_id(id)
		.with_protocol_id("mdc")
		.with_chain_type(chain_type)
		.with_properties(properties())
		.with_genesis_config_preset_name(preset)
		.build())
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
