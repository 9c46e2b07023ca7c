//! How long the solver takes to match 10 000 job offers against 10 000 resource offers
//! (docs/performance.md). Run: `cargo bench --release -p modicum-roles --bench solver`.

use modicum_roles::solver::{solve, synthetic};
use std::time::Instant;

fn main() {
	for (jobs, resources) in [(1_000, 1_000), (10_000, 10_000)] {
		let market = synthetic::market(42, jobs, resources);
		let mut times = Vec::new();
		let mut matched = 0;
		for _ in 0..5 {
			let start = Instant::now();
			let proposals = solve(
				market.now,
				&market.parameters,
				&market.actors,
				&market.jobs,
				&market.resources,
			);
			times.push(start.elapsed());
			matched = proposals.len();
		}
		// A solver that matches little is fast and wrong: on this seed's market it pairs about
		// two fifths of the offers (394 of 1 000, 4 409 of 10 000), so under a third is a failure,
		// not a number.
		assert!(
			matched * 3 >= jobs.min(resources) as usize,
			"the solver matched only {matched} of {jobs} job offers to {resources} resource offers"
		);
		times.sort();
		println!(
			"solver: {jobs} job offers x {resources} resource offers -> {matched} matches; median {:.1} ms (min {:.1}, max {:.1}) over 5 runs",
			times[2].as_secs_f64() * 1e3,
			times[0].as_secs_f64() * 1e3,
			times[4].as_secs_f64() * 1e3,
		);
	}
}
