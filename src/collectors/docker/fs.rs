//! Capacity of the filesystem holding Docker's volumes (`statvfs`), when the Engine runs
//! on this machine.

use super::snapshot::FsCapacity;
use std::path::Path;
use tokio::time::Instant;

/// `statvfs` of `<root>/volumes` (or `<root>`), off the async threads, before `deadline`.
pub(super) async fn volumes_capacity(root: &str, deadline: Instant) -> Option<FsCapacity> {
    let root = root.to_string();
    let task = tokio::task::spawn_blocking(move || {
        let volumes = Path::new(&root).join("volumes");
        statvfs(&volumes).or_else(|| statvfs(Path::new(&root)))
    });
    tokio::time::timeout_at(deadline, task).await.ok()?.ok()?
}

// The statvfs field types differ between platforms (u32 on some 32-bit targets).
#[allow(clippy::unnecessary_cast)]
fn statvfs(path: &Path) -> Option<FsCapacity> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated string and `st` points to writable memory of
    // the right type; statvfs fills it completely when it returns 0.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let st = unsafe { st.assume_init() };
    let unit = if st.f_frsize > 0 {
        st.f_frsize as u64
    } else {
        st.f_bsize as u64
    };
    Some(FsCapacity {
        path: path.display().to_string(),
        size_bytes: (st.f_blocks as u64).saturating_mul(unit),
        avail_bytes: (st.f_bavail as u64).saturating_mul(unit),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn statvfs_of_root_works() {
        let c = statvfs(Path::new("/")).unwrap();
        assert!(c.size_bytes > 0 && c.avail_bytes <= c.size_bytes);
        assert!(statvfs(Path::new("/nonexistent/x")).is_none());
    }
}
