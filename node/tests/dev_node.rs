//! Starts the real `modicum-node --dev --tmp` and talks to it over JSON-RPC as any client does.

mod common;

use common::*;
use jsonrpsee::{core::client::ClientT, rpc_params};
use modicum_runtime::{RuntimeCall, RuntimeEvent};
use serde_json::Value;
use sp_keyring::Sr25519Keyring;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn dev_node_produces_and_finalizes_blocks_and_takes_a_registration() {
	let node = start_dev_node().await;
	let rpc = &node.rpc;

	let properties: Value = rpc.request("system_properties", rpc_params![]).await.unwrap();
	assert_eq!(properties["tokenSymbol"], "MDC");
	assert_eq!(properties["tokenDecimals"], 12);
	assert_eq!(properties["ss58Format"], 42);

	wait_for(Duration::from_secs(60), "block 3", || async {
		header_number(rpc, None).await >= 3
	})
	.await;
	wait_for(Duration::from_secs(60), "a finalized block", || async {
		finalized_number(rpc).await >= 1
	})
	.await;

	let bob = Sr25519Keyring::Bob;
	let call = RuntimeCall::Market(pallet_market::Call::register_job_creator {
		trusted_mediators: Default::default(),
	});
	let extrinsic = signed_extrinsic(rpc, bob, call).await;
	let tx_hash: String =
		rpc.request("author_submitExtrinsic", rpc_params![extrinsic]).await.unwrap();
	assert!(tx_hash.starts_with("0x"));

	let expected = RuntimeEvent::Market(pallet_market::Event::JobCreatorRegistered {
		who: bob.to_account_id(),
	});
	let start = header_number(rpc, None).await;
	let mut found_in = None;
	let deadline = Instant::now() + Duration::from_secs(60);
	let mut next = start;
	while found_in.is_none() {
		assert!(Instant::now() < deadline, "the registration never appeared in a block");
		if header_number(rpc, None).await < next {
			tokio::time::sleep(Duration::from_millis(250)).await;
			continue;
		}
		let hash: String = rpc.request("chain_getBlockHash", rpc_params![next]).await.unwrap();
		if events_at(rpc, &hash).await.contains(&expected) {
			found_in = Some(next);
		}
		next += 1;
	}
	let included = found_in.unwrap();

	wait_for(Duration::from_secs(60), "the registration's block to be finalized", || async {
		finalized_number(rpc).await >= included
	})
	.await;
}
