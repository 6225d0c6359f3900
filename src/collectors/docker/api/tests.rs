//! Unit tests of the Docker Engine API parsers, on recorded replies.

use super::*;

#[test]
fn api_versions_parse_and_order() {
    assert_eq!(ApiVersion::parse("1.41"), Some(ApiVersion::new(1, 41)));
    assert_eq!(ApiVersion::parse("v1.52"), Some(ApiVersion::new(1, 52)));
    assert_eq!(ApiVersion::parse("1"), None);
    assert_eq!(ApiVersion::parse("x.y"), None);
    assert!(ApiVersion::new(1, 9) < ApiVersion::new(1, 41));
    assert!(ApiVersion::new(1, 44) >= DF_TYPE_FILTER_SINCE);
    assert_eq!(ApiVersion::new(1, 41).to_string(), "1.41");
}

#[test]
fn version_needs_api_version() {
    let v = parse_version(
        br#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Extra":{"x":1}}"#,
    )
    .unwrap();
    assert_eq!(v.server_version, "20.10.24");
    assert_eq!(v.api_version, ApiVersion::new(1, 41));
    assert_eq!(v.min_api_version, Some(ApiVersion::new(1, 12)));
    assert!(parse_version(br#"{"Version":"x"}"#).is_err());
    assert!(parse_version(b"<html>").is_err());
    assert!(parse_version(b"[]").is_err());
    assert!(parse_version(br#"{"ApiVersion":null}"#).is_err());
}

#[test]
fn info_fields() {
    let i =
        parse_info(br#"{"Driver":"overlay2","DockerRootDir":"/var/lib/docker","Plugins":null}"#)
            .unwrap();
    assert_eq!(i.storage_driver, "overlay2");
    assert_eq!(i.docker_root_dir, "/var/lib/docker");
    assert!(parse_info(b"{}").is_err());
    assert!(parse_info(b"null").is_err());
}

#[test]
fn volume_list_tolerates_nulls() {
    let v = parse_volume_list(br#"{"Volumes":[{"Name":"a","Driver":"local","Labels":null,"Options":null,"Scope":"local","Mountpoint":"/m"},{"Name":""},{"Name":"b","Labels":{"com.docker.compose.project":"p"}}],"Warnings":null}"#).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].name, "a");
    assert!(v[0].labels.is_empty());
    assert_eq!(v[1].labels[LABEL_COMPOSE_PROJECT], "p");
    assert!(
        parse_volume_list(br#"{"Volumes":null}"#)
            .unwrap()
            .is_empty()
    );
    assert!(parse_volume_list(br#"{"message":"x"}"#).is_err());
    assert!(parse_volume_list(br#"{"Volumes":[1,2]}"#).is_err());
}

#[test]
fn anonymous_volumes() {
    let hex = "a".repeat(64);
    assert!(is_anonymous_volume_name(&hex));
    assert!(!is_anonymous_volume_name(&"g".repeat(64)));
    assert!(!is_anonymous_volume_name("pgdata"));
    let labelled = Volume {
        name: "x".into(),
        labels: BTreeMap::from([(LABEL_ANONYMOUS_VOLUME.to_string(), String::new())]),
        ..Volume::default()
    };
    assert!(labelled.is_anonymous());
}

#[test]
fn disk_usage_legacy_shape() {
    let du = parse_disk_usage(
        br#"{"LayersSize":1,"Images":[],"Volumes":[
        {"Name":"a","Driver":"local","UsageData":{"Size":123000,"RefCount":1}},
        {"Name":"nfs","Driver":"nfs","UsageData":{"Size":-1,"RefCount":-1}},
        {"Name":"nodata","Driver":"local","UsageData":null}
    ],"BuildCache":null}"#,
    )
    .unwrap();
    assert_eq!(du["a"].size, Some(123000));
    assert_eq!(du["a"].ref_count, Some(1));
    assert_eq!(du["nfs"], VolumeUsage::default());
    assert_eq!(du["nodata"], VolumeUsage::default());
}

#[test]
fn disk_usage_volume_usage_shape() {
    let verbose = br#"{"VolumeUsage":{"ActiveVolumes":1,"TotalVolumes":2,"TotalSize":5,"Reclaimable":0,
        "Items":[{"Name":"a","UsageData":{"Size":5,"RefCount":1}},{"Name":"b","UsageData":{"Size":0,"RefCount":0}}]}}"#;
    let du = parse_disk_usage(verbose).unwrap();
    assert_eq!(du["a"].size, Some(5));
    assert_eq!(du["b"].size, Some(0));
    // The same under the alternative key name.
    let alt = String::from_utf8_lossy(verbose).replace("VolumeUsage", "VolumesDiskUsage");
    assert_eq!(parse_disk_usage(alt.as_bytes()).unwrap(), du);
    // Legacy arrays plus the summary (1.52 without verbose): the legacy arrays are read.
    let both = br#"{"Volumes":[{"Name":"a","UsageData":{"Size":5,"RefCount":1}}],"VolumeUsage":{"TotalVolumes":1,"TotalSize":5}}"#;
    assert_eq!(parse_disk_usage(both).unwrap()["a"].size, Some(5));
    // Summary only, with volumes: the per-volume data is missing — an error, not "empty".
    let summary = br#"{"VolumeUsage":{"TotalVolumes":3,"TotalSize":5}}"#;
    assert!(parse_disk_usage(summary).is_err());
    // Summary only with zero volumes (Items and counts omitted): empty.
    assert!(
        parse_disk_usage(br#"{"VolumeUsage":{}}"#)
            .unwrap()
            .is_empty()
    );
    // Neither shape.
    assert!(parse_disk_usage(br#"{"Images":[]}"#).is_err());
    assert!(parse_disk_usage(b"garbage").is_err());
}

#[test]
fn containers_and_inspect() {
    let list = parse_container_list(br#"[{"Id":"abc","Names":["/redis-1"],"Labels":{"com.docker.compose.service":"redis"},
        "Ports":[{"IP":"0.0.0.0","PrivatePort":6379,"PublicPort":16379,"Type":"tcp"},{"PrivatePort":6380,"Type":"tcp"}]}]"#).unwrap();
    assert_eq!(list[0].names, vec!["redis-1"]);
    assert_eq!(list[0].ports[0].public_port, Some(16379));
    assert_eq!(list[0].ports[1].public_port, None);
    let i = parse_container_inspect(br#"{"Id":"abc","Name":"/pg","RestartCount":2,
        "State":{"Running":true,"StartedAt":"2026-11-29T15:20:32.434560693Z"},
        "Path":"docker-entrypoint.sh","Args":["postgres","-c","log_line_prefix=%m %d "],
        "Config":{"Env":["PGDATA=/var/lib/postgresql/data"],"Labels":null,"Tty":true},
        "HostConfig":{"ReadonlyRootfs":false},
        "Mounts":[{"Type":"volume","Name":"pgdata","Source":"/var/lib/docker/volumes/pgdata/_data","Destination":"/var/lib/postgresql/data","Driver":"local","Mode":"z","RW":true}]}"#).unwrap();
    assert_eq!(i.name, "pg");
    assert_eq!(i.restart_count, 2);
    assert_eq!(i.mounts[0].name, "pgdata");
    assert!(i.tty);
    assert_eq!(
        i.argv,
        vec![
            "docker-entrypoint.sh",
            "postgres",
            "-c",
            "log_line_prefix=%m %d "
        ]
    );
    assert!(i.mounts[0].rw);
    assert!(parse_container_inspect(b"{}").is_err());
    // --tmpfs mounts are only in HostConfig.Tmpfs.
    let t = parse_container_inspect(
        br#"{"Id":"t","Mounts":[{"Type":"tmpfs","Destination":"/b","RW":true}],
        "HostConfig":{"Tmpfs":{"/a":"size=1m","/ro":"ro,size=1m","/b":""}}}"#,
    )
    .unwrap();
    let kinds: Vec<(&str, &str, bool)> = t
        .mounts
        .iter()
        .map(|m| (m.kind.as_str(), m.destination.as_str(), m.rw))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("tmpfs", "/b", true),
            ("tmpfs", "/a", true),
            ("tmpfs", "/ro", false)
        ]
    );
    assert!(parse_container_list(b"{}").is_err());
}

#[test]
fn error_messages() {
    assert_eq!(
        error_message(br#"{"message":"No such container: x"}"#),
        "No such container: x"
    );
    assert_eq!(error_message(b"plain text\n"), "plain text");
    assert!(error_message("é".repeat(300).as_bytes()).ends_with("..."));
}

#[test]
fn rfc3339() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:10Z"), Some(10.0));
    let t = parse_rfc3339("2026-11-29T15:20:32.5Z").unwrap();
    assert_eq!(t, 1_795_965_632.5);
    assert_eq!(
        parse_rfc3339("2026-11-29T16:20:32.5+01:00"),
        Some(1_795_965_632.5)
    );
    assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
    assert_eq!(parse_rfc3339(""), None);
    assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
    assert_eq!(parse_rfc3339("2026-11-29T15:20:32"), None);
    assert_eq!(parse_rfc3339("2026-11-29T15:20:32.Z"), None);
    assert_eq!(parse_rfc3339("２026-11-29T15:20:32Z"), None);
    assert_eq!(
        parse_rfc3339_nanos("2026-11-29T15:20:32.434560693Z"),
        Some(1_795_965_632_434_560_693)
    );
    assert_eq!(
        parse_rfc3339_nanos("2026-11-29T15:20:32.5Z"),
        Some(1_795_965_632_500_000_000)
    );
    assert_eq!(
        parse_rfc3339_nanos("2026-11-29T15:20:32Z"),
        Some(1_795_965_632_000_000_000)
    );
    assert_eq!(
        parse_rfc3339_nanos("2026-11-29T15:20:32.1234567890Z"),
        Some(1_795_965_632_123_456_789)
    );
    assert_eq!(parse_rfc3339("2026-02-30T00:00:00Z"), None);
    assert_eq!(parse_rfc3339_nanos("x"), None);
}
