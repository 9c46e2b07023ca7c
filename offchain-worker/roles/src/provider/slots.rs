//! How a provider divides its machine into slots: each slot runs one job at a time, under one
//! resource offer, on cores of its own. A slot's share is what its offer offers: the cores a job
//! of the offer's cpu capacity needs at the chain's reference speed (the executor's run bounds,
//! never the machine's speed), the offer's memory and storage in RAM (jobs' files live in tmpfs,
//! charged to the container's memory), and its bandwidth on the work directory's disk (pulled
//! layers and the result archive). What the configuration gives is checked against the host;
//! what it omits is detected.
//!
//! One slot unless the operator sets more: jobs side by side inflate each other's CPU time
//! where cores share a physical core (SMT siblings, or vCPUs that are siblings on the
//! hypervisor — up to +42 % on the reference machine, beyond the 30 % TooMuchCost tolerance),
//! and a mediator measuring alone would then convict an honest provider. More slots are for
//! hosts where `scripts/metering.sh` shows side-by-side runs within the tolerance.

use crate::{
	config::ProviderConfig,
	machine::{cores_for, Host},
};

/// The machine's division.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slots {
	/// Jobs at once, one open offer each.
	pub count: u32,
	/// The cores jobs run on, `count × cores_per_slot` or more.
	pub cores: Vec<usize>,
	/// Cores one job of the offer needs.
	pub cores_per_slot: usize,
}

/// Divides `host` as `config` says, or as far as it fits; an error names what does not fit.
pub fn divide(config: &ProviderConfig, host: &Host, reference_speed: u64) -> Result<Slots, String> {
	let (machine, offer) = (&config.machine, &config.offer);
	let within = |what: &str, given: Option<u64>, has: u64, default: u64| match given {
		Some(given) if given > has => Err(format!("`machine.{what}` is {given} but this host has {has}")),
		Some(given) => Ok(given),
		None => Ok(default),
	};
	let cores = within("cores", machine.cores.map(|c| c as u64), host.cores.len() as u64, host.cores.len() as u64)? as usize;
	// The node, Docker and the system keep a quarter of the RAM and disk unless told otherwise.
	let memory = within("memory", machine.memory, host.memory, host.memory / 4 * 3)?;
	let disk = within("disk", machine.disk, host.disk, host.disk / 4 * 3)?;

	let per_slot = cores_for(offer.cpu, reference_speed);
	let ram = offer.memory.saturating_add(offer.storage);
	let space = offer.bandwidth.div_ceil(1024).max(1);
	let fits = [
		("cores", cores as u64 / per_slot as u64, format!("{per_slot} cores of {cores}")),
		("memory", memory / ram.max(1), format!("{ram} MiB of RAM (memory + storage) of {memory} MiB")),
		("disk", disk / space, format!("{space} MiB of disk of {disk} MiB")),
	];
	let (limit, most, need) = fits.iter().min_by_key(|(_, n, _)| *n).expect("three limits");
	let most = (*most).min(u64::from(u32::MAX)) as u32;
	if most == 0 {
		return Err(format!("one slot of the offer needs {need}: not even one fits ({limit})"));
	}
	let count = match machine.slots {
		Some(0) => return Err("`machine.slots` must be at least 1".into()),
		Some(slots) if slots > most => {
			return Err(format!(
				"`machine.slots` is {slots} but only {most} fit: each needs {need} ({limit} is the limit)"
			))
		}
		Some(slots) => slots,
		None => 1,
	};
	Ok(Slots { count, cores: host.cores[..cores].to_vec(), cores_per_slot: per_slot })
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::config::{Amount, Arch, MachineConfig, OfferConfig};

	fn config(machine: MachineConfig) -> ProviderConfig {
		ProviderConfig {
			account: None,
			architecture: Arch::Amd64,
			speed: 1_000,
			trusted_mediators: vec![],
			trusted_directories: vec![],
			base_layers: vec![],
			offer: OfferConfig {
				cpu: 120_000,
				memory: 256,
				storage: 64,
				bandwidth: 65_536,
				cpu_price: Amount(1),
				bandwidth_price: Amount(1),
				deposit: Amount(1),
				window: 600,
				max_mediator_fee: None,
				max_directory_fee: None,
			},
			machine,
			price: None,
			registry: vec![],
		}
	}

	fn host() -> Host {
		Host { cores: vec![0, 1, 2, 3], memory: 1_024, disk: 10_000 }
	}

	#[test]
	fn a_machine_runs_one_slot_unless_told_and_at_most_what_its_scarcest_resource_fits() {
		let slots = divide(&config(MachineConfig::default()), &host(), 2_000).unwrap();
		assert_eq!((slots.count, slots.cores_per_slot), (1, 1), "side-by-side noise is opt-in");
		assert_eq!(slots.cores, vec![0, 1, 2, 3]);
		// 768 MiB of RAM for jobs / 320 MiB per slot = 2, though four cores would fit four.
		let three = MachineConfig { slots: Some(3), ..Default::default() };
		let error = divide(&config(three), &host(), 2_000).unwrap_err();
		assert!(error.contains("only 2 fit") && error.contains("memory"), "{error}");
	}

	#[test]
	fn a_configuration_beyond_the_host_or_its_slots_is_refused_with_the_reason() {
		let too_many_cores = MachineConfig { cores: Some(8), ..Default::default() };
		assert!(divide(&config(too_many_cores), &host(), 2_000).unwrap_err().contains("this host has 4"));
		let too_many_slots = MachineConfig { memory: Some(1_000), slots: Some(4), ..Default::default() };
		let error = divide(&config(too_many_slots), &host(), 2_000).unwrap_err();
		assert!(error.contains("only 3 fit") && error.contains("memory"), "{error}");
		let no_slot = MachineConfig { cores: Some(1), ..Default::default() };
		assert!(divide(&config(no_slot), &host(), 6_000).unwrap_err().contains("not even one"));
	}

	#[test]
	fn configured_cores_are_the_first_the_process_may_use() {
		let machine = MachineConfig { cores: Some(2), slots: Some(2), ..Default::default() };
		let slots = divide(&config(machine), &host(), 2_000).unwrap();
		assert_eq!((slots.count, slots.cores), (2, vec![0, 1]));
	}
}
