//! The job creator's story told through the `modicum` binary on the real devnet (its provider
//! in real Docker, its solver, mediator and directory with a real registry): an example job
//! from its folder with a data layer to a verified, accepted result; a provider posting wrong
//! results caught by the verifier and fined; a non-deterministic job rejected by hand,
//! mediated, and its creator losing; what the CLI says when a job cannot be posted; and a
//! stranger with nothing who joins with a grant, runs a job paid from it, and whose unused rest
//! returns to the welfare pool at expiry.
//!
//! They need the devnet with its roles, so they are `#[ignore]`d in a plain `cargo test`;
//! `scripts/test.sh` starts the devnet and runs them with `--ignored`.

use modicum_cli::chain::{Chain, ChainError};
use modicum_common::{amount::mdc, digest::sha256, scratch::Scratch};
use modicum_registry::{Registry, RESULTS_REPOSITORY};
use modicum_runtime::{AccountId, BlockNumber, RuntimeCall, MDC};
use pallet_market::{
	Architecture, Call as MarketCall, Ending, MaxFees, Party, Resources, ResultStatus,
};
use serde_json::Value;
use sp_core::{sr25519, Pair};
use std::{
	path::{Path, PathBuf},
	process::{Command, Output},
	sync::Mutex,
	time::{Duration, Instant},
};

/// The job creator of these tests (the workers' tests use another account).
const JC: &str = "//Bob//stash";
/// A provider that posts wrong results.
const CHEATER: &str = "//Ferdie//stash";
/// One story at a time: the devnet has one honest provider.
static TURN: Mutex<()> = Mutex::new(());

fn url() -> String {
	let offset: u16 = std::env::var("MODICUM_DEVNET_PORT_OFFSET").ok().and_then(|o| o.parse().ok()).unwrap_or(0);
	format!("ws://127.0.0.1:{}", 9944 + offset)
}

fn examples() -> PathBuf {
	Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Runs `modicum --url … --seed <seed> --output json <args>` with its own home.
fn modicum(home: &Path, seed: &str, args: &[&str]) -> Output {
	Command::new(env!("CARGO_BIN_EXE_modicum"))
		.args(["--url", &url(), "--seed", seed, "--output", "json"])
		.args(args)
		.env("MODICUM_HOME", home)
		.output()
		.expect("modicum runs")
}

/// Its JSON answer, asserting success.
fn ok(output: Output) -> Value {
	let stdout = String::from_utf8_lossy(&output.stdout);
	assert!(
		output.status.success(),
		"modicum failed: {stdout}\n{}",
		String::from_utf8_lossy(&output.stderr)
	);
	serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Its error message, asserting failure.
fn refused(output: Output) -> String {
	let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
	assert!(!output.status.success(), "modicum should have failed: {stdout}");
	let answer: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
	answer["error"].as_str().expect("an error message").to_string()
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
	tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn chain(seed: &str) -> Chain {
	let pair = sr25519::Pair::from_string(seed, None).unwrap();
	block_on(Chain::connect(&url(), Some(pair))).expect("the devnet with roles must be running: scripts/devnet.sh start --detach")
}

fn account(seed: &str) -> AccountId {
	sr25519::Pair::from_string(seed, None).unwrap().public().into()
}

/// Waits until no match of these accounts is open (a failed test may leave one), and
/// withdraws any offer the cheater left, so only the devnet's provider offers.
fn wait_quiet(chain: &Chain) {
	let cheater = self::chain(CHEATER);
	let left: Vec<u64> = block_on(async {
		let best = cheater.best().await?;
		let open = cheater.open_resource_offers(best.hash).await?;
		Ok::<_, ChainError>(open.into_iter().filter(|(_, o)| o.provider == account(CHEATER)).map(|(id, _)| id).collect())
	})
	.unwrap();
	for offer in left {
		block_on(cheater.submit(RuntimeCall::Market(MarketCall::cancel_resource_offer { offer }))).unwrap();
	}
	let parties = [account(JC), account(CHEATER)];
	let deadline = Instant::now() + Duration::from_secs(300);
	loop {
		let open = block_on(async {
			let best = chain.best().await?;
			chain.open_matches(best.hash).await
		})
		.unwrap();
		if !open.iter().any(|(_, m)| parties.contains(&m.creator) || parties.contains(&m.provider)) {
			return;
		}
		assert!(Instant::now() < deadline, "earlier matches never closed");
		std::thread::sleep(Duration::from_secs(2));
	}
}

/// The start of a story: its turn on the devnet, a home for the CLI, the job creator's
/// chain, and no match of an earlier story still open.
fn story(name: &str) -> (std::sync::MutexGuard<'static, ()>, Scratch, Chain) {
	let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let jc = chain(JC);
	wait_quiet(&jc);
	(turn, Scratch::new(name), jc)
}

/// `job describe ID` once the job is in `state`.
fn described_as(home: &Path, id: &str, state: &str, timeout: Duration) -> Value {
	let deadline = Instant::now() + timeout;
	loop {
		let status = ok(modicum(home, JC, &["job", "describe", id]));
		if status["state"] == state {
			return status;
		}
		assert!(Instant::now() < deadline, "job {id} never became {state}: {status:#}");
		std::thread::sleep(Duration::from_secs(2));
	}
}

fn history_has(status: &Value, step: &str) -> Option<Value> {
	status["history"].as_array()?.iter().find(|entry| entry[1]["step"] == step).map(|entry| entry[1].clone())
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_job_with_a_data_layer_runs_from_its_folder_to_a_verified_accepted_result() {
	let (_turn, home, _) = story("cli-honest");
	let example = examples().join("word-stats");
	let run = modicum(&home.0, JC, &[
		"job", "run", example.to_str().unwrap(),
		"--input", example.join("input").to_str().unwrap(),
		"--cpu", "20000", "--memory", "128", "--storage", "4",
		"--yes", "--wait", "--verify-rate", "1",
	]);
	let progress = String::from_utf8_lossy(&run.stderr).into_owned();
	let status = ok(run);
	let id = status["jobOffer"].as_u64().unwrap().to_string();
	assert_eq!(status["state"], "closed", "{status:#}");
	let closed = history_has(&status, "closed").expect("a closing step");
	assert_eq!(closed["ending"], "Accepted", "the honest result was accepted: {status:#}");
	let posted = history_has(&status, "resultPosted").unwrap();
	assert_eq!(posted["status"], "Completed");
	// Accepted by the verifier's decision, not by the chain at the reaction deadline (which
	// accepts whatever the job creator does).
	let match_id = history_has(&status, "matched").unwrap()["matchId"].as_u64().unwrap();
	assert!(
		progress.contains(&format!("match {match_id}: accept — own runs reproduce the provider's result")),
		"the verifier re-ran the job and accepted what it reproduced: {progress}"
	);
	let accepted_at = status["history"]
		.as_array()
		.unwrap()
		.iter()
		.find(|entry| entry[1]["step"] == "accepted")
		.and_then(|entry| entry[0].as_u64())
		.expect("an acceptance");
	let deadline = posted["reactionDeadline"].as_u64().unwrap();
	assert!(accepted_at < deadline, "accepted at #{accepted_at}, not before the reaction deadline #{deadline}: {status:#}");

	// The result: fetched by digest, unpacked, and its logs readable.
	let out = home.0.join("result");
	let got = ok(modicum(&home.0, JC, &["job", "get", &id, "--dir", out.to_str().unwrap()]));
	assert!(got["files"].as_array().unwrap().len() >= 3);
	let produced: Vec<_> = std::fs::read_dir(out.join("out")).unwrap().flatten().collect();
	assert!(!produced.is_empty(), "the job wrote its output to /out");
	let logs = ok(modicum(&home.0, JC, &["job", "logs", &id]));
	assert!(logs["stdout"].is_string() && logs["stderr"].is_string());
	assert!(logs["stdout"].as_str().unwrap().starts_with("word-stats: 7 files"), "{logs:#}");

	// Describe and list agree with the chain after the fact.
	let described = ok(modicum(&home.0, JC, &["job", "describe", &id]));
	assert_eq!(described["state"], "closed");
	let listed = ok(modicum(&home.0, JC, &["job", "list", "--state", "closed"]));
	assert!(listed.as_array().unwrap().iter().any(|j| j["job"].to_string() == id));
	// Nothing of the job remains held.
	let balance = ok(modicum(&home.0, JC, &["balance"]));
	assert!(balance["held"].as_array().unwrap().is_empty(), "{balance:#}");
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_grant_lets_a_stranger_with_nothing_run_a_job_and_what_it_leaves_returns_to_the_pool() {
	// First in name order, so the other stories run while the grant waits for its expiry.
	let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let home = Scratch::new("cli-newcomer");
	let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
	let seed = format!("//Newcomer//{nanos}");
	let newcomer = chain(&seed);
	let me = account(&seed);
	let best = block_on(newcomer.best()).unwrap();
	assert_eq!(block_on(newcomer.balances(&me, best.hash)).unwrap().free, 0, "it starts with nothing");

	// Root (the devnet's sudo, Alice) shortens the grants' life to two minutes, so the story
	// sees this one expire without holding up the rest; the job takes well under a minute.
	let mut terms = modicum_runtime::genesis_config_presets::devnet_grant_terms();
	(terms.expiry, terms.proof_age) = (60, 30);
	let set = RuntimeCall::Market(MarketCall::set_grant_terms { terms });
	let sudo = RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(set.into()) });
	block_on(chain("//Alice").submit(sudo)).expect("sudo sets the grant terms");

	let joined = ok(modicum(&home.0, &seed, &["account", "join"]));
	let expires_at = joined["expiresAt"].as_u64().unwrap() as BlockNumber;
	let held = joined["held"].as_u64().unwrap() as u128;
	assert!(held > 0, "{joined:#}");
	let balance = ok(modicum(&home.0, &seed, &["balance"]));
	assert_eq!(balance["grant"]["available"].as_u64().unwrap() as u128, held, "{balance:#}");
	assert_eq!(balance["spendable"].as_u64().unwrap() as u128, held, "all of it for the market: {balance:#}");
	let again = refused(modicum(&home.0, &seed, &["account", "join"]));
	assert!(again.contains("already"), "{again}");

	// A job creator from its grant alone: registration, deposit, fees and the job's price.
	let example = examples().join("word-stats");
	let run = ok(modicum(&home.0, &seed, &[
		"job", "run", example.to_str().unwrap(),
		"--input", example.join("input").to_str().unwrap(),
		"--cpu", "20000", "--memory", "128", "--storage", "4",
		"--yes", "--wait",
	]));
	assert_eq!(run["state"], "closed", "{run:#}");
	assert_eq!(history_has(&run, "closed").unwrap()["ending"], "Accepted", "{run:#}");
	let balance = ok(modicum(&home.0, &seed, &["balance"]));
	let left = balance["grant"]["available"].as_u64().unwrap() as u128;
	assert!(left < held, "the job was paid from the grant: {balance:#}");
	assert_eq!(balance["grant"]["committed"].as_u64(), Some(0), "no deposit is open: {balance:#}");
	assert_eq!(balance["free"].as_u64().unwrap() as u128, MDC / 1_000, "only the existential deposit is free: {balance:#}");
	// The rest of the stories may run while the grant waits for its expiry.
	drop(turn);

	let deadline = Instant::now() + Duration::from_secs(600);
	let returned = loop {
		let best = block_on(newcomer.best()).unwrap();
		if best.number >= expires_at {
			let found = (expires_at..=best.number).find_map(|number| {
				let hash = block_on(newcomer.block_hash(number)).unwrap()?;
				block_on(newcomer.events(hash)).unwrap().into_iter().find_map(|(_, event)| match event {
					modicum_runtime::RuntimeEvent::Market(pallet_market::Event::JoinGrantExpired { who, returned }) if who == me => Some(returned),
					_ => None,
				})
			});
			if let Some(returned) = found {
				break returned;
			}
		}
		assert!(Instant::now() < deadline, "the grant never expired (due at #{expires_at})");
		std::thread::sleep(Duration::from_secs(5));
	};
	assert_eq!(returned, left, "what the job left of the grant went back to the welfare pool");
	let best = block_on(newcomer.best()).unwrap();
	assert!(block_on(newcomer.grant(&me, best.hash)).unwrap().is_none());
	assert_eq!(block_on(newcomer.balances(&me, best.hash)).unwrap().reserved, 0, "nothing stays held");
}

/// Registers the cheater as a provider of the devnet's mediator and directory and offers
/// its machine cheaper than the devnet's provider, so the solver picks it.
fn cheater_offers(cheater: &Chain, base_layers: Vec<[u8; 32]>) {
	block_on(async {
		let best = cheater.best().await?;
		let actors = cheater.actors(best.hash).await?;
		let me = cheater.account()?;
		let (mediator, directory) = (actors.mediators[0].0.clone(), actors.directories[0].0.clone());
		if !actors.resource_providers.iter().any(|(who, _)| *who == me) {
			cheater
				.submit(RuntimeCall::Market(MarketCall::register_resource_provider {
					architecture: Architecture::Amd64,
					speed: 1_000,
					trusted_mediators: vec![mediator].try_into().unwrap(),
					trusted_directories: vec![directory].try_into().unwrap(),
					base_layers: base_layers.try_into().unwrap(),
				}))
				.await?;
		}
		let asks = cheater.open_resource_offers(best.hash).await?;
		let (cpu_price, bandwidth_price) =
			asks.iter().map(|(_, o)| (o.cpu_price / 2, o.bandwidth_price / 2)).next().unwrap_or((500_000, 500));
		let now: BlockNumber = cheater.best().await?.number;
		cheater
			.submit(RuntimeCall::Market(MarketCall::post_resource_offer {
				capacity: Resources { cpu: 100_000, memory: 256, storage: 64, bandwidth: 65_536 },
				architecture: Architecture::Amd64,
				cpu_price,
				bandwidth_price,
				valid_from: now,
				valid_to: now + 600,
				max_fees: MaxFees { mediator: 100 * MDC / 1000, directory: 100 * MDC / 1000 },
				deposit: 100 * MDC,
			}))
			.await?;
		Ok::<_, ChainError>(())
	})
	.unwrap();
}

/// A `modicum verifier` process, stopped however its test ends: it holds the account's
/// verifier lock on this host.
struct Verifier(std::process::Child);

impl Verifier {
	/// Stops it; what it printed.
	fn stop(&mut self) -> String {
		let _ = self.0.kill();
		let mut out = String::new();
		if let Some(mut stdout) = self.0.stdout.take() {
			let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
		}
		let _ = self.0.wait();
		out
	}
}

impl Drop for Verifier {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
	}
}

/// A tar the cheater passes off as the job's archive.
fn forged_archive(path: &Path) -> [u8; 32] {
	let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
	for (name, data) in [("stdout", &b"all done\n"[..]), ("stderr", b""), ("out/result.pgm", b"P2 1 1 255 0\n")] {
		let mut header = tar::Header::new_gnu();
		header.set_size(data.len() as u64);
		header.set_mode(0o644);
		header.set_cksum();
		builder.append_data(&mut header, name, data).unwrap();
	}
	builder.finish().unwrap();
	sha256(&std::fs::read(path).unwrap())
}

/// What a cheating provider posts instead of running the job.
enum Cheat {
	/// A forged archive, uploaded, posted as Completed.
	WrongResults,
	/// No run at all: the directory blamed (the chain lets it charge nothing).
	BlameTheDirectory,
}

/// The cheater takes a job of the job creator, whose `modicum verifier` runs throughout; the
/// verifier's decision on it and the job's final status, after checking the cheater lost its
/// deposit.
fn cheated(name: &str, cheat: Cheat) -> (Value, Value) {
	let home = Scratch::new(name);
	let (jc, cheater) = (chain(JC), chain(CHEATER));
	wait_quiet(&jc);
	let bases = block_on(async {
		let best = jc.best().await?;
		Ok::<_, ChainError>(modicum_cli::offer::supported_bases(&jc.actors(best.hash).await?))
	})
	.unwrap();
	cheater_offers(&cheater, bases);
	let before = block_on(async {
		let best = cheater.best().await?;
		cheater.balances(&account(CHEATER), best.hash).await
	})
	.unwrap();

	// The job creator's verifier runs from the start, deciding every result of its account.
	let mut verifier = Verifier(
		Command::new(env!("CARGO_BIN_EXE_modicum"))
			.args(["--url", &url(), "--seed", JC, "--output", "json", "verifier", "--verify-rate", "1"])
			.env("MODICUM_HOME", &home.0)
			.stdout(std::process::Stdio::piped())
			.spawn()
			.unwrap(),
	);
	let id: u64 = {
		let output = modicum(&home.0, JC, &[
			"job", "run", examples().join("mandelbrot").to_str().unwrap(),
			"--cpu", "20000", "--memory", "64", "--storage", "4", "--yes", "--id-only",
		]);
		assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
		String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
	};

	let deadline = Instant::now() + Duration::from_secs(120);
	let (match_id, terms) = loop {
		let found = block_on(async {
			let best = jc.best().await?;
			Ok::<_, ChainError>(jc.open_matches(best.hash).await?.into_iter().find(|(_, m)| m.job_offer == id))
		})
		.unwrap();
		if let Some(found) = found {
			break found;
		}
		assert!(Instant::now() < deadline, "job {id} was never matched");
		std::thread::sleep(Duration::from_secs(1));
	};
	assert_eq!(terms.provider, account(CHEATER), "the solver picked the cheaper provider");
	let result = match cheat {
		Cheat::WrongResults => {
			let forged = home.0.join("forged.tar");
			let digest = forged_archive(&forged);
			block_on(async {
				let best = cheater.best().await?;
				let actors = cheater.actors(best.hash).await?;
				let endpoint = String::from_utf8_lossy(&actors.directories[0].1.endpoint).into_owned();
				Registry::new(&endpoint).unwrap().push_blob_file(RESULTS_REPOSITORY, &forged, &digest).await.unwrap();
				Ok::<_, ChainError>(())
			})
			.unwrap();
			MarketCall::post_result {
				match_id,
				status: ResultStatus::Completed,
				usage: Resources { cpu: 1_500, memory: 8, storage: 1, bandwidth: terms.limits.bandwidth / 2 },
				result_digest: Some(digest),
			}
		}
		Cheat::BlameTheDirectory => MarketCall::post_result {
			match_id,
			status: ResultStatus::DirectoryUnavailable,
			usage: Resources::default(),
			result_digest: None,
		},
	};
	block_on(cheater.submit(RuntimeCall::Market(result))).unwrap();

	let status = described_as(&home.0, &id.to_string(), "closed", Duration::from_secs(300));
	let decisions = verifier.stop();
	let decision: Value = decisions
		.lines()
		.filter_map(|l| serde_json::from_str::<Value>(l).ok())
		.find(|d| d["matchId"] == match_id)
		.unwrap_or_else(|| panic!("the verifier decided on match {match_id}: {decisions}"));
	let closed = history_has(&status, "closed").unwrap();
	assert_eq!(closed["ending"], format!("{:?}", Ending::Mediated(Party::ResourceProvider)), "{status:#}");
	let after = block_on(async {
		let best = cheater.best().await?;
		cheater.balances(&account(CHEATER), best.hash).await
	})
	.unwrap();
	// The whole deposit of its match is gone (fees it paid for its transactions aside).
	assert!(
		after.free + after.reserved + 99 * MDC < before.free + before.reserved,
		"the cheater was fined: {} → {}",
		mdc(before.free + before.reserved),
		mdc(after.free + after.reserved)
	);
	(decision, status)
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn the_verifier_catches_a_provider_posting_wrong_results_and_the_provider_is_fined() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let (decision, status) = cheated("wrong-results", Cheat::WrongResults);
	assert_eq!(decision["action"], "reject", "{decision:#}");
	assert_eq!(decision["reason"], "wrongResults", "{decision:#}");
	assert_eq!(decision["verified"], true);
	assert_eq!(decision["runs"].as_array().unwrap().len(), 2, "confirmed by as many runs as the mediator's");
	assert_eq!(history_has(&status, "rejected").unwrap()["reason"], "WrongResults");
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_provider_falsely_blaming_a_working_directory_is_rejected_and_fined() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let (decision, status) = cheated("blames-directory", Cheat::BlameTheDirectory);
	assert_eq!(decision["action"], "reject", "{decision:#}");
	assert_eq!(decision["reason"], "invalidResultStatus", "{decision:#}");
	assert_eq!(history_has(&status, "rejected").unwrap()["reason"], "InvalidResultStatus");
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_non_deterministic_job_rejected_by_hand_is_mediated_and_its_creator_loses() {
	let (_turn, home, _) = story("cli-coin-flip");
	let output = modicum(&home.0, JC, &[
		"job", "run", examples().join("coin-flip").to_str().unwrap(),
		"--cpu", "5000", "--memory", "64", "--storage", "1", "--yes", "--id-only",
	]);
	assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
	let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
	described_as(&home.0, &id, "result", Duration::from_secs(180));
	ok(modicum(&home.0, JC, &["job", "reject", &id, "WrongResults"]));
	let status = described_as(&home.0, &id, "closed", Duration::from_secs(300));
	let verdict = history_has(&status, "verdict").expect("a verdict");
	assert_eq!(verdict["faultyParty"], "JobCreator", "{status:#}");
	let closed = history_has(&status, "closed").unwrap();
	assert_eq!(closed["ending"], format!("{:?}", Ending::Mediated(Party::JobCreator)));
	assert!(closed["penalty"].as_str().unwrap().parse::<u128>().unwrap() > 0, "the job creator's deposit went to the pool");
}

#[test]
#[ignore = "needs the devnet with roles: scripts/test.sh starts it"]
fn a_job_that_cannot_be_posted_says_why_and_holds_nothing() {
	let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
	let home = Scratch::new("cli-errors");
	let jc = chain(JC);
	let held_before = block_on(async {
		let best = jc.best().await?;
		jc.balances(&account(JC), best.hash).await
	})
	.unwrap()
	.reserved;

	// A Dockerfile on a base no provider keeps: the bases to choose from are listed.
	let job = home.0.join("unknown-base");
	std::fs::create_dir_all(&job).unwrap();
	std::fs::write(job.join("Dockerfile"), "FROM debian:bookworm\nCMD [\"true\"]\n").unwrap();
	let error = refused(modicum(&home.0, JC, &["job", "run", job.to_str().unwrap(), "--yes"]));
	assert!(error.contains("modicum/base:busybox") && error.contains("modicum/base:python"), "{error}");

	// An image larger than the bandwidth limit.
	let mandelbrot = examples().join("mandelbrot");
	let error = refused(modicum(&home.0, JC, &["job", "run", mandelbrot.to_str().unwrap(), "--bandwidth", "1", "--yes"]));
	assert!(error.contains("raise --bandwidth"), "{error}");

	// An account that cannot pay the deposit.
	let error = refused(modicum(&home.0, "//Nobody", &["job", "run", mandelbrot.to_str().unwrap(), "--yes"]));
	assert!(error.contains("insufficient balance"), "{error}");

	// No terminal and no --yes: nothing is posted.
	let error = refused(modicum(&home.0, JC, &["job", "run", mandelbrot.to_str().unwrap()]));
	assert!(error.contains("--yes"), "{error}");

	// A node that does not answer.
	let output = Command::new(env!("CARGO_BIN_EXE_modicum"))
		.args(["--url", "ws://127.0.0.1:1", "--output", "json", "offers"])
		.output()
		.unwrap();
	assert!(refused(output).contains("unreachable"));

	// A job no mediator can re-execute (100 GB of memory) is never posted: no mediator would
	// be named for it.
	let error = refused(modicum(&home.0, JC, &[
		"job", "run", mandelbrot.to_str().unwrap(), "--memory", "100000", "--cpu-bid", "1 uMDC",
		"--bandwidth-bid", "1000 planck", "--yes",
	]));
	assert!(error.contains("no suitable mediator") && error.contains("these limits"), "{error}");

	// A job no offer can take (more memory than the devnet provider's 256 MiB, within the
	// mediator's capacity): why-no-match names the failing rule per offer; cancelling releases
	// the deposit.
	let output = modicum(&home.0, JC, &[
		"job", "run", mandelbrot.to_str().unwrap(), "--memory", "2048", "--cpu-bid", "1 uMDC",
		"--bandwidth-bid", "1000 planck", "--yes", "--id-only",
	]);
	assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
	let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
	let checks = ok(modicum(&home.0, JC, &["why-no-match", &id]));
	let checks = checks.as_array().unwrap();
	assert!(!checks.is_empty(), "the devnet's provider offers");
	assert!(checks.iter().all(|c| c["feasible"] == false));
	assert!(checks.iter().any(|c| c["failedCheck"]["error"] == "InsufficientMemory"), "{checks:#?}");
	let balance = ok(modicum(&home.0, JC, &["balance"]));
	assert!(balance["held"].as_array().unwrap().iter().any(|h| h["what"] == format!("job offer {id}")));
	ok(modicum(&home.0, JC, &["job", "cancel", &id]));
	described_as(&home.0, &id, "cancelled", Duration::from_secs(60));
	let held_after = block_on(async {
		let best = jc.best().await?;
		jc.balances(&account(JC), best.hash).await
	})
	.unwrap()
	.reserved;
	assert_eq!(held_after, held_before, "nothing stays held");
}

