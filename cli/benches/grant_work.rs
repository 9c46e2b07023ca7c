//! The join grant's proof of work on this machine (docs/economics.md, "Join grants"): hashes
//! per second of one core and of every core, searched as `modicum account join` searches, and
//! what they make of the development chain's and a public network's difficulty.
//!
//! `cargo test --release --workspace --bench grant_work` (it needs no chain).

use modicum_cli::grant::{search, Outcome};
use modicum_runtime::genesis_config_presets::{
	devnet_grant_terms, testnet_grant_terms, HASHES_PER_CORE_SECOND,
};
use std::time::{Duration, Instant};

/// How long each measurement hashes.
const MEASURE: Duration = Duration::from_secs(5);

/// Hashes per second of a search on `threads` threads that never finds a solution.
fn rate(threads: usize) -> f64 {
	let started = Instant::now();
	let outcome =
		search(&[7; 32], &[8; 32], &[9; 32], u128::MAX, threads, |_| started.elapsed() < MEASURE);
	let Outcome::GaveUp { hashes } = outcome else {
		panic!("a search at the highest difficulty found a nonce")
	};
	hashes as f64 / started.elapsed().as_secs_f64()
}

fn main() {
	let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
	let one = rate(1);
	let all = rate(cores);
	println!(
		"grant work: {:.2} M hashes/s on one core, {:.2} M hashes/s on {cores} cores",
		one / 1e6,
		all / 1e6
	);
	println!(
		"  HASHES_PER_CORE_SECOND = {:.2} M: this core is {:.2}× the floor's",
		HASHES_PER_CORE_SECOND as f64 / 1e6,
		one / HASHES_PER_CORE_SECOND as f64
	);
	for (chain, terms) in
		[("development", devnet_grant_terms()), ("public network", testnet_grant_terms())]
	{
		let expected = terms.min_difficulty as f64;
		println!(
			"  {chain}: {:.3e} expected hashes: {:.1} s on one core, {:.1} s on {cores} cores",
			expected,
			expected / one,
			expected / all
		);
	}
}
