//! Weights of the market pallet.
//!
//! Each call is weighed at its worst case: trust lists at `MaxTrusted` (M = 16 in the runtime),
//! base layer lists at `MaxBaseLayers`, and a settlement paying every party with a fallback to
//! the penalty pool. `sweep_block` and `sweep_deadline` weigh the per-block hook: one block of
//! the deadline index read, and one due deadline settled. The figures are conservative
//! estimates from the storage each call touches (reads and writes counted from the code);
//! docs/benchmarks.md describes how to regenerate this file with `modicum-node benchmark pallet`
//! and the benchmarks in `benchmarking.rs`.

#![allow(unused_parens, unused_imports, missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::ParityDbWeight, Weight},
};

/// The worst-case length of a trust list these weights assume.
const M: u64 = 16;

/// Weight functions needed by the market pallet.
pub trait WeightInfo {
	fn register_job_creator() -> Weight;
	fn register_resource_provider() -> Weight;
	fn register_mediator() -> Weight;
	fn register_directory() -> Weight;
	fn update_resource_provider() -> Weight;
	fn update_mediator() -> Weight;
	fn update_directory() -> Weight;
	fn trust_mediator() -> Weight;
	fn distrust_mediator() -> Weight;
	fn trust_directory() -> Weight;
	fn distrust_directory() -> Weight;
	fn deregister() -> Weight;
	fn set_parameters() -> Weight;
	fn directory_heartbeat() -> Weight;
	fn post_resource_offer() -> Weight;
	fn post_job_offer() -> Weight;
	fn cancel_job_offer() -> Weight;
	fn cancel_resource_offer() -> Weight;
	fn post_match() -> Weight;
	fn post_result() -> Weight;
	fn accept_result() -> Weight;
	fn reject_result() -> Weight;
	fn post_mediation_result() -> Weight;
	fn claim_timeout() -> Weight;
	fn sweep_block() -> Weight;
	fn sweep_deadline() -> Weight;
}

/// Weights for the market pallet on the Modicum runtime.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn register_job_creator() -> Weight {
		Weight::from_parts(60_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1 + M))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn register_resource_provider() -> Weight {
		Weight::from_parts(95_000_000, 7_000)
			.saturating_add(T::DbWeight::get().reads(2 + 2 * M))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn register_mediator() -> Weight {
		Weight::from_parts(110_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(4 + M))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn register_directory() -> Weight {
		Weight::from_parts(75_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn update_resource_provider() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn update_mediator() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn update_directory() -> Weight {
		Weight::from_parts(35_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn trust_mediator() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(2))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn distrust_mediator() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn trust_directory() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(2))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn distrust_directory() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn deregister() -> Weight {
		Weight::from_parts(70_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn set_parameters() -> Weight {
		Weight::from_parts(15_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(0))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn directory_heartbeat() -> Weight {
		Weight::from_parts(30_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn post_resource_offer() -> Weight {
		Weight::from_parts(110_000_000, 12_000)
			.saturating_add(T::DbWeight::get().reads(7))
			.saturating_add(T::DbWeight::get().writes(5))
	}
	fn post_job_offer() -> Weight {
		Weight::from_parts(120_000_000, 14_000)
			.saturating_add(T::DbWeight::get().reads(8))
			.saturating_add(T::DbWeight::get().writes(5))
	}
	fn cancel_job_offer() -> Weight {
		Weight::from_parts(70_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn cancel_resource_offer() -> Weight {
		Weight::from_parts(70_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	fn post_match() -> Weight {
		Weight::from_parts(300_000_000, 40_000)
			.saturating_add(T::DbWeight::get().reads(19))
			.saturating_add(T::DbWeight::get().writes(14))
	}
	fn post_result() -> Weight {
		Weight::from_parts(50_000_000, 12_000)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(2))
	}
	fn accept_result() -> Weight {
		Weight::from_parts(280_000_000, 30_000)
			.saturating_add(T::DbWeight::get().reads(14))
			.saturating_add(T::DbWeight::get().writes(14))
	}
	fn reject_result() -> Weight {
		Weight::from_parts(50_000_000, 12_000)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(2))
	}
	fn post_mediation_result() -> Weight {
		Weight::from_parts(300_000_000, 32_000)
			.saturating_add(T::DbWeight::get().reads(15))
			.saturating_add(T::DbWeight::get().writes(15))
	}
	fn claim_timeout() -> Weight {
		Weight::from_parts(300_000_000, 32_000)
			.saturating_add(T::DbWeight::get().reads(15))
			.saturating_add(T::DbWeight::get().writes(15))
	}
	fn sweep_block() -> Weight {
		Weight::from_parts(20_000_000, 12_000)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	fn sweep_deadline() -> Weight {
		Weight::from_parts(300_000_000, 32_000)
			.saturating_add(T::DbWeight::get().reads(15))
			.saturating_add(T::DbWeight::get().writes(15))
	}
}

// For tests, and for runtimes without their own weights.
impl WeightInfo for () {
	fn register_job_creator() -> Weight {
		Weight::from_parts(60_000_000, 3_500)
			.saturating_add(ParityDbWeight::get().reads(1 + M))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn register_resource_provider() -> Weight {
		Weight::from_parts(95_000_000, 7_000)
			.saturating_add(ParityDbWeight::get().reads(2 + 2 * M))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn register_mediator() -> Weight {
		Weight::from_parts(110_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(4 + M))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn register_directory() -> Weight {
		Weight::from_parts(75_000_000, 4_000)
			.saturating_add(ParityDbWeight::get().reads(4))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn update_resource_provider() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn update_mediator() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn update_directory() -> Weight {
		Weight::from_parts(35_000_000, 3_500)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn trust_mediator() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(2))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn distrust_mediator() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn trust_directory() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(2))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn distrust_directory() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn deregister() -> Weight {
		Weight::from_parts(70_000_000, 4_000)
			.saturating_add(ParityDbWeight::get().reads(4))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn set_parameters() -> Weight {
		Weight::from_parts(15_000_000, 0)
			.saturating_add(ParityDbWeight::get().reads(0))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn directory_heartbeat() -> Weight {
		Weight::from_parts(30_000_000, 3_500)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn post_resource_offer() -> Weight {
		Weight::from_parts(110_000_000, 12_000)
			.saturating_add(ParityDbWeight::get().reads(7))
			.saturating_add(ParityDbWeight::get().writes(5))
	}
	fn post_job_offer() -> Weight {
		Weight::from_parts(120_000_000, 14_000)
			.saturating_add(ParityDbWeight::get().reads(8))
			.saturating_add(ParityDbWeight::get().writes(5))
	}
	fn cancel_job_offer() -> Weight {
		Weight::from_parts(70_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn cancel_resource_offer() -> Weight {
		Weight::from_parts(70_000_000, 6_000)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(3))
	}
	fn post_match() -> Weight {
		Weight::from_parts(300_000_000, 40_000)
			.saturating_add(ParityDbWeight::get().reads(19))
			.saturating_add(ParityDbWeight::get().writes(14))
	}
	fn post_result() -> Weight {
		Weight::from_parts(50_000_000, 12_000)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(2))
	}
	fn accept_result() -> Weight {
		Weight::from_parts(280_000_000, 30_000)
			.saturating_add(ParityDbWeight::get().reads(14))
			.saturating_add(ParityDbWeight::get().writes(14))
	}
	fn reject_result() -> Weight {
		Weight::from_parts(50_000_000, 12_000)
			.saturating_add(ParityDbWeight::get().reads(3))
			.saturating_add(ParityDbWeight::get().writes(2))
	}
	fn post_mediation_result() -> Weight {
		Weight::from_parts(300_000_000, 32_000)
			.saturating_add(ParityDbWeight::get().reads(15))
			.saturating_add(ParityDbWeight::get().writes(15))
	}
	fn claim_timeout() -> Weight {
		Weight::from_parts(300_000_000, 32_000)
			.saturating_add(ParityDbWeight::get().reads(15))
			.saturating_add(ParityDbWeight::get().writes(15))
	}
	fn sweep_block() -> Weight {
		Weight::from_parts(20_000_000, 12_000)
			.saturating_add(ParityDbWeight::get().reads(1))
			.saturating_add(ParityDbWeight::get().writes(1))
	}
	fn sweep_deadline() -> Weight {
		Weight::from_parts(300_000_000, 32_000)
			.saturating_add(ParityDbWeight::get().reads(15))
			.saturating_add(ParityDbWeight::get().writes(15))
	}
}
