//! `FACEMTL_DUMP_WGSL=DIR`: the exact WGSL of every kernel as the device compiles it, one
//! file per kernel and variant (`gemm/conv_forward_moments#texels-32x8` is written to
//! `DIR/gemm/conv_forward_moments.texels-32x8.wgsl`), so that the generated GEMM cores can
//! be read, diffed and fed to other WGSL tools as they run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) struct WgslDump {
    dir: PathBuf,
    /// A write failed and was reported: no more warnings.
    warned: AtomicBool,
}

impl WgslDump {
    /// The dump FACEMTL_DUMP_WGSL asks for, if any.
    pub fn from_env() -> Option<WgslDump> {
        let dir = std::env::var_os("FACEMTL_DUMP_WGSL").filter(|d| !d.is_empty())?;
        Some(WgslDump {
            dir: PathBuf::from(dir),
            warned: AtomicBool::new(false),
        })
    }

    /// Writes `source` as kernel `name`'s file; a name already written with other source
    /// gets `.2`, `.3`, ... A failure is reported once on stderr and does not stop the run.
    pub fn write(&self, name: &str, source: &str) {
        if let Err(e) = self.try_write(name, source) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "facemtl: warning: FACEMTL_DUMP_WGSL: cannot write kernels to {}: {e}",
                    self.dir.display()
                );
            }
        }
    }

    fn try_write(&self, name: &str, source: &str) -> std::io::Result<()> {
        let stem = name.replace('#', ".");
        let path = (1..)
            .map(|n| match n {
                1 => self.dir.join(format!("{stem}.wgsl")),
                n => self.dir.join(format!("{stem}.{n}.wgsl")),
            })
            .find(|p| !p.exists() || same_text(p, source))
            .expect("an unbounded range has a free name");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, source)
    }
}

fn same_text(path: &Path, source: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text == source)
}
