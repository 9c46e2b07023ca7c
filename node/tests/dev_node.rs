//! Starts the real `modicum-node --dev --tmp` and talks to it over JSON-RPC as any client does.

mod common;

use common::*;
use modicum_runtime::{RuntimeCall, RuntimeEvent};
use serde_json::json;
use sp_keyring::Sr25519Keyring;
use std::time::Duration;

#[test]
fn dev_node_produces_and_finalizes_blocks_and_takes_a_registration() {
	let node = start_dev_node();
	let rpc = &node.rpc;

	let properties = rpc.call("system_properties", json!([]));
	assert_eq!(properties["tokenSymbol"], "MDC");
	assert_eq!(properties["tokenDecimals"], 12);
	assert_eq!(properties["ss58Format"], 42);

	wait_for(Duration::from_secs(60), "block 3", || header_number(rpc, None) >= 3);
	wait_for(Duration::from_secs(60), "a finalized block", || finalized_number(rpc) >= 1);

	let bob = Sr25519Keyring::Bob;
	let call = RuntimeCall::Market(pallet_market::Call::register_job_creator {
		trusted_mediators: Default::default(),
	});
	let events = submit(rpc, bob, call);
	let expected = RuntimeEvent::Market(pallet_market::Event::JobCreatorRegistered {
		who: bob.to_account_id(),
	});
	assert!(events.contains(&expected), "the registration's event is in its block: {events:?}");

	// Its block becomes final.
	let included = header_number(rpc, None);
	wait_for(Duration::from_secs(60), "the registration's block to be finalized", || {
		finalized_number(rpc) >= included
	});
	let finalized = rpc.call("chain_getFinalizedHead", json!([]));
	let block = header_number(rpc, finalized.as_str());
	let hash = rpc.call("chain_getBlockHash", json!([block]));
	assert!(!events_at(rpc, hash.as_str().unwrap()).is_empty());
}
