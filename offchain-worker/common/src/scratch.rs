//! A scratch folder removed when dropped, for the tests of the workers and of the CLI that
//! unpack archives, build trees and keep journals.

use std::{
	path::PathBuf,
	sync::atomic::{AtomicU64, Ordering},
};

/// A new, empty folder under the system's temporary directory; removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
	/// A folder named after `name`, unique to this process and call.
	pub fn new(name: &str) -> Self {
		static NEXT: AtomicU64 = AtomicU64::new(0);
		let n = NEXT.fetch_add(1, Ordering::Relaxed);
		let path = std::env::temp_dir().join(format!("modicum-{name}-{}-{n}", std::process::id()));
		let _ = std::fs::remove_dir_all(&path);
		std::fs::create_dir_all(&path).expect("the temporary directory is writable");
		Self(path)
	}
}

impl Drop for Scratch {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.0);
	}
}
