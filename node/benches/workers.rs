//! What the market adds to a job, on the running devnet (docs/performance.md):
//!
//! - execution overhead: the same image run by a plain hardened `docker run` and through the
//!   provider (image check, pull, cgroup, `/out` mount, watchdog, archive, upload);
//! - protocol overhead: blocks from the job offer to the result on the best chain beyond the
//!   execution itself, with the finality lag beside it;
//! - memory: the provider node's resident set against a node without roles on the same chain.
//!
//! Needs `scripts/devnet.sh start --detach`; run with
//! `cargo test --release --workspace --bench workers`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{devnet::*, *};
use modicum_runtime::{BlockNumber, RuntimeCall, MDC, MILLI_MDC};
use pallet_market::{
	Architecture, Call as MarketCall, Event as MarketEvent, MatchId, MaxFees, Resources,
};
use serde_json::json;
use sp_keyring::Sr25519Keyring::{AliceStash, Dave, Ferdie};
use std::{
	path::PathBuf,
	process::{Child, Command, Stdio},
	thread::sleep,
	time::{Duration, Instant},
};

const CPU_LIMIT: u64 = 60_000;
/// `--cpus` of the match: the cpu limit spread over its run blocks at the provider's speed 1000.
const CPU_RATE: &str = "0.5";

/// Resident set size of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
	let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
	let kib: f64 = status
		.lines()
		.find_map(|l| l.strip_prefix("VmRSS:"))
		.and_then(|v| v.split_whitespace().next())
		.and_then(|v| v.parse().ok())
		.unwrap();
	kib / 1024.0
}

fn node_pid(name: &str) -> u32 {
	let pids = std::fs::read_to_string(devnet_dir().join("pids")).unwrap();
	pids.lines()
		.filter_map(|l| l.split_once(' '))
		.filter(|(n, _)| *n == name)
		.filter_map(|(_, pid)| pid.parse().ok())
		.last()
		.expect("the node runs")
}

/// A node with no roles on the devnet's chain, for the memory comparison (its log:
/// `logs/observer.log`); stopped when dropped, however the benchmark ends.
struct Observer(Child);

impl Drop for Observer {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
		let _ = std::fs::remove_dir_all(devnet_dir().join("data/observer"));
	}
}

fn observer() -> Observer {
	let dir = devnet_dir();
	let command = std::fs::read_to_string(dir.join("data/alice.command")).unwrap();
	let bootnode = command.split("--bootnodes ").nth(1).unwrap().split_whitespace().next().unwrap();
	let base = dir.join("data/observer");
	let _ = std::fs::remove_dir_all(&base);
	let log = std::fs::File::create(dir.join("logs/observer.log")).unwrap();
	Command::new(env!("CARGO_BIN_EXE_modicum-node"))
		.args(["--chain", dir.join("config/spec.json").to_str().unwrap()])
		.args([
			"--base-path",
			base.to_str().unwrap(),
			"--no-prometheus",
			"--no-telemetry",
			"--no-mdns",
		])
		.args([
			"--rpc-port",
			&free_port().to_string(),
			"--port",
			&free_port().to_string(),
			"--bootnodes",
			bootnode,
		])
		.stdout(Stdio::null())
		.stderr(log)
		.spawn()
		.map(Observer)
		.unwrap()
}

fn main() {
	let rpc = devnet();
	let (image, base) = publish("busy");
	let reference =
		format!("127.0.0.1:{}/jobs/busy@sha256:{}", 5000 + offset(), hex::encode(image.digest));

	// 1. Plain hardened `docker run` of the same image, same limits.
	let out = tempdir();
	let start = Instant::now();
	let status = Command::new("docker")
		.args(["run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL"])
		.args([
			"--security-opt",
			"no-new-privileges",
			"--user",
			"65534:65534",
			"--pids-limit",
			"64",
		])
		.args(["--memory", "256m", "--memory-swap", "256m", "--cpus", CPU_RATE])
		.args(["-v", &format!("{}:/out", out.display()), &reference])
		.status()
		.unwrap();
	let plain = start.elapsed();
	assert!(status.success());
	let _ = std::fs::remove_dir_all(&out);

	// 2. The same job through the market.
	ensure_job_creator(&rpc, AliceStash, Ferdie);
	let start_block = header_number(&rpc, None);
	let now = start_block as BlockNumber;
	let limits = Resources { cpu: CPU_LIMIT, memory: 256, storage: 8, bandwidth: 4_096 };
	submit(
		&rpc,
		AliceStash,
		RuntimeCall::Market(MarketCall::post_job_offer {
			limits,
			architecture: Architecture::Amd64,
			image,
			base_layer: base,
			directory: Dave.to_account_id(),
			cpu_bid: 1_000_000,
			bandwidth_bid: 1_000,
			completion_deadline: now + 300,
			max_fees: MaxFees { mediator: 100 * MILLI_MDC, directory: 100 * MILLI_MDC },
			min_reputation: None,
			deposit: 100 * MDC,
		}),
	);
	let minutes = Duration::from_secs(600);
	let (offered, ()) = wait_for_event(&rpc, start_block, minutes, "the offer", |e| match e {
		MarketEvent::JobOfferPosted { .. } => Some(()),
		_ => None,
	});
	let (matched, match_id) = wait_for_event(&rpc, offered, minutes, "the match", |e| match e {
		MarketEvent::Matched { match_id, creator, .. } if creator == AliceStash.to_account_id() => {
			Some(match_id)
		}
		_ => None,
	});
	let (posted, ()) = wait_for_event(&rpc, matched, minutes, "the result", |e| match e {
		MarketEvent::ResultPosted { match_id: id, .. } if id == match_id => Some(()),
		_ => None,
	});
	let lag = header_number(&rpc, None) - finalized_number(&rpc);
	rpc.call(
		"author_submitExtrinsic",
		json!([signed_extrinsic(
			&rpc,
			AliceStash,
			RuntimeCall::Market(MarketCall::accept_result { match_id })
		)]),
	);

	let (container_ms, total_ms) = provider_times(match_id);
	let blocks = posted - offered;
	let chain_s = blocks as f64 * 2.0;
	let overhead_s = chain_s - total_ms as f64 / 1000.0;

	// 3. Memory: the provider node against a node with no roles, both synced and idle.
	let observer = observer();
	// A new node syncs this young chain in seconds; a minute lets both settle.
	sleep(Duration::from_secs(60));
	let (mut provider_rss, mut plain_rss) = (Vec::new(), Vec::new());
	for _ in 0..10 {
		provider_rss.push(rss_mib(node_pid("eve")));
		plain_rss.push(rss_mib(observer.0.id()));
		sleep(Duration::from_secs(1));
	}
	drop(observer);
	let median = |v: &mut Vec<f64>| {
		v.sort_by(f64::total_cmp);
		v[v.len() / 2]
	};
	let (provider_rss, plain_rss) = (median(&mut provider_rss), median(&mut plain_rss));

	println!("execution: plain hardened docker run {:.2} s; through the provider {:.2} s in the container, {:.2} s from run start to uploaded result", plain.as_secs_f64(), container_ms as f64 / 1e3, total_ms as f64 / 1e3);
	println!(
		"execution overhead: {:+.2} % (provider total / plain docker run - 1)",
		(total_ms as f64 / 1e3 / plain.as_secs_f64() - 1.0) * 100.0
	);
	println!("protocol: offer in block #{offered}, matched #{matched} (+{}), result #{posted} (+{}); {blocks} blocks = {chain_s:.0} s, of which {overhead_s:.1} s ({:.1} blocks) beyond the provider's work; finality lag {lag} blocks", matched - offered, posted - matched, overhead_s / 2.0);
	println!("memory: provider node {provider_rss:.1} MiB, node without roles {plain_rss:.1} MiB, the worker adds {:.1} MiB", provider_rss - plain_rss);
}

fn tempdir() -> PathBuf {
	let dir = std::env::temp_dir().join(format!("modicum-bench-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let _ = Command::new("chmod").args(["0777", dir.to_str().unwrap()]).status();
	dir
}

/// `container_ms` and `total_ms` the provider logged for the match.
fn provider_times(match_id: MatchId) -> (u64, u64) {
	let log = std::fs::read_to_string(devnet_dir().join("logs/eve.log")).unwrap();
	let line = log
		.lines()
		.rev()
		.find(|l| l.contains("result ready") && l.contains(&format!("match_id={match_id} ")))
		.expect("the provider logged the run");
	let field = |name: &str| -> u64 {
		line.split(&format!("{name}="))
			.nth(1)
			.unwrap()
			.split_whitespace()
			.next()
			.unwrap()
			.parse()
			.unwrap()
	};
	(field("container_ms"), field("total_ms"))
}
