//! Benchmarks of the market pallet, each at its worst case (full trust and base layer lists).

use super::*;
use crate::Pallet as Market;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, Get},
	BoundedVec,
};
use frame_system::RawOrigin;
use sp_runtime::traits::Bounded;

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 4u32.into());
	who
}

fn min_bond<T: Config>() -> BalanceOf<T> {
	Market::<T>::parameters().expect("genesis sets the parameters").min_bond
}

fn full_layers<T: Config>() -> BaseLayersOf<T> {
	let layers = (0..T::MaxBaseLayers::get()).map(|i| [i as u8; 32]).collect::<Vec<_>>();
	BoundedVec::try_from(layers).expect("exactly MaxBaseLayers")
}

fn endpoint<T: Config>() -> EndpointOf<T> {
	let mut url = b"https://".to_vec();
	url.resize(T::MaxEndpointLength::get() as usize, b'a');
	BoundedVec::try_from(url).expect("exactly MaxEndpointLength")
}

/// `count` registered mediators (or directories) in a list, as trust lists need.
fn registered<T: Config>(kind: Role, count: u32) -> TrustListOf<T> {
	let accounts = (0..count)
		.map(|i| {
			let who = funded::<T>("trusted", i + if kind == Role::Mediator { 0 } else { 1_000 });
			match kind {
				Role::Mediator => Market::<T>::do_register_mediator(
					who.clone(),
					Architecture::Amd64,
					0u32.into(),
					BoundedVec::new(),
					BoundedVec::new(),
					min_bond::<T>(),
				),
				_ => Market::<T>::do_register_directory(
					who.clone(),
					endpoint::<T>(),
					0u32.into(),
					min_bond::<T>(),
				),
			}
			.expect("fresh account registers");
			who
		})
		.collect::<Vec<_>>();
	BoundedVec::try_from(accounts).expect("count ≤ MaxTrusted")
}

/// A resource provider whose trust lists are one short of full.
fn resource_provider<T: Config>() -> (T::AccountId, T::AccountId, T::AccountId) {
	let full = T::MaxTrusted::get();
	let mediators = registered::<T>(Role::Mediator, full);
	let directories = registered::<T>(Role::Directory, full);
	let who = funded::<T>("provider", 0);
	let (spare_mediator, spare_directory) = (mediators[0].clone(), directories[0].clone());
	let keep = |list: &TrustListOf<T>| BoundedVec::truncate_from(list[1..].to_vec());
	Market::<T>::do_register_resource_provider(
		who.clone(),
		Architecture::Amd64,
		1_000,
		keep(&mediators),
		keep(&directories),
		full_layers::<T>(),
	)
	.expect("fresh account registers");
	(who, spare_mediator, spare_directory)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_job_creator() {
		let mediators = registered::<T>(Role::Mediator, T::MaxTrusted::get());
		let who = funded::<T>("creator", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), mediators);

		assert!(JobCreators::<T>::contains_key(&who));
	}

	#[benchmark]
	fn register_resource_provider() {
		let mediators = registered::<T>(Role::Mediator, T::MaxTrusted::get());
		let directories = registered::<T>(Role::Directory, T::MaxTrusted::get());
		let who = funded::<T>("provider", 0);

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who.clone()),
			Architecture::Amd64,
			1_000,
			mediators,
			directories,
			full_layers::<T>(),
		);

		assert!(ResourceProviders::<T>::contains_key(&who));
	}

	#[benchmark]
	fn register_mediator() {
		let directories = registered::<T>(Role::Directory, T::MaxTrusted::get());
		let who = funded::<T>("mediator", 0);

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who.clone()),
			Architecture::Amd64,
			1u32.into(),
			directories,
			full_layers::<T>(),
			min_bond::<T>(),
		);

		assert!(Mediators::<T>::contains_key(&who));
	}

	#[benchmark]
	fn register_directory() {
		let who = funded::<T>("directory", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), endpoint::<T>(), 1u32.into(), min_bond::<T>());

		assert!(Directories::<T>::contains_key(&who));
	}

	#[benchmark]
	fn update_resource_provider() {
		let (who, _, _) = resource_provider::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Architecture::Arm64, 2_000, full_layers::<T>());

		assert_eq!(ResourceProviders::<T>::get(&who).map(|rp| rp.speed), Some(2_000));
	}

	#[benchmark]
	fn update_mediator() {
		let directories = registered::<T>(Role::Directory, T::MaxTrusted::get());
		let who = funded::<T>("mediator", 0);
		Market::<T>::do_register_mediator(
			who.clone(),
			Architecture::Amd64,
			1u32.into(),
			directories,
			full_layers::<T>(),
			min_bond::<T>(),
		)
		.expect("fresh account registers");

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Architecture::Arm64, 2u32.into(), full_layers::<T>());

		assert_eq!(Mediators::<T>::get(&who).map(|m| m.architecture), Some(Architecture::Arm64));
	}

	#[benchmark]
	fn update_directory() {
		let who = funded::<T>("directory", 0);
		Market::<T>::do_register_directory(
			who.clone(),
			endpoint::<T>(),
			1u32.into(),
			min_bond::<T>(),
		)
		.expect("fresh account registers");

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), endpoint::<T>(), 2u32.into());

		assert_eq!(Directories::<T>::get(&who).map(|d| d.fee), Some(2u32.into()));
	}

	#[benchmark]
	fn trust_mediator() {
		let (who, mediator, _) = resource_provider::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Role::ResourceProvider, mediator.clone());

		let rp = ResourceProviders::<T>::get(&who).expect("registered");
		assert!(rp.trusted_mediators.contains(&mediator));
	}

	#[benchmark]
	fn distrust_mediator() {
		let (who, _, _) = resource_provider::<T>();
		// The last entry of a full list is the slowest to find.
		let rp = ResourceProviders::<T>::get(&who).expect("registered");
		let mediator = rp.trusted_mediators.last().expect("list is not empty").clone();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Role::ResourceProvider, mediator.clone());

		let rp = ResourceProviders::<T>::get(&who).expect("registered");
		assert!(!rp.trusted_mediators.contains(&mediator));
	}

	#[benchmark]
	fn trust_directory() {
		let (who, _, directory) = resource_provider::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Role::ResourceProvider, directory.clone());

		let rp = ResourceProviders::<T>::get(&who).expect("registered");
		assert!(rp.trusted_directories.contains(&directory));
	}

	#[benchmark]
	fn distrust_directory() {
		let (who, _, _) = resource_provider::<T>();
		let rp = ResourceProviders::<T>::get(&who).expect("registered");
		let directory = rp.trusted_directories.last().expect("list is not empty").clone();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Role::ResourceProvider, directory.clone());

		let rp = ResourceProviders::<T>::get(&who).expect("registered");
		assert!(!rp.trusted_directories.contains(&directory));
	}

	#[benchmark]
	fn deregister() {
		let directories = registered::<T>(Role::Directory, T::MaxTrusted::get());
		let who = funded::<T>("mediator", 0);
		Market::<T>::do_register_mediator(
			who.clone(),
			Architecture::Amd64,
			1u32.into(),
			directories,
			full_layers::<T>(),
			min_bond::<T>(),
		)
		.expect("fresh account registers");

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Role::Mediator);

		assert!(!Mediators::<T>::contains_key(&who));
	}

	#[benchmark]
	fn set_parameters() {
		let mut parameters = Market::<T>::parameters().expect("genesis sets the parameters");
		parameters.penalty_rate = 20;

		#[extrinsic_call]
		_(RawOrigin::Root, parameters.clone());

		assert_eq!(Parameters::<T>::get(), Some(parameters));
	}

	impl_benchmark_test_suite!(
		Market,
		crate::mock::ExtBuilder::default().build(),
		crate::mock::Test
	);
}
