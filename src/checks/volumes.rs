//! Checks on where a target's data lives: on a named Docker volume (with the expected
//! driver), and with enough free space under the volumes. Both read the data location
//! joined in the scrape's view (`outcome::view`).

use super::Eval;
use crate::collectors::docker::{DataMount, FsCapacity, MountType};
use crate::config::profile::CheckSpec;

/// `*_data_on_named_volume`: the data directory is on a named volume, with the expected
/// driver (`any` or empty: every driver).
pub(super) fn on_named_volume(spec: &CheckSpec, data: Result<&DataMount, &str>) -> Eval {
    let m = match data {
        Ok(m) => m,
        Err(reason) => return Eval::unknown(reason),
    };
    let mount_type = m.mount_type.as_str();
    let observed = if m.volume.is_empty() {
        mount_type.to_string()
    } else {
        format!("{mount_type} {} (driver {})", m.volume, m.driver)
    };
    let on_volume = matches!(m.mount_type, MountType::Volume);
    let driver_ok = match spec.expect.trim() {
        "any" | "" => true,
        d => d == m.driver,
    };
    Eval::pass_if(on_volume && driver_ok, observed)
}

/// `docker_volume_headroom`: the filesystem under the volumes is used at most the expected
/// percentage, for data that is on a volume.
pub(super) fn headroom(
    spec: &CheckSpec,
    data: Result<&DataMount, &str>,
    fs: Option<&FsCapacity>,
) -> Eval {
    let limit: f64 = match spec.expect.trim().trim_end_matches('%').parse::<f64>() {
        Ok(l) => l,
        Err(_) => {
            return Eval::unknown(format!("expectation {:?} is not a percentage", spec.expect));
        }
    };
    match data {
        Err(reason) => return Eval::unknown(reason),
        Ok(m) if !matches!(m.mount_type, MountType::Volume | MountType::AnonymousVolume) => {
            return Eval::unknown(format!(
                "data is not on a volume ({})",
                m.mount_type.as_str()
            ));
        }
        Ok(_) => {}
    }
    let Some(fs) = fs.filter(|f| f.size_bytes > 0) else {
        return Eval::unknown("the exporter cannot see Docker's data root");
    };
    let used = 100.0 * (1.0 - fs.avail_bytes as f64 / fs.size_bytes as f64);
    Eval::pass_if(
        used <= limit,
        format!(
            "{used:.1}% used ({} free of {})",
            super::format_iec(fs.avail_bytes as f64),
            super::format_iec(fs.size_bytes as f64)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{Facts, Scope, Status};
    use super::*;
    use crate::check_id::CheckId;
    use crate::collectors::docker::MountType;

    fn spec(expect: &str) -> CheckSpec {
        CheckSpec {
            severity: crate::config::profile::Severity::Warning,
            expect: expect.into(),
            escalate_to: None,
        }
    }

    #[test]
    fn named_volume_with_the_expected_driver() {
        let m = named_volume();
        assert_eq!(
            on_named_volume(&spec("any"), Ok(&m)),
            Eval::pass_if(true, "volume redis_data (driver local)")
        );
        assert_eq!(on_named_volume(&spec("nfs"), Ok(&m)).status, Status::Fail);
        let anon = mount(MountType::AnonymousVolume, &"a".repeat(64), "local");
        assert_eq!(
            on_named_volume(&spec("any"), Ok(&anon)).status,
            Status::Fail
        );
        let none = mount(MountType::None, "", "");
        assert_eq!(
            on_named_volume(&spec("any"), Ok(&none)),
            Eval::pass_if(false, "none")
        );
        assert_eq!(
            on_named_volume(&spec("any"), Err("no container")).status,
            Status::Unknown("no container".into())
        );
    }

    #[test]
    fn headroom_needs_a_volume_and_a_visible_filesystem() {
        let m = named_volume();
        assert_eq!(
            headroom(&spec("90%"), Ok(&m), Some(&fs(100, 50))),
            Eval::pass_if(true, "50.0% used (50 bytes free of 100 bytes)")
        );
        assert_eq!(
            headroom(&spec("90%"), Ok(&m), Some(&fs(100, 5))).status,
            Status::Fail
        );
        assert_eq!(
            headroom(&spec("90%"), Ok(&m), None).status,
            Status::Unknown("the exporter cannot see Docker's data root".into())
        );
        assert_eq!(
            headroom(&spec("90%"), Ok(&m), Some(&fs(0, 0))).status,
            Status::Unknown("the exporter cannot see Docker's data root".into())
        );
        let bind = mount(MountType::Bind, "", "");
        assert_eq!(
            headroom(&spec("90%"), Ok(&bind), Some(&fs(100, 50))).status,
            Status::Unknown("data is not on a volume (bind)".into())
        );
        assert_eq!(
            headroom(&spec("lots"), Ok(&m), Some(&fs(100, 50))).status,
            Status::Unknown("expectation \"lots\" is not a percentage".into())
        );
    }

    #[test]
    fn full_volume_fails_headroom_through_evaluate() {
        let r = run(
            Facts::Down(Scope::Postgres, "x".into()),
            Ok(&named_volume()),
            Some(&fs(100, 5)),
            "das-tern",
        );
        // A down target is unknown everywhere, headroom included.
        assert!(
            r.iter().any(|r| r.check == CheckId::DockerVolumeHeadroom
                && matches!(r.status, Status::Unknown(_)))
        );
    }
}
