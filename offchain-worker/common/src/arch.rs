//! Machine architectures, named as OCI image configs name them.

use pallet_market::Architecture;
use serde::Deserialize;

/// An architecture written as in OCI image configs: `amd64`, `arm64`, `riscv64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
	/// `linux/amd64`.
	Amd64,
	/// `linux/arm64`.
	Arm64,
	/// `linux/riscv64`.
	Riscv64,
}

impl From<Arch> for Architecture {
	fn from(arch: Arch) -> Self {
		match arch {
			Arch::Amd64 => Architecture::Amd64,
			Arch::Arm64 => Architecture::Arm64,
			Arch::Riscv64 => Architecture::Riscv64,
		}
	}
}

/// The OCI name of an architecture.
pub fn oci_architecture(architecture: Architecture) -> &'static str {
	match architecture {
		Architecture::Amd64 => "amd64",
		Architecture::Arm64 => "arm64",
		Architecture::Riscv64 => "riscv64",
	}
}

/// The architecture of an OCI name, if the market knows it.
pub fn from_oci(name: &str) -> Option<Architecture> {
	[Architecture::Amd64, Architecture::Arm64, Architecture::Riscv64]
		.into_iter()
		.find(|a| oci_architecture(*a) == name)
}
