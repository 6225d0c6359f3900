//! Build script: records the git revision for `persistence_exporter_build_info`.
fn main() {
    // An explicit revision (Docker builds have no .git) wins over asking git.
    println!("cargo:rerun-if-env-changed=PE_GIT_REVISION");
    if let Ok(rev) = std::env::var("PE_GIT_REVISION")
        && !rev.trim().is_empty()
    {
        println!("cargo:rustc-env=PE_GIT_REVISION={}", rev.trim());
        return;
    }
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PE_GIT_REVISION={rev}");
    // Watch the real git directory: in a worktree `.git` is a file pointing elsewhere, and
    // watching a path that does not exist would rebuild on every `cargo build`.
    let git_dir = std::process::Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| std::path::PathBuf::from(s.trim()));
    if let Some(dir) = git_dir {
        for watched in [dir.join("HEAD"), dir.join("refs/heads")] {
            if watched.exists() {
                println!("cargo:rerun-if-changed={}", watched.display());
            }
        }
    }
}
