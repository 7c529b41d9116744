//! Finding the module inside a container image layer (solo.io/Istio "compat" images, and
//! crun/WasmEdge images whose entry point is a `*.wasm` file).
//!
//! The layer is a tar stream, usually gzip-compressed. It is read as a stream: only the chosen
//! module and `runtime-config.json` are kept in memory, each under its own limit, and the total
//! decompressed bytes are capped, so a gzip bomb costs at most `max_unpacked_bytes` of CPU and
//! never more than `max_module_bytes` of memory. Like Istio's fetcher, `plugin.wasm` is matched
//! by file name wherever it is, but one at the root wins.

use std::cell::Cell;
use std::io::{self, Read};

use crate::limits::{human_bytes, Limits};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const MAX_LISTED_WASM_FILES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompatError {
    #[error("the layer holds no plugin.wasm and no .wasm entry point")]
    NoWasm,
    #[error("{0}-compressed layers are not supported")]
    UnsupportedCompression(&'static str),
    #[error("the layer is not a readable tar archive: {0}")]
    Corrupt(String),
    #[error("{path} is {}, above the {} limit", human_bytes(*.size), human_bytes(*.limit))]
    ModuleTooLarge { path: String, size: u64, limit: u64 },
    #[error("the layer unpacks to more than {} before any module was found", human_bytes(*.0))]
    UnpackedTooLarge(u64),
}

/// How the module was found, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FoundBy {
    /// `plugin.wasm` at the root of the layer (the compat spec).
    RootPluginWasm,
    /// The image config's entry point.
    Entrypoint,
    /// `plugin.wasm` in a directory (Istio accepts it).
    NestedPluginWasm,
    /// The only (or first) other `*.wasm` file.
    AnyWasm,
}

/// What a compat layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatLayer {
    pub module: Vec<u8>,
    /// Path of the module inside the layer, without a leading `/` or `./`.
    pub module_path: String,
    pub found_by: FoundBy,
    pub runtime_config: Option<Vec<u8>>,
    /// Every `*.wasm` path seen (up to 64).
    pub wasm_files: Vec<String>,
    pub warnings: Vec<String>,
}

/// Where to look: the image's entry point, if it names a `.wasm` file, and whether any `.wasm`
/// file will do (only for images that are declared Wasm; otherwise a `.wasm` file deep inside
/// an ordinary container image would pass for one).
#[derive(Debug, Clone, Copy, Default)]
pub struct Search<'a> {
    pub entrypoint: Option<&'a str>,
    pub any_wasm: bool,
}

enum Kept {
    Bytes(Vec<u8>),
    TooLarge(u64),
}

/// Extracts the module (and `runtime-config.json`) from a tar or tar+gzip layer.
pub fn extract_compat_layer(layer: &[u8], search: Search<'_>, limits: &Limits) -> Result<CompatLayer, CompatError> {
    if layer.starts_with(ZSTD_MAGIC) {
        return Err(CompatError::UnsupportedCompression("zstd"));
    }
    let exceeded = Cell::new(false);
    let reader: Box<dyn Read + '_> = if layer.starts_with(GZIP_MAGIC) {
        Box::new(flate2::read::MultiGzDecoder::new(layer))
    } else {
        Box::new(layer)
    };
    let capped = Capped { inner: reader, remaining: limits.max_unpacked_bytes, exceeded: &exceeded };
    let entrypoint = search.entrypoint.map(normalise);
    let mut best: Option<(FoundBy, String, Kept)> = None;
    let mut runtime_config = None;
    let mut wasm_files = Vec::new();
    let mut warnings = Vec::new();

    let mut archive = tar::Archive::new(capped);
    let entries = archive.entries().map_err(|e| CompatError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(_) if exceeded.get() => break,
            Err(e) => return Err(CompatError::Corrupt(e.to_string())),
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        let file_name = path.rsplit('/').next().unwrap_or_default();
        let size = entry.size();
        if file_name == "runtime-config.json" && runtime_config.is_none() {
            if size > limits.max_config_bytes {
                warnings.push(format!("{path} is {}, too large to read", human_bytes(size)));
            } else {
                match read_entry(&mut entry, &exceeded)? {
                    Some(bytes) => runtime_config = Some(bytes),
                    None => break,
                }
            }
            continue;
        }
        if !file_name.to_ascii_lowercase().ends_with(".wasm") {
            continue;
        }
        if wasm_files.len() < MAX_LISTED_WASM_FILES {
            wasm_files.push(path.clone());
        }
        let rank = if path == "plugin.wasm" {
            FoundBy::RootPluginWasm
        } else if entrypoint.as_deref() == Some(path.as_str()) {
            FoundBy::Entrypoint
        } else if file_name == "plugin.wasm" {
            FoundBy::NestedPluginWasm
        } else if search.any_wasm {
            FoundBy::AnyWasm
        } else {
            continue;
        };
        if best.as_ref().is_some_and(|(kept, ..)| *kept <= rank) {
            continue;
        }
        let kept = if size > limits.max_module_bytes {
            Kept::TooLarge(size)
        } else {
            match read_entry(&mut entry, &exceeded)? {
                Some(bytes) => Kept::Bytes(bytes),
                None => break,
            }
        };
        best = Some((rank, path, kept));
    }

    if exceeded.get() {
        if best.is_none() {
            return Err(CompatError::UnpackedTooLarge(limits.max_unpacked_bytes));
        }
        warnings.push(format!("stopped reading the layer after {} unpacked", human_bytes(limits.max_unpacked_bytes)));
    }
    let (found_by, module_path, kept) = best.ok_or(CompatError::NoWasm)?;
    let module = match kept {
        Kept::Bytes(bytes) => bytes,
        Kept::TooLarge(size) => {
            return Err(CompatError::ModuleTooLarge { path: module_path, size, limit: limits.max_module_bytes })
        }
    };
    if found_by == FoundBy::NestedPluginWasm {
        warnings.push(format!("plugin.wasm is at {module_path}, not at the root of the layer"));
    }
    if found_by == FoundBy::AnyWasm && wasm_files.len() > 1 {
        warnings.push(format!(
            "the layer holds {} .wasm files and no plugin.wasm or entry point; indexed {module_path}",
            wasm_files.len()
        ));
    }
    Ok(CompatLayer { module, module_path, found_by, runtime_config, wasm_files, warnings })
}

/// `./plugin.wasm`, `/plugin.wasm` and `plugin.wasm` are the same file.
fn normalise(path: &str) -> String {
    let mut rest = path;
    loop {
        if let Some(stripped) = rest.strip_prefix("./") {
            rest = stripped;
        } else if let Some(stripped) = rest.strip_prefix('/') {
            rest = stripped;
        } else {
            return rest.to_owned();
        }
    }
}

/// Reads one entry whole; None when the unpacked-size cap cut it short (scanning stops there).
/// The entry reader is bounded by the size in its header, already checked by the caller.
fn read_entry(entry: &mut impl Read, exceeded: &Cell<bool>) -> Result<Option<Vec<u8>>, CompatError> {
    let mut bytes = Vec::new();
    match entry.read_to_end(&mut bytes) {
        Ok(_) => Ok(Some(bytes)),
        Err(_) if exceeded.get() => Ok(None),
        Err(e) => Err(CompatError::Corrupt(e.to_string())),
    }
}

/// A reader that fails once more than `remaining` bytes have been read, and says so in
/// `exceeded` (the tar crate rewraps I/O errors, so the error itself cannot carry that).
struct Capped<'a, R> {
    inner: R,
    remaining: u64,
    exceeded: &'a Cell<bool>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(io::Error::other("unpacked size limit reached"))
                }
            };
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..want])?;
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests;
