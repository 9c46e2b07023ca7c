//! Long random call sequences across many accounts: after every step the pallet's invariants
//! hold, total issuance is unchanged, the welfare pool has not shrunk, and a refused call
//! changed nothing.

use crate::{mock::*, *};
use frame_support::{
	assert_ok,
	dispatch::RawOrigin,
	traits::fungible::{Inspect, Mutate},
	BoundedVec,
};
use proptest::prelude::*;
use sp_runtime::{traits::Dispatchable, StateVersion};

const CREATORS: [u64; 2] = [1, 2];
const PROVIDERS: [u64; 2] = [3, 4];
const MEDIATOR: u64 = 5;
const DIRECTORY: u64 = 6;
const SOLVER: u64 = 7;
const EVERYONE: [u64; 7] = [1, 2, 3, 4, 5, 6, 7];

#[derive(Clone, Debug)]
enum Action {
	PostJobOffer { creator: usize, cpu: u64, bandwidth: u64, bid: u64, deadline: u64, extra: u64 },
	PostResourceOffer { provider: usize, cpu: u64, ask: u64, window: u64, deposit: u64 },
	CancelJobOffer { offer: u64, by: usize },
	CancelResourceOffer { offer: u64, by: usize },
	PostMatch { job: u64, resource: u64 },
	PostResult { match_id: u64, status: usize, cpu: u64, bandwidth: u64, by: usize },
	Accept { match_id: u64, by: usize },
	Reject { match_id: u64, reason: usize },
	Mediate { match_id: u64, party: usize },
	ClaimTimeout { match_id: u64 },
	Advance { blocks: u64 },
}

fn action() -> impl Strategy<Value = Action> {
	prop_oneof![
		(0..2usize, 1..200u64, 0..100u64, 2..4u64, 8..40u64, 0..3_000u64).prop_map(
			|(creator, cpu, bandwidth, bid, deadline, extra)| Action::PostJobOffer {
				creator,
				cpu,
				bandwidth,
				bid,
				deadline,
				extra
			}
		),
		(0..2usize, 100..500u64, 1..3u64, 30..90u64, 1..80_000u64).prop_map(
			|(provider, cpu, ask, window, deposit)| Action::PostResourceOffer {
				provider,
				cpu,
				ask,
				window,
				deposit
			}
		),
		(0..12u64, 0..7usize).prop_map(|(offer, by)| Action::CancelJobOffer { offer, by }),
		(0..12u64, 0..7usize).prop_map(|(offer, by)| Action::CancelResourceOffer { offer, by }),
		(0..12u64, 0..12u64).prop_map(|(job, resource)| Action::PostMatch { job, resource }),
		(0..4u64, 0..10usize, 0..400u64, 0..150u64, 0..7usize).prop_map(
			|(match_id, status, cpu, bandwidth, by)| Action::PostResult {
				match_id,
				status,
				cpu,
				bandwidth,
				by
			}
		),
		(0..4u64, 0..7usize).prop_map(|(match_id, by)| Action::Accept { match_id, by }),
		(0..4u64, 0..4usize).prop_map(|(match_id, reason)| Action::Reject { match_id, reason }),
		(0..4u64, 0..3usize).prop_map(|(match_id, party)| Action::Mediate { match_id, party }),
		(0..4u64).prop_map(|match_id| Action::ClaimTimeout { match_id }),
		(1..8u64).prop_map(|blocks| Action::Advance { blocks }),
	]
}

fn bounded<T: Clone, S: frame_support::traits::Get<u32>>(items: &[T]) -> BoundedVec<T, S> {
	BoundedVec::try_from(items.to_vec()).ok().expect("fits")
}

/// Everyone registered: two job creators, two providers, one mediator and one directory.
fn market_with_actors() {
	for who in [6, 7] {
		Balances::set_balance(&who, ENDOWMENT);
	}
	assert_ok!(Market::register_directory(
		RuntimeOrigin::signed(DIRECTORY),
		bounded(b"http://d"),
		3,
		bounded(&[]),
		20 * MIN_BOND
	));
	assert_ok!(Market::register_mediator(
		RuntimeOrigin::signed(MEDIATOR),
		Architecture::Amd64,
		Resources { cpu: u64::MAX, memory: u64::MAX, storage: u64::MAX, bandwidth: u64::MAX },
		2,
		7,
		bounded(&[DIRECTORY]),
		bounded(&[[1; 32]]),
		20 * MIN_BOND,
	));
	assert_ok!(Market::trust_mediator(RuntimeOrigin::signed(DIRECTORY), Role::Directory, MEDIATOR));
	for creator in CREATORS {
		assert_ok!(Market::register_job_creator(
			RuntimeOrigin::signed(creator),
			bounded(&[MEDIATOR])
		));
	}
	for provider in PROVIDERS {
		assert_ok!(Market::register_resource_provider(
			RuntimeOrigin::signed(provider),
			Architecture::Amd64,
			40,
			bounded(&[MEDIATOR]),
			bounded(&[DIRECTORY]),
			bounded(&[[1; 32]]),
		));
	}
}

fn call_of(action: &Action) -> Option<(u64, Call<Test>)> {
	const REASONS: [RejectReason; 4] = [
		RejectReason::WrongResults,
		RejectReason::ResultNotFound,
		RejectReason::TooMuchCost,
		RejectReason::InvalidResultStatus,
	];
	const PARTIES: [Party; 3] = [Party::JobCreator, Party::ResourceProvider, Party::Directory];
	let now = System::block_number();
	// Indices pick among what exists, so most calls reach their checks.
	let pick = |ids: Vec<u64>, index: u64| {
		if ids.is_empty() {
			index
		} else {
			ids[(index as usize) % ids.len()]
		}
	};
	let sorted = |mut ids: Vec<u64>| {
		ids.sort();
		ids
	};
	let job_offers = sorted(JobOffers::<Test>::iter_keys().collect());
	let resource_offers = sorted(ResourceOffers::<Test>::iter_keys().collect());
	let open_jobs = sorted(Market::open_job_offers().into_iter().map(|(id, _)| id).collect());
	let open_resources =
		sorted(Market::open_resource_offers().into_iter().map(|(id, _)| id).collect());
	let matches = sorted(Matches::<Test>::iter_keys().collect());
	let action = &match action.clone() {
		Action::CancelJobOffer { offer, by } => {
			Action::CancelJobOffer { offer: pick(job_offers, offer), by }
		}
		Action::CancelResourceOffer { offer, by } => {
			Action::CancelResourceOffer { offer: pick(resource_offers, offer), by }
		}
		Action::PostMatch { job, resource } => Action::PostMatch {
			job: pick(open_jobs, job),
			resource: pick(open_resources, resource),
		},
		Action::PostResult { match_id, status, cpu, bandwidth, by } => {
			Action::PostResult { match_id: pick(matches, match_id), status, cpu, bandwidth, by }
		}
		Action::Accept { match_id, by } => Action::Accept { match_id: pick(matches, match_id), by },
		Action::Reject { match_id, reason } => {
			Action::Reject { match_id: pick(matches, match_id), reason }
		}
		Action::Mediate { match_id, party } => {
			Action::Mediate { match_id: pick(matches, match_id), party }
		}
		Action::ClaimTimeout { match_id } => {
			Action::ClaimTimeout { match_id: pick(matches, match_id) }
		}
		other => other,
	};
	let creator_of = |m: u64| Matches::<Test>::get(m).map_or(CREATORS[0], |m| m.creator);
	Some(match *action {
		Action::PostJobOffer { creator, cpu, bandwidth, bid, deadline, extra } => {
			let estimate = (cpu + bandwidth) * bid;
			(
				CREATORS[creator],
				Call::post_job_offer {
					limits: Resources { cpu, memory: 16, storage: 4, bandwidth },
					architecture: Architecture::Amd64,
					image: ImageOf::<Test> { repository: bounded(b"jobs/x"), digest: [2; 32] },
					base_layer: [1; 32],
					directory: DIRECTORY,
					cpu_bid: bid,
					bandwidth_bid: bid,
					completion_deadline: now + deadline,
					max_fees: MaxFees { mediator: 7, directory: 3 },
					min_reputation: None,
					deposit: estimate * 52 + 1 + 10 + 1 + extra,
				},
			)
		}
		Action::PostResourceOffer { provider, cpu, ask, window, deposit } => (
			PROVIDERS[provider],
			Call::post_resource_offer {
				capacity: Resources { cpu, memory: 64, storage: 16, bandwidth: 200 },
				architecture: Architecture::Amd64,
				cpu_price: ask,
				bandwidth_price: ask,
				valid_from: now,
				valid_to: now + window,
				max_fees: MaxFees { mediator: 7, directory: 3 },
				deposit,
			},
		),
		Action::CancelJobOffer { offer, by } => (EVERYONE[by], Call::cancel_job_offer { offer }),
		Action::CancelResourceOffer { offer, by } => {
			(EVERYONE[by], Call::cancel_resource_offer { offer })
		}
		Action::PostMatch { job, resource } => (
			SOLVER,
			Call::post_match { job_offer: job, resource_offer: resource, mediator: MEDIATOR },
		),
		Action::PostResult { match_id, status, cpu, bandwidth, by } => {
			let provider = Matches::<Test>::get(match_id).map_or(PROVIDERS[0], |m| m.provider);
			let who = if by < 5 { provider } else { EVERYONE[by] };
			let status = ResultStatus::ALL[status];
			// Mostly receipts the chain takes; one in seven, by the provider, breaks the status rules.
			let (usage, result_digest) = match (status.never_started(), by == 4) {
				(true, false) => (Resources::default(), None),
				(true, true) => (Resources { cpu, memory: 8, storage: 1, bandwidth }, None),
				(false, false) => (Resources { cpu, memory: 8, storage: 1, bandwidth }, Some([3; 32])),
				(false, true) => (Resources { cpu, memory: 8, storage: 1, bandwidth }, None),
			};
			(who, Call::post_result { match_id, status, usage, result_digest })
		}
		Action::Accept { match_id, by } => {
			let who = if by < 4 { creator_of(match_id) } else { EVERYONE[by] };
			(who, Call::accept_result { match_id })
		}
		Action::Reject { match_id, reason } => {
			(creator_of(match_id), Call::reject_result { match_id, reason: REASONS[reason] })
		}
		Action::Mediate { match_id, party } => (
			MEDIATOR,
			Call::post_mediation_result {
				match_id,
				faulty_party: PARTIES[party],
				result_digest: None,
			},
		),
		Action::ClaimTimeout { match_id } => (SOLVER, Call::claim_timeout { match_id }),
		Action::Advance { .. } => return None,
	})
}

proptest! {
	#![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

	#[test]
	fn random_call_sequences_keep_every_invariant(actions in prop::collection::vec(action(), 1..80)) {
		ExtBuilder::default().build_and_execute(|| {
			market_with_actors();
			let issuance = Balances::total_issuance();
			let mut pool = Balances::balance(&Market::account_id());
			for action in &actions {
				match call_of(action) {
					None => {
						let Action::Advance { blocks } = action else { unreachable!() };
						run_to_block(System::block_number() + blocks);
					},
					Some((who, call)) => {
						let root = sp_io::storage::root(StateVersion::V1);
						let events = System::events().len();
						let call = RuntimeCall::Market(call);
						if call.dispatch(RawOrigin::Signed(who).into()).is_err() {
							assert_eq!(root, sp_io::storage::root(StateVersion::V1), "{action:?} failed but changed state");
							assert_eq!(events, System::events().len());
						}
					},
				}
				Market::do_try_state().unwrap_or_else(|e| panic!("after {action:?}: {e:?}"));
				assert_eq!(Balances::total_issuance(), issuance, "after {action:?}");
				let now = Balances::balance(&Market::account_id());
				assert!(now >= pool, "the welfare pool shrank after {action:?}");
				pool = now;
			}
		});
	}
}
