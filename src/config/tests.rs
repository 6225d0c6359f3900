//! Tests of configuration loading: every problem at once, each naming its target.

use super::*;
use clap::Parser;
use std::collections::HashMap;

struct FakeEnv(HashMap<&'static str, &'static str>);
impl Env for FakeEnv {
    fn var(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|v| v.to_string())
    }
}
fn no_env() -> FakeEnv {
    FakeEnv(HashMap::new())
}
fn cli(args: &[&str]) -> Cli {
    let mut v = vec!["persistence_exporter"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v).unwrap()
}

#[test]
fn nothing_configured_watches_local_defaults() {
    let s = load(&cli(&[]), &no_env()).unwrap();
    assert_eq!(s.redis.len(), 1);
    assert_eq!(s.redis[0].name, "localhost:6379");
    assert_eq!(s.postgres.len(), 1);
    assert_eq!(s.postgres[0].name, "localhost:5432/postgres");
    assert_eq!(s.docker.unwrap().host, DEFAULT_DOCKER_HOST);
}

#[test]
fn only_configured_collectors_run() {
    let s = load(&cli(&["--redis.addr", "redis://127.0.0.1:7000"]), &no_env()).unwrap();
    assert_eq!(s.redis.len(), 1);
    assert!(s.postgres.is_empty());
    assert!(s.docker.is_none());
}

#[test]
fn url_password_moves_into_secret() {
    let s = load(
        &cli(&["--redis.addr", "redis://bob:pa%40ss@h:7000/1"]),
        &no_env(),
    )
    .unwrap();
    let t = &s.redis[0];
    assert_eq!(t.url, "redis://bob@h:7000/1");
    assert_eq!(t.name, "h:7000");
    assert_eq!(t.password.as_ref().unwrap().expose(), "pa@ss");
    assert!(!format!("{s:?}").contains("pa@ss"));
}

#[test]
fn redis_password_env_is_accepted() {
    let env = FakeEnv(HashMap::from([("REDIS_PASSWORD", "pw1")]));
    let s = load(&cli(&["--redis.addr", "redis://h:1"]), &env).unwrap();
    assert_eq!(s.redis[0].password.as_ref().unwrap().expose(), "pw1");
}

#[test]
fn data_source_name_is_accepted() {
    let env = FakeEnv(HashMap::from([(
        "DATA_SOURCE_NAME",
        "postgresql://u:secret@db:5433/app?sslmode=disable",
    )]));
    let s = load(&cli(&[]), &env).unwrap();
    assert_eq!(s.postgres.len(), 1);
    assert!(s.redis.is_empty());
    assert_eq!(s.postgres[0].name, "db:5433/app");
    assert_eq!(s.postgres[0].password.as_ref().unwrap().expose(), "secret");
    assert!(!s.postgres[0].dsn.contains("secret"));
    assert_eq!(s.postgres[0].ssl_mode, Some(PgSslMode::Disable));
}

#[test]
fn file_errors_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yml");
    std::fs::write(
        &p,
        "scrape_timeout: 10x\nbogus: 1\nredis:\n  - name: a\n    addr: http://x\n    colour: red\n    timeout: soon\n  - name: a\n    addr: redis://y:1\n    password_file: /nonexistent/pw\npostgres:\n  - name: p\n    dsn: 'host=x port=notaport'\n    statements_top_n: 1000\n",
    )
    .unwrap();
    let c = cli(&["--config.file", p.to_str().unwrap()]);
    let all = load(&c, &no_env()).unwrap_err().lines().join("\n");
    for needle in [
        "scrape_timeout",
        "unknown key \"bogus\"",
        "unknown key \"colour\"",
        "redis[0] (name \"a\"): timeout",
        "must start with redis://",
        "/nonexistent/pw",
        "statements_top_n",
        "postgres DSN",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn file_targets_with_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "filepw\n").unwrap();
    let p = dir.path().join("c.yml");
    std::fs::write(
        &p,
        format!(
            "redis:\n  - name: cache\n    addr: redis://10.0.0.1:6380\n    username: exporter\n    password_file: {}\n    timeout: 2s\npostgres:\n  - name: main\n    dsn: postgresql://exporter@db/postgres\n    password_env: PGPW\n    sslmode: require\n",
            pw.display()
        ),
    )
    .unwrap();
    let env = FakeEnv(HashMap::from([("PGPW", "envpw")]));
    let s = load(&cli(&["--config.file", p.to_str().unwrap()]), &env).unwrap();
    assert_eq!(s.redis[0].name, "cache");
    assert_eq!(s.redis[0].url, "redis://exporter@10.0.0.1:6380");
    assert_eq!(s.redis[0].password.as_ref().unwrap().expose(), "filepw");
    assert_eq!(s.redis[0].timeout, Duration::from_secs(2));
    assert_eq!(s.postgres[0].password.as_ref().unwrap().expose(), "envpw");
    assert_eq!(s.postgres[0].ssl_mode, Some(PgSslMode::Require));
    assert!(s.docker.is_none());
}

#[test]
fn odd_percent_escapes_do_not_panic() {
    for addr in [
        "redis://:%a\u{e9}@h:1",
        "redis://:%@h:1",
        "redis://:%\u{e9}%@h:1",
    ] {
        let _ = load(&cli(&["--redis.addr", addr]), &no_env());
    }
    let s = load(&cli(&["--redis.addr", "redis://:%a\u{e9}@h:1"]), &no_env()).unwrap();
    assert_eq!(s.redis[0].password.as_ref().unwrap().expose(), "%a\u{e9}");
    let e = load(&cli(&["--redis.addr", "redis://:%ff@h:1"]), &no_env()).unwrap_err();
    assert!(e.to_string().contains("UTF-8"), "{e}");
}

#[test]
fn ambiguous_urls_are_config_errors_without_the_password() {
    let pg = "postgresql://exporter:P@ss#w0rd:/!@127.0.0.1:22955/postgres";
    let e = load(&cli(&["--postgres.dsn", pg]), &no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("%40") && e.contains("%23") && e.contains("password_file"));
    assert!(!e.contains("P@ss") && !e.contains("w0rd"), "{e}");
    for addr in [
        "redis://:P@ss@h:1",
        "redis://:P ss@h:1",
        "redis://u:P#ss@h:1",
    ] {
        let e = load(&cli(&["--redis.addr", addr]), &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("ambiguous"), "{e}");
        assert!(!e.contains("P@") && !e.contains("ss@"), "{e}");
    }
    let kv = "host=h password=my secretword user=u";
    let e = load(&cli(&["--postgres.dsn", kv]), &no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("quote"), "{e}");
    assert!(!e.contains("secretword"), "{e}");
}

#[test]
fn file_username_is_encoded_into_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yml");
    std::fs::write(
        &p,
        "redis:\n  - name: r\n    addr: redis://h:1\n    username: 'a:b@c'\n",
    )
    .unwrap();
    let s = load(&cli(&["--config.file", p.to_str().unwrap()]), &no_env()).unwrap();
    assert_eq!(s.redis[0].url, "redis://a%3Ab%40c@h:1");
    assert!(s.redis[0].password.is_none());
}

#[test]
fn durations_are_bounded() {
    let e = load(&cli(&["--scrape.timeout", "25h"]), &no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--scrape.timeout") && e.contains("limit"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yml");
    std::fs::write(
        &p,
        "scrape_timeout: 2d\nredis:\n  - name: r\n    addr: redis://h:1\n    timeout: 1000y\ndocker:\n  disk_usage_interval: 2y\n",
    )
    .unwrap();
    let e = load(&cli(&["--config.file", p.to_str().unwrap()]), &no_env())
        .unwrap_err()
        .lines()
        .join("\n");
    for needle in [
        "scrape_timeout",
        "redis[0] (name \"r\"): timeout",
        "disk_usage_interval",
    ] {
        assert!(e.contains(needle), "{needle} missing in {e}");
    }
}

#[test]
fn splits_verify_modes_out_of_dsn() {
    let (d, m) = split_sslmode("postgresql://h/db?sslmode=verify-full&application_name=x");
    assert_eq!(d, "postgresql://h/db?application_name=x");
    assert_eq!(m, Some(PgSslMode::VerifyFull));
    let (d, m) = split_sslmode("host=h sslmode=verify-ca");
    assert_eq!(d, "host=h");
    assert_eq!(m, Some(PgSslMode::VerifyCa));
    let (d, m) = split_sslmode("host=h password='a\tb  c' sslmode='require'");
    assert_eq!(d, "host=h password='a\tb  c'");
    assert_eq!(m, Some(PgSslMode::Require));
}

/// Writes `text` as a config file and loads it.
fn load_file(text: &str, env: &FakeEnv) -> Result<Settings, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yml");
    std::fs::write(&p, text).unwrap();
    load(&cli(&["--config.file", p.to_str().unwrap()]), env)
}

#[test]
fn ten_mistakes_are_all_reported_each_naming_its_target() {
    let text = "\
scrape_timout: 5s
redis:
  - name: cache
    addr: http://cache:6379
    timeout: 5 sec
    profile: das-tren
    checks:
      redis_maxmemory: {expect: 1 gigabyte}
      redis_aof_enable: {enabled: false}
postgres:
  - name: main
    dsn: postgresql://exporter@db/postgres
    password_env: PG_PASSWORD_UNSET
    profile: das-tern
    sslmode: verify-fulll
    statements_top_n: 1000
    checks:
      postgres_version_min: {expect: sixteen}
  - name: replica
    dsn: postgresql://exporter@db2/postgres
    sslmode: verify-full
";
    let e = load_file(text, &no_env()).unwrap_err();
    let lines = e.lines();
    let want = [
        "config: unknown key \"scrape_timout\" (did you mean \"scrape_timeout\"?)",
        "redis[0] (name \"cache\"): timeout: \"5 sec\" is not a duration; write it like 5s, 1m30s or 250ms",
        "redis[0] (name \"cache\"): profile: \"das-tren\" is not a built-in profile",
        "redis[0] (name \"cache\"): checks.redis_aof_enable: unknown check \"redis_aof_enable\" (did you mean \"redis_aof_enabled\"?)",
        "redis[0] (name \"cache\"): addr: \"http://cache:6379\" must start with redis://",
        "postgres[0] (name \"main\"): sslmode: \"verify-fulll\" is not one of",
        "postgres[0] (name \"main\"): statements_top_n: 1000 is above the limit of 100",
        "postgres[0] (name \"main\"): password_env: environment variable PG_PASSWORD_UNSET is not set",
        "postgres[0] (name \"main\"): checks.postgres_version_min.expect: \"sixteen\" is not a version",
        "postgres[1] (name \"replica\"): sslmode: verify-ca and verify-full need ca_file",
    ];
    for w in want {
        assert!(
            lines.iter().any(|l| l.starts_with(w)),
            "missing {w:?} in:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("(did you mean \"das-tern\"?)")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("(did you mean \"verify-full\"?)")),
        "{lines:?}"
    );
    // The bad profile name did not hide the bad override behind it.
    assert!(
        lines.iter().any(|l| l.contains("checks.redis_aof_enable")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.is_empty()));
    assert_eq!(e.0.len(), lines.len());
    assert!(e.0.iter().all(|p| !p.path.is_empty()));
}

#[test]
fn did_you_mean_for_keys_enums_and_profiles() {
    let e = load_file(
        "redis:\n  - name: r\n    addr: redis://h:1\n    containr: x\n    checks:\n      redis_aof_fsync: {severty: info}\n",
        &no_env(),
    )
    .unwrap_err()
    .lines()
    .join("\n");
    assert!(
        e.contains("redis[0] (name \"r\"): unknown key \"containr\" (did you mean \"container\"?)"),
        "{e}"
    );
    assert!(
        e.contains("checks.redis_aof_fsync: unknown key \"severty\" (did you mean \"severity\"?)"),
        "{e}"
    );
    let e = load(
        &cli(&["--redis.addr", "redis://h:1", "--profile", "durabel"]),
        &no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("(did you mean \"durable\"?)"), "{e}");
    assert!(did_you_mean("zzzzzzzz", ["durable", "cache"]).is_none());
}

#[test]
fn expectation_typos_are_errors_at_load_time() {
    let e = load_file(
        "redis:\n  - name: r\n    addr: redis://h:1\n    profile: das-tern\n    checks: {redis_maxmemory: {expect: 1 gigabyte}}\n",
        &no_env(),
    )
    .unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].path, "redis[0] (name \"r\")");
    assert!(
        e.0[0]
            .message
            .starts_with("checks.redis_maxmemory.expect: \"1 gigabyte\" is not a size"),
        "{e}"
    );
    let s = load_file(
        "redis:\n  - name: r\n    addr: redis://h:1\n    profile: das-tern\n    checks: {redis_maxmemory: {expect: 1gb}}\n",
        &no_env(),
    )
    .unwrap();
    assert_eq!(
        s.redis[0].profile.checks[&crate::check_id::CheckId::RedisMaxmemory].expect,
        "1gb"
    );
    // A profile file's expectations are validated too.
    let dir = tempfile::tempdir().unwrap();
    let prof = dir.path().join("p.yml");
    std::fs::write(
        &prof,
        "name: mine\nchecks:\n  redis_aof_fsync: {severity: info, expect: everysek}\n",
    )
    .unwrap();
    let e = load(
        &cli(&[
            "--redis.addr",
            "redis://h:1",
            "--profile",
            prof.to_str().unwrap(),
        ]),
        &no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("(did you mean \"everysec\"?)"), "{e}");
}

#[test]
fn in_container_false_and_the_flags() {
    let s = load_file(
        "redis:\n  - name: r\n    addr: redis://h:1\n    in_container: false\n  - name: s\n    addr: redis://h:2\n    container: c\npostgres:\n  - name: p\n    dsn: postgresql://u@h/db\n    in_container: false\n",
        &no_env(),
    )
    .unwrap();
    assert!(s.redis[0].not_in_container && s.redis[0].container.is_none());
    assert!(!s.redis[1].not_in_container);
    assert_eq!(s.redis[1].container.as_deref(), Some("c"));
    assert!(s.postgres[0].not_in_container);
    let e = load_file(
        "redis:\n  - name: r\n    addr: redis://h:1\n    in_container: false\n    container: c\n",
        &no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("redis[0] (name \"r\"): in_container: set container: NAME or in_container: false, not both"), "{e}");
    let s = load(
        &cli(&[
            "--redis.addr",
            "redis://h:1",
            "--redis.not-in-container",
            "--postgres.dsn",
            "postgresql://u@h/db",
        ]),
        &no_env(),
    )
    .unwrap();
    assert!(s.redis[0].not_in_container);
    assert!(!s.postgres[0].not_in_container);
    let s = load(
        &cli(&[
            "--postgres.dsn",
            "postgresql://u@h/db",
            "--postgres.not-in-container",
        ]),
        &no_env(),
    )
    .unwrap();
    assert!(s.postgres[0].not_in_container);
    let e = load(
        &cli(&[
            "--postgres.dsn",
            "postgresql://u@h/db",
            "--redis.not-in-container",
        ]),
        &no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--redis.not-in-container: applies to the targets of --redis.addr"),
        "{e}"
    );
}

#[test]
fn defaults_used_are_recorded() {
    let s = load(&cli(&[]), &no_env()).unwrap();
    let kinds: Vec<DefaultKind> = s.defaults_used.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            DefaultKind::Redis,
            DefaultKind::Postgres,
            DefaultKind::Docker
        ]
    );
    assert_eq!(s.defaults_used[0].address, "redis://localhost:6379");
    assert_eq!(s.defaults_used[1].address, DEFAULT_POSTGRES_DSN);
    assert_eq!(s.defaults_used[2].address, DEFAULT_DOCKER_HOST);
    let line = crate::config_check_line(&s);
    assert!(
        line.contains("built-in default targets: redis://localhost:6379"),
        "{line}"
    );
    let s = load(&cli(&["--redis.addr", "redis://h:1"]), &no_env()).unwrap();
    assert!(s.defaults_used.is_empty());
    assert!(!crate::config_check_line(&s).contains("default"));
}

#[test]
fn a_bad_field_does_not_hide_the_rest_of_its_entry() {
    // A wrong type, a bad enum and a missing key in one entry: all three, and the
    // target's other fields are still validated.
    let e = load_file(
        "postgres:\n  - name: p\n    sslmode: sometimes\n    statements_top_n: lots\n    timeout: 2d\n",
        &no_env(),
    )
    .unwrap_err()
    .lines()
    .join("\n");
    for needle in [
        "postgres[0] (name \"p\"): dsn: missing",
        "postgres[0] (name \"p\"): sslmode: \"sometimes\" is not one of",
        "postgres[0] (name \"p\"): statements_top_n:",
        "postgres[0] (name \"p\"): timeout: 172800s is above the limit of 86400s",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
}

#[test]
fn web_config_is_validated_in_the_config_layer() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("web.yml");
    std::fs::write(
        &w,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n  client_auth_type: RequireAndVerifyClientCert\nbasic_auth_users:\n  bob: plaintext-secret\nbasic_auth_user: {}\n",
    )
    .unwrap();
    let e = load(
        &cli(&[
            "--redis.addr",
            "redis://h:1",
            "--web.config.file",
            w.to_str().unwrap(),
        ]),
        &no_env(),
    )
    .unwrap_err()
    .lines()
    .join("\n");
    for needle in [
        "basic_auth_users.bob: not a bcrypt hash",
        "tls_server_config.cert_file: missing.crt",
        "tls_server_config.key_file: missing.key",
        "needs client_ca_file",
        "unknown key \"basic_auth_user\" (did you mean \"basic_auth_users\"?)",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
    assert!(!e.contains("plaintext-secret"), "{e}");
    assert_eq!(
        parse_listen_address("[::1]:80"),
        Ok(("::1".to_string(), 80))
    );
    assert!(parse_listen_address("9631").is_err());
}

#[test]
fn size_interval_from_the_file_or_the_flag() {
    let s = load_file(
        "postgres:\n  - name: a\n    dsn: host=a\n    size_interval: 5m\n  - name: b\n    dsn: host=b\n",
        &no_env(),
    )
    .unwrap();
    assert_eq!(s.postgres[0].size_interval, Duration::from_secs(300));
    assert_eq!(
        s.postgres[1].size_interval,
        Duration::from_secs(60),
        "default 1m"
    );
    let s = load(
        &cli(&["--postgres.dsn", "host=a", "--postgres.size-interval", "0s"]),
        &no_env(),
    )
    .unwrap();
    assert_eq!(s.postgres[0].size_interval, Duration::ZERO);
    let e = load_file(
        "postgres:\n  - name: a\n    dsn: host=a\n    size_interval: 2d\n",
        &no_env(),
    )
    .unwrap_err();
    assert!(
        e.lines().iter().any(|l| l.contains("size_interval")),
        "{e:?}"
    );
}
