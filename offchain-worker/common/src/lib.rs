//! The words every off-chain Modicum party shares — the node's roles, the job creators' CLI and
//! their tests: amounts of MDC ([`amount`]), image digests ([`digest`]), architectures
//! ([`arch`]), role files ([`config`]), signed extrinsics ([`signing`]), who is registered as
//! what ([`actors`]), the decision of a dispute ([`verdict`]), files written whole
//! ([`durable`]) and errors with their causes ([`errors`]).
//!
//! Nothing here talks to a node, a registry or Docker: those are `modicum-registry`,
//! `modicum-executor` and the roles' chain client, each built on these words.

pub mod actors;
pub mod amount;
pub mod arch;
pub mod config;
pub mod digest;
pub mod durable;
pub mod errors;
pub mod scratch;
pub mod signing;
pub mod verdict;
