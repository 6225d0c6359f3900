//! The das-tern stack, for real: PostgreSQL (15, 16, 17, 18) and Redis in Docker
//! containers on named `local` volumes, configured exactly as the report says, audited
//! with the `das-tern` profile by the exporter and by `persistence_exporter check`.

use crate::common;

use common::docker::{DataSetup, Net, PostgresContainer, RedisContainer, TestVolume, unique};
use common::{Exporter, env_path};
use std::process::Command;

const DOCKER_HOST: &str = "unix:///var/run/docker.sock";
const REDIS_PW: &str = "dastern_redis_password";

fn das_tern_postgres(version: u32, volume: &str) -> PostgresContainer {
    let bin = env_path(&format!("PE_PG{version}_BIN"));
    let data = "/var/lib/postgresql/data";
    PostgresContainer::start_with(
        &unique(&format!("das-tern-pg{version}")),
        &bin,
        data,
        &["-v".to_string(), format!("{volume}:{data}")],
        &[
            ("max_connections", "20"),
            ("log_min_duration_statement", "1000"),
            ("timezone", "Asia/Phnom_Penh"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn das_tern_stack_passes_from_postgres_16() {
    let versions = [15u32, 16, 17, 18];
    // Separate bindings: locals drop in reverse order, so the containers go before the
    // volumes they use (a volume in use cannot be removed).
    let volumes: Vec<TestVolume> = tokio::task::block_in_place(|| {
        versions
            .iter()
            .map(|v| TestVolume::create(&unique(&format!("postgres_data_{v}")), &[]))
            .chain([TestVolume::create(&unique("redis_data"), &[])])
            .collect()
    });
    let (pgs, redis) = tokio::task::block_in_place(|| {
        let pgs: Vec<PostgresContainer> = versions
            .iter()
            .zip(&volumes)
            .map(|(v, vol)| das_tern_postgres(*v, &vol.name))
            .collect();
        let redis = RedisContainer::start_configured(
            &unique("das-tern-redis"),
            "/data",
            &DataSetup::Named(volumes[4].name.clone()),
            &Net::Host,
            &[],
            &format!(
                "--requirepass {REDIS_PW} --maxmemory 512mb --maxmemory-policy allkeys-lru --save 60 1000 --appendonly yes --appendfsync everysec"
            ),
            Some(REDIS_PW),
        );
        (pgs, redis)
    });
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("redis.pw");
    std::fs::write(&pw, REDIS_PW).unwrap();
    let mut yaml = format!(
        "docker:\n  host: {DOCKER_HOST}\nredis:\n  - name: redis\n    addr: redis://127.0.0.1:{}\n    password_file: {}\n    container: {}\n    profile: profiles/das-tern.yml\npostgres:\n",
        redis.port,
        pw.display(),
        redis.container.name
    );
    for (v, pg) in versions.iter().zip(&pgs) {
        yaml.push_str(&format!(
            "  - name: postgres{v}\n    dsn: postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable\n    container: {}\n    profile: das-tern\n",
            pg.port, pg.container.name
        ));
    }
    let cfg = dir.path().join("das-tern.yml");
    std::fs::write(&cfg, yaml).unwrap();

    // The one-shot audit: every check of every target is evaluated.
    let out = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_persistence_exporter"))
            .args([
                "check",
                "--output",
                "json",
                "--config.file",
                cfg.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let results = doc["results"].as_array().unwrap();
    // The volume headroom check measures this machine's own disk, which the stack does
    // not control: it must be evaluated (PASS or FAIL, never UNKNOWN), and is left out of
    // the stack's verdict. Its thresholds are tested in `checks` and `docker`.
    for r in results
        .iter()
        .filter(|r| r["check"] == "docker_volume_headroom")
    {
        assert!(r["status"] == "PASS" || r["status"] == "FAIL", "{r}");
    }
    let not_pass: Vec<String> = results
        .iter()
        .filter(|r| r["status"] != "PASS" && r["status"] != "N/A")
        .filter(|r| r["check"] != "docker_volume_headroom")
        .map(|r| {
            format!(
                "{} {} {} (expected {}, observed {} {})",
                r["target"], r["check"], r["status"], r["expected"], r["observed"], r["reason"]
            )
        })
        .collect();
    // Exactly one miss: PostgreSQL 15 is below the required 16.
    assert_eq!(not_pass.len(), 1, "{not_pass:#?}");
    let v15 = results
        .iter()
        .find(|r| r["target"] == "postgres15" && r["check"] == "postgres_version_min")
        .unwrap();
    assert_eq!(v15["status"], "FAIL");
    assert_eq!(v15["observed"], "15");
    assert_eq!(out.status.code(), Some(1), "a failing check exits 1");
    for t in ["redis", "postgres16", "postgres17", "postgres18"] {
        let n = results.iter().filter(|r| r["target"] == t).count();
        assert!(n >= 10, "{t} has {n} checks");
        for check in [
            "redis_data_on_named_volume",
            "postgres_data_on_named_volume",
        ] {
            if let Some(r) = results
                .iter()
                .find(|r| r["target"] == t && r["check"] == check)
            {
                assert!(
                    r["observed"].as_str().unwrap().starts_with("volume "),
                    "{r}"
                );
            }
        }
    }

    // The same through the exporter's metrics.
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let m = e.scrape().await;
    for t in ["redis", "postgres16", "postgres17", "postgres18"] {
        for sev in ["critical", "warning", "info"] {
            // This machine's own disk headroom is left out, as above.
            let headroom_failing = m
                .all(
                    "persistence_check_ok",
                    &[
                        ("target", t),
                        ("check", "docker_volume_headroom"),
                        ("severity", sev),
                    ],
                )
                .iter()
                .filter(|s| s.value == 0.0)
                .count() as f64;
            assert_eq!(
                m.value(
                    "persistence_checks_failing",
                    &[("target", t), ("severity", sev)]
                ) - headroom_failing,
                0.0,
                "{t} {sev}: {}",
                m.text
                    .lines()
                    .filter(|l| l.starts_with("persistence_check")
                        && l.contains(&format!("target=\"{t}\"")))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert!(
            m.all("persistence_check_unknown", &[("target", t)])
                .is_empty(),
            "{t}"
        );
    }
    assert_eq!(
        m.value(
            "persistence_check_ok",
            &[
                ("target", "postgres15"),
                ("check", "postgres_version_min"),
                ("severity", "critical")
            ]
        ),
        0.0
    );

    // Misconfigurations at runtime flip exactly their own check.
    let mut c = redis::Client::open(format!("redis://:{REDIS_PW}@127.0.0.1:{}", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("always")
        .query(&mut c)
        .unwrap();
    let m = e.scrape().await;
    let failing: Vec<_> = m
        .all("persistence_check_ok", &[("target", "redis")])
        .into_iter()
        .filter(|s| s.value == 0.0)
        .map(|s| s.labels["check"].clone())
        .filter(|c| c != "docker_volume_headroom")
        .collect();
    assert_eq!(failing, vec!["redis_aof_fsync"]);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("everysec")
        .query(&mut c)
        .unwrap();

    // The acceptance command form: flags and --profile with the shipped file.
    let pg17 = &pgs[2];
    let out = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_persistence_exporter"))
            .args([
                "check",
                "--profile",
                "profiles/das-tern.yml",
                "--redis.addr",
                &format!("redis://127.0.0.1:{}", redis.port),
                "--redis.password-file",
                pw.to_str().unwrap(),
                "--postgres.dsn",
                &format!(
                    "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
                    pg17.port
                ),
            ])
            .output()
            .unwrap()
    });
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("Requirement") && table.contains("0 failed"),
        "{table}"
    );
}
