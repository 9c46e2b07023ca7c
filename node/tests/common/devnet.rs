//! The devnet of `scripts/devnet.sh` as the end-to-end tests and the workers benchmark drive it.

use super::*;
use modicum_runtime::{Runtime, RuntimeCall};
use pallet_market::{Call as MarketCall, Event as MarketEvent, ImageOf};
use sp_core::crypto::Ss58Codec;
use std::path::{Path, PathBuf};

/// The devnet's directory (`MODICUM_DEVNET_DIR`, else `devnet/` in the checkout).
pub fn devnet_dir() -> PathBuf {
	std::env::var("MODICUM_DEVNET_DIR")
		.map(PathBuf::from)
		.unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../devnet"))
}

/// `MODICUM_DEVNET_PORT_OFFSET`: how far the devnet's ports are shifted.
pub fn offset() -> u16 {
	std::env::var("MODICUM_DEVNET_PORT_OFFSET").ok().and_then(|o| o.parse().ok()).unwrap_or(0)
}

/// The first validator's JSON-RPC; panics with how to start the devnet when it is not running.
pub fn devnet() -> Rpc {
	let rpc = Rpc::on(9944 + offset());
	rpc.try_call("system_health", json!([]))
		.expect("the devnet with roles must be running: scripts/devnet.sh start --detach");
	rpc
}

/// Runs `scripts/devnet.sh` with `args`; its stdout.
pub fn devnet_script(args: &[&str]) -> String {
	let output = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/devnet.sh"))
		.args(args)
		.output()
		.expect("scripts/devnet.sh runs");
	assert!(
		output.status.success(),
		"devnet.sh {args:?}: {}",
		String::from_utf8_lossy(&output.stderr)
	);
	String::from_utf8(output.stdout).unwrap()
}

/// Builds and pushes a job of `node/tests/jobs/` as `jobs/<job>`; its image and base layer.
pub fn publish(job: &str) -> (ImageOf<Runtime>, [u8; 32]) {
	let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jobs").join(job);
	let repository = format!("jobs/{job}");
	let out = devnet_script(&["publish-job", dir.to_str().unwrap(), &repository]);
	let mut digests = out.split_whitespace().map(|d| -> [u8; 32] {
		bytes::from_hex(d.trim_start_matches("sha256:")).unwrap().try_into().unwrap()
	});
	let (digest, base) = (digests.next().unwrap(), digests.next().unwrap());
	(ImageOf { repository: repository.into_bytes().try_into().unwrap(), digest }, base)
}

/// The hash of block `number`.
pub fn block_hash(rpc: &Rpc, number: u64) -> String {
	rpc.call("chain_getBlockHash", json!([number])).as_str().unwrap().to_string()
}

/// Scans blocks from `from` on until a market event satisfies `found`; its block and value.
pub fn wait_for_event<T>(
	rpc: &Rpc,
	from: u64,
	timeout: Duration,
	what: &str,
	mut found: impl FnMut(MarketEvent<Runtime>) -> Option<T>,
) -> (u64, T) {
	let deadline = Instant::now() + timeout;
	let mut next = from;
	loop {
		while next <= header_number(rpc, None) {
			for event in events_at(rpc, &block_hash(rpc, next)) {
				if let RuntimeEvent::Market(event) = event {
					if let Some(value) = found(event) {
						return (next, value);
					}
				}
			}
			next += 1;
		}
		assert!(Instant::now() < deadline, "timed out waiting for {what}");
		sleep(Duration::from_millis(500));
	}
}

/// Registers `creator` as a job creator trusting `mediator`, unless it is registered.
pub fn ensure_job_creator(rpc: &Rpc, creator: Sr25519Keyring, mediator: Sr25519Keyring) {
	let actors = rpc.call("market_actors", json!([]));
	let me = creator.to_account_id().to_ss58check();
	if !actors["jobCreators"].as_array().unwrap().iter().any(|e| e[0] == me) {
		let trusted_mediators = vec![mediator.to_account_id()].try_into().unwrap();
		submit(
			rpc,
			creator,
			RuntimeCall::Market(MarketCall::register_job_creator { trusted_mediators }),
		);
	}
}
