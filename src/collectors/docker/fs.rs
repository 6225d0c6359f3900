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

/// Size and available bytes of the filesystem holding `path`; `None` when it cannot be
/// read.
fn statvfs(path: &Path) -> Option<FsCapacity> {
    let stats = rustix::fs::statvfs(path).ok()?;
    let unit = if stats.f_frsize > 0 {
        stats.f_frsize
    } else {
        stats.f_bsize
    };
    Some(FsCapacity {
        path: path.display().to_string(),
        size_bytes: stats.f_blocks.saturating_mul(unit),
        avail_bytes: stats.f_bavail.saturating_mul(unit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statvfs_of_root_works() {
        let c = statvfs(Path::new("/")).unwrap();
        assert!(c.size_bytes > 0 && c.avail_bytes <= c.size_bytes);
        assert!(statvfs(Path::new("/nonexistent/x")).is_none());
    }
}
