#!/usr/bin/env python3
"""Cross-checks of the compose stack, run by scripts/test.d/40-deploy.sh.

Input: the output of `docker-compose -f deploy/compose.yaml config` (paths resolved,
variables at their defaults) on stdin; argv[1] is the repo root.

Checks that what the services mount, build from and read exists in the repo, and that
the files agree with each other where a mismatch would only show at `docker compose up`:

- every bind mount from inside the repo, the build context and Dockerfile, every secret
  file exist;
- persistence_exporter: `--config.file` is a mounted repo file; every host in its config
  is a compose service; `container:` names are the services' container_name; every
  password_file is a secret given to the exporter, every password_env is in its
  environment; the Docker socket is mounted read-only;
- prometheus: `--config.file` is a mounted repo file; its rule_files globs, resolved in
  the container and mapped back through the mounts, match every alerts/*.yml; scrape and
  Alertmanager targets are compose services;
- grafana: provisioning is mounted; every dashboard provider path is a mount holding the
  dashboards; every datasource URL points at a compose service;
- postgres: the init scripts are mounted at /docker-entrypoint-initdb.d and every secret
  they read is given to the postgres service.
"""

import glob
import os
import posixpath
import re
import sys
from urllib.parse import urlsplit

import yaml

ROOT = os.path.realpath(sys.argv[1])
compose = yaml.safe_load(sys.stdin)
services = compose.get("services", {})
errors = []


def err(msg):
    errors.append(msg)


def rel(path):
    return os.path.relpath(path, ROOT)


def in_repo(path):
    p = os.path.realpath(path)
    return p == ROOT or p.startswith(ROOT + os.sep)


def mounts(svc):
    """Bind mounts of a service: {container path: host path}."""
    out = {}
    for v in services[svc].get("volumes", []):
        if isinstance(v, dict):  # long syntax
            src, dst, kind = v.get("source", ""), v.get("target", ""), v.get("type")
            if kind != "bind":
                continue
        else:
            parts = v.split(":")
            src, dst = parts[0], parts[1] if len(parts) > 1 else parts[0]
            if not src.startswith("/"):
                continue  # named volume
        out[dst.rstrip("/") or "/"] = src
    return out


def mount_modes(svc):
    modes = {}
    for v in services[svc].get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) >= 2:
                modes[parts[1]] = parts[2] if len(parts) > 2 else "rw"
    return modes


def host_path(svc, container_path):
    """Maps a container path to the host through the service's bind mounts."""
    best = None
    for dst, src in mounts(svc).items():
        if container_path == dst or container_path.startswith(dst + "/"):
            if best is None or len(dst) > len(best[0]):
                best = (dst, src)
    if best is None:
        return None
    return best[1] + container_path[len(best[0]):]


def flag(svc, name):
    cmd = services[svc].get("command") or []
    if isinstance(cmd, str):
        cmd = cmd.split()
    for i, a in enumerate(cmd):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(cmd):
            return cmd[i + 1]
    return None


def service_hosts():
    names = set(services)
    for s in services.values():
        if s.get("container_name"):
            names.add(s["container_name"])
    return names


def secret_names(svc):
    out = set()
    for s in services[svc].get("secrets", []):
        out.add(s["source"] if isinstance(s, dict) else s)
    return out


def need_service(svc):
    if svc not in services:
        err(f"compose: no service {svc!r}")
        return False
    return True


def load_yaml(path, what):
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        err(f"{what}: {e}")
        return {}


# 1. Everything mounted / built / used as a secret from the repo exists.
for name, svc in services.items():
    for dst, src in mounts(name).items():
        if in_repo(src):
            if not os.path.exists(src):
                err(f"{name}: mounts {rel(src)} at {dst}, which does not exist in the repo")
        else:
            print(f"  {name}: host path {src} -> {dst} (on the Docker host, not checked)")
    build = svc.get("build")
    if build:
        ctx = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        if not os.path.isdir(ctx):
            err(f"{name}: build context {ctx} does not exist")
        elif not os.path.isfile(os.path.join(ctx, dockerfile)):
            err(f"{name}: {dockerfile} missing in the build context {rel(ctx)}")
for sname, sec in (compose.get("secrets") or {}).items():
    f = sec.get("file")
    if f and not os.path.isfile(f):
        err(f"secret {sname}: file {f} does not exist")
for name in services:
    for s in secret_names(name):
        if s not in (compose.get("secrets") or {}):
            err(f"{name}: uses secret {s!r}, which is not defined")

hosts = service_hosts()


def check_host(what, host, allow_local=False):
    if allow_local and host in ("localhost", "127.0.0.1"):
        return
    if host not in hosts:
        err(f"{what}: host {host!r} is not a compose service or container name")


# 2. The exporter and its config.
if need_service("persistence_exporter"):
    svc = "persistence_exporter"
    env = services[svc].get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    secrets = secret_names(svc)
    cfg_path = flag(svc, "--config.file")
    if not cfg_path:
        err("persistence_exporter: no --config.file in its command")
    else:
        src = host_path(svc, cfg_path)
        if not src or not in_repo(src) or not os.path.isfile(src):
            err(f"persistence_exporter: --config.file {cfg_path} is not a mounted repo file")
        else:
            print(f"  persistence_exporter: config {cfg_path} = {rel(src)}")
            cfg = load_yaml(src, rel(src))
            containers = {
                s.get("container_name"): n for n, s in services.items() if s.get("container_name")
            }

            def check_credentials(what, item):
                pf, pe = item.get("password_file"), item.get("password_env")
                if pf:
                    m = re.fullmatch(r"/run/secrets/([^/]+)", pf)
                    if not m or m.group(1) not in secrets:
                        err(f"{what}: password_file {pf} is not a secret of persistence_exporter")
                if pe and pe not in env:
                    err(f"{what}: password_env {pe} is not in persistence_exporter's environment")

            for kind, key in (("redis", "addr"), ("postgres", "dsn")):
                for t in cfg.get(kind) or []:
                    what = f"{rel(src)} {kind} {t.get('name')}"
                    host = urlsplit(t.get(key, "")).hostname or ""
                    check_host(what, host)
                    c = t.get("container")
                    if c and c not in containers:
                        err(f"{what}: container {c!r} is no service's container_name")
                    elif c and host not in (c, containers[c]):
                        err(f"{what}: container {c!r} is service {containers[c]!r}, host is {host!r}")
                    check_credentials(what, t)
            for mname, m in ((cfg.get("probe") or {}).get("modules") or {}).items():
                check_credentials(f"{rel(src)} probe module {mname}", m)
            dh = (cfg.get("docker") or {}).get("host", "unix:///var/run/docker.sock")
            if dh.startswith("unix://"):
                sock = dh[len("unix://"):]
                if sock not in mounts(svc):
                    err(f"persistence_exporter: docker host {dh} is not mounted")
                elif mount_modes(svc).get(sock) != "ro":
                    err(f"persistence_exporter: the Docker socket must be mounted read-only")
    if not services[svc].get("read_only"):
        err("persistence_exporter: read_only is not true")

# 3. Prometheus: config, rules, targets.
if need_service("prometheus"):
    svc = "prometheus"
    cfg_path = flag(svc, "--config.file")
    src = host_path(svc, cfg_path) if cfg_path else None
    if not src or not in_repo(src) or not os.path.isfile(src):
        err(f"prometheus: --config.file {cfg_path} is not a mounted repo file")
    else:
        print(f"  prometheus: config {cfg_path} = {rel(src)}")
        cfg = load_yaml(src, rel(src))
        loaded = set()
        for pattern in cfg.get("rule_files") or []:
            in_container = posixpath.normpath(posixpath.join(posixpath.dirname(cfg_path), pattern))
            on_host = host_path(svc, in_container)
            if not on_host:
                err(f"prometheus: rule_files {pattern} ({in_container}) is not mounted")
                continue
            found = glob.glob(on_host)
            if not found:
                err(f"prometheus: rule_files {pattern} ({in_container}) matches no file")
            loaded.update(os.path.realpath(f) for f in found)
        shipped = {os.path.realpath(f) for f in glob.glob(os.path.join(ROOT, "alerts", "*.yml"))}
        for missing in sorted(shipped - loaded):
            err(f"prometheus: rule file {rel(missing)} is not loaded in the container")
        for sc in cfg.get("scrape_configs") or []:
            for stc in sc.get("static_configs") or []:
                for t in stc.get("targets") or []:
                    check_host(f"prometheus job {sc.get('job_name')}", t.rsplit(":", 1)[0], True)
        for am in (cfg.get("alerting") or {}).get("alertmanagers") or []:
            for stc in am.get("static_configs") or []:
                for t in stc.get("targets") or []:
                    check_host("prometheus alertmanagers", t.rsplit(":", 1)[0])
        jobs = [sc.get("job_name") for sc in cfg.get("scrape_configs") or []]
        if "persistence_exporter" not in jobs:
            err("prometheus: no job named persistence_exporter (alerts/health.yml relies on it)")

# 4. Alertmanager config mounted.
if need_service("alertmanager"):
    cfg_path = flag("alertmanager", "--config.file") or "/etc/alertmanager/alertmanager.yml"
    src = host_path("alertmanager", cfg_path)
    if not src or not in_repo(src) or not os.path.isfile(src):
        err(f"alertmanager: config {cfg_path} is not a mounted repo file")

# 5. Grafana: provisioning and dashboards.
if need_service("grafana"):
    svc = "grafana"
    prov = host_path(svc, "/etc/grafana/provisioning")
    if not prov or not os.path.isdir(prov):
        err("grafana: /etc/grafana/provisioning is not a mounted repo directory")
    else:
        providers = []
        for f in sorted(glob.glob(os.path.join(prov, "dashboards", "*.y*ml"))):
            for p in load_yaml(f, rel(f)).get("providers") or []:
                providers.append((rel(f), p))
                path = (p.get("options") or {}).get("path")
                on_host = host_path(svc, path) if path else None
                if not on_host or not os.path.isdir(on_host):
                    err(f"grafana: provider {p.get('name')} ({rel(f)}) path {path} is not a mounted directory")
                elif not glob.glob(os.path.join(on_host, "*.json")):
                    err(f"grafana: provider {p.get('name')} path {path} ({rel(on_host)}) holds no dashboard")
                else:
                    print(f"  grafana: provider {p.get('name')} {path} = {rel(on_host)}")
        if not providers:
            err(f"grafana: no dashboard provider in {rel(prov)}/dashboards/")
        datasources = 0
        for f in sorted(glob.glob(os.path.join(prov, "datasources", "*.y*ml"))):
            for d in load_yaml(f, rel(f)).get("datasources") or []:
                datasources += 1
                host = urlsplit(d.get("url", "")).hostname or ""
                check_host(f"grafana datasource {d.get('name')} ({rel(f)})", host)
        if not datasources:
            err(f"grafana: no datasource in {rel(prov)}/datasources/")

# 6. PostgreSQL init scripts and their secrets.
if need_service("postgres"):
    init = host_path("postgres", "/docker-entrypoint-initdb.d")
    if not init or not os.path.isdir(init):
        err("postgres: /docker-entrypoint-initdb.d is not a mounted repo directory")
    else:
        scripts = sorted(glob.glob(os.path.join(init, "*")))
        if not scripts:
            err(f"postgres: {rel(init)} holds no init script")
        for f in scripts:
            with open(f) as fh:
                for s in re.findall(r"/run/secrets/([A-Za-z0-9_.-]+)", fh.read()):
                    if s not in secret_names("postgres"):
                        err(f"{rel(f)} reads secret {s}, which the postgres service does not get")

for e in errors:
    print(f"deploy/compose.yaml: {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print("  compose cross-checks: OK")
