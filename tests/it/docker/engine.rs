//! Engines other than the local one: fake Engines serving recorded API 1.41 / 1.44 /
//! 1.52 replies (the same metrics from each, renegotiation after an upgrade), and an
//! Engine that is down, missing or silent (`docker_up 0` and a 200 within the deadline).

use super::*;

/// The same four volumes served by fake Engines speaking API 1.41 (recorded), 1.44 and
/// 1.52 give the same volume metrics, and each Engine is asked what it understands.
#[tokio::test(flavor = "multi_thread")]
async fn recorded_engines_1_41_1_44_1_52_give_the_same_metrics() {
    let anon = "b33c750c5d0d1e6711f13fe17ee132095921c289b438735e8f9fb8d44075f2aa";
    let mut reference: Option<BTreeSet<String>> = None;
    for (version, server_version) in [
        ("1.41", "20.10.24+dfsg1"),
        ("1.44", "25.0.5"),
        ("1.52", "29.0.1"),
    ] {
        let fake = FakeEngine::start(version, Duration::ZERO).await;
        let e = docker_exporter(&fake.host(), "200ms").await;
        let m = e
            .scrape_until("sizes from the fake engine", Duration::from_secs(20), |m| {
                m.get(
                    "docker_volume_size_bytes",
                    &[("volume", "pe-fixture_pgdata")],
                )
                .is_some()
            })
            .await;
        assert_eq!(m.value("docker_up", &[]), 1.0, "{version}");
        assert_eq!(
            label(&m, "docker_info", &[], "api_version"),
            version,
            "negotiated version"
        );
        assert_eq!(
            label(&m, "docker_info", &[], "server_version"),
            server_version
        );
        assert_eq!(
            m.value(
                "docker_volume_size_bytes",
                &[("volume", "pe-fixture_pgdata")]
            ),
            123_000.0
        );
        assert_eq!(
            m.value("docker_volume_size_bytes", &[("volume", anon)]),
            4096.0
        );
        assert_eq!(
            m.value(
                "docker_volume_size_bytes",
                &[("volume", "pe-fixture-empty")]
            ),
            0.0
        );
        // -1 (non-local driver) is unknown, never a size or a count.
        assert!(
            m.all("docker_volume_size_bytes", &[("volume", "pe-fixture-nfs")])
                .is_empty()
        );
        assert!(
            m.all("docker_volume_ref_count", &[("volume", "pe-fixture-nfs")])
                .is_empty()
        );
        assert_eq!(
            label(&m, "docker_volume_info", &[("volume", anon)], "anonymous"),
            "true"
        );
        assert_eq!(
            label(
                &m,
                "docker_volume_info",
                &[("volume", "pe-fixture-nfs")],
                "driver"
            ),
            "nfs-plugin"
        );
        let volume_metrics: BTreeSet<String> = m
            .samples
            .iter()
            .filter(|s| s.name.starts_with("docker_volume_"))
            .map(|s| format!("{}{:?} {}", s.name, s.labels, s.value))
            .collect();
        assert_eq!(volume_metrics.len(), 10, "{volume_metrics:#?}");
        match &reference {
            None => reference = Some(volume_metrics),
            Some(r) => assert_eq!(r, &volume_metrics, "API {version} differs from 1.41"),
        }
        // What was asked: versioned paths (but /version), type=volume from 1.42 only,
        // verbose=true from 1.52 only.
        let reqs = fake.requests();
        for r in &reqs {
            assert!(
                r == "GET /version" || r.starts_with(&format!("GET /v{version}/")),
                "{version}: unexpected request {r}"
            );
        }
        let df: Vec<&String> = reqs.iter().filter(|r| r.contains("/system/df")).collect();
        assert!(!df.is_empty());
        for r in df {
            match version {
                "1.41" => assert_eq!(r, "GET /v1.41/system/df"),
                "1.44" => assert_eq!(r, "GET /v1.44/system/df?type=volume"),
                _ => assert_eq!(r, "GET /v1.52/system/df?type=volume&verbose=true"),
            }
        }
        e.stop().await;
    }
}

/// The Engine behind the socket is upgraded (API 1.41 → 1.52, which refuses 1.41): the
/// very next scrape re-negotiates instead of failing, and the background refresh follows.
#[tokio::test(flavor = "multi_thread")]
async fn an_upgraded_engine_is_renegotiated_without_a_failed_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let old = FakeEngine::start_at(&sock, "1.41", Duration::ZERO).await;
    let e = docker_exporter(&format!("unix://{}", sock.display()), "200ms").await;
    let m = e.scrape().await;
    assert_eq!(label(&m, "docker_info", &[], "api_version"), "1.41");
    drop(old);
    let new = FakeEngine::start_at(&sock, "1.52", Duration::ZERO).await;
    let m = e.scrape().await;
    assert_eq!(m.value("docker_up", &[]), 1.0, "{}", m.text);
    assert_eq!(label(&m, "docker_info", &[], "api_version"), "1.52");
    let reqs = new.requests();
    assert!(
        reqs.iter().any(|r| r.starts_with("GET /v1.41/")),
        "the cached version was tried first: {reqs:?}"
    );
    e.scrape_until(
        "a refresh from the new engine",
        Duration::from_secs(10),
        |_| {
            new.requests()
                .iter()
                .any(|r| r == "GET /v1.52/system/df?type=volume&verbose=true")
        },
    )
    .await;
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_down_or_missing_is_up_zero_and_200() {
    let dir = tempfile::tempdir().unwrap();
    // A socket file nobody listens on (the Engine died): connection refused.
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let refused_port = common::free_port();
    for host in [
        "unix:///nonexistent/docker.sock".to_string(),
        format!("unix://{}", dead.display()),
        format!("tcp://127.0.0.1:{refused_port}"),
    ] {
        let e = docker_exporter(&host, "1s").await;
        let m = e.scrape().await;
        assert_eq!(m.value("docker_up", &[]), 0.0, "{host}");
        assert!(!m.has("docker_info"));
        assert_eq!(
            m.value(
                "persistence_exporter_scrape_errors_total",
                &[
                    ("collector", "docker"),
                    ("target", &host),
                    ("reason", "connect")
                ]
            ),
            1.0
        );
        e.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_engine_still_gets_a_200_within_the_deadline() {
    let silent = SilentSocket::start();
    let e = docker_exporter(&silent.host(), "1s").await;
    let r = e
        .get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "2")])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.elapsed < Duration::from_millis(2500), "{:?}", r.elapsed);
    common::promtool_check(&r.body);
    let m = Metrics::parse(&r.body);
    assert_eq!(m.value("docker_up", &[]), 0.0);
    assert_eq!(
        m.value(
            "persistence_exporter_scrape_errors_total",
            &[("collector", "docker"), ("reason", "timeout")]
        ),
        1.0
    );
    e.stop().await;
}
