//! End-to-end: jobs through the real devnet's workers — a provider running them in the real
//! Docker engine, the solver matching them, the mediator re-executing them, the directory's real
//! registry storing images and results — with every balance checked against the payout table.
//!
//! These need the devnet with its roles, so they are `#[ignore]`d in a plain `cargo test`;
//! `scripts/test.sh` starts the devnet and runs them with `--ignored`. They take turns (one
//! provider runs one job at a time).

mod common;

use codec::{Decode, Encode};
use common::{devnet::*, *};
use modicum_runtime::{
	AccountId, Balance, BlockNumber, Runtime, RuntimeCall, RuntimeEvent, MDC, MILLI_MDC,
};
use pallet_market::{
	Call as MarketCall, Ending, Event as MarketEvent, ImageOf, MatchId, MatchOf, MatchState,
	MaxFees, Party, RejectReason, Resources, ResultStatus,
};
use serde_json::json;
use sp_core::{bytes, crypto::Ss58Codec};
use sp_keyring::Sr25519Keyring::{self, AliceStash, Charlie, Dave, Eve, EveStash, Ferdie};
use std::{collections::HashMap, process::Command, sync::Mutex, time::Duration};

/// Job creator of the tests: not a validator, so it earns no block fees.
const JC: Sr25519Keyring = AliceStash;
/// The devnet's provider (the worker on node `eve`).
const RP: Sr25519Keyring = Eve;
/// A provider the test drives by hand to post wrong results.
const DISHONEST: Sr25519Keyring = EveStash;
const MEDIATOR: Sr25519Keyring = Ferdie;
const DIRECTORY: Sr25519Keyring = Dave;
const SOLVER: Sr25519Keyring = Charlie;
/// The provider's ask in the devnet's provider.toml.
const CPU_ASK: Balance = 1_000_000;
/// Above the devnet mediator's and directory's fees (10 mMDC each).
const DEVNET_MAX_FEES: MaxFees<Balance> =
	MaxFees { mediator: 100 * MILLI_MDC, directory: 100 * MILLI_MDC };
const BANDWIDTH_ASK: Balance = 1_000;

/// One test at a time: the devnet has one provider.
static TURN: Mutex<()> = Mutex::new(());

fn market(call: MarketCall<Runtime>) -> RuntimeCall {
	RuntimeCall::Market(call)
}

/// A runtime API call at `at`, SCALE-decoded.
fn state_call<T: Decode>(rpc: &Rpc, method: &str, args: impl Encode, at: &str) -> T {
	let raw = rpc.call("state_call", json!([method, bytes::to_hex(&args.encode(), false), at]));
	T::decode(&mut &bytes::from_hex(raw.as_str().unwrap()).unwrap()[..]).expect("decodes")
}

/// free + held balance of `who` at block `at`.
fn total_balance(rpc: &Rpc, who: &AccountId, at: &str) -> Balance {
	let key = frame_system::Account::<Runtime>::hashed_key_for(who);
	let raw = rpc.call("state_getStorage", json!([bytes::to_hex(&key, false), at]));
	let info = frame_system::AccountInfo::<u32, pallet_balances::AccountData<Balance>>::decode(
		&mut &bytes::from_hex(raw.as_str().unwrap()).unwrap()[..],
	)
	.unwrap();
	info.data.free + info.data.reserved
}

/// Transaction fees paid by each account in blocks `from..=to`.
fn fees_paid(rpc: &Rpc, from: u64, to: u64) -> HashMap<AccountId, Balance> {
	let mut fees = HashMap::new();
	for number in from..=to {
		for event in events_at(rpc, &block_hash(rpc, number)) {
			if let RuntimeEvent::TransactionPayment(
				pallet_transaction_payment::Event::TransactionFeePaid { who, actual_fee, tip },
			) = event
			{
				*fees.entry(who).or_default() += actual_fee + tip;
			}
		}
	}
	fees
}

/// What a test follows of one job: balances before, and the match it got.
struct Tracked {
	start: u64,
	before: HashMap<AccountId, Balance>,
}

fn accounts() -> Vec<AccountId> {
	[JC, RP, DISHONEST, MEDIATOR, DIRECTORY, SOLVER].iter().map(|k| k.to_account_id()).collect()
}

/// Starts following balances once no match of an earlier test is open (a failed test may leave
/// one until its deadline settles it).
fn track(rpc: &Rpc) -> Tracked {
	let parties: Vec<String> = accounts().iter().map(|a| a.to_ss58check()).collect();
	wait_for(Duration::from_secs(300), "earlier matches to close", || {
		let open = rpc.call("market_openMatches", json!([]));
		!open.as_array().unwrap().iter().any(|entry| {
			let m = &entry[1];
			parties.iter().any(|p| m["creator"] == *p || m["provider"] == *p)
		})
	});
	// Only the devnet's provider offers, unless a test adds an offer of its own.
	let offers = rpc.call("market_openOffers", json!([]));
	let dishonest = DISHONEST.to_account_id().to_ss58check();
	for offer in offers["resourceOffers"].as_array().unwrap() {
		if offer[1]["provider"] == dishonest {
			let offer = offer[0].as_u64().unwrap();
			submit(rpc, DISHONEST, market(MarketCall::cancel_resource_offer { offer }));
		}
	}
	let start = header_number(rpc, None);
	let at = block_hash(rpc, start);
	Tracked {
		start,
		before: accounts().into_iter().map(|a| (a.clone(), total_balance(rpc, &a, &at))).collect(),
	}
}

impl Tracked {
	/// Checks each account's change from the start to block `end` against `expected` (market
	/// transfers; transaction fees are taken off from the chain's own fee events).
	fn assert_changes(&self, rpc: &Rpc, end: u64, expected: &[(Sr25519Keyring, i128)]) {
		let at = block_hash(rpc, end);
		let fees = fees_paid(rpc, self.start + 1, end);
		for (who, change) in expected {
			let account = who.to_account_id();
			let after = total_balance(rpc, &account, &at) as i128;
			let fee = fees.get(&account).copied().unwrap_or(0) as i128;
			let before = self.before[&account] as i128;
			assert_eq!(after - before + fee, *change, "balance change of {who:?} (fees {fee})");
		}
	}
}

/// Posts a job offer bidding the devnet provider's ask; returns the offer's block.
fn post_job(
	rpc: &Rpc,
	image: ImageOf<Runtime>,
	base_layer: [u8; 32],
	limits: Resources,
	blocks: BlockNumber,
) {
	let now = header_number(rpc, None) as BlockNumber;
	submit(
		rpc,
		JC,
		market(MarketCall::post_job_offer {
			limits,
			architecture: pallet_market::Architecture::Amd64,
			image,
			base_layer,
			directory: DIRECTORY.to_account_id(),
			cpu_bid: CPU_ASK,
			bandwidth_bid: BANDWIDTH_ASK,
			completion_deadline: now + blocks,
			max_fees: DEVNET_MAX_FEES,
			min_reputation: None,
			deposit: 50 * MDC,
		}),
	);
}

fn matched(rpc: &Rpc, from: u64) -> (u64, MatchId) {
	wait_for_event(rpc, from, Duration::from_secs(120), "a match", |e| match e {
		MarketEvent::Matched { match_id, creator, .. } if creator == JC.to_account_id() => {
			Some(match_id)
		}
		_ => None,
	})
}

fn terms(rpc: &Rpc, match_id: MatchId, at: u64) -> MatchOf<Runtime> {
	state_call::<Option<MatchOf<Runtime>>>(
		rpc,
		"MarketApi_match_info",
		match_id,
		&block_hash(rpc, at),
	)
	.expect("the match is open")
}

fn result_posted(
	rpc: &Rpc,
	from: u64,
	id: MatchId,
	timeout: Duration,
) -> (u64, pallet_market::Receipt) {
	let (block, ()) = wait_for_event(rpc, from, timeout, "the result", |e| match e {
		MarketEvent::ResultPosted { match_id, .. } if match_id == id => Some(()),
		_ => None,
	});
	let MatchState::ResultPosted { receipt, .. } = terms(rpc, id, block).state else {
		panic!("match {id} has no result at block {block}")
	};
	(block, receipt)
}

fn closed(rpc: &Rpc, from: u64, id: MatchId, timeout: Duration) -> (u64, Ending) {
	wait_for_event(rpc, from, timeout, "the match to close", |e| match e {
		MarketEvent::MatchClosed { match_id, ending, .. } if match_id == id => Some(ending),
		_ => None,
	})
}

/// The match incentive and the mediator's and directory's fees of a match.
fn fees(terms: &MatchOf<Runtime>) -> (i128, i128, i128) {
	(
		terms.parameters.match_incentive as i128,
		terms.mediator_fee as i128,
		terms.directory_fee as i128,
	)
}

/// π = min(used, limit) · ask, for cpu and bandwidth.
fn price(terms: &MatchOf<Runtime>, usage: &Resources) -> i128 {
	(usage.cpu.min(terms.limits.cpu) as i128) * terms.cpu_price as i128
		+ (usage.bandwidth.min(terms.limits.bandwidth) as i128) * terms.bandwidth_price as i128
}

/// What the provider keeps of job price `pi_c` after the devnet's welfare tax.
fn after_tax(pi_c: i128) -> i128 {
	let tax = modicum_runtime::genesis_config_presets::devnet_grant_terms().welfare_tax * pi_c as u128;
	pi_c - tax as i128
}

/// The result archive's entries, raw, fetched from the directory's registry by digest: name
/// bytes, kind, data (or link target).
fn result_entries(digest: [u8; 32]) -> Vec<(Vec<u8>, tar::EntryType, Vec<u8>)> {
	let output = Command::new("curl").args(["-sf", &result_url(&digest)]).output().unwrap();
	assert!(output.status.success(), "the result archive is at the directory");
	let mut entries = Vec::new();
	let mut archive = tar::Archive::new(&output.stdout[..]);
	for entry in archive.entries().unwrap() {
		let mut entry = entry.unwrap();
		let name = entry.path_bytes().into_owned();
		let kind = entry.header().entry_type();
		let mut data = Vec::new();
		match entry.link_name_bytes() {
			Some(target) => data.extend_from_slice(&target),
			None => {
				std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
			}
		}
		entries.push((name, kind, data));
	}
	entries
}

/// The result archive's entries by (lossy) name.
fn result_archive(digest: [u8; 32]) -> HashMap<String, Vec<u8>> {
	result_entries(digest)
		.into_iter()
		.map(|(name, _, data)| (String::from_utf8_lossy(&name).into_owned(), data))
		.collect()
}

const SMALL: Resources = Resources { cpu: 20_000, memory: 64, storage: 8, bandwidth: 4_096 };

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn an_honest_job_is_matched_run_accepted_and_every_balance_ends_exactly_right() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("honest");
	let tracked = track(rpc);
	post_job(rpc, image, base, SMALL, 100);
	let (at, id) = matched(rpc, tracked.start);
	let terms = terms(rpc, id, at);
	assert_eq!(terms.provider, RP.to_account_id(), "the solver picked the devnet provider");
	let (_, receipt) = result_posted(rpc, at, id, Duration::from_secs(120));
	assert_eq!(receipt.status, ResultStatus::Completed);
	assert!(receipt.usage.cpu > 0 && receipt.usage.cpu <= SMALL.cpu, "{receipt:?}");
	assert!(receipt.usage.memory > 0 && receipt.usage.memory <= SMALL.memory, "{receipt:?}");

	// The archive holds what the job wrote and printed, exactly.
	let archive = result_archive(receipt.result_digest.expect("a completed job has a result"));
	let mut sum = 0u64;
	for i in 1..=20_000u64 {
		sum = (sum + i * i) % 1_000_003;
	}
	assert_eq!(archive["out/sum.txt"], format!("{sum}\n").into_bytes());
	assert_eq!(archive["stdout"], b"summed 20000 squares\n");
	assert!(archive.contains_key("out/parts/numbers.txt"));

	let (end, ending) = {
		submit(rpc, JC, market(MarketCall::accept_result { match_id: id }));
		closed(rpc, at, id, Duration::from_secs(30))
	};
	assert_eq!(ending, Ending::Accepted);
	// The provider node counts the run on its Prometheus endpoint (eve: the third node).
	let metrics = Command::new("curl")
		.args(["-sf", &format!("http://127.0.0.1:{}/metrics", 9617 + offset())])
		.output()
		.unwrap();
	let metrics = String::from_utf8_lossy(&metrics.stdout);
	assert!(
		metrics.contains("modicum_job_runs_total{role=\"provider\",status=\"Completed\","),
		"provider metrics: {metrics}"
	);
	let (incentive, f_m, f_d) = fees(&terms);
	let pi_c = price(&terms, &receipt.usage);
	tracked.assert_changes(
		rpc,
		end,
		&[
			(JC, -incentive - pi_c - f_m - f_d),
			(RP, -incentive + after_tax(pi_c) - f_m - f_d),
			(MEDIATOR, 2 * f_m),
			(DIRECTORY, 2 * f_d),
			(SOLVER, 2 * incentive),
		],
	);
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_wrong_result_is_rejected_mediated_and_the_provider_fined() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("honest");
	// A provider that asks less than the devnet's, so the solver picks it, and then lies.
	let tracked = track(rpc);
	dishonest_offer(rpc, base);
	post_job(rpc, image, base, SMALL, 100);
	let (at, id) = matched(rpc, tracked.start);
	let terms = terms(rpc, id, at);
	assert_eq!(terms.provider, DISHONEST.to_account_id(), "the solver picked the cheaper provider");
	let claimed = Resources { cpu: 1_000, memory: 4, storage: 1, bandwidth: 10 };
	submit(
		rpc,
		DISHONEST,
		market(MarketCall::post_result {
			match_id: id,
			status: ResultStatus::Completed,
			usage: claimed,
			result_digest: Some([0xAA; 32]),
		}),
	);
	submit(
		rpc,
		JC,
		market(MarketCall::reject_result { match_id: id, reason: RejectReason::WrongResults }),
	);
	let (end, ending) = closed(rpc, at, id, Duration::from_secs(240));
	assert_eq!(ending, Ending::Mediated(Party::ResourceProvider));

	let (incentive, f_m, f_d) = fees(&terms);
	let pi_m = terms.estimated_price as i128 * terms.parameters.verification_count as i128;
	let pi_c = price(&terms, &claimed);
	tracked.assert_changes(
		rpc,
		end,
		&[
			// The job creator is compensated with π_d = π_c.
			(JC, -incentive - f_m - f_d + pi_c),
			// The provider loses its whole deposit: fees, π_m, π_d and the rest to the pool.
			(DISHONEST, -(100 * MDC as i128)),
			(MEDIATOR, 2 * f_m + pi_m),
			(DIRECTORY, 2 * f_d),
			(SOLVER, 2 * incentive),
		],
	);
}

/// The URL of a result archive at the devnet's registry.
fn result_url(digest: &[u8; 32]) -> String {
	format!("http://127.0.0.1:{}/v2/modicum/results/blobs/sha256:{}", 5000 + offset(), hex::encode(digest))
}

/// Whether the devnet's registry holds the result archive `digest`.
fn has_result(digest: &[u8; 32]) -> bool {
	let head = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", &result_url(digest)]).output().unwrap();
	String::from_utf8_lossy(&head.stdout) == "200"
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_result_archive_deleted_before_its_result_landed_is_uploaded_again_and_a_not_found_dispute_fails() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("honest");
	let tracked = track(rpc);
	post_job(rpc, image, base, SMALL, 100);
	let (at, id) = matched(rpc, tracked.start);
	// What a directory does when another match that named the same digest closed: the archive
	// goes between the provider's upload and its result reaching a block, when no open match
	// names it yet. The provider journals the archive before it uploads; the test hashes it and
	// deletes the blob the moment it appears.
	let journal = devnet_dir().join(format!("data/eve/workers/provider/journal/match-{id}"));
	let deadline = std::time::Instant::now() + Duration::from_secs(120);
	let digest = loop {
		assert!(std::time::Instant::now() < deadline, "the provider journaled no result");
		if journal.with_extension("json").exists() {
			let archive = std::fs::read(journal.with_extension("tar")).unwrap();
			break sp_io::hashing::sha2_256(&archive);
		}
		std::thread::sleep(Duration::from_millis(20));
	};
	while !has_result(&digest) {
		assert!(std::time::Instant::now() < deadline, "the provider never uploaded its archive");
		std::thread::sleep(Duration::from_millis(20));
	}
	let delete = Command::new("curl").args(["-sf", "-X", "DELETE", &result_url(&digest)]).status().unwrap();
	assert!(delete.success(), "the devnet's registry deletes blobs");
	assert!(!has_result(&digest), "the archive is gone from the directory");
	let (posted, receipt) = result_posted(rpc, at, id, Duration::from_secs(120));
	assert_eq!(receipt.result_digest, Some(digest));
	// Once its result is in a block, the provider finds the archive gone and uploads it again.
	wait_for(Duration::from_secs(60), "the archive at the directory again", || has_result(&digest));
	// A job creator disputing it as not found is at fault.
	submit(rpc, JC, market(MarketCall::reject_result { match_id: id, reason: RejectReason::ResultNotFound }));
	let (_, ending) = closed(rpc, posted, id, Duration::from_secs(240));
	assert_eq!(ending, Ending::Mediated(Party::JobCreator));
}

/// A front of the devnet's registry that passes requests on at once and answers 32 bytes every
/// half second: a directory that answers every request, too slowly for any job. Counts the
/// connections it took; takes no more once dropped.
struct Trickle {
	url: String,
	connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
	stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Trickle {
	fn start() -> Self {
		use std::{
			io::{Read, Write},
			net::{TcpListener, TcpStream},
			sync::{atomic::Ordering, Arc},
		};
		let upstream = format!("127.0.0.1:{}", 5000 + offset());
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		listener.set_nonblocking(true).unwrap();
		let url = format!("http://{}", listener.local_addr().unwrap());
		let (connections, stop) =
			(Arc::<std::sync::atomic::AtomicUsize>::default(), Arc::<std::sync::atomic::AtomicBool>::default());
		let (counted, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
		std::thread::spawn(move || {
			while !stopped.load(Ordering::Relaxed) {
				let Ok((mut client, _)) = listener.accept() else {
					std::thread::sleep(Duration::from_millis(20));
					continue;
				};
				counted.fetch_add(1, Ordering::Relaxed);
				let upstream = upstream.clone();
				std::thread::spawn(move || {
					client.set_nonblocking(false).unwrap();
					let Ok(mut registry) = TcpStream::connect(&upstream) else { return };
					let (mut requests, mut to_registry) =
						(client.try_clone().unwrap(), registry.try_clone().unwrap());
					std::thread::spawn(move || std::io::copy(&mut requests, &mut to_registry));
					let mut chunk = [0u8; 32];
					while let Ok(n @ 1..) = registry.read(&mut chunk) {
						if client.write_all(&chunk[..n]).is_err() {
							break;
						}
						std::thread::sleep(Duration::from_millis(500));
					}
				});
			}
		});
		Self { url, connections, stop }
	}

	fn connections(&self) -> usize {
		self.connections.load(std::sync::atomic::Ordering::Relaxed)
	}
}

impl Drop for Trickle {
	fn drop(&mut self) {
		self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
	}
}

/// The devnet directory's endpoint on chain while it lives, the one registered before once
/// dropped. Its worker heartbeats its own registry as configured meanwhile.
struct DirectoryEndpoint<'a> {
	rpc: &'a Rpc,
	registered: String,
	fee: Balance,
}

impl<'a> DirectoryEndpoint<'a> {
	fn set(rpc: &'a Rpc, endpoint: &str) -> Self {
		let actors = rpc.call("market_actors", json!([]));
		let me = DIRECTORY.to_account_id().to_ss58check();
		let entry = actors["directories"].as_array().unwrap().iter().find(|e| e[0] == me).cloned().unwrap();
		let fee = entry[1]["fee"].as_u64().expect("the devnet directory's fee") as Balance;
		let bytes: Vec<u8> =
			entry[1]["endpoint"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
		let registered = String::from_utf8(bytes).unwrap();
		let endpoint_now = Self { rpc, registered, fee };
		endpoint_now.update(endpoint);
		endpoint_now
	}

	fn update(&self, endpoint: &str) {
		let call = MarketCall::update_directory {
			endpoint: endpoint.as_bytes().to_vec().try_into().unwrap(),
			fee: self.fee,
		};
		submit(self.rpc, DIRECTORY, market(call));
	}
}

impl Drop for DirectoryEndpoint<'_> {
	fn drop(&mut self) {
		// A failed restore during a failed test must not abort the test binary.
		let restore = std::panic::AssertUnwindSafe(|| self.update(&self.registered));
		if std::thread::panicking() {
			let _ = std::panic::catch_unwind(restore);
		} else {
			restore();
		}
	}
}

/// The timestamp of block `number`, ms.
fn block_time_ms(rpc: &Rpc, number: u64) -> u64 {
	let key = [sp_io::hashing::twox_128(b"Timestamp"), sp_io::hashing::twox_128(b"Now")].concat();
	let raw = rpc.call("state_getStorage", json!([bytes::to_hex(&key, false), block_hash(rpc, number)]));
	u64::decode(&mut &bytes::from_hex(raw.as_str().unwrap()).unwrap()[..]).unwrap()
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_directory_too_slow_for_the_job_is_judged_unavailable_and_the_honest_provider_is_not_convicted() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("honest");
	let tracked = track(rpc);
	// The directory keeps heartbeating, but serves the job through a front that trickles 64
	// bytes a second: its image takes far longer than the job's fetch bound, to the provider
	// and the mediator alike.
	let slow = Trickle::start();
	let endpoint = DirectoryEndpoint::set(rpc, &slow.url);
	post_job(rpc, image, base, SMALL, 100);
	let (at, id) = matched(rpc, tracked.start);
	let terms = terms(rpc, id, at);
	assert_eq!(terms.provider, RP.to_account_id(), "the devnet's honest provider");
	let fetch_bound_ms = terms.parameters.fetch_bound(&terms.limits).unwrap() as u64 * modicum_runtime::MILLI_SECS_PER_BLOCK;
	let (posted, receipt) = result_posted(rpc, at, id, Duration::from_secs(180));
	assert_eq!(receipt.status, ResultStatus::DirectoryUnavailable);
	let tried_ms = block_time_ms(rpc, posted) - block_time_ms(rpc, at);
	assert!(tried_ms >= fetch_bound_ms, "the provider kept trying for the fetch bound ({fetch_bound_ms} ms), not {tried_ms} ms");
	// A job creator who doubts the claim disputes it; the mediator fetches within the same
	// bound, proves its own link against its reference download, and faults the directory.
	submit(rpc, JC, market(MarketCall::reject_result { match_id: id, reason: RejectReason::InvalidResultStatus }));
	let (assigned, _) = wait_for_event(rpc, posted, Duration::from_secs(60), "the dispute", |e| match e {
		MarketEvent::JobAssignedForMediation { match_id, .. } if match_id == id => Some(()),
		_ => None,
	});
	let available: bool = state_call(rpc, "MarketApi_directory_available", DIRECTORY.to_account_id(), &block_hash(rpc, assigned));
	assert!(available, "the directory heartbeats: it is judged by its speed");
	let (end, ending) = closed(rpc, posted, id, Duration::from_secs(300));
	assert_eq!(ending, Ending::Mediated(Party::Directory));
	let judged_ms = block_time_ms(rpc, end) - block_time_ms(rpc, assigned);
	assert!(judged_ms >= fetch_bound_ms, "the mediator waited out the fetch bound ({fetch_bound_ms} ms), not {judged_ms} ms");
	assert!(slow.connections() >= 2, "both the provider and the mediator asked the slow directory");
	drop(endpoint);
	let (incentive, f_m, _) = fees(&terms);
	let pi_m = terms.estimated_price as i128 * terms.parameters.verification_count as i128;
	tracked.assert_changes(
		rpc,
		end,
		&[
			// Neither job creator nor provider pays for the directory's slowness beyond the
			// match's incentive and the mediator's fee.
			(JC, -incentive - f_m),
			(RP, -incentive - f_m),
			(MEDIATOR, 2 * f_m + pi_m),
			(DIRECTORY, -pi_m),
			(SOLVER, 2 * incentive),
		],
	);
}

/// How many disputes the flood test posts together.
const FLOOD: usize = 10;

/// The first `count` market events `found` picks from block `from` on, each with its block, in
/// chain order.
fn market_events<T>(
	rpc: &Rpc,
	from: u64,
	count: usize,
	what: &str,
	mut found: impl FnMut(MarketEvent<Runtime>) -> Option<T>,
) -> Vec<(u64, T)> {
	let deadline = std::time::Instant::now() + Duration::from_secs(180);
	let (mut picked, mut next) = (Vec::new(), from);
	while picked.len() < count {
		while next <= header_number(rpc, None) && picked.len() < count {
			for event in events_at(rpc, &block_hash(rpc, next)) {
				if let RuntimeEvent::Market(event) = event {
					picked.extend(found(event).map(|value| (next, value)));
				}
			}
			next += 1;
		}
		assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
		std::thread::sleep(Duration::from_millis(500));
	}
	picked.truncate(count);
	picked
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn ten_disputes_posted_in_one_block_queue_on_the_mediator_and_are_all_mediated_in_time() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("honest");
	// A provider cheaper than the devnet's takes every job and posts a wrong result at once.
	let tracked = track(rpc);
	for _ in 0..FLOOD {
		dishonest_offer(rpc, base);
	}
	for _ in 0..FLOOD {
		post_job(rpc, image.clone(), base, SMALL, 300);
	}
	let ids: Vec<MatchId> = market_events(rpc, tracked.start, FLOOD, "the matches", |e| match e {
		MarketEvent::Matched { match_id, creator, provider, .. } if creator == JC.to_account_id() => {
			assert_eq!(provider, DISHONEST.to_account_id(), "the solver picked the cheaper provider");
			Some(match_id)
		},
		_ => None,
	})
	.into_iter()
	.map(|(_, id)| id)
	.collect();
	for id in &ids {
		let result = MarketCall::post_result {
			match_id: *id,
			status: ResultStatus::Completed,
			usage: Resources { cpu: 1_000, memory: 4, storage: 1, bandwidth: 10 },
			result_digest: Some([0xAA; 32]),
		};
		submit(rpc, DISHONEST, market(result));
	}
	// Every rejection sent at once: they land in one block (or two, if a block boundary falls
	// between them).
	let sent = header_number(rpc, None);
	for id in &ids {
		let reject = MarketCall::reject_result { match_id: *id, reason: RejectReason::WrongResults };
		let extrinsic = signed_extrinsic(rpc, JC, market(reject));
		rpc.call("author_submitExtrinsic", json!([extrinsic]));
	}
	let assigned = market_events(rpc, sent, FLOOD, "the disputes", |e| match e {
		MarketEvent::JobAssignedForMediation { match_id, mediation_deadline, .. }
			if ids.contains(&match_id) =>
			Some(mediation_deadline),
		_ => None,
	});
	let blocks: std::collections::BTreeSet<u64> = assigned.iter().map(|(at, _)| *at).collect();
	assert!(blocks.len() <= 2, "the disputes were posted together: {blocks:?}");
	// Each waits for those before it: ⌈n·R / slots⌉ blocks of the mediator's queue apart.
	let first = terms(rpc, ids[0], assigned[0].0);
	let slots = {
		let actors = rpc.call("market_actors", json!([]));
		let me = MEDIATOR.to_account_id().to_ss58check();
		let entry = actors["mediators"].as_array().unwrap().iter().find(|e| e[0] == me).cloned().unwrap();
		entry[1]["slots"].as_u64().unwrap()
	};
	let per_dispute =
		(first.run_length as u64 * first.parameters.verification_count as u64).div_ceil(slots);
	let deadlines: Vec<u64> = assigned.iter().map(|(_, d)| *d as u64).collect();
	for pair in deadlines.windows(2) {
		assert!(pair[1] >= pair[0] + per_dispute, "queued deadlines {deadlines:?}, {per_dispute} apart");
	}
	// The mediator works through its queue: every dispute ends in a verdict, none in a timeout.
	for id in &ids {
		let (_, ending) = closed(rpc, sent, *id, Duration::from_secs(900));
		assert_eq!(ending, Ending::Mediated(Party::ResourceProvider), "match {id}");
	}
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_non_deterministic_job_is_caught_by_the_mediator_and_the_job_creator_fined() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("nondeterministic");
	let tracked = track(rpc);
	post_job(rpc, image, base, SMALL, 100);
	let (at, id) = matched(rpc, tracked.start);
	let terms = terms(rpc, id, at);
	assert_eq!(terms.provider, RP.to_account_id());
	let (posted, receipt) = result_posted(rpc, at, id, Duration::from_secs(120));
	assert_eq!(receipt.status, ResultStatus::Completed);
	submit(
		rpc,
		JC,
		market(MarketCall::reject_result { match_id: id, reason: RejectReason::WrongResults }),
	);
	let (end, ending) = closed(rpc, posted, id, Duration::from_secs(240));
	assert_eq!(ending, Ending::Mediated(Party::JobCreator));

	let (incentive, f_m, f_d) = fees(&terms);
	let pi_m = terms.estimated_price as i128 * terms.parameters.verification_count as i128;
	let pi_c = price(&terms, &receipt.usage);
	tracked.assert_changes(
		rpc,
		end,
		&[
			(JC, -(50 * MDC as i128)),
			(RP, -incentive - f_m - f_d + after_tax(pi_c)),
			(MEDIATOR, 2 * f_m + pi_m),
			(DIRECTORY, 2 * f_d),
			(SOLVER, 2 * incentive),
		],
	);
}

/// Waits until the provider's container of match `id` runs (`modicum-<chain>-<account>-
/// provider-match-<id>`); its name.
fn wait_for_container(id: MatchId) -> String {
	let suffix = format!("-provider-match-{id}");
	let mut name = String::new();
	wait_for(Duration::from_secs(60), "the job's container to run", || {
		let out = Command::new("docker")
			.args(["ps", "--format", "{{.Names}}", "-f", &format!("name={suffix}$")])
			.output()
			.unwrap();
		name = String::from_utf8_lossy(&out.stdout).trim().to_string();
		!name.is_empty()
	});
	name
}

/// The `/proc` directory of the devnet's process whose command line passes `wanted`.
fn devnet_process(what: &str, wanted: impl Fn(&str) -> bool) -> std::path::PathBuf {
	let devnet = devnet_dir().display().to_string();
	for entry in std::fs::read_dir("/proc").unwrap().flatten() {
		let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
		let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
		if cmdline.contains(&devnet) && wanted(&cmdline) {
			return entry.path();
		}
	}
	panic!("no {what} of the devnet {devnet} is running");
}

/// Peak resident memory (VmHWM) of the devnet's provider node, in MiB.
fn provider_node_peak_mib() -> u64 {
	let node = devnet_process("provider node", |c| c.contains("modicum-node") && c.contains("--provider"));
	let status = std::fs::read_to_string(node.join("status")).unwrap();
	let kib: u64 = status
		.lines()
		.find_map(|l| l.strip_prefix("VmHWM:"))
		.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
		.unwrap();
	kib / 1024
}

/// Job images of `jobs/` left in the local Docker engine.
fn job_images_left() -> Vec<String> {
	let out = Command::new("docker")
		.args(["images", "--format", "{{.Repository}}@{{.Digest}}"])
		.output()
		.unwrap();
	String::from_utf8_lossy(&out.stdout)
		.lines()
		.filter(|l| l.contains("/jobs/"))
		.map(String::from)
		.collect()
}

/// Runs a hostile job and returns the status its provider reported.
fn hostile(
	rpc: &Rpc,
	job: &str,
	limits: Resources,
) -> (pallet_market::Receipt, HashMap<String, Vec<u8>>) {
	let (image, base) = publish(job);
	let start = track(rpc).start;
	post_job(rpc, image, base, limits, 100);
	let (at, id) = matched(rpc, start);
	let (_, receipt) = result_posted(rpc, at, id, Duration::from_secs(180));
	submit(rpc, JC, market(MarketCall::accept_result { match_id: id }));
	let archive = receipt.result_digest.map(result_archive).unwrap_or_default();
	(receipt, archive)
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn hostile_jobs_are_contained_and_reported_while_the_node_keeps_running() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let tight = Resources { cpu: 5_000, memory: 32, storage: 4, bandwidth: 4_096 };
	let images_before = job_images_left();

	let (receipt, archive) = hostile(rpc, "memory-bomb", tight);
	assert_eq!(receipt.status, ResultStatus::MemoryExceeded, "{receipt:?}");
	assert!(receipt.usage.memory >= 31, "peak memory reached the limit: {receipt:?}");
	assert!(archive.contains_key("stdout"), "failed jobs still get their logs");

	let (receipt, _) = hostile(rpc, "disk-fill", tight);
	assert_eq!(receipt.status, ResultStatus::StorageExceeded, "{receipt:?}");

	let (receipt, archive) = hostile(rpc, "network", tight);
	assert_eq!(receipt.status, ResultStatus::ExceptionOccurred, "{receipt:?}");
	assert!(archive["stderr"].ends_with(b"no network\n"), "the job's own stderr is in the archive");

	// The pids limit stops the forks; the shell that can no longer fork fails the job.
	let (receipt, archive) = hostile(rpc, "fork-bomb", tight);
	assert_eq!(receipt.status, ResultStatus::ExceptionOccurred, "{receipt:?}");
	let stderr = String::from_utf8_lossy(&archive["stderr"]);
	assert!(stderr.contains("can't fork"), "the job hit the process limit: {stderr}");

	// Sparse files count their size: 3 GiB is refused by the file-size limit, 2 × 3 MiB of
	// holes exceed 4 MiB of storage. The archive keeps the logs only.
	let (receipt, archive) = hostile(rpc, "sparse", tight);
	assert_eq!(receipt.status, ResultStatus::StorageExceeded, "{receipt:?}");
	assert!(String::from_utf8_lossy(&archive["stderr"]).contains("3G refused"), "{archive:?}");
	assert!(!archive.keys().any(|name| name.starts_with("out")), "no /out beyond the storage");
	assert!(receipt.usage.bandwidth < tight.bandwidth, "{receipt:?}");

	// 2000 links to one 1 MiB file: each link an entry; the kernel stops them at the limit.
	let (receipt, _) = hostile(rpc, "hardlinks", tight);
	assert_eq!(receipt.status, ResultStatus::StorageExceeded, "{receipt:?}");
	let (receipt, _) = hostile(rpc, "many-files", tight);
	assert_eq!(receipt.status, ResultStatus::StorageExceeded, "{receipt:?}");
	let (receipt, _) = hostile(rpc, "deep-tree", tight);
	assert_eq!(receipt.status, ResultStatus::StorageExceeded, "{receipt:?}");

	// Images that would get more than the profile are refused before they run.
	for job in ["volume", "healthcheck"] {
		let (receipt, _) = hostile(rpc, job, tight);
		assert_eq!(receipt.status, ResultStatus::JobDescriptionError, "{job}: {receipt:?}");
		assert_eq!(receipt.result_digest, None, "{job} never started");
	}

	// Links pointing out stay links; names that are not UTF-8 keep their bytes.
	let (receipt, _) = hostile(rpc, "links-and-names", tight);
	assert_eq!(receipt.status, ResultStatus::Completed, "{receipt:?}");
	let entries = result_entries(receipt.result_digest.unwrap());
	let entry = |name: &[u8]| entries.iter().find(|(n, _, _)| n == name).cloned();
	assert_eq!(entry(b"out/escape").map(|e| (e.1, e.2)), Some((tar::EntryType::Symlink, b"/etc/passwd".to_vec())));
	assert_eq!(entry(b"out/caf\xe9").map(|e| e.2), Some(b"latin-1\n".to_vec()));
	assert_eq!(entry(b"out/caf\xc3\xa9").map(|e| e.2), Some(b"utf-8\n".to_vec()));
	assert!(!entries.iter().any(|(n, _, _)| n.starts_with(b"tmp")), "/tmp is counted, not archived");

	// Binary output is kept byte for byte; a flood keeps its first LogCap bytes and never
	// reaches the host's disk (no log driver).
	let (receipt, archive) = hostile(rpc, "log-flood", tight);
	assert_eq!(receipt.status, ResultStatus::Completed, "{receipt:?}");
	assert_eq!(archive["stdout"], (0..=255u8).collect::<Vec<u8>>());
	assert_eq!(archive["stderr"].len(), modicum_executor::LOG_LIMIT);

	// The provider's node and the chain are still going: an honest job still runs.
	let (receipt, _) = hostile(rpc, "honest", SMALL);
	assert_eq!(receipt.status, ResultStatus::Completed);
	let peak = provider_node_peak_mib();
	assert!(peak <= 300, "the provider node peaked at {peak} MiB");
	// Each job's image went with its run: the provider's disk does not grow job by job.
	let left: Vec<String> =
		job_images_left().into_iter().filter(|i| !images_before.contains(i)).collect();
	assert!(left.is_empty(), "job images left behind: {left:?}");
}

/// A job run straight through an executor (no match), at the devnet's registry, with the
/// bounds a match of `SMALL` limits gives every host.
fn executor_job(
	run_id: &str,
	image: &ImageOf<Runtime>,
	base: [u8; 32],
	wall_limit: Duration,
) -> modicum_executor::Job {
	modicum_executor::Job {
		run_id: run_id.into(),
		endpoint: format!("http://127.0.0.1:{}", 5000 + offset()),
		repository: String::from_utf8(image.repository.to_vec()).unwrap(),
		digest: image.digest,
		base_layer: base,
		architecture: pallet_market::Architecture::Amd64,
		limits: SMALL,
		cpu_rate: 1.0,
		cores: 1,
		wall_limit,
		fetch_limit: Duration::from_secs(60),
	}
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn one_job_under_two_host_cpu_counts_ends_alike() {
	use modicum_executor::Executor;
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let (image, base) = publish("cores");
	let runtime = tokio::runtime::Runtime::new().unwrap();
	let work = std::env::temp_dir().join(format!("modicum-cores-{}", std::process::id()));
	let mut outcomes = Vec::new();
	for cores in [vec![0], vec![0, 1]] {
		let outcome = runtime.block_on(async {
			let namespace = format!("cores-test-{}", std::process::id());
			let executor = Executor::connect(work.join("runs"), &namespace).await.unwrap();
			let executor = executor.with_cores(cores.clone());
			let run = format!("cores-{}", cores.len());
			let job = executor_job(&run, &image, base, Duration::from_secs(60));
			let (_cancel, cancelled) = tokio::sync::watch::channel(false);
			executor.execute(&job, &work.join("archive.tar"), cancelled).await.unwrap()
		});
		let seen = std::fs::read(work.join("archive.tar")).unwrap();
		outcomes.push((outcome.status, outcome.archive.unwrap().digest, seen));
	}
	let _ = std::fs::remove_dir_all(&work);
	assert_eq!(outcomes[0].0, ResultStatus::Completed);
	assert_eq!(outcomes[0].0, outcomes[1].0, "same status on one core and on two");
	assert_eq!(outcomes[0].1, outcomes[1].1, "same result on one core and on two");
	let archive = String::from_utf8_lossy(&outcomes[0].2);
	assert!(archive.contains("done on 1 cores"), "the job sees the cores its terms give");
}

/// Registers the hand-driven provider and posts a resource offer cheaper than the devnet's, so
/// the solver picks it for the next job.
fn dishonest_offer(rpc: &Rpc, base: [u8; 32]) {
	let actors: serde_json::Value = rpc.call("market_actors", json!([]));
	let me = DISHONEST.to_account_id().to_ss58check();
	if !actors["resourceProviders"].as_array().unwrap().iter().any(|e| e[0] == me) {
		submit(
			rpc,
			DISHONEST,
			market(MarketCall::register_resource_provider {
				architecture: pallet_market::Architecture::Amd64,
				speed: 1_000,
				trusted_mediators: vec![MEDIATOR.to_account_id()].try_into().unwrap(),
				trusted_directories: vec![DIRECTORY.to_account_id()].try_into().unwrap(),
				base_layers: vec![base].try_into().unwrap(),
			}),
		);
	}
	let now = header_number(rpc, None) as BlockNumber;
	submit(
		rpc,
		DISHONEST,
		market(MarketCall::post_resource_offer {
			capacity: Resources { cpu: 100_000, memory: 256, storage: 64, bandwidth: 65_536 },
			architecture: pallet_market::Architecture::Amd64,
			cpu_price: CPU_ASK / 2,
			bandwidth_price: BANDWIDTH_ASK / 2,
			valid_from: now,
			valid_to: now + 600,
			max_fees: DEVNET_MAX_FEES,
			deposit: 100 * MDC,
		}),
	);
}

/// How many honest results of each kind the dispute test rejects (`MODICUM_HONEST_DISPUTES`,
/// 5 in CI; `scripts/disputes.sh` runs 20).
fn honest_disputes() -> usize {
	std::env::var("MODICUM_HONEST_DISPUTES").ok().and_then(|n| n.parse().ok()).unwrap_or(5)
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn honest_results_disputed_for_cost_or_output_never_convict_the_provider_but_inflated_claims_do() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("honest");
	let start = track(rpc).start;
	let disputes = honest_disputes();
	// Long enough for every job in turn, within the devnet provider's 600-block offer window.
	let deadline = (12 * 2 * disputes as BlockNumber + 100).min(550);
	for _ in 0..2 * disputes {
		post_job(rpc, image.clone(), base, SMALL, deadline);
	}
	// Each result of the honest provider is disputed as it comes, by turns for its cost and
	// for its output; the mediator's runs overlap the provider's next job (a busy neighbour).
	let mut disputed = Vec::new();
	let mut from = start;
	let mut seen = std::collections::HashSet::new();
	let mut honest_receipt = None;
	while disputed.len() < 2 * disputes {
		let (at, id) =
			wait_for_event(rpc, from, Duration::from_secs(240), "an honest result", |e| match e {
				MarketEvent::ResultPosted { match_id, .. } if !seen.contains(&match_id) => {
					Some(match_id)
				}
				_ => None,
			});
		seen.insert(id);
		let reason = if disputed.len() % 2 == 0 {
			RejectReason::TooMuchCost
		} else {
			RejectReason::WrongResults
		};
		// Several results may share a block: look at it again for the next one.
		from = at;
		let terms = terms(rpc, id, at);
		if terms.creator != JC.to_account_id() {
			continue;
		}
		assert_eq!(terms.provider, RP.to_account_id());
		let MatchState::ResultPosted { receipt, .. } = terms.state else { panic!("no result") };
		assert_eq!(receipt.status, ResultStatus::Completed, "{receipt:?}");
		honest_receipt = Some(receipt);
		submit(rpc, JC, market(MarketCall::reject_result { match_id: id, reason }));
		disputed.push((id, reason, receipt));
	}
	for (id, reason, receipt) in &disputed {
		let (_, ending) = closed(rpc, start, *id, Duration::from_secs(600));
		assert_eq!(
			ending,
			Ending::Mediated(Party::JobCreator),
			"the honest provider was convicted on {reason:?} of match {id}: {receipt:?}"
		);
	}

	// A provider claiming more cpu than the bound allows over the honest measurement is
	// convicted, even with the honest output.
	let honest = honest_receipt.unwrap();
	let parameters = state_call::<Option<pallet_market::MarketParametersOf<Runtime>>>(
		rpc,
		"MarketApi_parameters",
		(),
		&block_hash(rpc, header_number(rpc, None)),
	)
	.unwrap();
	let bound = modicum_common::verdict::CostBound {
		tolerance: parameters.too_much_cost_tolerance,
		floor: parameters.too_much_cost_floor,
	};
	let start = track(rpc).start;
	dishonest_offer(rpc, base);
	post_job(rpc, image, base, SMALL, 100);
	let (at, id) = matched(rpc, start);
	assert_eq!(terms(rpc, id, at).provider, DISHONEST.to_account_id());
	let inflated = Resources { cpu: bound.allowed(bound.allowed(honest.usage.cpu)), ..honest.usage };
	submit(
		rpc,
		DISHONEST,
		market(MarketCall::post_result {
			match_id: id,
			status: ResultStatus::Completed,
			usage: inflated,
			result_digest: honest.result_digest,
		}),
	);
	submit(rpc, JC, market(MarketCall::reject_result { match_id: id, reason: RejectReason::TooMuchCost }));
	let (_, ending) = closed(rpc, at, id, Duration::from_secs(300));
	assert_eq!(ending, Ending::Mediated(Party::ResourceProvider), "claimed {inflated:?} over {honest:?}");
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_provider_killed_mid_job_leads_to_the_no_result_timeout_payout() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("sleeper");
	let tracked = track(rpc);
	post_job(rpc, image, base, SMALL, 40);
	let (at, id) = matched(rpc, tracked.start);
	let terms = terms(rpc, id, at);
	assert_eq!(terms.provider, RP.to_account_id());
	let container = wait_for_container(id);
	devnet_script(&["stop-node", "eve"]);
	let (end, ending) = closed(rpc, at, id, Duration::from_secs(180));
	assert_eq!(ending, Ending::NoResult);
	let _ = Command::new("docker").args(["rm", "-f", &container]).output();

	let (incentive, f_m, f_d) = fees(&terms);
	let estimate = terms.estimated_price as i128;
	tracked.assert_changes(
		rpc,
		end,
		&[
			(JC, -incentive - f_m - f_d + estimate),
			(RP, -incentive - f_m - f_d - estimate),
			(MEDIATOR, 2 * f_m),
			(DIRECTORY, 2 * f_d),
			(SOLVER, 2 * incentive),
		],
	);
	// Bring the provider back for whatever runs next.
	devnet_script(&["restart-node", "eve"]);
}

/// Runs the `nap` job, doing `interrupt` while its container runs; checks its one `Completed`
/// result and accepts it. The match's id.
fn nap_interrupted(rpc: &Rpc, interrupt: impl FnOnce(&str)) -> MatchId {
	ensure_job_creator(rpc, JC, MEDIATOR);
	let (image, base) = publish("nap");
	let tracked = track(rpc);
	post_job(rpc, image, base, SMALL, 100);
	let (at, id) = matched(rpc, tracked.start);
	let container = wait_for_container(id);
	interrupt(&container);
	let (posted, receipt) = result_posted(rpc, at, id, Duration::from_secs(180));
	assert_eq!(receipt.status, ResultStatus::Completed, "{receipt:?}");
	let archive = result_archive(receipt.result_digest.expect("a completed job has a result"));
	assert_eq!(archive["out/nap.txt"], b"rested\n");
	submit(rpc, JC, market(MarketCall::accept_result { match_id: id }));
	let (end, ending) = closed(rpc, posted, id, Duration::from_secs(30));
	assert_eq!(ending, Ending::Accepted);
	let results = (at..=end)
		.flat_map(|n| events_at(rpc, &block_hash(rpc, n)))
		.filter(|e| {
			matches!(e, RuntimeEvent::Market(MarketEvent::ResultPosted { match_id, .. }) if *match_id == id)
		})
		.count();
	assert_eq!(results, 1, "one result for the match");
	id
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_restarted_provider_recovers_its_matched_job_from_the_chain() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	// The node is stopped mid-job: its run gets the shutdown grace, then is cancelled — its
	// container removed before the node exits — or, finished within the grace, journaled. Back
	// up, the provider reads the match from the chain and runs the job again only if it was not
	// measured: once.
	let log_path = devnet_dir().join("logs/eve.log");
	let since = |from: usize| {
		let log = std::fs::read_to_string(&log_path).unwrap();
		log.get(from..).unwrap_or_default().to_string()
	};
	let mut from = 0;
	let mut stopping = String::new();
	let id = nap_interrupted(&devnet(), |container| {
		let container = container_id(container);
		from = std::fs::metadata(&log_path).unwrap().len() as usize;
		devnet_script(&["stop-node", "eve"]);
		let inspect = Command::new("docker").args(["inspect", &container]).output().unwrap();
		assert!(!inspect.status.success(), "the stopping node removed its run's container {container}");
		stopping = since(from);
		assert!(stopping.contains("provider: stopped"), "the provider shut down, its tasks joined: {stopping}");
		devnet_script(&["restart-node", "eve"]);
	});
	let tagged = |l: &&str| l.contains(&format!("match_id={id} "));
	let measured_in_grace = stopping.lines().filter(tagged).any(|l| l.contains("result ready"));
	let runs_after_stop = since(from).lines().filter(tagged).filter(|l| l.contains("running job")).count();
	assert_eq!(
		runs_after_stop,
		usize::from(!measured_in_grace),
		"run again after the restart exactly when the stop cut it short (measured in the grace: {measured_in_grace})"
	);
}

/// The engine's id of a container.
fn container_id(name: &str) -> String {
	let out = Command::new("docker").args(["inspect", "-f", "{{.Id}}", name]).output().unwrap();
	assert!(out.status.success(), "docker inspect {name}");
	String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The devnet's registry process (`docker-registry serve <devnet>/registry/…`).
fn registry_pid() -> i32 {
	let registry = devnet_process("registry", |c| c.starts_with("docker-registry serve"));
	registry.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

fn signal(pid: i32, name: &str) {
	let status = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status();
	assert!(status.unwrap().success(), "kill -{name} {pid}");
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_result_upload_survives_a_directory_outage_and_the_job_is_not_run_again() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	// The directory hangs (every request stalls, as on a dead link) while the job ends and
	// the provider tries to upload; it comes back 40 s later.
	let id = nap_interrupted(&devnet(), |_| {
		let registry = registry_pid();
		signal(registry, "STOP");
		std::thread::sleep(Duration::from_secs(40));
		signal(registry, "CONT");
	});
	let log = std::fs::read_to_string(devnet_dir().join("logs/eve.log")).unwrap();
	let runs = log
		.lines()
		.filter(|l| l.contains("running job") && l.contains(&format!("match_id={id} ")))
		.count();
	assert_eq!(runs, 1, "the measured job was uploaded, not run again");
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_cancelled_or_dropped_run_leaves_no_container_mount_or_cgroup() {
	use modicum_executor::{Executor, ExecutorError};
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let (image, base) = publish("sleeper");
	let runtime = tokio::runtime::Runtime::new().unwrap();
	let work = std::env::temp_dir().join(format!("modicum-guard-{}", std::process::id()));
	let namespace = format!("guard-test-{}", std::process::id());
	let left = |run: &str| {
		let name = format!("modicum-{namespace}-{run}");
		let containers = Command::new("docker")
			.args(["ps", "-aq", "-f", &format!("name={name}$")])
			.output()
			.unwrap();
		let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
		let cgroup = std::path::Path::new("/sys/fs/cgroup/memory/modicum").join(&name);
		(
			!containers.stdout.is_empty(),
			mounts.contains(&work.join("runs").join(run).display().to_string()),
			cgroup.exists(),
		)
	};
	runtime.block_on(async {
		let executor = Executor::connect(work.join("runs"), &namespace).await.unwrap();
		let job = |run: &str| executor_job(run, &image, base, Duration::from_secs(600));
		// Cancelled: the match moved on while the job ran.
		let (cancel, cancelled) = tokio::sync::watch::channel(false);
		let cancelled_run = job("cancelled");
		let archive = work.join("a.tar");
		let run = executor.execute(&cancelled_run, &archive, cancelled);
		let canceller = async {
			tokio::time::sleep(Duration::from_secs(5)).await;
			assert_eq!(left("cancelled"), (true, true, true), "the run was going");
			cancel.send(true).unwrap();
		};
		let (outcome, ()) = tokio::join!(run, canceller);
		assert!(matches!(outcome, Err(ExecutorError::Cancelled)), "{outcome:?}");
		assert_eq!(left("cancelled"), (false, false, false), "a cancelled run leaves nothing");
		// Dropped mid-run (a panicking or aborted task drops its future the same way).
		let (_cancel, never) = tokio::sync::watch::channel(false);
		let dropped = job("dropped");
		let _ = tokio::time::timeout(
			Duration::from_secs(5),
			executor.execute(&dropped, &work.join("b.tar"), never),
		)
		.await;
		for _ in 0..60 {
			if left("dropped") == (false, false, false) {
				break;
			}
			tokio::time::sleep(Duration::from_millis(500)).await;
		}
		assert_eq!(left("dropped"), (false, false, false), "a dropped run's guard removed it");
	});
	let _ = std::fs::remove_dir_all(&work);
}

/// The devnet provider's open offers at the best block: (offer, cpu ask).
fn provider_offers(rpc: &Rpc) -> Vec<(pallet_market::OfferId, Balance)> {
	let best = block_hash(rpc, header_number(rpc, None));
	state_call::<Vec<(pallet_market::OfferId, pallet_market::ResourceOfferOf<Runtime>)>>(
		rpc,
		"MarketApi_open_resource_offers",
		(),
		&best,
	)
	.into_iter()
	.filter(|(_, offer)| offer.provider == RP.to_account_id())
	.map(|(id, offer)| (id, offer.cpu_price))
	.collect()
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn two_jobs_run_side_by_side_on_one_provider_and_both_are_accepted() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	ensure_job_creator(rpc, JC, MEDIATOR);
	// The provider keeps an offer open per slot (two on the devnet).
	wait_for(Duration::from_secs(60), "an offer for each of the provider's two slots", || {
		provider_offers(rpc).len() == 2
	});
	let (image, base) = publish("nap");
	let tracked = track(rpc);
	let from = tracked.start;
	post_job(rpc, image.clone(), base, SMALL, 100);
	post_job(rpc, image, base, SMALL, 100);
	let mut ids = Vec::new();
	wait_for_event(rpc, from, Duration::from_secs(120), "two matches", |e| {
		if let MarketEvent::Matched { match_id, creator, provider, .. } = e {
			if creator == JC.to_account_id() {
				assert_eq!(provider, RP.to_account_id(), "both jobs go to the devnet's provider");
				ids.push(match_id);
			}
		}
		(ids.len() == 2).then_some(())
	});
	// Each job naps 15 s: both containers are seen at once only if the slots run side by side.
	let first = wait_for_container(ids[0]);
	let second = wait_for_container(ids[1]);
	let running = Command::new("docker").args(["ps", "--format", "{{.Names}}"]).output().unwrap();
	let running = String::from_utf8_lossy(&running.stdout);
	assert!(running.contains(&first) && running.contains(&second), "both run at once: {running}");
	let posted: Vec<_> =
		ids.iter().map(|id| result_posted(rpc, from, *id, Duration::from_secs(180))).collect();
	let receipts: Vec<_> = posted.iter().map(|(_, receipt)| receipt).collect();
	for receipt in &receipts {
		assert_eq!(receipt.status, ResultStatus::Completed, "{receipt:?}");
	}
	assert_eq!(receipts[0].result_digest, receipts[1].result_digest, "the neighbour changed nothing");
	// Accepted by the job creator (not left to the reaction deadline), each paid its own price.
	let (mut end, mut expected) = (0, [0i128; 5]);
	for (id, (at, receipt)) in ids.iter().zip(&posted) {
		let terms = terms(rpc, *id, *at);
		submit(rpc, JC, market(MarketCall::accept_result { match_id: *id }));
		let (closed_at, ending) = closed(rpc, from, *id, Duration::from_secs(30));
		assert_eq!(ending, Ending::Accepted);
		end = end.max(closed_at);
		let (incentive, f_m, f_d) = fees(&terms);
		let pi_c = price(&terms, &receipt.usage);
		let changes = [-incentive - pi_c - f_m - f_d, -incentive + after_tax(pi_c) - f_m - f_d, 2 * f_m, 2 * f_d, 2 * incentive];
		for (total, change) in expected.iter_mut().zip(changes) {
			*total += change;
		}
	}
	tracked.assert_changes(
		rpc,
		end,
		&[(JC, expected[0]), (RP, expected[1]), (MEDIATOR, expected[2]), (DIRECTORY, expected[3]), (SOLVER, expected[4])],
	);
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_rise_in_the_electricity_price_withdraws_the_offers_that_would_lose_money_and_raises_the_ask() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let rpc = &devnet();
	let price_file = devnet_dir().join("electricity-price");
	// 100 MDC per kWh at 36 W per core is the devnet's 1 uMDC per cpu unit.
	let set_price = |text: &str| std::fs::write(&price_file, text).unwrap();
	wait_for(Duration::from_secs(60), "the provider's offers at the usual ask", || {
		let offers = provider_offers(rpc);
		!offers.is_empty() && offers.iter().all(|(_, ask)| *ask == CPU_ASK)
	});
	let before: Vec<_> = provider_offers(rpc).into_iter().map(|(id, _)| id).collect();
	let from = header_number(rpc, None);
	set_price("250 MDC");
	// Whatever happens next, the devnet goes back to its usual price.
	struct Restore<F: Fn(&str)>(F);
	impl<F: Fn(&str)> Drop for Restore<F> {
		fn drop(&mut self) {
			(self.0)("100 MDC");
		}
	}
	let restore = Restore(set_price);
	wait_for(Duration::from_secs(60), "offers at the new ask of 2.5 uMDC", || {
		let offers = provider_offers(rpc);
		!offers.is_empty() && offers.iter().all(|(_, ask)| *ask == 5 * CPU_ASK / 2)
	});
	let mut cancelled = Vec::new();
	wait_for_event(rpc, from, Duration::from_secs(60), "the cheaper offers withdrawn", |e| {
		if let MarketEvent::OfferCancelled { offer, owner } = e {
			if owner == RP.to_account_id() {
				cancelled.push(offer);
			}
		}
		// Each asked 1 uMDC, below the new cost: each is withdrawn.
		before.iter().all(|offer| cancelled.contains(offer)).then_some(())
	});
	// The price falls back: the dearer offers are repriced, so the devnet's jobs match again.
	drop(restore);
	wait_for(Duration::from_secs(60), "offers back at 1 uMDC", || {
		let offers = provider_offers(rpc);
		!offers.is_empty() && offers.iter().all(|(_, ask)| *ask == CPU_ASK)
	});
}
