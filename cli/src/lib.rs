//! `modicum`, the job creator's command line: build a job image on a base providers keep,
//! push it to a directory, price and post the job offer, follow it to its result, verify it
//! as the protocol's verifier does, and read, fetch and settle it.
//!
//! - [`args`]: the command line's subcommands and flags;
//! - [`rpc`]: JSON-RPC to a node;
//! - [`chain`]: the market read and changed with the runtime's own types;
//! - [`account`]: the signing key;
//! - [`grant`]: the proof of work of a join grant;
//! - [`image`]: building and pushing job images;
//! - [`offer`]: pricing a job offer;
//! - [`status`]: a job's state, deadlines and history;
//! - [`result`]: fetching and unpacking result archives;
//! - [`verifier`]: p_v and the re-runs behind accept or reject.

pub mod account;
pub mod args;
pub mod chain;
pub mod grant;
pub mod image;
pub mod offer;
pub mod result;
pub mod rpc;
pub mod status;
pub mod verifier;
