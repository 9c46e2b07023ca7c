//! The proof of work behind a join grant: the search for a nonce that solves an account's
//! puzzle (`pallet_market::GrantPuzzle`), on every core, with progress and a way to stop.

use pallet_market::GrantPuzzle;
use std::{
	sync::{
		atomic::{AtomicBool, AtomicU64, Ordering},
		Arc,
	},
	time::{Duration, Instant},
};

/// Nonces a thread tries between looks at the stop flag and the shared counter.
const BATCH: u64 = 4_096;

/// How often a search reports its progress.
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// How a search stands, for progress reports.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
	/// Hashes tried so far.
	pub hashes: u64,
	/// Time since the search began.
	pub elapsed: Duration,
	/// Expected hashes of one solution.
	pub difficulty: u128,
}

impl Progress {
	/// Hashes per second so far.
	pub fn rate(&self) -> f64 {
		self.hashes as f64 / self.elapsed.as_secs_f64().max(1e-3)
	}

	/// The expected time of a whole search at the rate so far.
	pub fn expected(&self) -> Duration {
		// A difficulty near u128::MAX is ~10¹⁹ years: beyond a Duration, not a panic.
		Duration::try_from_secs_f64(self.difficulty as f64 / self.rate().max(1.0))
			.unwrap_or(Duration::MAX)
	}
}

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
	/// The nonce that solves the puzzle, and the hashes it took.
	Solved { nonce: u64, hashes: u64 },
	/// `give_up` said stop first.
	GaveUp { hashes: u64 },
}

/// Searches, on `threads` threads, a nonce whose work meets `difficulty` for the puzzle of
/// `account` (SCALE-encoded) at `block_hash` on the chain of `genesis`. Calls `report` every
/// [`REPORT_EVERY`], on the calling thread; stops when `report` returns `false`.
pub fn search(
	genesis: &[u8],
	account: &[u8],
	block_hash: &[u8],
	difficulty: u128,
	threads: usize,
	mut report: impl FnMut(Progress) -> bool,
) -> Outcome {
	let threads = threads.max(1) as u64;
	let stop = Arc::new(AtomicBool::new(false));
	let tried = Arc::new(AtomicU64::new(0));
	let started = Instant::now();
	let found = std::thread::scope(|scope| {
		let workers: Vec<_> = (0..threads)
			.map(|first| {
				let (stop, tried) = (stop.clone(), tried.clone());
				let mut puzzle = GrantPuzzle::new(genesis, account, block_hash);
				scope.spawn(move || {
					// Thread `first` tries first, first + threads, …: no two share a nonce.
					let mut nonce = first;
					while !stop.load(Ordering::Relaxed) {
						for _ in 0..BATCH {
							if GrantPuzzle::meets(&puzzle.work(nonce), difficulty) {
								stop.store(true, Ordering::Relaxed);
								return Some(nonce);
							}
							nonce = nonce.wrapping_add(threads);
						}
						tried.fetch_add(BATCH, Ordering::Relaxed);
					}
					None
				})
			})
			.collect();
		let mut reported = Instant::now();
		while !stop.load(Ordering::Relaxed) {
			std::thread::sleep(Duration::from_millis(50));
			if reported.elapsed() < REPORT_EVERY {
				continue;
			}
			reported = Instant::now();
			let progress = Progress {
				hashes: tried.load(Ordering::Relaxed),
				elapsed: started.elapsed(),
				difficulty,
			};
			if !report(progress) {
				stop.store(true, Ordering::Relaxed);
			}
		}
		workers.into_iter().filter_map(|w| w.join().ok().flatten()).next()
	});
	let hashes = tried.load(Ordering::Relaxed);
	match found {
		Some(nonce) => Outcome::Solved { nonce, hashes },
		None => Outcome::GaveUp { hashes },
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_search_finds_a_nonce_the_chain_accepts() {
		let (genesis, account, block) = ([1u8; 32], [2u8; 32], [3u8; 32]);
		let Outcome::Solved { nonce, .. } =
			search(&genesis, &account, &block, 1 << 12, 2, |_| true)
		else {
			panic!("a search without a limit finds a nonce");
		};
		let mut puzzle = GrantPuzzle::new(&genesis, &account, &block);
		assert!(GrantPuzzle::meets(&puzzle.work(nonce), 1 << 12));
	}

	#[test]
	fn a_search_stops_when_told() {
		let outcome = search(&[1; 32], &[2; 32], &[3; 32], u128::MAX, 2, |_| false);
		assert!(matches!(outcome, Outcome::GaveUp { .. }));
	}
}
