//! Modicum's stand-in for the `wasm-opt` crate, patched in (the workspace's `[patch.crates-io]`)
//! for its one user, `substrate-wasm-builder`, which asks binaryen for two passes on the
//! runtime's wasm: strip DWARF, and lower sign-extension opcodes to the MVP. The runtime is
//! built for `wasm32v1-none`, the MVP target, so there is nothing to lower; and compiling
//! binaryen's C++ took ten minutes of a cold build on two cores (docs/measurements.md). This
//! crate removes the `.debug_*` custom sections and refuses a module whose `target_features`
//! section declares what the options do not allow (or, for an MVP-only run, that declares
//! nothing), instead of lowering it. It does not validate the code itself, as binaryen did: the
//! node's executor validates the runtime when it loads it. Only the builder's calls are
//! provided.

use std::path::{Path, PathBuf};

/// A pass the builder asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
	/// Removes DWARF debug information (the `.debug_*` custom sections).
	StripDwarf,
	/// Lowers sign-extension opcodes to MVP ones: here, refuses a module that declares them.
	SignextLowering,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum OptimizationError {
	/// The input could not be read.
	#[error("cannot read {path}: {source}")]
	Read {
		/// The file.
		path: PathBuf,
		/// The cause.
		source: std::io::Error,
	},
	/// The output could not be written.
	#[error("cannot write {path}: {source}")]
	Write {
		/// The file.
		path: PathBuf,
		/// The cause.
		source: std::io::Error,
	},
	/// The input is not a wasm module this crate can walk.
	#[error("{path} is not a wasm module: {why}")]
	Invalid {
		/// The file.
		path: PathBuf,
		/// What is wrong.
		why: &'static str,
	},
	/// The module uses a feature the options rule out, which binaryen would have lowered.
	#[error("{path} uses the wasm feature `{feature}`, which this build cannot lower: build the runtime for `wasm32v1-none` (`rustup target add wasm32v1-none`)")]
	Feature {
		/// The file.
		path: PathBuf,
		/// The feature, as `target_features` names it.
		feature: String,
	},
}

/// The options of one run, built as `substrate-wasm-builder` builds them.
#[derive(Clone, Debug, Default)]
pub struct OptimizationOptions {
	passes: Vec<Pass>,
	mvp_only: bool,
}

/// The features an MVP module may declare: `wasm32v1-none` is WebAssembly 1.0, which includes
/// mutable globals.
const MVP: &[&str] = &["mutable-globals"];

impl OptimizationOptions {
	/// No optimization: only the passes added.
	pub fn new_opt_level_0() -> Self {
		Self::default()
	}

	/// Adds a pass.
	pub fn add_pass(&mut self, pass: Pass) -> &mut Self {
		self.passes.push(pass);
		self
	}

	/// Whether debug information other than DWARF (the `name` section) is kept: it always is.
	pub fn debug_info(&mut self, _keep: bool) -> &mut Self {
		self
	}

	/// Allows MVP features only.
	pub fn mvp_features_only(&mut self) -> &mut Self {
		self.mvp_only = true;
		self
	}

	/// Reads the module `infile`, applies the passes and writes it to `outfile` (which may be
	/// `infile`).
	pub fn run(
		&self,
		infile: impl AsRef<Path>,
		outfile: impl AsRef<Path>,
	) -> Result<(), OptimizationError> {
		let (infile, outfile) = (infile.as_ref(), outfile.as_ref());
		let module = std::fs::read(infile)
			.map_err(|source| OptimizationError::Read { path: infile.into(), source })?;
		let out = self
			.apply(&module)
			.map_err(|refusal| refusal.at(infile))?;
		std::fs::write(outfile, out)
			.map_err(|source| OptimizationError::Write { path: outfile.into(), source })
	}

	/// The passes on the bytes of a module.
	fn apply(&self, module: &[u8]) -> Result<Vec<u8>, Refusal> {
		let sections = sections(module)?;
		let lowering = self.passes.contains(&Pass::SignextLowering);
		// rust-lld always declares what the code uses (`+mutable-globals` at least): a module
		// that declares nothing cannot be shown to be MVP.
		let declared = sections.iter().any(|s| matches!(s.custom, Some(("target_features", _))));
		if self.mvp_only && !declared {
			return Err(Refusal::Invalid("no target_features section: its features cannot be checked"));
		}
		let mut out = module[..8].to_vec();
		for section in sections {
			if let Some((name, payload)) = section.custom {
				if name == "target_features" {
					for feature in features(payload)? {
						let refused = (lowering && feature == "sign-ext") ||
							(self.mvp_only && !MVP.contains(&feature.as_str()));
						if refused {
							return Err(Refusal::Feature(feature));
						}
					}
				}
				if self.passes.contains(&Pass::StripDwarf) && name.starts_with(".debug_") {
					continue;
				}
			}
			out.extend_from_slice(section.bytes);
		}
		Ok(out)
	}
}

/// Why a module was refused, before the file is named.
#[derive(Debug)]
enum Refusal {
	Invalid(&'static str),
	Feature(String),
}

impl Refusal {
	fn at(self, path: &Path) -> OptimizationError {
		match self {
			Refusal::Invalid(why) => OptimizationError::Invalid { path: path.into(), why },
			Refusal::Feature(feature) => OptimizationError::Feature { path: path.into(), feature },
		}
	}
}

/// One section as it stands in the module, with its name and payload if it is custom.
struct Section<'a> {
	bytes: &'a [u8],
	custom: Option<(&'a str, &'a [u8])>,
}

/// The sections of a module after its 8-byte header.
fn sections(module: &[u8]) -> Result<Vec<Section<'_>>, Refusal> {
	if module.len() < 8 || &module[..4] != b"\0asm" || module[4..8] != [1, 0, 0, 0] {
		return Err(Refusal::Invalid("no wasm version 1 header"));
	}
	let mut sections = Vec::new();
	let mut at = 8;
	while at < module.len() {
		let start = at;
		let id = module[at];
		let (size, payload_at) = leb128(module, at + 1)?;
		let end = payload_at.checked_add(size).filter(|end| *end <= module.len());
		let end = end.ok_or(Refusal::Invalid("a section runs past the end"))?;
		let custom = match id {
			0 => {
				let (length, name_at) = leb128(module, payload_at)?;
				let name_end = name_at
					.checked_add(length)
					.filter(|name_end| *name_end <= end)
					.ok_or(Refusal::Invalid("a custom section's name runs past it"))?;
				let name = std::str::from_utf8(&module[name_at..name_end])
					.map_err(|_| Refusal::Invalid("a custom section's name is not UTF-8"))?;
				Some((name, &module[name_end..end]))
			},
			_ => None,
		};
		sections.push(Section { bytes: &module[start..end], custom });
		at = end;
	}
	Ok(sections)
}

/// The features a `target_features` section declares as used (`+`) or required (`=`).
fn features(payload: &[u8]) -> Result<Vec<String>, Refusal> {
	let (count, mut at) = leb128(payload, 0)?;
	let mut features = Vec::new();
	for _ in 0..count {
		let prefix = *payload.get(at).ok_or(Refusal::Invalid("target_features ends early"))?;
		let (length, name_at) = leb128(payload, at + 1)?;
		let name = name_at
			.checked_add(length)
			.and_then(|end| payload.get(name_at..end))
			.ok_or(Refusal::Invalid("target_features ends early"))?;
		if prefix != b'-' {
			features.push(String::from_utf8_lossy(name).into_owned());
		}
		at = name_at + length;
	}
	Ok(features)
}

/// An unsigned LEB128 of at most five bytes at `at`; its value and the index after it (every
/// length is checked against the module afterwards).
fn leb128(bytes: &[u8], mut at: usize) -> Result<(usize, usize), Refusal> {
	let mut value = 0usize;
	for shift in (0..35).step_by(7) {
		let byte = *bytes.get(at).ok_or(Refusal::Invalid("a length runs past the end"))?;
		at += 1;
		value |= usize::from(byte & 0x7f) << shift;
		if byte & 0x80 == 0 {
			return Ok((value, at));
		}
	}
	Err(Refusal::Invalid("a length longer than five bytes"))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn custom(name: &str, payload: &[u8]) -> Vec<u8> {
		let mut body = vec![name.len() as u8];
		body.extend_from_slice(name.as_bytes());
		body.extend_from_slice(payload);
		let mut section = vec![0, body.len() as u8];
		section.extend(body);
		section
	}

	fn target_features(features: &[&str]) -> Vec<u8> {
		let mut payload = vec![features.len() as u8];
		for feature in features {
			payload.push(b'+');
			payload.push(feature.len() as u8);
			payload.extend_from_slice(feature.as_bytes());
		}
		custom("target_features", &payload)
	}

	/// A module: the header, a type section of one `() -> ()`, then `tail`.
	fn module(tail: &[Vec<u8>]) -> Vec<u8> {
		let mut module = b"\0asm\x01\0\0\0".to_vec();
		module.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
		for section in tail {
			module.extend_from_slice(section);
		}
		module
	}

	fn builders_compact() -> OptimizationOptions {
		let mut options = OptimizationOptions::new_opt_level_0();
		options
			.mvp_features_only()
			.debug_info(true)
			.add_pass(Pass::StripDwarf)
			.add_pass(Pass::SignextLowering);
		options
	}

	#[test]
	fn dwarf_goes_and_every_other_section_stays_in_order() {
		let version = custom("runtime_version", b"v1");
		let features = target_features(&["mutable-globals"]);
		let input =
			module(&[custom(".debug_info", b"dwarf"), version.clone(), custom(".debug_line", b"x"), features.clone()]);
		let out = builders_compact().apply(&input).unwrap();
		assert_eq!(out, module(&[version, features]));
	}

	#[test]
	fn sign_extension_or_a_post_mvp_feature_is_refused_not_passed_through() {
		for feature in ["sign-ext", "bulk-memory", "simd128"] {
			let input = module(&[target_features(&["mutable-globals", feature])]);
			match builders_compact().apply(&input) {
				Err(Refusal::Feature(refused)) => assert_eq!(refused, feature),
				_ => panic!("{feature} passed"),
			}
		}
		// The builder's other call lowers sign-ext alone, keeping DWARF.
		let mut lower = OptimizationOptions::new_opt_level_0();
		lower.add_pass(Pass::SignextLowering).debug_info(true);
		assert!(matches!(lower.apply(&module(&[target_features(&["sign-ext"])])), Err(Refusal::Feature(_))));
		let dwarf = module(&[custom(".debug_info", b"dwarf"), target_features(&["bulk-memory"])]);
		assert_eq!(lower.apply(&dwarf).unwrap(), dwarf);
	}

	#[test]
	fn a_module_that_declares_no_features_is_refused_as_unchecked() {
		let undeclared = module(&[custom("name", b"names")]);
		assert!(matches!(builders_compact().apply(&undeclared), Err(Refusal::Invalid(_))));
		// Without `mvp_features_only` (the builder's sign-ext lowering alone) it passes.
		let mut lower = OptimizationOptions::new_opt_level_0();
		lower.add_pass(Pass::SignextLowering);
		assert_eq!(lower.apply(&undeclared).unwrap(), undeclared);
	}

	#[test]
	fn a_truncated_or_foreign_file_is_refused() {
		let whole = module(&[custom("name", b"names"), target_features(&["mutable-globals"])]);
		for cut in [3, 8 + 3, whole.len() - 1] {
			assert!(matches!(builders_compact().apply(&whole[..cut]), Err(Refusal::Invalid(_))), "cut at {cut}");
		}
		assert!(matches!(builders_compact().apply(b"\x7fELF\x02\x01\x01\0"), Err(Refusal::Invalid(_))));
	}

	#[test]
	fn a_file_is_rewritten_in_place() {
		let dir = std::env::temp_dir().join(format!("wasm-opt-stand-in-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let path = dir.join("runtime.wasm");
		let features = target_features(&["mutable-globals"]);
		std::fs::write(&path, module(&[custom(".debug_str", b"s"), features.clone()])).unwrap();
		builders_compact().run(&path, &path).unwrap();
		assert_eq!(std::fs::read(&path).unwrap(), module(&[features]));
		let missing = builders_compact().run(dir.join("missing.wasm"), &path).unwrap_err();
		assert!(missing.to_string().contains("missing.wasm"), "{missing}");
		std::fs::remove_dir_all(&dir).unwrap();
	}
}
