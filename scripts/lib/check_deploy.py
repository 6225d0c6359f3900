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
  they read is given to the postgres service;
- every published port names its host address explicitly, and with the variables at
  their defaults that address is loopback (the stack ships default passwords).

With `--kubernetes ROOT EXPORTER_BINARY` instead, checks deploy/kubernetes/*.yaml (see
check_kubernetes below): every manifest parses, and they refer only to things that exist.
"""

import glob
import os
import posixpath
import re
import sys
from urllib.parse import urlsplit

import yaml


def check_kubernetes(root, exporter):
    """deploy/kubernetes/: every manifest parses; the Deployment mounts the ConfigMap key
    its --config.file names and the Secret keys every password_file reads; the
    Service, ServiceMonitor and Probe use the exporter's port 9631, /metrics and /probe;
    Probe modules exist in the config and Probe targets pass its allowed_targets; the
    PrometheusRule holds the groups of alerts/*.yml; the config passes
    `persistence_exporter --config.check` (password files pointed at temporary copies)."""
    import fnmatch
    import subprocess
    import tempfile

    kdir = os.path.join(root, "deploy", "kubernetes")
    problems = []
    bad = problems.append
    docs = []
    for f in sorted(glob.glob(os.path.join(kdir, "*.yaml"))):
        try:
            for d in yaml.safe_load_all(open(f)):
                if d is None:
                    continue
                for k in ("apiVersion", "kind"):
                    if not d.get(k):
                        bad(f"{os.path.relpath(f, root)}: a document without {k}")
                if not (d.get("metadata") or {}).get("name"):
                    bad(f"{os.path.relpath(f, root)}: {d.get('kind')} without metadata.name")
                docs.append((os.path.relpath(f, root), d))
        except yaml.YAMLError as e:
            bad(f"{os.path.relpath(f, root)}: not YAML: {e}")
    by_kind = {}
    for f, d in docs:
        by_kind.setdefault(d.get("kind"), []).append((f, d))
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "ServiceMonitor", "Probe", "PrometheusRule"):
        if kind not in by_kind:
            bad(f"deploy/kubernetes: no {kind}")
    if problems:
        return problems

    configmaps = {d["metadata"]["name"]: d for _, d in by_kind["ConfigMap"]}
    secrets = {d["metadata"]["name"]: d for _, d in by_kind["Secret"]}
    services = {d["metadata"]["name"]: (f, d) for f, d in by_kind["Service"]}

    config_text = None
    secret_files = {}  # path in the container -> secret value
    for f, dep in by_kind["Deployment"]:
        pod = dep["spec"]["template"]
        if dep["spec"]["selector"]["matchLabels"].items() - pod["metadata"]["labels"].items():
            bad(f"{f}: selector does not match the pod labels")
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for c in pod["spec"]["containers"]:
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            if 9631 not in ports.values():
                bad(f"{f}: container {c['name']} does not expose the exporter's port 9631")
            for probe in ("readinessProbe", "livenessProbe"):
                h = (c.get(probe) or {}).get("httpGet")
                if h and (h.get("path") not in ("/-/healthy", "/-/ready", "/metrics") or h.get("port") not in ports and h.get("port") not in ports.values()):
                    bad(f"{f}: {probe} {h} is not /-/healthy, /-/ready or /metrics on a container port")
            cfg = next((a.split("=", 1)[1] for a in c.get("args", []) if a.startswith("--config.file=")), None)
            for m in c.get("volumeMounts", []):
                v = volumes.get(m["name"])
                if v is None:
                    bad(f"{f}: volumeMount {m['name']} has no volume")
                    continue
                if "configMap" in v:
                    cm = configmaps.get(v["configMap"]["name"])
                    if cm is None:
                        bad(f"{f}: ConfigMap {v['configMap']['name']} is not in deploy/kubernetes")
                        continue
                    key = m.get("subPath")
                    if key and key not in cm.get("data", {}):
                        bad(f"{f}: ConfigMap {v['configMap']['name']} has no key {key}")
                    if key and cfg == m["mountPath"]:
                        config_text = cm["data"][key]
                    elif not key and cfg and cfg.startswith(m["mountPath"].rstrip("/") + "/"):
                        config_text = cm.get("data", {}).get(cfg[len(m["mountPath"].rstrip("/")) + 1:])
                if "secret" in v:
                    sec = secrets.get(v["secret"]["secretName"])
                    if sec is None:
                        bad(f"{f}: Secret {v['secret']['secretName']} is not in deploy/kubernetes")
                        continue
                    for k, val in {**(sec.get("stringData") or {}), **(sec.get("data") or {})}.items():
                        secret_files[m["mountPath"].rstrip("/") + "/" + k] = val
            if config_text is None:
                bad(f"{f}: --config.file {cfg} is not a mounted ConfigMap key")
                return problems

    config = yaml.safe_load(config_text)
    modules = (config.get("probe") or {}).get("modules") or {}
    allowed = (config.get("probe") or {}).get("allowed_targets") or []
    for name, m in modules.items():
        pf = m.get("password_file")
        if pf and pf not in secret_files:
            bad(f"ConfigMap: module {name} reads {pf}, which no mounted Secret key provides")

    def service_port(host_port, what):
        host, _, port = host_port.rpartition(":")
        svc = services.get(host.split(".")[0])
        if svc is None:
            bad(f"{what}: {host} is not a Service in deploy/kubernetes")
        elif int(port or 0) not in [p["port"] for p in svc[1]["spec"]["ports"]] or port != "9631":
            bad(f"{what}: port {port} is not the exporter Service's 9631")

    for f, sm in by_kind["ServiceMonitor"]:
        sel = sm["spec"]["selector"]["matchLabels"]
        matched = [n for n, (_, s) in services.items() if sel.items() <= s["metadata"]["labels"].items()]
        if not matched:
            bad(f"{f}: selector {sel} matches no Service")
        for ep in sm["spec"]["endpoints"]:
            names = [p.get("name") for n in matched for p in services[n][1]["spec"]["ports"]]
            if ep.get("port") not in names:
                bad(f"{f}: endpoint port {ep.get('port')} is not a port name of {matched}")
            if ep.get("path", "/metrics") != "/metrics":
                bad(f"{f}: endpoint path {ep.get('path')} is not /metrics")
    for f, pr in by_kind["Probe"]:
        spec = pr["spec"]
        service_port(spec["prober"]["url"], f"{f} prober")
        if spec["prober"].get("path") != "/probe":
            bad(f"{f}: prober path {spec['prober'].get('path')} is not /probe")
        if spec.get("module") not in modules:
            bad(f"{f}: module {spec.get('module')} is not in the ConfigMap's probe.modules {sorted(modules)}")
        for t in spec["targets"]["staticConfig"]["static"]:
            if not any(fnmatch.fnmatchcase(t.lower(), p.lower()) for p in allowed):
                bad(f"{f}: target {t} is not in the ConfigMap's allowed_targets")
    alert_groups = []
    for a in sorted(glob.glob(os.path.join(root, "alerts", "*.yml"))):
        alert_groups += [g["name"] for g in yaml.safe_load(open(a))["groups"]]
    for f, pr in by_kind["PrometheusRule"]:
        got = [g["name"] for g in pr["spec"]["groups"]]
        if sorted(got) != sorted(alert_groups):
            bad(f"{f}: groups {sorted(got)} are not those of alerts/*.yml {sorted(alert_groups)}")

    # The config as the exporter reads it, password files pointed at temporary copies.
    with tempfile.TemporaryDirectory() as tmp:
        text = config_text
        for path, val in secret_files.items():
            local = os.path.join(tmp, os.path.basename(path))
            with open(local, "w") as fh:
                fh.write(val + "\n")
            text = text.replace(path, local)
        cfg_path = os.path.join(tmp, "persistence_exporter.yml")
        with open(cfg_path, "w") as fh:
            fh.write(text)
        r = subprocess.run([exporter, "--config.check", "--config.file", cfg_path],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            bad(f"ConfigMap config fails --config.check (exit {r.returncode}): {r.stdout}{r.stderr}")
        else:
            print(f"  kubernetes: ConfigMap config passes --config.check ({len(modules)} modules)")
    print(f"  kubernetes: {len(docs)} manifests: " + ", ".join(sorted(by_kind)))
    return problems


if len(sys.argv) > 1 and sys.argv[1] == "--kubernetes":
    found = check_kubernetes(os.path.realpath(sys.argv[2]), sys.argv[3])
    for e in found:
        print(f"deploy/kubernetes: {e}", file=sys.stderr)
    sys.exit(1 if found else 0)

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

# ---- published ports: an explicit host address, loopback by default ----------------------
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def port_host_ip(p):
    """Host address of one `ports:` entry (short or long syntax), or None if absent."""
    if isinstance(p, dict):
        return p.get("host_ip") or None
    if isinstance(p, int):
        return None
    spec = str(p).split("/", 1)[0]
    if spec.startswith("["):  # [::1]:host:container
        ip, _, rest = spec[1:].partition("]")
        return ip if rest.startswith(":") else None
    parts = spec.split(":")
    return parts[0] if len(parts) == 3 and parts[0] else None


for svc, conf in sorted(services.items()):
    for p in conf.get("ports", []) or []:
        ip = port_host_ip(p)
        if ip is None:
            err(f"{svc}: published port {p!r} has no host address: it would listen on all "
                "interfaces; write ${PE_BIND_ADDRESS:-127.0.0.1}:<port>:<port>")
        elif ip not in LOOPBACK:
            err(f"{svc}: published port {p!r} listens on {ip} by default, not on 127.0.0.1")

for e in errors:
    print(f"deploy/compose.yaml: {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print("  compose cross-checks: OK")
