//! A real `modicum-node --dev` and a JSON-RPC client that signs with the runtime's own types.

#![allow(dead_code)]

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
pub struct Node {
	child: Child,
	/// JSON-RPC over HTTP.
	pub rpc: HttpClient,
}

impl Drop for Node {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub async fn start_dev_node() -> Node {
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

pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut done: F)
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

pub async fn header_number(rpc: &HttpClient, hash: Option<&str>) -> u64 {
	let header: Value = rpc.request("chain_getHeader", rpc_params![hash]).await.unwrap();
	let number = header["number"].as_str().unwrap().trim_start_matches("0x");
	u64::from_str_radix(number, 16).unwrap()
}

pub async fn finalized_number(rpc: &HttpClient) -> u64 {
	let hash: String = rpc.request("chain_getFinalizedHead", rpc_params![]).await.unwrap();
	header_number(rpc, Some(&hash)).await
}

/// A signed, immortal extrinsic built from the runtime's own types.
pub async fn signed_extrinsic(rpc: &HttpClient, signer: Sr25519Keyring, call: RuntimeCall) -> String {
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

async fn event_records(rpc: &HttpClient, block: &str) -> Vec<frame_system::EventRecord<RuntimeEvent, Hash>> {
	let key = [twox_128(b"System"), twox_128(b"Events")].concat();
	let raw: Option<String> = rpc
		.request("state_getStorage", rpc_params![bytes::to_hex(&key, false), block])
		.await
		.unwrap();
	let Some(raw) = raw else { return Vec::new() };
	Vec::<frame_system::EventRecord<RuntimeEvent, Hash>>::decode(&mut &bytes::from_hex(&raw).unwrap()[..])
		.expect("events decode with the runtime's types")
}

/// Every event of block `block`.
pub async fn events_at(rpc: &HttpClient, block: &str) -> Vec<RuntimeEvent> {
	event_records(rpc, block).await.into_iter().map(|record| record.event).collect()
}

/// The events of extrinsic `index` of block `block`.
async fn extrinsic_events(rpc: &HttpClient, block: &str, index: u32) -> Vec<RuntimeEvent> {
	event_records(rpc, block)
		.await
		.into_iter()
		.filter(|record| record.phase == frame_system::Phase::ApplyExtrinsic(index))
		.map(|record| record.event)
		.collect()
}

/// Sign `call` as `signer`, submit it, wait for its block, and return its events; panics with
/// the dispatch error if it failed.
pub async fn submit(rpc: &HttpClient, signer: Sr25519Keyring, call: RuntimeCall) -> Vec<RuntimeEvent> {
	let extrinsic = signed_extrinsic(rpc, signer, call).await;
	let _: String = rpc.request("author_submitExtrinsic", rpc_params![extrinsic.clone()]).await.unwrap();
	let mut next = header_number(rpc, None).await;
	let deadline = Instant::now() + Duration::from_secs(60);
	loop {
		assert!(Instant::now() < deadline, "the extrinsic never appeared in a block");
		if header_number(rpc, None).await < next {
			tokio::time::sleep(Duration::from_millis(200)).await;
			continue;
		}
		let hash: String = rpc.request("chain_getBlockHash", rpc_params![next]).await.unwrap();
		let block: Value = rpc.request("chain_getBlock", rpc_params![hash.clone()]).await.unwrap();
		let extrinsics = block["block"]["extrinsics"].as_array().unwrap();
		if let Some(index) = extrinsics.iter().position(|x| x.as_str() == Some(&extrinsic)) {
			let events = extrinsic_events(rpc, &hash, index as u32).await;
			for event in &events {
				if let RuntimeEvent::System(frame_system::Event::ExtrinsicFailed { dispatch_error, .. }) = event {
					panic!("extrinsic failed: {dispatch_error:?}");
				}
			}
			return events;
		}
		next += 1;
	}
}
