//! A real `modicum-node --dev` and a JSON-RPC client that signs with the runtime's own types.

#![allow(dead_code)]

pub mod devnet;

use codec::{Decode, Encode};
use modicum_runtime::{
	AccountId, Hash, Runtime, RuntimeCall, RuntimeEvent, Signature, SignedPayload, TxExtension,
	UncheckedExtrinsic, VERSION,
};
use serde_json::{json, Value};
use sp_core::{bytes, Pair};
use sp_io::hashing::twox_128;
use sp_keyring::Sr25519Keyring;
use sp_runtime::generic::Era;
use std::{
	io::{Read, Write},
	net::{TcpListener, TcpStream},
	process::{Child, Command, Stdio},
	thread::sleep,
	time::{Duration, Instant},
};

/// A JSON-RPC client over plain HTTP/1.1, so the tests add no dependency (and no feature) the
/// node itself does not build with.
pub struct Rpc {
	port: u16,
}

impl Rpc {
	/// A client of the node serving JSON-RPC on 127.0.0.1:`port`.
	pub fn on(port: u16) -> Self {
		Self { port }
	}

	/// Call `method`; panics on a transport failure or an error response.
	pub fn call(&self, method: &str, params: Value) -> Value {
		self.try_call(method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
	}

	/// Call `method`, returning transport and JSON-RPC errors as text.
	pub fn try_call(&self, method: &str, params: Value) -> Result<Value, String> {
		let body =
			json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
		let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
		stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
		write!(
			stream,
			"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
			 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
			body.len()
		)
		.map_err(|e| e.to_string())?;
		let mut response = Vec::new();
		stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
		let response = String::from_utf8(response).map_err(|e| e.to_string())?;
		let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP body")?;
		let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
			dechunk(body)?
		} else {
			body.to_string()
		};
		let reply: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
		match reply.get("error") {
			Some(error) => Err(error.to_string()),
			None => Ok(reply["result"].clone()),
		}
	}
}

fn dechunk(mut body: &str) -> Result<String, String> {
	let mut out = String::new();
	loop {
		let (size, rest) = body.split_once("\r\n").ok_or("bad chunk")?;
		let size = usize::from_str_radix(size.trim(), 16).map_err(|e| e.to_string())?;
		if size == 0 {
			return Ok(out);
		}
		out.push_str(rest.get(..size).ok_or("short chunk")?);
		body = rest.get(size + 2..).ok_or("short chunk")?;
	}
}

/// The node process; killed when the test ends, however it ends.
pub struct Node {
	child: Child,
	/// JSON-RPC over HTTP.
	pub rpc: Rpc,
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

/// Start `modicum-node --dev --tmp` on free ports and wait for its RPC server.
pub fn start_dev_node() -> Node {
	let port = free_port();
	let child = Command::new(env!("CARGO_BIN_EXE_modicum-node"))
		.args(["--dev", "--tmp", "--no-prometheus", "--no-telemetry", "--no-mdns"])
		.args(["--rpc-port", &port.to_string(), "--port", &free_port().to_string()])
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.spawn()
		.expect("modicum-node starts");
	let node = Node { child, rpc: Rpc { port } };
	wait_for(Duration::from_secs(60), "the RPC server", || {
		node.rpc.try_call("system_health", json!([])).is_ok()
	});
	node
}

/// Poll `done` every 250 ms; panic after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
	let start = Instant::now();
	while !done() {
		assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
		sleep(Duration::from_millis(250));
	}
}

/// The number of block `hash`, or of the best block.
pub fn header_number(rpc: &Rpc, hash: Option<&str>) -> u64 {
	let header = rpc.call("chain_getHeader", json!([hash]));
	let number = header["number"].as_str().unwrap().trim_start_matches("0x");
	u64::from_str_radix(number, 16).unwrap()
}

/// The number of the last finalized block.
pub fn finalized_number(rpc: &Rpc) -> u64 {
	let hash = rpc.call("chain_getFinalizedHead", json!([]));
	header_number(rpc, hash.as_str())
}

/// A signed, immortal extrinsic built from the runtime's own types, hex-encoded.
pub fn signed_extrinsic(rpc: &Rpc, signer: Sr25519Keyring, call: RuntimeCall) -> String {
	let account = signer.to_account_id();
	let nonce = rpc.call("system_accountNextIndex", json!([account.to_string()])).as_u64().unwrap();
	let genesis = rpc.call("chain_getBlockHash", json!([0]));
	let genesis = Hash::from_slice(&bytes::from_hex(genesis.as_str().unwrap()).unwrap());

	let extension: TxExtension = (
		frame_system::CheckNonZeroSender::<Runtime>::new(),
		frame_system::CheckSpecVersion::<Runtime>::new(),
		frame_system::CheckTxVersion::<Runtime>::new(),
		frame_system::CheckGenesis::<Runtime>::new(),
		frame_system::CheckEra::<Runtime>::from(Era::Immortal),
		frame_system::CheckNonce::<Runtime>::from(nonce as u32),
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

fn event_records(rpc: &Rpc, block: &str) -> Vec<frame_system::EventRecord<RuntimeEvent, Hash>> {
	let key = [twox_128(b"System"), twox_128(b"Events")].concat();
	let raw = rpc.call("state_getStorage", json!([bytes::to_hex(&key, false), block]));
	let Some(raw) = raw.as_str() else { return Vec::new() };
	Vec::<frame_system::EventRecord<RuntimeEvent, Hash>>::decode(
		&mut &bytes::from_hex(raw).unwrap()[..],
	)
	.expect("events decode with the runtime's types")
}

/// Every event of block `block`.
pub fn events_at(rpc: &Rpc, block: &str) -> Vec<RuntimeEvent> {
	event_records(rpc, block).into_iter().map(|record| record.event).collect()
}

/// Sign `call` as `signer`, submit it, wait for its block, and return its events; panics with
/// the dispatch error if it failed.
pub fn submit(rpc: &Rpc, signer: Sr25519Keyring, call: RuntimeCall) -> Vec<RuntimeEvent> {
	let extrinsic = signed_extrinsic(rpc, signer, call);
	rpc.call("author_submitExtrinsic", json!([extrinsic]));
	let mut next = header_number(rpc, None);
	let deadline = Instant::now() + Duration::from_secs(60);
	loop {
		assert!(Instant::now() < deadline, "the extrinsic never appeared in a block");
		if header_number(rpc, None) < next {
			sleep(Duration::from_millis(200));
			continue;
		}
		let hash = rpc.call("chain_getBlockHash", json!([next]));
		let hash = hash.as_str().unwrap();
		let block = rpc.call("chain_getBlock", json!([hash]));
		let extrinsics = block["block"]["extrinsics"].as_array().unwrap();
		if let Some(index) = extrinsics.iter().position(|x| x.as_str() == Some(&extrinsic)) {
			let events: Vec<RuntimeEvent> = event_records(rpc, hash)
				.into_iter()
				.filter(|record| record.phase == frame_system::Phase::ApplyExtrinsic(index as u32))
				.map(|record| record.event)
				.collect();
			for event in &events {
				if let RuntimeEvent::System(frame_system::Event::ExtrinsicFailed {
					dispatch_error,
					..
				}) = event
				{
					panic!("extrinsic failed: {dispatch_error:?}");
				}
			}
			return events;
		}
		next += 1;
	}
}
