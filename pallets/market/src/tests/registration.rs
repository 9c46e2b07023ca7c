//! The registration story of the market: who may join in which role, on what terms, and how
//! trust lists change.

use crate::{mock::*, *};
use frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, InspectHold, Mutate},
	BoundedVec,
};
use sp_runtime::{DispatchError, Perbill};

fn trusted(accounts: &[u64]) -> TrustListOf<Test> {
	BoundedVec::try_from(accounts.to_vec()).expect("test lists fit")
}

fn layers(ids: &[u8]) -> BaseLayersOf<Test> {
	BoundedVec::try_from(ids.iter().map(|i| [*i; 32]).collect::<Vec<_>>()).expect("test lists fit")
}

fn endpoint(url: &str) -> EndpointOf<Test> {
	BoundedVec::try_from(url.as_bytes().to_vec()).expect("test endpoints fit")
}

fn bond_of(who: u64) -> Balance {
	Balances::balance_on_hold(&HoldReason::Bond.into(), &who)
}

/// The largest run of the tests' mediators.
const CAPACITY: Resources = Resources { cpu: 1_000, memory: 512, storage: 100, bandwidth: 1_000 };

fn register_mediator(who: u64) {
	assert_ok!(Market::register_mediator(
		RuntimeOrigin::signed(who),
		Architecture::Amd64,
		CAPACITY,
		1,
		10,
		trusted(&[]),
		layers(&[1]),
		MIN_BOND,
	));
}

fn register_directory(who: u64) {
	assert_ok!(Market::register_directory(
		RuntimeOrigin::signed(who),
		endpoint("http://127.0.0.1:5000"),
		5,
		trusted(&[]),
		MIN_BOND,
	));
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event was deposited").event
}

#[test]
fn job_creator_registers_trusting_a_registered_mediator() {
	ExtBuilder::default().build_and_execute(|| {
		register_mediator(CHARLIE);
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[CHARLIE])));

		assert_eq!(JobCreators::<Test>::get(ALICE).unwrap().trusted_mediators, trusted(&[CHARLIE]));
		assert_eq!(last_event(), Event::JobCreatorRegistered { who: ALICE }.into());
	});
}

#[test]
fn registering_a_role_twice_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[])));
		assert_noop!(
			Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[])),
			Error::<Test>::AlreadyRegistered
		);
		register_directory(DAVE);
		assert_noop!(
			Market::register_directory(
				RuntimeOrigin::signed(DAVE),
				endpoint("http://d"),
				1,
				trusted(&[]),
				MIN_BOND
			),
			Error::<Test>::AlreadyRegistered
		);
		register_mediator(CHARLIE);
		assert_noop!(
			Market::register_mediator(
				RuntimeOrigin::signed(CHARLIE),
				Architecture::Amd64,
				CAPACITY,
				1,
				1,
				trusted(&[]),
				layers(&[]),
				MIN_BOND
			),
			Error::<Test>::AlreadyRegistered
		);
	});
}

#[test]
fn resource_provider_registers_its_machine_and_trust_lists() {
	ExtBuilder::default().build_and_execute(|| {
		register_mediator(CHARLIE);
		register_directory(DAVE);
		assert_ok!(Market::register_resource_provider(
			RuntimeOrigin::signed(BOB),
			Architecture::Arm64,
			500,
			trusted(&[CHARLIE]),
			trusted(&[DAVE]),
			layers(&[1, 2]),
		));

		let info = ResourceProviders::<Test>::get(BOB).unwrap();
		assert_eq!(info.architecture, Architecture::Arm64);
		assert_eq!(info.speed, 500);
		assert_eq!(info.trusted_mediators, trusted(&[CHARLIE]));
		assert_eq!(info.trusted_directories, trusted(&[DAVE]));
		assert_eq!(info.base_layers, layers(&[1, 2]));
		assert_eq!(
			last_event(),
			Event::ResourceProviderRegistered {
				who: BOB,
				architecture: Architecture::Arm64,
				speed: 500
			}
			.into()
		);
	});
}

#[test]
fn resource_provider_with_bad_terms_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		register_mediator(CHARLIE);
		register_directory(DAVE);
		let register = |speed, mediators: &[u64], directories: &[u64], base: &[u8]| {
			Market::register_resource_provider(
				RuntimeOrigin::signed(BOB),
				Architecture::Amd64,
				speed,
				trusted(mediators),
				trusted(directories),
				layers(base),
			)
		};
		assert_noop!(register(0, &[], &[], &[]), Error::<Test>::ZeroSpeed);
		assert_noop!(register(1, &[EVE], &[], &[]), Error::<Test>::UnknownMediator);
		assert_noop!(register(1, &[DAVE], &[], &[]), Error::<Test>::UnknownMediator);
		assert_noop!(register(1, &[], &[CHARLIE], &[]), Error::<Test>::UnknownDirectory);
		assert_noop!(register(1, &[CHARLIE, CHARLIE], &[], &[]), Error::<Test>::DuplicateTrusted);
		assert_noop!(register(1, &[BOB], &[], &[]), Error::<Test>::CannotTrustSelf);
		assert_noop!(register(1, &[], &[], &[7, 7]), Error::<Test>::DuplicateBaseLayer);
	});
}

#[test]
fn mediator_registration_holds_its_bond() {
	ExtBuilder::default().build_and_execute(|| {
		register_directory(DAVE);
		assert_ok!(Market::register_mediator(
			RuntimeOrigin::signed(CHARLIE),
			Architecture::Amd64,
			CAPACITY,
			4,
			10,
			trusted(&[DAVE]),
			layers(&[1]),
			MIN_BOND * 3,
		));

		assert_eq!(bond_of(CHARLIE), MIN_BOND * 3);
		assert_eq!(Balances::balance(&CHARLIE), ENDOWMENT - MIN_BOND * 3);
		let info = Mediators::<Test>::get(CHARLIE).unwrap();
		assert_eq!((info.bond, info.capacity, info.slots), (MIN_BOND * 3, CAPACITY, 4));
		assert_eq!(
			last_event(),
			Event::MediatorRegistered {
				who: CHARLIE,
				architecture: Architecture::Amd64,
				capacity: CAPACITY,
				slots: 4,
				fee: 10,
				bond: MIN_BOND * 3
			}
			.into()
		);
	});
}

#[test]
fn bond_below_minimum_or_beyond_means_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Market::register_mediator(
				RuntimeOrigin::signed(CHARLIE),
				Architecture::Amd64,
				CAPACITY,
				1,
				10,
				trusted(&[]),
				layers(&[]),
				MIN_BOND - 1
			),
			Error::<Test>::BondTooLow
		);
		assert_noop!(
			Market::register_mediator(
				RuntimeOrigin::signed(CHARLIE),
				Architecture::Amd64,
				CAPACITY,
				0,
				10,
				trusted(&[]),
				layers(&[]),
				MIN_BOND
			),
			Error::<Test>::ZeroSlots
		);
		assert_noop!(
			Market::register_directory(
				RuntimeOrigin::signed(PAUPER),
				endpoint("https://registry.example"),
				1,
				trusted(&[]),
				MIN_BOND
			),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			Market::register_directory(
				RuntimeOrigin::signed(DAVE),
				endpoint("https://registry.example"),
				1,
				trusted(&[]),
				ENDOWMENT
			),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn directory_registers_an_http_endpoint_and_counts_it_as_a_heartbeat() {
	ExtBuilder::default().build_and_execute(|| {
		System::set_block_number(7);
		assert_ok!(Market::register_directory(
			RuntimeOrigin::signed(DAVE),
			endpoint("https://registry.example:5000"),
			5,
			trusted(&[]),
			MIN_BOND,
		));
		let info = Directories::<Test>::get(DAVE).unwrap();
		assert_eq!(info.endpoint, endpoint("https://registry.example:5000"));
		assert_eq!((info.fee, info.bond, info.last_heartbeat), (5, MIN_BOND, 7));
		assert_eq!(bond_of(DAVE), MIN_BOND);

		for bad in ["ftp://registry", "https://", "http://a b", "registry.example", ""] {
			assert_noop!(
				Market::register_directory(
					RuntimeOrigin::signed(EVE),
					endpoint(bad),
					5,
					trusted(&[]),
					MIN_BOND
				),
				Error::<Test>::InvalidEndpoint
			);
		}
	});
}

#[test]
fn actors_update_their_terms() {
	ExtBuilder::default().build_and_execute(|| {
		register_mediator(CHARLIE);
		register_directory(DAVE);
		assert_ok!(Market::register_resource_provider(
			RuntimeOrigin::signed(BOB),
			Architecture::Amd64,
			100,
			trusted(&[CHARLIE]),
			trusted(&[]),
			layers(&[1]),
		));

		assert_ok!(Market::update_resource_provider(
			RuntimeOrigin::signed(BOB),
			Architecture::Riscv64,
			250,
			layers(&[2, 3])
		));
		let rp = ResourceProviders::<Test>::get(BOB).unwrap();
		assert_eq!((rp.architecture, rp.speed), (Architecture::Riscv64, 250));
		assert_eq!(rp.base_layers, layers(&[2, 3]));
		assert_eq!(rp.trusted_mediators, trusted(&[CHARLIE]), "trust lists are kept");

		let smaller = Resources { cpu: 500, ..CAPACITY };
		assert_ok!(Market::update_mediator(
			RuntimeOrigin::signed(CHARLIE),
			Architecture::Arm64,
			smaller,
			3,
			42,
			layers(&[9])
		));
		let m = Mediators::<Test>::get(CHARLIE).unwrap();
		assert_eq!((m.architecture, m.fee, m.bond), (Architecture::Arm64, 42, MIN_BOND));
		assert_eq!((m.capacity, m.slots), (smaller, 3));

		assert_ok!(Market::update_directory(
			RuntimeOrigin::signed(DAVE),
			endpoint("https://new.example"),
			8
		));
		let d = Directories::<Test>::get(DAVE).unwrap();
		assert_eq!((d.endpoint, d.fee), (endpoint("https://new.example"), 8));

		assert_noop!(
			Market::update_resource_provider(
				RuntimeOrigin::signed(BOB),
				Architecture::Amd64,
				0,
				layers(&[])
			),
			Error::<Test>::ZeroSpeed
		);
		assert_noop!(
			Market::update_mediator(
				RuntimeOrigin::signed(ALICE),
				Architecture::Amd64,
				CAPACITY,
				1,
				1,
				layers(&[])
			),
			Error::<Test>::NotRegistered
		);
		assert_noop!(
			Market::update_mediator(
				RuntimeOrigin::signed(CHARLIE),
				Architecture::Amd64,
				CAPACITY,
				0,
				1,
				layers(&[])
			),
			Error::<Test>::ZeroSlots
		);
		assert_noop!(
			Market::update_directory(RuntimeOrigin::signed(DAVE), endpoint("nope"), 1),
			Error::<Test>::InvalidEndpoint
		);
	});
}

#[test]
fn trust_lists_grow_and_shrink_by_their_owner() {
	ExtBuilder::default().build_and_execute(|| {
		register_mediator(CHARLIE);
		register_mediator(EVE);
		register_directory(DAVE);
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[])));
		assert_ok!(Market::register_resource_provider(
			RuntimeOrigin::signed(BOB),
			Architecture::Amd64,
			100,
			trusted(&[]),
			trusted(&[]),
			layers(&[]),
		));

		assert_ok!(Market::trust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, CHARLIE));
		assert_ok!(Market::trust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, EVE));
		assert_eq!(
			last_event(),
			Event::MediatorTrusted { who: ALICE, role: Role::JobCreator, mediator: EVE }.into()
		);
		assert_eq!(
			JobCreators::<Test>::get(ALICE).unwrap().trusted_mediators,
			trusted(&[CHARLIE, EVE])
		);

		assert_ok!(Market::distrust_mediator(
			RuntimeOrigin::signed(ALICE),
			Role::JobCreator,
			CHARLIE
		));
		assert_eq!(JobCreators::<Test>::get(ALICE).unwrap().trusted_mediators, trusted(&[EVE]));
		assert_eq!(
			last_event(),
			Event::MediatorDistrusted { who: ALICE, role: Role::JobCreator, mediator: CHARLIE }
				.into()
		);

		assert_ok!(Market::trust_directory(
			RuntimeOrigin::signed(BOB),
			Role::ResourceProvider,
			DAVE
		));
		assert_ok!(Market::trust_directory(RuntimeOrigin::signed(CHARLIE), Role::Mediator, DAVE));
		assert_eq!(
			ResourceProviders::<Test>::get(BOB).unwrap().trusted_directories,
			trusted(&[DAVE])
		);
		assert_eq!(Mediators::<Test>::get(CHARLIE).unwrap().trusted_directories, trusted(&[DAVE]));

		assert_ok!(Market::distrust_directory(
			RuntimeOrigin::signed(CHARLIE),
			Role::Mediator,
			DAVE
		));
		assert!(Mediators::<Test>::get(CHARLIE).unwrap().trusted_directories.is_empty());

		// A directory names the mediators it accepts as judges of its availability.
		assert_ok!(Market::trust_mediator(RuntimeOrigin::signed(DAVE), Role::Directory, CHARLIE));
		assert_eq!(
			last_event(),
			Event::MediatorTrusted { who: DAVE, role: Role::Directory, mediator: CHARLIE }.into()
		);
		assert_eq!(Directories::<Test>::get(DAVE).unwrap().trusted_mediators, trusted(&[CHARLIE]));
		assert_ok!(Market::distrust_mediator(
			RuntimeOrigin::signed(DAVE),
			Role::Directory,
			CHARLIE
		));
		assert!(Directories::<Test>::get(DAVE).unwrap().trusted_mediators.is_empty());
	});
}

#[test]
fn bad_trust_list_edits_are_refused_without_change() {
	ExtBuilder::default().build_and_execute(|| {
		register_mediator(CHARLIE);
		register_directory(DAVE);
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[CHARLIE])));

		assert_noop!(
			Market::trust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, CHARLIE),
			Error::<Test>::AlreadyTrusted
		);
		assert_noop!(
			Market::trust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, EVE),
			Error::<Test>::UnknownMediator
		);
		assert_noop!(
			Market::trust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, ALICE),
			Error::<Test>::CannotTrustSelf
		);
		assert_noop!(
			Market::trust_directory(RuntimeOrigin::signed(ALICE), Role::JobCreator, DAVE),
			Error::<Test>::NoSuchTrustList
		);
		assert_noop!(
			Market::trust_directory(RuntimeOrigin::signed(ALICE), Role::ResourceProvider, DAVE),
			Error::<Test>::NotRegistered
		);
		assert_noop!(
			Market::trust_directory(RuntimeOrigin::signed(ALICE), Role::ResourceProvider, EVE),
			Error::<Test>::UnknownDirectory
		);
		assert_noop!(
			Market::distrust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, DAVE),
			Error::<Test>::NotTrusted
		);
		assert_noop!(
			Market::trust_directory(RuntimeOrigin::signed(DAVE), Role::Directory, DAVE),
			Error::<Test>::CannotTrustSelf
		);
		assert_noop!(
			Market::trust_directory(RuntimeOrigin::signed(CHARLIE), Role::Directory, DAVE),
			Error::<Test>::NoSuchTrustList
		);
	});
}

#[test]
fn a_full_trust_list_refuses_one_more() {
	ExtBuilder::default().build_and_execute(|| {
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[])));
		let mediators = [10u64, 11, 12, 13, 14];
		for m in mediators {
			Balances::set_balance(&m, ENDOWMENT);
			register_mediator(m);
		}
		// MaxTrusted is 4 in the mock.
		for m in &mediators[..4] {
			assert_ok!(Market::trust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, *m));
		}
		assert_noop!(
			Market::trust_mediator(RuntimeOrigin::signed(ALICE), Role::JobCreator, 14),
			Error::<Test>::TooManyTrusted
		);
	});
}

#[test]
fn a_deregistered_mediator_can_still_be_dropped_from_trust_lists() {
	ExtBuilder::default().build_and_execute(|| {
		register_mediator(CHARLIE);
		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[CHARLIE])));
		assert_ok!(Market::deregister(RuntimeOrigin::signed(CHARLIE), Role::Mediator));
		assert_ok!(Market::distrust_mediator(
			RuntimeOrigin::signed(ALICE),
			Role::JobCreator,
			CHARLIE
		));
		assert!(JobCreators::<Test>::get(ALICE).unwrap().trusted_mediators.is_empty());
	});
}

#[test]
fn deregistering_releases_exactly_that_roles_bond() {
	ExtBuilder::default().build_and_execute(|| {
		// One account both mediates and runs a directory: two bonds under one hold reason.
		register_mediator(CHARLIE);
		assert_ok!(Market::register_directory(
			RuntimeOrigin::signed(CHARLIE),
			endpoint("http://c"),
			1,
			trusted(&[]),
			MIN_BOND * 2
		));
		assert_eq!(bond_of(CHARLIE), MIN_BOND * 3);

		assert_ok!(Market::deregister(RuntimeOrigin::signed(CHARLIE), Role::Directory));
		assert_eq!(bond_of(CHARLIE), MIN_BOND);
		assert_eq!(
			last_event(),
			Event::Deregistered {
				who: CHARLIE,
				role: Role::Directory,
				bond_released: MIN_BOND * 2
			}
			.into()
		);
		assert!(Mediators::<Test>::contains_key(CHARLIE));

		assert_ok!(Market::deregister(RuntimeOrigin::signed(CHARLIE), Role::Mediator));
		assert_eq!(bond_of(CHARLIE), 0);
		assert_eq!(Balances::balance(&CHARLIE), ENDOWMENT);

		assert_ok!(Market::register_job_creator(RuntimeOrigin::signed(ALICE), trusted(&[])));
		assert_ok!(Market::deregister(RuntimeOrigin::signed(ALICE), Role::JobCreator));
		assert!(!JobCreators::<Test>::contains_key(ALICE));
		assert_noop!(
			Market::deregister(RuntimeOrigin::signed(ALICE), Role::JobCreator),
			Error::<Test>::NotRegistered
		);
	});
}

#[test]
fn only_root_sets_valid_parameters() {
	ExtBuilder::default().build_and_execute(|| {
		let mut parameters = Market::parameters().unwrap();
		parameters.penalty_rate = 20;
		parameters.too_much_cost_tolerance = Perbill::from_percent(1);
		assert_noop!(
			Market::set_parameters(RuntimeOrigin::signed(ALICE), parameters.clone()),
			DispatchError::BadOrigin
		);
		assert_ok!(Market::set_parameters(RuntimeOrigin::root(), parameters.clone()));
		assert_eq!(Market::parameters().unwrap(), parameters);

		let mut invalid = parameters;
		invalid.verification_count = 0;
		assert_noop!(
			Market::set_parameters(RuntimeOrigin::root(), invalid),
			Error::<Test>::ZeroVerificationCount
		);
	});
}

#[test]
fn registration_never_creates_or_destroys_tokens() {
	ExtBuilder::default().build_and_execute(|| {
		let issuance = Balances::total_issuance();
		register_mediator(CHARLIE);
		register_directory(DAVE);
		assert_ok!(Market::deregister(RuntimeOrigin::signed(CHARLIE), Role::Mediator));
		assert_eq!(Balances::total_issuance(), issuance);
	});
}
