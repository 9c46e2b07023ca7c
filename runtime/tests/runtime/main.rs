//! The runtime's tests, in one test binary (each binary links the whole runtime and the wasm
//! executor): the fixed supply, validators joining and leaving, in-place upgrades.

mod grants;
mod supply;
mod upgrade;
mod validators;
