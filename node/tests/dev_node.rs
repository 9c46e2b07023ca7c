//! Starts the real `modicum-node --dev --tmp` and talks to it over JSON-RPC as any client does.

use codec::{Decode, Encode};
use jsonrpsee::{
	core::client::ClientT,
	http_client::{HttpClient, HttpClientBuilder},
	rpc_params,
};
use modicum_runtime::{
	AccountId, Hash, Runtime, RuntimeCall, RuntimeEvent, Signature, SignedPayload, TxExtension,
	UncheckedExtrinsic, VERSION,
};
use serde_json::Value;
use sp_core::{bytes, Pair};
use sp_io::hashing::twox_128;
use sp_keyring::Sr25519Keyring;
use sp_runtime::generic::Era;
use std::{
	net::TcpListener,
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

/// The node process; killed when the test ends, however it ends.
struct Node {
	child: Child,
	rpc: HttpClient,
}

impl Drop for Node {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_dev_node() -> Node {
	let rpc_port = free_port();
	let child = Command::new(env!("CARGO_BIN_EXE_modicum-node"))
		.args(["--dev", "--tmp", "--no-prometheus", "--no-telemetry", "--no-mdns"])
		.args(["--rpc-port", &rpc_port.to_string(), "--port", &free_port().to_string()])
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.spawn()
		.expect("modicum-node starts");
	let rpc = HttpClientBuilder::default()
		.request_timeout(Duration::from_secs(10))
		.build(format!("http://127.0.0.1:{rpc_port}"))
		.unwrap();
	let node = Node { child, rpc };
	wait_for(Duration::from_secs(60), "the RPC server", || async {
		node.rpc.request::<Value, _>("system_health", rpc_params![]).await.is_ok()
	})
	.await;
	node
}

async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut done: F)
where
	F: FnMut() -> Fut,
	Fut: std::future::Future<Output = bool>,
{
	let start = Instant::now();
	while !done().await {
		assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
		tokio::time::sleep(Duration::from_millis(250)).await;
	}
}

async fn header_number(rpc: &HttpClient, hash: Option<&str>) -> u64 {
	let header: Value = rpc.request("chain_getHeader", rpc_params![hash]).await.unwrap();
	let number = header["number"].as_str().unwrap().trim_start_matches("0x");
	u64::from_str_radix(number, 16).unwrap()
}

async fn finalized_number(rpc: &HttpClient) -> u64 {
	let hash: String = rpc.request("chain_getFinalizedHead", rpc_params![]).await.unwrap();
	header_number(rpc, Some(&hash)).await
}

/// A signed, immortal extrinsic built from the runtime's own types.
async fn signed_extrinsic(rpc: &HttpClient, signer: Sr25519Keyring, call: RuntimeCall) -> String {
	let account = signer.to_account_id();
	let nonce: u32 =
		rpc.request("system_accountNextIndex", rpc_params![account.to_string()]).await.unwrap();
	let genesis: String = rpc.request("chain_getBlockHash", rpc_params![0]).await.unwrap();
	let genesis = Hash::from_slice(&bytes::from_hex(&genesis).unwrap());

	let extension: TxExtension = (
		frame_system::CheckNonZeroSender::<Runtime>::new(),
		frame_system::CheckSpecVersion::<Runtime>::new(),
		frame_system::CheckTxVersion::<Runtime>::new(),
		frame_system::CheckGenesis::<Runtime>::new(),
		frame_system::CheckEra::<Runtime>::from(Era::Immortal),
		frame_system::CheckNonce::<Runtime>::from(nonce),
		frame_system::CheckWeight::<Runtime>::new(),
		pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0),
		frame_system::WeightReclaim::<Runtime>::new(),
	);
	let implicit =
		((), VERSION.spec_version, VERSION.transaction_version, genesis, genesis, (), (), (), ());
	let payload = SignedPayload::from_raw(call.clone(), extension.clone(), implicit);
	let signature = payload.using_encoded(|bytes| signer.pair().sign(bytes));
	let extrinsic = UncheckedExtrinsic::new_signed(
		call,
		AccountId::from(signer.public()).into(),
		Signature::Sr25519(signature),
		extension,
	);
	bytes::to_hex(&extrinsic.encode(), false)
}

async fn events_at(rpc: &HttpClient, block: &str) -> Vec<RuntimeEvent> {
	let key = [twox_128(b"System"), twox_128(b"Events")].concat();
	let raw: Option<String> = rpc
		.request("state_getStorage", rpc_params![bytes::to_hex(&key, false), block])
		.await
		.unwrap();
	let Some(raw) = raw else { return Vec::new() };
	let records =
		Vec::<frame_system::EventRecord<RuntimeEvent, Hash>>::decode(&mut &bytes::from_hex(&raw).unwrap()[..])
			.expect("events decode with the runtime's types");
	records.into_iter().map(|record| record.event).collect()
}

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
