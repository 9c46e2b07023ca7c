//! Asking a directory again while it does not answer, within a bound in all: how a run fetches
//! a job's image and how a mediator checks a directory (docs/protocol.md, "Directories:
//! retention and speed"). A blip is not an outage, and a directory that trickles or stalls
//! cannot hold the one asking past the bound.

use std::{future::Future, time::Duration};
use tokio::time::Instant;

/// The first pause between two tries; each later one doubles.
const FIRST_PAUSE: Duration = Duration::from_secs(2);

/// What one try came to.
pub enum Answer<T> {
	/// An answer, whatever it says.
	Given(T),
	/// No answer: asked again while the bound allows.
	Missing,
}

/// Tries `ask` until it answers, pausing 2 s, 4 s, … between tries, for at most `bound` in
/// all (a try still waiting at the bound is cut there); `None` if the bound passed without an
/// answer (at once for a bound of zero: nothing is asked). `what` names the question in the
/// log.
pub async fn within<T, Ask, Asked>(bound: Duration, what: &str, mut ask: Ask) -> Option<T>
where
	Ask: FnMut() -> Asked,
	Asked: Future<Output = Answer<T>>,
{
	let until = Instant::now() + bound;
	let mut pause = FIRST_PAUSE;
	loop {
		let left = until.saturating_duration_since(Instant::now());
		// A timeout of zero would still poll the question once: past the bound, nothing more.
		if left.is_zero() {
			return None;
		}
		match tokio::time::timeout(left, ask()).await {
			Err(_) => return None,
			Ok(Answer::Given(answer)) => return Some(answer),
			Ok(Answer::Missing) => {
				let left = until.saturating_duration_since(Instant::now());
				if left.is_zero() {
					return None;
				}
				tracing::warn!(what, retry_in_s = pause.min(left).as_secs(), "the directory does not answer; asking again");
				tokio::time::sleep(pause.min(left)).await;
				pause = pause.saturating_mul(2);
			},
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::sync::atomic::{AtomicU32, Ordering};

	#[tokio::test]
	async fn a_directory_that_never_answers_is_given_up_at_the_bound() {
		let tries = AtomicU32::new(0);
		let started = Instant::now();
		let answer: Option<()> = within(Duration::from_millis(300), "test", || async {
			tries.fetch_add(1, Ordering::Relaxed);
			Answer::Missing
		})
		.await;
		assert!(answer.is_none());
		assert!(started.elapsed() >= Duration::from_millis(300));
		// The first pause (2 s) is cut at the bound: one try, no second.
		assert_eq!(tries.load(Ordering::Relaxed), 1);
	}

	#[tokio::test]
	async fn a_bound_of_zero_asks_nothing() {
		let tries = AtomicU32::new(0);
		let answer: Option<()> = within(Duration::ZERO, "test", || async {
			tries.fetch_add(1, Ordering::Relaxed);
			Answer::Missing
		})
		.await;
		assert!(answer.is_none());
		assert_eq!(tries.load(Ordering::Relaxed), 0);
	}

	#[tokio::test]
	async fn a_try_that_stalls_is_cut_at_the_bound() {
		let answer: Option<()> =
			within(Duration::from_millis(200), "test", || std::future::pending()).await;
		assert!(answer.is_none());
	}

	#[tokio::test]
	async fn an_answer_after_a_blip_is_the_answer() {
		let tries = AtomicU32::new(0);
		let answer = within(Duration::from_secs(10), "test", || async {
			match tries.fetch_add(1, Ordering::Relaxed) {
				0 => Answer::Missing,
				n => Answer::Given(n),
			}
		})
		.await;
		assert_eq!(answer, Some(1));
	}
}
