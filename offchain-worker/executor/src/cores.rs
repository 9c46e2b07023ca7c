//! The host cores an executor pins runs to, each run holding cores of its own while it runs:
//! side-by-side runs (a provider's slots, a verifier's confirming runs) never share a core, so
//! one's CPU time is not another's noise.

use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The cores runs are handed.
pub struct CorePool {
	free: Mutex<Vec<usize>>,
	total: usize,
	freed: Notify,
}

/// Cores taken from the pool until dropped.
pub struct Cores {
	pool: Arc<CorePool>,
	cores: Vec<usize>,
}

impl CorePool {
	pub fn new(cores: &[usize]) -> Arc<Self> {
		Arc::new(Self { free: Mutex::new(cores.to_vec()), total: cores.len(), freed: Notify::new() })
	}

	/// How many cores the pool has in all.
	pub fn total(&self) -> usize {
		self.total
	}

	/// `n` cores of their own, once free; `None` if the pool has fewer in all.
	pub async fn take(self: &Arc<Self>, n: usize) -> Option<Cores> {
		if n > self.total {
			return None;
		}
		loop {
			let freed = self.freed.notified();
			{
				// Nothing panics while holding the lock; a poisoned list is still a list.
				let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
				if free.len() >= n {
					// The lowest free cores, in order: the same run gets the same cpuset on an
					// idle host.
					free.sort_unstable();
					let taken: Vec<usize> = free.drain(..n).collect();
					return Some(Cores { pool: self.clone(), cores: taken });
				}
			}
			freed.await;
		}
	}
}

impl Cores {
	/// The cores, as Docker's `cpuset_cpus` takes them.
	pub fn cpuset(&self) -> String {
		self.cores.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
	}
}

impl Drop for Cores {
	fn drop(&mut self) {
		self.pool.free.lock().unwrap_or_else(|e| e.into_inner()).append(&mut self.cores);
		self.pool.freed.notify_waiters();
	}
}

/// The cores this process may run on (`Cpus_allowed_list` of /proc/self/status).
pub fn allowed_cores() -> std::io::Result<Vec<usize>> {
	let status = std::fs::read_to_string("/proc/self/status")?;
	let list = status
		.lines()
		.find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
		.ok_or_else(|| std::io::Error::other("no Cpus_allowed_list in /proc/self/status"))?;
	parse_core_list(list.trim())
		.ok_or_else(|| std::io::Error::other(format!("unreadable Cpus_allowed_list `{list}`")))
}

/// `0-3,5,7-8` → [0, 1, 2, 3, 5, 7, 8].
fn parse_core_list(list: &str) -> Option<Vec<usize>> {
	let mut cores = Vec::new();
	for part in list.split(',').filter(|p| !p.is_empty()) {
		let (first, last) = part.split_once('-').unwrap_or((part, part));
		let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
		cores.extend(first..=last);
	}
	(!cores.is_empty()).then_some(cores)
}

#[cfg(test)]
mod tests {
	use super::*;
	#[tokio::test]
	async fn side_by_side_runs_never_share_a_core_and_a_freed_core_wakes_a_waiter() {
		let pool = CorePool::new(&[0, 1, 2]);
		let first = pool.take(2).await.unwrap();
		let second = pool.take(1).await.unwrap();
		assert_eq!((first.cpuset().as_str(), second.cpuset().as_str()), ("0,1", "2"));
		assert!(pool.take(4).await.is_none(), "more cores than the host has is refused at once");
		let waiting = tokio::spawn({
			let pool = pool.clone();
			async move { pool.take(2).await.unwrap().cpuset() }
		});
		tokio::task::yield_now().await;
		assert!(!waiting.is_finished(), "two cores are not free yet");
		drop(first);
		assert_eq!(waiting.await.unwrap(), "0,1");
	}

	#[test]
	fn core_lists_read_like_the_kernel_writes_them() {
		assert_eq!(parse_core_list("0-3,5,7-8"), Some(vec![0, 1, 2, 3, 5, 7, 8]));
		assert_eq!(parse_core_list("1"), Some(vec![1]));
		assert_eq!(parse_core_list(""), None);
	}
}
