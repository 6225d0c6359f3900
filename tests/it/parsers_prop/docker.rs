//! Property tests of the Docker Engine reply parsers: every JSON parser on arbitrary
//! bytes and arbitrary JSON built from the Engine's field names, `/system/df` read back
//! exactly, API versions and timestamps, and the log stream demultiplexer.

use super::*;

/// Field names the Engine uses in the replies we parse.
const DOCKER_KEYS: &[&str] = &[
    "VolumeUsage",
    "VolumesDiskUsage",
    "Items",
    "Volumes",
    "TotalVolumes",
    "TotalCount",
    "Name",
    "Driver",
    "Mountpoint",
    "Labels",
    "Scope",
    "UsageData",
    "Size",
    "RefCount",
    "CreatedAt",
    "Options",
    "Id",
    "Names",
    "Image",
    "State",
    "Status",
    "Mounts",
    "Type",
    "Source",
    "Destination",
    "RW",
    "Ports",
    "IP",
    "PrivatePort",
    "PublicPort",
    "Created",
    "Config",
    "Cmd",
    "Entrypoint",
    "Env",
    "Tty",
    "HostConfig",
    "RestartPolicy",
    "NetworkSettings",
    "Networks",
    "IPAddress",
    "DockerRootDir",
    "Driver",
    "ServerVersion",
    "OperatingSystem",
    "Version",
    "ApiVersion",
    "MinAPIVersion",
    "message",
    "Running",
    "StartedAt",
    "Pid",
    "ExitCode",
    "Path",
    "Args",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(-1)),
        prop_oneof![
            any::<String>(),
            Just("1.41".to_string()),
            Just("2024-05-01T12:00:00.123456789Z".to_string()),
            Just("/var/lib/docker/volumes/x/_data".to_string()),
            "[0-9a-f]{64}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(DOCKER_KEYS), inner), 0..6).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

fn all_docker_parsers(body: &[u8]) {
    let _ = api::parse_disk_usage(body);
    let _ = api::parse_info(body);
    let _ = api::parse_container_list(body);
    let _ = api::parse_version(body);
    let _ = api::parse_volume_list(body);
    let _ = api::parse_container_inspect(body);
    let _ = api::error_message(body);
}

proptest! {
    #[test]
    fn docker_parsers_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        all_docker_parsers(&body);
    }

    #[test]
    fn docker_parsers_never_panic_on_json(v in json_value()) {
        all_docker_parsers(v.to_string().as_bytes());
        // The same value inside each top-level shape we read.
        for wrapped in [
            json!({"VolumeUsage": {"Items": [v.clone()]}}),
            json!({"Volumes": [v.clone()]}),
            json!([v.clone()]),
            json!({"Volumes": [{"Name": "x", "UsageData": v.clone()}]}),
            json!([{"Id": "abc", "Names": ["/x"], "Mounts": [v.clone()], "Ports": [v.clone()]}]),
        ] {
            all_docker_parsers(wrapped.to_string().as_bytes());
        }
    }

    #[test]
    fn disk_usage_reads_what_the_engine_wrote(
        vols in prop::collection::btree_map("[a-z0-9_]{1,20}", (-1i64..i64::MAX, -1i64..1000), 0..10),
        legacy in any::<bool>(),
    ) {
        let items: Vec<Value> = vols.iter().map(|(name, (size, refs))| json!({
            "Name": name, "Driver": "local", "UsageData": {"Size": size, "RefCount": refs}
        })).collect();
        let body = if legacy {
            json!({"Volumes": items})
        } else {
            json!({"VolumeUsage": {"Items": items, "TotalCount": vols.len()}})
        };
        let got = api::parse_disk_usage(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(got.len(), vols.len());
        for (name, (size, refs)) in &vols {
            let u = got[name];
            prop_assert_eq!(u.size, u64::try_from(*size).ok());
            prop_assert_eq!(u.ref_count, u64::try_from(*refs).ok());
        }
    }

    #[test]
    fn api_version_and_time_parsers(s in any::<String>(), major in 0u32..1000, minor in 0u32..1000) {
        let _ = api::ApiVersion::parse(&s);
        let _ = api::parse_rfc3339(&s);
        let _ = api::parse_rfc3339_nanos(&s);
        let _ = api::is_anonymous_volume_name(&s);
        let v = api::ApiVersion::new(major, minor);
        prop_assert_eq!(api::ApiVersion::parse(&v.to_string()), Some(v));
    }

    #[test]
    fn rfc3339_reads_what_chrono_style_formatting_wrote(secs in 0i64..4_000_000_000, nanos in 0u32..1_000_000_000) {
        let days = secs.div_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        let rem = secs.rem_euclid(86400);
        let text = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem / 60 % 60, rem % 60);
        prop_assert_eq!(api::parse_rfc3339_nanos(&text), Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos)));
    }

    /// Docker's multiplexed log stream: frames cut anywhere come out whole, in order.
    #[test]
    fn log_demux_reassembles_frames(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8),
        cuts in prop::collection::vec(0usize..400, 0..8),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            stream.extend_from_slice(&[1, 0, 0, 0]);
            stream.extend_from_slice(&u32::try_from(p.len()).unwrap().to_be_bytes());
            stream.extend_from_slice(p);
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
        cuts.sort_unstable();
        let mut demux = logs::Demux::new(false);
        let mut out = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([stream.len()]) {
            out.extend(demux.push(&stream[at..c]));
            at = c;
        }
        prop_assert_eq!(out, payloads.concat());
    }

    #[test]
    fn log_demux_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8), tty in any::<bool>()) {
        let mut demux = logs::Demux::new(tty);
        for c in chunks {
            let _ = demux.push(&c);
        }
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}
