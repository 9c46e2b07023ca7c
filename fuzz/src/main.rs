//! `market-fuzz`: random call sequences from many accounts through the real Modicum runtime
//! (real Balances and holds, the base call filter, real weights, blocks produced with their
//! hooks), modelled on srlabs' substrate-runtime-fuzzer but seeded and structured, so it builds
//! with the tests' profile on stable Rust. After every call the market's invariants hold, the
//! total issuance is unchanged, the welfare pool lost nothing but the grants it paid, a
//! transfer moved no grant funds and a refused call changed nothing; after each epoch the chain
//! runs past every deadline and nothing may stay held, grants included. The same checks hold at genesis, before
//! the first call. A run passes only if it reached every way a match can end (each variant of
//! the pallet's `Ending`) and made at least one match.
//!
//! `market-fuzz --seed 1 --calls 100000` reproduces a run exactly; a violation or a panic
//! prints the seed, the call's number and the call, and exits non-zero, as does a run that left
//! an ending unreached.

mod checks;
mod moves;

use clap::Parser;
use frame_support::dispatch::{DispatchErrorWithPostInfo, GetDispatchInfo};
use modicum_runtime::{
	testing::{close_block, genesis_ext, open_block},
	AccountId, Runtime, RuntimeError, RuntimeOrigin, System, MILLI_MDC,
};
use moves::{Generator, Move, Origin};
use scale_info::{TypeDef, TypeInfo};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{traits::Dispatchable, DispatchError, StateVersion};
use std::{
	collections::BTreeMap,
	panic::{catch_unwind, AssertUnwindSafe},
	process::ExitCode,
	time::Instant,
};

type Market = pallet_market::Pallet<Runtime>;

/// Calls between commits of the externalities' overlay: keeps each block's storage root cheap.
const COMMIT_EVERY: u64 = 500;

/// Random call sequences through the runtime; exits non-zero on the first violation.
#[derive(Parser)]
struct Args {
	/// Seed of the generator: the same seed and count replay the same run.
	#[arg(long, default_value_t = 1)]
	seed: u64,
	/// Calls to dispatch.
	#[arg(long, default_value_t = 100_000)]
	calls: u64,
	/// Calls per epoch; after each the chain runs past every deadline.
	#[arg(long, default_value_t = 10_000)]
	epoch: u64,
	/// Compare the storage root before and after every n-th refused call.
	#[arg(long, default_value_t = 16)]
	root_every: u64,
}

/// What a run saw.
#[derive(Default)]
struct Report {
	calls: u64,
	blocks: u64,
	/// Per call name: (succeeded, refused).
	outcomes: BTreeMap<String, (u64, u64)>,
	/// Refusals by error.
	errors: BTreeMap<String, u64>,
	/// Matches closed, by ending.
	endings: BTreeMap<String, u64>,
	roots_compared: u64,
	largest_index: usize,
}

fn main() -> ExitCode {
	let args = Args::parse();
	let accounts: Vec<AccountId> = Sr25519Keyring::iter()
		.filter(|k| *k != Sr25519Keyring::One && *k != Sr25519Keyring::Two)
		.map(|k| k.to_account_id())
		.collect();
	let mut ext = genesis_ext(sp_genesis_builder::DEV_RUNTIME_PRESET);
	let mut report = Report::default();
	let started = Instant::now();

	// Every invariant holds from genesis: the issuance every later check compares with and the
	// pool's balance are genesis's own, and the first call's checks start from them.
	let issuance = ext.execute_with(pallet_balances::Pallet::<Runtime>::total_issuance);
	let mut pool = ext.execute_with(checks::pool_balance);
	if let Err(violation) = ext.execute_with(|| checks::after_call(issuance, &mut pool)) {
		eprintln!("VIOLATION seed {} at genesis: {violation}", args.seed);
		return ExitCode::FAILURE;
	}

	let set = ext.execute_with(|| {
		open_block(1);
		let mut p = Market::parameters().expect("genesis sets the parameters");
		// Short windows and horizons, so deadlines pass often within a run.
		p.reaction_window = 3;
		p.heartbeat_period = 3;
		p.mediation_window = 6;
		p.max_job_duration = 30;
		p.max_offer_window = 40;
		p.reference_speed = 1_000;
		p.min_reputation_price = MILLI_MDC;
		p.min_resource_deposit = 10 * MILLI_MDC;
		let call = pallet_market::Call::<Runtime>::set_parameters { parameters: p };
		let set = modicum_runtime::RuntimeCall::Market(call).dispatch(RuntimeOrigin::root());
		assert!(set.is_ok(), "the fuzz parameters are valid: {set:?}");
		// Grants whose every proof meets the difficulty (the pallet's tests search real ones)
		// and that expire within an epoch.
		let mut terms = pallet_market::JoinGrantTerms::<Runtime>::get().expect("the preset's");
		terms.min_difficulty = 1;
		terms.expiry = 60;
		terms.proof_age = 10;
		let call = pallet_market::Call::<Runtime>::set_grant_terms { terms };
		let set = modicum_runtime::RuntimeCall::Market(call).dispatch(RuntimeOrigin::root());
		assert!(set.is_ok(), "the fuzz grant terms are valid: {set:?}");
		pallet_market::JoinGrantRate::<Runtime>::mutate(|rate| {
			rate.as_mut().expect("terms set a rate").difficulty = 1;
		});
		checks::after_call(issuance, &mut pool)
	});
	if let Err(violation) = set {
		eprintln!("VIOLATION seed {} setting the fuzz parameters: {violation}", args.seed);
		return ExitCode::FAILURE;
	}
	let baseline = ext.execute_with(|| Market::parameters().expect("set above"));
	let mut generator = Generator::new(args.seed, accounts.clone(), baseline);
	let everyone: Vec<AccountId> = accounts.iter().cloned().chain(moves::newcomers()).collect();

	while report.calls < args.calls {
		let epoch = args.epoch.max(1);
		let chunk = COMMIT_EVERY.min(epoch - report.calls % epoch).min(args.calls - report.calls);
		let settle = (report.calls + chunk) % epoch == 0 || report.calls + chunk == args.calls;
		let outcome = ext.execute_with(|| {
			let until = report.calls + chunk;
			while report.calls < until {
				let call_number = report.calls + 1;
				let mut step = None;
				let result = catch_unwind(AssertUnwindSafe(|| {
					let next = step.insert(generator.next_move());
					play(next, &args, &mut report, issuance, &mut pool)
				}))
				.unwrap_or_else(|panic| Err(format!("panicked: {}", panic_message(&panic))));
				if let Err(violation) = result {
					return Err(format!(
						"seed {} call {call_number}: {violation}\n  move: {step:?}",
						args.seed
					));
				}
			}
			if !settle {
				return Ok(());
			}
			catch_unwind(AssertUnwindSafe(|| settle_everything(&everyone, &mut report)))
				.unwrap_or_else(|panic| Err(format!("panicked: {}", panic_message(&panic))))
				.map_err(|violation| {
					format!("seed {} after call {}: {violation}", args.seed, report.calls)
				})
		});
		if let Err(message) = outcome {
			eprintln!("VIOLATION {message}");
			return ExitCode::FAILURE;
		}
		ext.commit_all().expect("the in-memory backend commits");
	}
	print_report(&report, args.seed, started.elapsed().as_secs_f64());
	let unreached = unreached(&report);
	if !unreached.is_empty() {
		eprintln!(
			"VIOLATION seed {} after {} calls: the run did not reach the whole protocol: {}",
			args.seed,
			report.calls,
			unreached.join("; ")
		);
		return ExitCode::FAILURE;
	}
	ExitCode::SUCCESS
}

/// What a run must have reached, and did not: a successful `post_match`, and every way a match
/// can end.
fn unreached(report: &Report) -> Vec<String> {
	let mut unreached = Vec::new();
	if report.outcomes.get("post_match").is_none_or(|(succeeded, _)| *succeeded == 0) {
		unreached.push("post_match never succeeded".to_string());
	}
	let missing: Vec<String> = match_endings()
		.into_iter()
		.filter(|ending| {
			!report.endings.keys().any(|seen| {
				seen == ending
					|| seen.strip_prefix(ending.as_str()).is_some_and(|r| r.starts_with('('))
			})
		})
		.collect();
	if !missing.is_empty() {
		unreached.push(format!("match endings never reached: {}", missing.join(", ")));
	}
	unreached
}

/// Every way a match can end, from the pallet's type information, named as `{ending:?}` prints
/// it: each variant of `Ending`, one with a field once per variant of the field's enum
/// (`Mediated(JobCreator)`, `Mediated(ResourceProvider)`, …).
fn match_endings() -> Vec<String> {
	fn variants(ty: scale_info::Type) -> Vec<String> {
		let TypeDef::Variant(def) = ty.type_def else { return Vec::new() };
		def.variants
			.iter()
			.flat_map(|variant| {
				let name = variant.name.to_string();
				let inner = match variant.fields.as_slice() {
					[field] => variants(field.ty.type_info()),
					_ => Vec::new(),
				};
				if inner.is_empty() {
					vec![name]
				} else {
					inner.into_iter().map(|inner| format!("{name}({inner})")).collect()
				}
			})
			.collect()
	}
	variants(pallet_market::Ending::type_info())
}

/// Make one move and check every invariant after it.
fn play(
	step: &Move,
	args: &Args,
	report: &mut Report,
	issuance: modicum_runtime::Balance,
	pool: &mut modicum_runtime::Balance,
) -> Result<(), String> {
	match step {
		Move::Advance(blocks) => {
			for _ in 0..*blocks {
				next_block(report);
			}
		}
		Move::Call { origin, call } => {
			report.calls += 1;
			let info = call.get_dispatch_info();
			let limit = <Runtime as frame_system::Config>::BlockWeights::get()
				.get(info.class)
				.max_extrinsic
				.unwrap_or(Weight::MAX);
			if !info.call_weight.all_lte(limit) {
				return Err(format!("a call too heavy for any block: {:?}", info.call_weight));
			}
			// A transfer's sender keeps its grant whatever the transfer does.
			let grant_before = match (origin, call) {
				(Origin::Signed(who), modicum_runtime::RuntimeCall::Balances(_)) => {
					Some((who.clone(), checks::grant_held(who)))
				}
				_ => None,
			};
			let claimed = matches!(
				call,
				modicum_runtime::RuntimeCall::Market(pallet_market::Call::claim_join_grant { .. })
			);
			let origin = match origin {
				Origin::Signed(who) => RuntimeOrigin::signed(who.clone()),
				Origin::Root => RuntimeOrigin::root(),
				Origin::None => RuntimeOrigin::none(),
			};
			let name = call_name(call);
			let events = System::read_events_no_consensus().count();
			let refused_number = report.outcomes.get(&name).map_or(0, |(_, refused)| *refused);
			let compare_root = refused_number % args.root_every.max(1) == 0;
			let root = compare_root.then(|| sp_io::storage::root(StateVersion::V1));
			match call.clone().dispatch(origin) {
				// No market or balances call returns an actual weight: the declared one is checked.
				Ok(_) => {
					report.outcomes.entry(name).or_default().0 += 1;
					if claimed {
						let terms = pallet_market::JoinGrantTerms::<Runtime>::get();
						*pool -= terms.map_or(0, |t| t.amount);
					}
				}
				Err(DispatchErrorWithPostInfo { error, .. }) => {
					report.outcomes.entry(name).or_default().1 += 1;
					*report.errors.entry(error_name(error)).or_default() += 1;
					if System::read_events_no_consensus().count() != events {
						return Err(format!("refused with {error:?} but deposited events"));
					}
					if let Some(root) = root {
						report.roots_compared += 1;
						if root != sp_io::storage::root(StateVersion::V1) {
							return Err(format!("refused with {error:?} but changed state"));
						}
					}
				}
			}
			count_endings(report);
			if let Some((who, before)) = grant_before {
				checks::grant_untouched(&who, before)?;
			}
		}
	}
	checks::after_call(issuance, pool)
}

type Weight = frame_support::weights::Weight;

/// Close the open block and open the next, running every hook and the sweep.
fn next_block(report: &mut Report) {
	count_endings(report);
	close_block();
	open_block(System::block_number() + 1);
	report.blocks += 1;
	report.largest_index =
		report.largest_index.max(pallet_market::Deadlines::<Runtime>::iter().count());
}

/// Run blocks until every deadline has passed and the sweep has settled it, within the sweep's
/// bound, then check that nothing is held.
fn settle_everything(accounts: &[AccountId], report: &mut Report) -> Result<(), String> {
	let sweep: u32 = <Runtime as pallet_market::Config>::MaxSweepPerBlock::get();
	if let Some(last) = checks::last_deadline() {
		let entries = pallet_market::Deadlines::<Runtime>::iter().count() as u32;
		let bound = last.max(System::block_number()) + entries.div_ceil(sweep) + 1;
		while pallet_market::Deadlines::<Runtime>::iter().next().is_some() {
			if System::block_number() > bound {
				return Err(format!("the sweep had not settled every deadline by block {bound}"));
			}
			next_block(report);
		}
	}
	checks::nothing_held(accounts)
}

/// Count the matches that closed since the block opened (events are read once per move).
fn count_endings(report: &mut Report) {
	for record in System::read_events_no_consensus() {
		if let modicum_runtime::RuntimeEvent::Market(pallet_market::Event::MatchClosed {
			ending,
			..
		}) = record.event
		{
			*report.endings.entry(format!("{ending:?}")).or_default() += 1;
		}
	}
	System::reset_events();
}

fn call_name(call: &modicum_runtime::RuntimeCall) -> String {
	use frame_support::traits::GetCallName;
	match call {
		modicum_runtime::RuntimeCall::Market(call) => call.get_call_name().to_string(),
		modicum_runtime::RuntimeCall::Balances(call) => {
			format!("balances.{}", call.get_call_name())
		}
		other => format!("{other:?}"),
	}
}

fn error_name(error: DispatchError) -> String {
	match RuntimeError::from_dispatch_error(error) {
		Some(RuntimeError::Market(e)) => format!("{e:?}"),
		Some(other) => format!("{other:?}"),
		None => format!("{error:?}"),
	}
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
	panic
		.downcast_ref::<String>()
		.cloned()
		.or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
		.unwrap_or_else(|| "a panic".into())
}

/// Every error variant of the market pallet, from its type information.
fn market_errors() -> Vec<String> {
	match pallet_market::Error::<Runtime>::type_info().type_def {
		TypeDef::Variant(variants) => {
			variants.variants.iter().map(|v| v.name.to_string()).collect()
		}
		_ => Vec::new(),
	}
}

fn print_report(report: &Report, seed: u64, seconds: f64) {
	println!("market-fuzz: seed {seed}");
	println!(
		"{} calls in {seconds:.1} s: {:.0} calls/s; {} blocks; largest deadline index {}",
		report.calls,
		report.calls as f64 / seconds.max(1e-9),
		report.blocks,
		report.largest_index,
	);
	println!("{} refused calls' storage roots compared", report.roots_compared);
	println!("\n| call | succeeded | refused |\n|---|---|---|");
	for (name, (ok, refused)) in &report.outcomes {
		println!("| {name} | {ok} | {refused} |");
	}
	println!("\n| match ending | count |\n|---|---|");
	for ending in match_endings() {
		println!("| {ending} | {} |", report.endings.get(&ending).copied().unwrap_or(0));
	}
	for (ending, count) in &report.endings {
		if !match_endings().contains(ending) {
			println!("| {ending} | {count} |");
		}
	}
	let all = market_errors();
	let hit: Vec<&String> = all.iter().filter(|e| report.errors.contains_key(*e)).collect();
	println!("\nmarket errors covered: {} of {}", hit.len(), all.len());
	println!("| error | count |\n|---|---|");
	for (error, count) in &report.errors {
		println!("| {error} | {count} |");
	}
	let missed: Vec<&String> = all.iter().filter(|e| !report.errors.contains_key(*e)).collect();
	println!("\nnever refused with: {missed:?}");
}
