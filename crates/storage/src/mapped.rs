//! Pulls of big local blobs from read-only mappings of the file, one window per chunk sent:
//! hyper copies straight from the page cache into the socket, instead of `read` first copying
//! each chunk into a buffer of ours (one of the two copies a pull cost the server).
//!
//! A mapping of a file that shrinks under it raises SIGBUS on access. Blob files never do:
//! a blob is written whole to a part, renamed into place and never written again; the
//! collector and `fsck --repair` unlink it, and a push of the same digest renames a new file
//! over it, both of which leave a mapped (open) inode intact. Each window is populated
//! (`MADV_POPULATE_READ`) on the blocking thread before it is handed over, so no page fault,
//! let alone a disk read, happens on a runtime thread while hyper writes it; and each is
//! unmapped once sent, so a pull holds at most the windows in flight, not the whole blob.

use std::os::fd::AsRawFd;

use bytes::Bytes;

/// One mapped window of a file, unmapped when the last `Bytes` pointing into it is dropped.
struct Window {
    base: *mut libc::c_void,
    mapped_len: usize,
    /// Where the requested bytes start inside the mapping (the file offset rounded down to a
    /// page), and how many there are.
    skip: usize,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; reading it from any thread
// is as safe as reading a `&[u8]`.
unsafe impl Send for Window {}
unsafe impl Sync for Window {}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `base..base + mapped_len` is a live PROT_READ mapping until `drop`, and
        // `skip + len <= mapped_len`.
        unsafe { std::slice::from_raw_parts((self.base as *const u8).add(self.skip), self.len) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map_window` created, once.
        unsafe {
            libc::munmap(self.base, self.mapped_len);
        }
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&size| size > 0).unwrap_or(4096)
}

/// Maps `len` bytes of `file` from `offset` (`len > 0`) and faults them in.
pub(crate) fn map_window(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Bytes> {
    let page = page_size();
    let start = offset - offset % page;
    let skip = (offset - start) as usize;
    let mapped_len = skip + len;
    let file_offset = libc::off_t::try_from(start).map_err(std::io::Error::other)?;
    // SAFETY: a fresh read-only shared mapping of an open file; the result is checked.
    let base = unsafe {
        libc::mmap(std::ptr::null_mut(), mapped_len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), file_offset)
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let window = Window { base, mapped_len, skip, len };
    // SAFETY: advice on the mapping just created. Failure (kernels before 5.14) only means
    // the pages fault in later, while being sent.
    unsafe {
        libc::madvise(base, mapped_len, libc::MADV_POPULATE_READ);
    }
    Ok(Bytes::from_owner(window))
}
