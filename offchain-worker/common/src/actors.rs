//! Who is registered as what, read from the market's actors.

use modicum_runtime::{AccountId, Runtime};
use pallet_market::{ActorsOf, Role};

/// Whether `who` is registered for `role` among `actors`.
pub fn is_registered(actors: &ActorsOf<Runtime>, who: &AccountId, role: Role) -> bool {
	match role {
		Role::JobCreator => actors.job_creators.iter().any(|(a, _)| a == who),
		Role::ResourceProvider => actors.resource_providers.iter().any(|(a, _)| a == who),
		Role::Mediator => actors.mediators.iter().any(|(a, _)| a == who),
		Role::Directory => actors.directories.iter().any(|(a, _)| a == who),
	}
}

/// The registry URL of a registered directory.
pub fn directory_endpoint(actors: &ActorsOf<Runtime>, directory: &AccountId) -> Option<String> {
	actors
		.directories
		.iter()
		.find(|(who, _)| who == directory)
		.map(|(_, info)| String::from_utf8_lossy(&info.endpoint).into_owned())
}
