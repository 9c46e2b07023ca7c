//! The mediator's slots and the largest run each re-executes, registered on chain so that it is
//! named only for jobs it can run: as its role file gives them, else detected from the host —
//! a slot's share of the cores, and of the RAM and disk beyond what the node, Docker and the
//! system keep (a quarter).

use crate::{
	config::CapacityConfig,
	machine::{cores_for, Host},
};
use modicum_runtime::MILLI_SECS_PER_BLOCK;
use pallet_market::Resources;

/// The largest run of one of `slots` slots on `host`; an error names what the role file asks
/// beyond the host.
pub(super) fn capacity(
	config: &CapacityConfig,
	slots: u32,
	host: &Host,
	reference_speed: u64,
) -> Result<Resources, String> {
	let slots = u64::from(slots.max(1));
	let cores = host.cores.len() as u64 / slots;
	if cores == 0 {
		return Err(format!("{slots} slots need a core each; this host has {}", host.cores.len()));
	}
	// A slot of a reference machine's cores runs any cpu limit (R blocks of wall time follow
	// from it); fewer cores run at most their rate for a block.
	let any_cpu = cores >= cores_for(reference_speed, reference_speed) as u64;
	let detected_cpu = if any_cpu { u64::MAX } else { cores * MILLI_SECS_PER_BLOCK };
	let ram = host.memory / slots;
	let disk = host.disk / slots;
	let usable_ram = ram / 4 * 3;
	let capacity = Resources {
		cpu: config.cpu.unwrap_or(detected_cpu),
		memory: config.memory.unwrap_or(usable_ram / 4 * 3),
		storage: config.storage.unwrap_or(usable_ram / 4),
		bandwidth: config.bandwidth.unwrap_or((disk / 4 * 3).saturating_mul(1024)),
	};
	// A run's container takes memory + storage of RAM (its files are in tmpfs) and its layers
	// and archive of disk: given beyond the host, a re-execution would fail where the
	// provider's run did not, and convict it.
	if capacity.cpu > detected_cpu {
		return Err(format!(
			"`capacity.cpu` {} needs more than the {cores} core(s) of a slot run in a block",
			capacity.cpu
		));
	}
	// The node, Docker and the system keep their quarter even of a configured capacity: runs
	// beyond it would meet the host's own OOM killer, and report a memory their limits allow.
	if capacity.memory.saturating_add(capacity.storage) > usable_ram {
		return Err(format!(
			"`capacity.memory` + `capacity.storage` is {} MiB but a slot may use {usable_ram} MiB of RAM (three quarters of its share)",
			capacity.memory.saturating_add(capacity.storage)
		));
	}
	if capacity.bandwidth.div_ceil(1024) > disk / 4 * 3 {
		return Err(format!(
			"`capacity.bandwidth` is {} KiB but a slot may use {} MiB of disk (three quarters of its share)",
			capacity.bandwidth,
			disk / 4 * 3
		));
	}
	Ok(capacity)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn host() -> Host {
		Host { cores: vec![0, 1, 2, 3], memory: 16_384, disk: 40_960 }
	}

	#[test]
	fn an_omitted_capacity_is_a_slots_share_of_the_host_less_what_the_system_keeps() {
		let one = capacity(&CapacityConfig::default(), 1, &host(), 2_000).unwrap();
		// 16 GiB: 12 GiB for runs, of which memory 9 GiB and storage 3 GiB.
		assert_eq!(one, Resources { cpu: u64::MAX, memory: 9_216, storage: 3_072, bandwidth: 31_457_280 });
		let two = capacity(&CapacityConfig::default(), 2, &host(), 2_000).unwrap();
		assert_eq!((two.memory, two.storage), (4_608, 1_536));
	}

	#[test]
	fn a_slot_of_fewer_cores_than_the_reference_machine_runs_at_most_their_rate() {
		let slow = capacity(&CapacityConfig::default(), 4, &host(), 4_000).unwrap();
		assert_eq!(slow.cpu, MILLI_SECS_PER_BLOCK, "one core of a 2-core reference");
	}

	#[test]
	fn a_capacity_beyond_the_host_is_refused_with_the_reason() {
		// Within the host's 16 GiB, beyond the 12 GiB runs may use.
		let big = CapacityConfig { memory: Some(12_000), storage: Some(1_000), ..Default::default() };
		assert!(capacity(&big, 1, &host(), 2_000).unwrap_err().contains("RAM"));
		let wide = CapacityConfig { bandwidth: Some(35_000 * 1024), ..Default::default() };
		assert!(capacity(&wide, 1, &host(), 2_000).unwrap_err().contains("disk"));
		assert!(capacity(&CapacityConfig::default(), 5, &host(), 2_000).unwrap_err().contains("core"));
		let fast = CapacityConfig { cpu: Some(10_000), ..Default::default() };
		assert!(capacity(&fast, 4, &host(), 4_000).unwrap_err().contains("core"));
	}
}
