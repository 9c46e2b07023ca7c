//! Weights of the market pallet.
//!
//! Each call is weighed at its worst case: trust lists at `MaxTrusted` (m = 16 in the runtime)
//! and base layer lists at `MaxBaseLayers`. The figures are conservative estimates from the storage
//! each call touches; `docs/benchmarks.md` describes how to regenerate this file on reference
//! hardware with `modicum-node benchmark pallet` and the benchmarks in `benchmarking.rs`.

#![allow(unused_parens, unused_imports, missing_docs)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
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
}

/// Weights for the market pallet on the Modicum runtime.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	/// Storage: `Market::JobCreators` (r:1 w:1), `Market::Mediators` (r:m w:0)
	fn register_job_creator() -> Weight {
		Weight::from_parts(60_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1 + M))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1), `Market::Mediators` (r:m), `Market::Directories` (r:m)
	fn register_resource_provider() -> Weight {
		Weight::from_parts(95_000_000, 7_000)
			.saturating_add(T::DbWeight::get().reads(2 + 2 * M))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1 w:1), `Market::Parameters` (r:1), `Market::Directories` (r:m), `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn register_mediator() -> Weight {
		Weight::from_parts(110_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(4 + M))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	/// Storage: `Market::Directories` (r:1 w:1), `Market::Parameters` (r:1), `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn register_directory() -> Weight {
		Weight::from_parts(75_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(4))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1)
	fn update_resource_provider() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1 w:1)
	fn update_mediator() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::Directories` (r:1 w:1)
	fn update_directory() -> Weight {
		Weight::from_parts(35_000_000, 3_500)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1), `Market::ResourceProviders` (r:1 w:1)
	fn trust_mediator() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(2))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1)
	fn distrust_mediator() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::Directories` (r:1), `Market::ResourceProviders` (r:1 w:1)
	fn trust_directory() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(2))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1)
	fn distrust_directory() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(T::DbWeight::get().reads(1))
			.saturating_add(T::DbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1 w:1), `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn deregister() -> Weight {
		Weight::from_parts(70_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(3))
			.saturating_add(T::DbWeight::get().writes(3))
	}
	/// Storage: `Market::Parameters` (r:0 w:1)
	fn set_parameters() -> Weight {
		Weight::from_parts(15_000_000, 0)
			.saturating_add(T::DbWeight::get().reads(0))
			.saturating_add(T::DbWeight::get().writes(1))
	}
}

// For tests, and for runtimes without their own weights.
impl WeightInfo for () {
	/// Storage: `Market::JobCreators` (r:1 w:1), `Market::Mediators` (r:m w:0)
	fn register_job_creator() -> Weight {
		Weight::from_parts(60_000_000, 3_500)
			.saturating_add(RocksDbWeight::get().reads(1 + M))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1), `Market::Mediators` (r:m), `Market::Directories` (r:m)
	fn register_resource_provider() -> Weight {
		Weight::from_parts(95_000_000, 7_000)
			.saturating_add(RocksDbWeight::get().reads(2 + 2 * M))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1 w:1), `Market::Parameters` (r:1), `Market::Directories` (r:m), `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn register_mediator() -> Weight {
		Weight::from_parts(110_000_000, 6_000)
			.saturating_add(RocksDbWeight::get().reads(4 + M))
			.saturating_add(RocksDbWeight::get().writes(3))
	}
	/// Storage: `Market::Directories` (r:1 w:1), `Market::Parameters` (r:1), `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn register_directory() -> Weight {
		Weight::from_parts(75_000_000, 4_000)
			.saturating_add(RocksDbWeight::get().reads(4))
			.saturating_add(RocksDbWeight::get().writes(3))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1)
	fn update_resource_provider() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(RocksDbWeight::get().reads(1))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1 w:1)
	fn update_mediator() -> Weight {
		Weight::from_parts(40_000_000, 3_500)
			.saturating_add(RocksDbWeight::get().reads(1))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::Directories` (r:1 w:1)
	fn update_directory() -> Weight {
		Weight::from_parts(35_000_000, 3_500)
			.saturating_add(RocksDbWeight::get().reads(1))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1), `Market::ResourceProviders` (r:1 w:1)
	fn trust_mediator() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(RocksDbWeight::get().reads(2))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1)
	fn distrust_mediator() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(RocksDbWeight::get().reads(1))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::Directories` (r:1), `Market::ResourceProviders` (r:1 w:1)
	fn trust_directory() -> Weight {
		Weight::from_parts(45_000_000, 6_000)
			.saturating_add(RocksDbWeight::get().reads(2))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::ResourceProviders` (r:1 w:1)
	fn distrust_directory() -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(RocksDbWeight::get().reads(1))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
	/// Storage: `Market::Mediators` (r:1 w:1), `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn deregister() -> Weight {
		Weight::from_parts(70_000_000, 4_000)
			.saturating_add(RocksDbWeight::get().reads(3))
			.saturating_add(RocksDbWeight::get().writes(3))
	}
	/// Storage: `Market::Parameters` (r:0 w:1)
	fn set_parameters() -> Weight {
		Weight::from_parts(15_000_000, 0)
			.saturating_add(RocksDbWeight::get().reads(0))
			.saturating_add(RocksDbWeight::get().writes(1))
	}
}
