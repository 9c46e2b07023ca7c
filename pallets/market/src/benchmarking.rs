//! Benchmarks of the market pallet, each at its worst case: full trust and base layer lists,
//! mediators and directories that charge fees, matches that count for reputation (so every
//! settlement makes all its transfers, the reputation fee included), bonds with reservations.

use super::*;
use crate::Pallet as Market;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, Get},
	BoundedVec,
};
use frame_system::pallet_prelude::BlockNumberFor;
use frame_system::RawOrigin;
use sp_runtime::{
	traits::{Bounded, Hash},
	Perbill,
};

/// What each benchmark account gets: small enough that dozens of them fit in the issuance.
fn endowment<T: Config>() -> BalanceOf<T> {
	BalanceOf::<T>::max_value() / (1u32 << 20).into()
}

/// An offer's deposit: far above any d_min of the benchmarks.
fn deposit<T: Config>() -> BalanceOf<T> {
	endowment::<T>() / 8u32.into()
}

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	T::Currency::set_balance(&who, endowment::<T>());
	who
}

fn min_bond<T: Config>() -> BalanceOf<T> {
	Market::<T>::parameters().expect("genesis sets the parameters").min_bond
}

/// A bond far above what the benchmarks' matches reserve.
fn large_bond<T: Config>() -> BalanceOf<T> {
	deposit::<T>()
}

/// Every benchmark match counts for reputation.
fn every_match_counts<T: Config>() {
	Parameters::<T>::mutate(|p| {
		let p = p.as_mut().expect("genesis sets the parameters");
		p.min_reputation_price = 0u32.into();
	});
}

/// Fees every offer accepts.
fn max_fees<T: Config>() -> MaxFees<BalanceOf<T>> {
	MaxFees { mediator: 1_000u32.into(), directory: 1_000u32.into() }
}

fn full_layers<T: Config>() -> BaseLayersOf<T> {
	let layers = (0..T::MaxBaseLayers::get()).map(|i| [i as u8; 32]).collect::<Vec<_>>();
	BoundedVec::try_from(layers).expect("exactly MaxBaseLayers")
}

/// Terms any claim meets: every hash solves the puzzle, so the benchmark pays one hash.
fn open_grant_terms<T: Config>() -> GrantTermsOf<T> {
	GrantTerms {
		amount: endowment::<T>() / 4u32.into(),
		expiry: 100u32.into(),
		proof_age: 10u32.into(),
		period: 50u32.into(),
		target: 10,
		max_per_block: 4,
		min_difficulty: 1,
		welfare_tax: Perbill::from_percent(1),
	}
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
					mediator_terms::<T>(7u32.into(), BoundedVec::new()),
					BoundedVec::new(),
					large_bond::<T>(),
				),
				_ => Market::<T>::do_register_directory(
					who.clone(),
					endpoint::<T>(),
					3u32.into(),
					BoundedVec::new(),
					large_bond::<T>(),
				),
			}
			.expect("fresh account registers");
			who
		})
		.collect::<Vec<_>>();
	BoundedVec::try_from(accounts).expect("count ≤ MaxTrusted")
}

/// A mediator's terms that cover every job of the benchmarks.
fn mediator_terms<T: Config>(fee: BalanceOf<T>, base_layers: BaseLayersOf<T>) -> crate::roles::MediatorTerms<T> {
	let capacity = Resources { cpu: u64::MAX, memory: u64::MAX, storage: u64::MAX, bandwidth: u64::MAX };
	crate::roles::MediatorTerms { architecture: Architecture::Amd64, capacity, slots: 1, fee, base_layers }
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

/// Everything a feasible match needs, each lookup at its worst: the mediator, the directory
/// and the base layer are the last entries of full lists. Returns (job offer, resource offer,
/// mediator).
fn ready_to_match<T: Config>() -> (OfferId, OfferId, T::AccountId) {
	every_match_counts::<T>();
	let full = T::MaxTrusted::get();
	let mediators = registered::<T>(Role::Mediator, full);
	let directories = registered::<T>(Role::Directory, full);
	let mediator = mediators.last().expect("full list").clone();
	let directory = directories.last().expect("full list").clone();
	let layers = full_layers::<T>();
	let base_layer = *layers.last().expect("full list");
	Mediators::<T>::mutate(&mediator, |m| {
		let m = m.as_mut().expect("registered");
		m.trusted_directories = directories.clone();
		m.base_layers = layers.clone();
	});
	Directories::<T>::mutate(&directory, |d| {
		d.as_mut().expect("registered").trusted_mediators = mediators.clone();
	});

	let creator = funded::<T>("creator", 0);
	Market::<T>::do_register_job_creator(creator.clone(), mediators.clone())
		.expect("fresh account registers");
	let provider = funded::<T>("provider", 0);
	Market::<T>::do_register_resource_provider(
		provider.clone(),
		Architecture::Amd64,
		1_000,
		mediators,
		directories,
		layers,
	)
	.expect("fresh account registers");

	let now = frame_system::Pallet::<T>::block_number();
	let deadline = now + 100u32.into();
	let limits = Resources { cpu: 1_000, memory: 64, storage: 16, bandwidth: 1_000 };
	let deposit = deposit::<T>();
	let job = Market::<T>::do_post_job_offer(JobOfferOf::<T> {
		creator,
		limits,
		architecture: Architecture::Amd64,
		image: image::<T>(),
		base_layer,
		directory,
		cpu_bid: 2u32.into(),
		bandwidth_bid: 2u32.into(),
		completion_deadline: deadline,
		max_fees: max_fees::<T>(),
		// A minimum the provider meets, so the check reads its reputation.
		min_reputation: Some(MinReputation { score: Perbill::zero(), counted: 0 }),
		run_length: 0u32.into(),
		deposit,
		state: OfferState::Open,
	});
	job.expect("the job offer is valid");
	let resource = Market::<T>::do_post_resource_offer(ResourceOfferOf::<T> {
		provider,
		capacity: limits,
		architecture: Architecture::Amd64,
		cpu_price: 1u32.into(),
		bandwidth_price: 1u32.into(),
		valid_from: now,
		valid_to: deadline,
		max_fees: max_fees::<T>(),
		deposit,
		state: OfferState::Open,
	});
	resource.expect("the resource offer is valid");
	let next = NextOfferId::<T>::get();
	(next - 2, next - 1, mediator)
}

fn image<T: Config>() -> ImageOf<T> {
	let repository = alloc::vec![b'r'; T::MaxRepositoryLength::get() as usize];
	ImageOf::<T> { repository: BoundedVec::truncate_from(repository), digest: [7; 32] }
}

/// A match made on [`ready_to_match`]'s offers.
fn matched<T: Config>() -> MatchId {
	let (job, resource, mediator) = ready_to_match::<T>();
	let solver = funded::<T>("solver", 0);
	Market::<T>::do_post_match(solver, job, resource, mediator).expect("the match is feasible");
	NextMatchId::<T>::get() - 1
}

fn usage() -> Resources {
	Resources { cpu: 900, memory: 60, storage: 10, bandwidth: 900 }
}

/// A match whose result the provider has posted.
fn with_result<T: Config>() -> MatchId {
	let match_id = matched::<T>();
	let provider = Matches::<T>::get(match_id).expect("open").provider;
	Market::<T>::do_post_result(
		provider,
		match_id,
		Receipt { status: ResultStatus::Completed, usage: usage(), result_digest: Some([9; 32]) },
	)
	.expect("the provider posts in time");
	match_id
}

/// A match in mediation.
fn in_mediation<T: Config>() -> MatchId {
	let match_id = with_result::<T>();
	let creator = Matches::<T>::get(match_id).expect("open").creator;
	Market::<T>::do_reject_result(creator, match_id, RejectReason::WrongResults)
		.expect("the job creator disputes in time");
	match_id
}

fn reaction_deadline<T: Config>(match_id: MatchId) -> BlockNumberFor<T> {
	match Matches::<T>::get(match_id).expect("open").state {
		MatchState::ResultPosted { reaction_deadline, .. } => reaction_deadline,
		_ => panic!("the result was posted"),
	}
}

fn advance_to<T: Config>(block: BlockNumberFor<T>) {
	frame_system::Pallet::<T>::set_block_number(block);
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

		let capacity = Resources { cpu: 1_000, memory: 64, storage: 16, bandwidth: 1_000 };

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who.clone()),
			Architecture::Amd64,
			capacity,
			2,
			1u32.into(),
			directories,
			full_layers::<T>(),
			min_bond::<T>(),
		);

		assert!(Mediators::<T>::contains_key(&who));
	}

	#[benchmark]
	fn register_directory() {
		let mediators = registered::<T>(Role::Mediator, T::MaxTrusted::get());
		let who = funded::<T>("directory", 0);

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who.clone()),
			endpoint::<T>(),
			1u32.into(),
			mediators,
			min_bond::<T>(),
		);

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
			mediator_terms::<T>(1u32.into(), full_layers::<T>()),
			directories,
			min_bond::<T>(),
		)
		.expect("fresh account registers");
		let capacity = Resources { cpu: 1_000, memory: 64, storage: 16, bandwidth: 1_000 };

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who.clone()),
			Architecture::Arm64,
			capacity,
			2,
			2u32.into(),
			full_layers::<T>(),
		);

		assert_eq!(Mediators::<T>::get(&who).map(|m| m.architecture), Some(Architecture::Arm64));
	}

	#[benchmark]
	fn update_directory() {
		let who = funded::<T>("directory", 0);
		Market::<T>::do_register_directory(
			who.clone(),
			endpoint::<T>(),
			1u32.into(),
			BoundedVec::new(),
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
			mediator_terms::<T>(1u32.into(), full_layers::<T>()),
			directories,
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

	#[benchmark]
	fn directory_heartbeat() {
		let who = funded::<T>("directory", 0);
		Market::<T>::do_register_directory(
			who.clone(),
			endpoint::<T>(),
			1u32.into(),
			BoundedVec::new(),
			min_bond::<T>(),
		)
		.expect("fresh account registers");
		advance_to::<T>(10u32.into());

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));

		assert_eq!(Directories::<T>::get(&who).map(|d| d.last_heartbeat), Some(10u32.into()));
	}

	#[benchmark]
	fn post_resource_offer() {
		let (who, _, _) = resource_provider::<T>();
		let deposit = min_bond::<T>();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who),
			Resources { cpu: 1_000, memory: 64, storage: 16, bandwidth: 1_000 },
			Architecture::Amd64,
			1u32.into(),
			1u32.into(),
			0u32.into(),
			100u32.into(),
			max_fees::<T>(),
			deposit,
		);

		assert_eq!(ResourceOffers::<T>::iter().count(), 1);
	}

	#[benchmark]
	fn post_job_offer() {
		let directory = registered::<T>(Role::Directory, 1)[0].clone();
		let who = funded::<T>("creator", 0);
		Market::<T>::do_register_job_creator(who.clone(), BoundedVec::new())
			.expect("fresh account registers");
		let deposit = deposit::<T>();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who),
			Resources { cpu: 1_000, memory: 64, storage: 16, bandwidth: 1_000 },
			Architecture::Amd64,
			image::<T>(),
			[1; 32],
			directory,
			1u32.into(),
			1u32.into(),
			100u32.into(),
			max_fees::<T>(),
			Some(MinReputation { score: Perbill::zero(), counted: 0 }),
			deposit,
		);

		assert_eq!(JobOffers::<T>::iter().count(), 1);
	}

	#[benchmark]
	fn cancel_job_offer() {
		let (job, _, _) = ready_to_match::<T>();
		let creator = JobOffers::<T>::get(job).expect("posted").creator;

		#[extrinsic_call]
		_(RawOrigin::Signed(creator), job);

		assert!(!JobOffers::<T>::contains_key(job));
	}

	#[benchmark]
	fn cancel_resource_offer() {
		let (_, resource, _) = ready_to_match::<T>();
		let provider = ResourceOffers::<T>::get(resource).expect("posted").provider;

		#[extrinsic_call]
		_(RawOrigin::Signed(provider), resource);

		assert!(!ResourceOffers::<T>::contains_key(resource));
	}

	#[benchmark]
	fn post_match() {
		let (job, resource, mediator) = ready_to_match::<T>();
		let solver = funded::<T>("solver", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(solver), job, resource, mediator);

		assert!(Matches::<T>::contains_key(0));
	}

	/// `post_match` with `o` other offers open: its cost must not depend on `o`.
	#[benchmark]
	fn post_match_among_open_offers(o: Linear<10, 2_000>) {
		let (job, resource, mediator) = ready_to_match::<T>();
		let template = JobOffers::<T>::get(job).expect("posted");
		let first = NextOfferId::<T>::get();
		for id in first..first + o as u64 {
			JobOffers::<T>::insert(id, template.clone());
		}
		NextOfferId::<T>::put(first + o as u64);
		let solver = funded::<T>("solver", 0);

		#[extrinsic_call]
		post_match(RawOrigin::Signed(solver), job, resource, mediator);

		assert!(Matches::<T>::contains_key(0));
	}

	#[benchmark]
	fn post_result() {
		let match_id = matched::<T>();
		let provider = Matches::<T>::get(match_id).expect("open").provider;

		#[extrinsic_call]
		_(RawOrigin::Signed(provider), match_id, ResultStatus::Completed, usage(), Some([9; 32]));

		assert!(matches!(
			Matches::<T>::get(match_id).map(|m| m.state),
			Some(MatchState::ResultPosted { .. })
		));
	}

	#[benchmark]
	fn accept_result() {
		let match_id = with_result::<T>();
		let creator = Matches::<T>::get(match_id).expect("open").creator;

		#[extrinsic_call]
		_(RawOrigin::Signed(creator), match_id);

		assert!(!Matches::<T>::contains_key(match_id));
	}

	#[benchmark]
	fn reject_result() {
		let match_id = with_result::<T>();
		let creator = Matches::<T>::get(match_id).expect("open").creator;

		#[extrinsic_call]
		_(RawOrigin::Signed(creator), match_id, RejectReason::WrongResults);

		assert!(matches!(
			Matches::<T>::get(match_id).map(|m| m.state),
			Some(MatchState::InMediation { .. })
		));
	}

	#[benchmark]
	fn post_mediation_result() {
		let match_id = in_mediation::<T>();
		let mediator = Matches::<T>::get(match_id).expect("open").mediator;

		// The faulty job creator's case makes the most payments, the pool's included.
		#[extrinsic_call]
		_(RawOrigin::Signed(mediator), match_id, Party::JobCreator, Some([8; 32]));

		assert!(!Matches::<T>::contains_key(match_id));
	}

	/// The costliest timeout: a result accepted at its reaction deadline pays π_c, four fees
	/// and the provider's reputation fee.
	#[benchmark]
	fn claim_timeout() {
		let match_id = with_result::<T>();
		advance_to::<T>(reaction_deadline::<T>(match_id));
		let caller = funded::<T>("caller", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), match_id);

		assert!(!Matches::<T>::contains_key(match_id));
	}

	/// The hook reading one block of the index with nothing due.
	#[benchmark]
	fn sweep_block() {
		let now: BlockNumberFor<T> = 10u32.into();
		SweepCursor::<T>::put(now);
		advance_to::<T>(now);

		#[block]
		{
			Market::<T>::sweep(now);
		}

		assert_eq!(SweepCursor::<T>::get(), now + 1u32.into());
	}

	/// The hook settling one due match at its costliest: a result accepted at its reaction
	/// deadline (as `claim_timeout`).
	#[benchmark]
	fn sweep_deadline() {
		let match_id = with_result::<T>();
		let due = reaction_deadline::<T>(match_id);
		SweepCursor::<T>::put(due);
		advance_to::<T>(due);

		#[block]
		{
			Market::<T>::sweep(due);
		}

		assert!(!Matches::<T>::contains_key(match_id));
	}

	#[benchmark]
	fn top_up_bond() {
		let who = registered::<T>(Role::Mediator, 1)[0].clone();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Role::Mediator, min_bond::<T>());

		assert_eq!(
			Mediators::<T>::get(&who).map(|m| m.bond),
			Some(large_bond::<T>() + min_bond::<T>())
		);
	}

	#[benchmark]
	fn claim_join_grant() {
		Market::<T>::put_grant_terms(open_grant_terms::<T>());
		T::Currency::set_balance(&Market::<T>::account_id(), endowment::<T>());
		// The worst path: a claim earlier in the same block and a period that has just ended,
		// so the rate is read, adjusted and written.
		frame_system::Pallet::<T>::set_block_number(60u32.into());
		JoinGrantRate::<T>::mutate(|rate| {
			let rate = rate.as_mut().expect("terms set a rate");
			rate.difficulty = 1;
			rate.period_start = 9u32.into();
			rate.claims = 3;
			rate.block = 60u32.into();
			rate.in_block = 1;
		});
		let who: T::AccountId = account("newcomer", 0, 0);
		let proof = GrantProof { block: 59u32.into(), nonce: 0 };
		// The block the proof names, as its import recorded it.
		let hash = <T as frame_system::Config>::Hashing::hash(b"block 59");
		frame_system::BlockHash::<T>::insert(proof.block, hash);

		#[extrinsic_call]
		_(RawOrigin::None, who.clone(), proof);

		assert!(Grants::<T>::contains_key(&who));
	}

	#[benchmark]
	fn set_grant_terms() {
		let terms = open_grant_terms::<T>();

		#[extrinsic_call]
		_(RawOrigin::Root, terms.clone());

		assert_eq!(JoinGrantTerms::<T>::get(), Some(terms));
	}

	impl_benchmark_test_suite!(
		Market,
		crate::mock::ExtBuilder::default().build(),
		crate::mock::Test
	);
}
