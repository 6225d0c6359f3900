"""The page of scripts/bench: docs/performance.md (tables, the kept analysis block, the perf
symbols), docs/performance.svg (a hand-written SVG chart) and the README's short table,
from the results dict that scripts/bench builds; plus its progress lines.

Decisions: the chart is written as plain SVG text rather than with a plotting library, so
that the benchmark needs nothing beyond Python's standard library after scripts/setup.
"""
import os, platform, re, subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OURS, PG_PEER, REDIS_PEER = "persistence_exporter", "postgres_exporter", "redis_exporter"


def print_row(series, size, m, extra=""):
    for name, v in m.items():
        more = ""
        if "stmts" in v:
            more = f"  stmts {v['stmts']:.1f} server {v['server_ms']:.2f} ms conns {v['conns']:.2f}"
        print(f"{series:<19}{str(size):>9}  {name:<21}median {v['median_ms']:8.2f} ms  p99 {v['p99_ms']:8.2f} ms"
              f"  cpu {v['cpu_ms']:6.3f}{'' if v['cpu_exact'] else 't'} ms  rss {v['rss_mib']:6.1f} MiB{more}", flush=True)
    if extra:
        print(f"{'':<30}{extra}", flush=True)


def fmt(x, digits=2):
    return f"{x:.{digits}f}"


def cpu_fmt(v):
    return fmt(v["cpu_ms"], 3) + ("" if v.get("cpu_exact", True) else " (ticks)")


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "–"


def size_label(kind, size):
    if kind == "postgres-tables-2db":
        return f"{size:,} tables × 2 databases"
    unit = {"postgres-tables": "tables", "postgres-databases": "databases", "docker-volumes": "volumes"}[kind]
    return f"{size:,} {unit}"


def pg_table(kind, rows):
    out = ["| size | exporter | median ms | p99 ms | CPU ms/scrape | RSS MiB | statements/scrape | server ms/scrape | "
           "ours/peer median | p99 | CPU | RSS |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        o, p = r["m"][OURS], r["m"][PG_PEER]
        for name, v in [(OURS, o), (PG_PEER, p)]:
            rat = (f"{ratio(o['median_ms'], p['median_ms'])} | {ratio(o['p99_ms'], p['p99_ms'])} | "
                   f"{ratio(o['cpu_ms'], p['cpu_ms'])} | {ratio(o['rss_mib'], p['rss_mib'])}") if name == OURS else " | | | "
            out.append(f"| {size_label(kind, r['size']) if name == OURS else ''} | {name} | {fmt(v['median_ms'])} | "
                       f"{fmt(v['p99_ms'])} | {cpu_fmt(v)} | {fmt(v['rss_mib'], 1)} | {fmt(v['stmts'], 1)} | "
                       f"{fmt(v['server_ms'])} | {rat} |")
    return out


def parts_table(kind, rows):
    labels = list(rows[0]["parts"]) if rows else []
    out = ["| part | " + " | ".join(size_label(kind, r["size"]) for r in rows) + " |",
           "| --- |" + " ---: |" * len(rows)]
    for lbl in labels:
        out.append(f"| {lbl} | " + " | ".join(fmt(r["parts"][lbl]) for r in rows) + " |")
    return out


def statements_table(row):
    out = ["| exporter | calls/scrape | mean ms | statement (start) |", "| --- | ---: | ---: | --- |"]
    for name in (OURS, PG_PEER):
        for calls, mean, q in row["m"][name]["statements"]:
            q = q.replace("|", "\\|")[:110]
            out.append(f"| {name} | {calls:.2f} | {mean:.3f} | `{q}` |")
    return out


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip(); break
    except OSError:
        pass
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, load average {load[0]:.1f} at the end"


def version_of(cmd, pattern):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        m = re.search(pattern, r.stdout + r.stderr)
        return m.group(1) if m else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def versions(args, bins):
    pg_bin = os.path.join(os.environ.get(f"PE_PG{args.pg_version}_BIN", ""), "postgres")
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "src", "Cargo.toml", "Cargo.lock"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return {
        OURS: version_of([bins["ours"], "--version"], r"(\d+\.\d+\.\d+\S*)") + f" (commit {git}{', dirty' if dirty else ''}, --release)",
        PG_PEER: version_of([bins["pg_peer"], "--version"], r"version (\S+)"),
        REDIS_PEER: version_of([bins["redis_peer"], "--version"], r"Exporter (\S+)"),
        "PostgreSQL": version_of([pg_bin, "--version"], r"\) (\S+)"),
        "Redis": version_of([os.environ.get("PE_REDIS_70_SERVER", "redis-server"), "--version"], r"v=(\S+)"),
        "Docker Engine": version_of(["docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"],
                                    r"(.+)"),
    }


def headline(results):
    """Short table: the smallest and largest size of each series, ours vs peer (README and the page's top)."""
    out = ["| series (smallest and largest size) | median ours vs peer | p99 | CPU per scrape | RSS |",
           "| --- | --- | --- | --- | --- |"]
    for kind, peer in [("postgres-tables", PG_PEER), ("postgres-databases", PG_PEER),
                       ("postgres-tables-2db", PG_PEER)]:
        if kind not in results:
            continue
        for r in (results[kind][0], results[kind][-1]) if len(results[kind]) > 1 else results[kind]:
            o, p = r["m"][OURS], r["m"][peer]
            out.append(f"| PostgreSQL 15, {size_label(kind, r['size'])}: vs {peer} 0.11 | "
                       + " | ".join(f"{fmt(o[k], d)} vs {fmt(p[k], d)} {u} ({ratio(o[k], p[k])})"
                                    for k, d, u in [("median_ms", 2, "ms"), ("p99_ms", 2, "ms"),
                                                    ("cpu_ms", 2, "ms"), ("rss_mib", 1, "MiB")]) + " |")
    if "redis" in results:
        o, p, fl = results["redis"]["m"][OURS], results["redis"]["m"][REDIS_PEER], results["redis"]["floor"]
        out.append("| Redis 7.0, das-tern configuration: vs redis_exporter 1.45 | "
                   + " | ".join(f"{fmt(o[k], d)} vs {fmt(p[k], d)} {u} ({ratio(o[k], p[k])})"
                                for k, d, u in [("median_ms", 2, "ms"), ("p99_ms", 2, "ms"),
                                                ("cpu_ms", 2, "ms"), ("rss_mib", 1, "MiB")]) + " |")
        out.append(f"| Redis floor (`/-/healthy` + `INFO`): ours is {o['median_ms'] / fl['median_ms']:.2f}× the floor | "
                   f"{fmt(fl['median_ms'])} ms | | | |")
    if "redis-probe" in results:
        rp = results["redis-probe"]
        o, p = rp["m"][OURS], rp["m"][REDIS_PEER]
        out.append(f"| Redis, {rp['targets']} targets per round through `/probe` ({rp['parallel']} at a time): "
                   f"vs redis_exporter's `/scrape` | {fmt(o['median_ms'], 1)} vs {fmt(p['median_ms'], 1)} ms per round "
                   f"({ratio(o['median_ms'], p['median_ms'])}) | max {fmt(o['p99_ms'], 1)} vs {fmt(p['p99_ms'], 1)} ms | "
                   f"{fmt(o['cpu_ms'], 1)} vs {fmt(p['cpu_ms'], 1)} ms per round ({ratio(o['cpu_ms'], p['cpu_ms'])}) | "
                   f"{fmt(o['rss_mib'], 1)} vs {fmt(p['rss_mib'], 1)} MiB ({ratio(o['rss_mib'], p['rss_mib'])}) |")
    if "docker-volumes" in results:
        r0, r1 = results["docker-volumes"][0], results["docker-volumes"][-1]
        o0, o1 = r0["m"][OURS], r1["m"][OURS]
        out.append(f"| Docker, {r0['size']:,} → {r1['size']:,} extra volumes (ours only; Engine's `GET /volumes` "
                   f"{fmt(o0['list_ms'])} → {fmt(o1['list_ms'])} ms) | {fmt(o0['median_ms'])} → {fmt(o1['median_ms'])} ms | "
                   f"{fmt(o0['p99_ms'])} → {fmt(o1['p99_ms'])} ms | {fmt(o0['cpu_ms'])} → {fmt(o1['cpu_ms'])} ms | "
                   f"{fmt(o0['rss_mib'], 1)} → {fmt(o1['rss_mib'], 1)} MiB |")
    return out


def keep_block(path, name, default):
    try:
        text = open(path).read()
    except OSError:
        return default
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    return m.group(1) if m else default


def write_page(results, args, bins, command, started):
    page = os.path.join(ROOT, "docs", "performance.md")
    analysis = keep_block(page, "analysis", "(to be written from the tables below)\n")
    L = ["# Performance", "",
         "<!-- Generated by scripts/bench; edit only the analysis block, the rest is rewritten. -->", "",
         f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}. The machine is shared with other "
         "builds and tests, so absolute numbers are noisy; the two exporters were scraped alternately "
         "against the same server, so the ratios are the fair comparison.", "",
         "Regenerate (after `scripts/setup`; builds `--release`, writes this page, the chart and the README table):", "",
         "```sh", command, "```", "",
         "Versions: " + "; ".join(f"{k} {v}" for k, v in versions(args, bins).items()) + ".", "",
         f"Method: per exporter and size, {args.scrapes} sequential scrapes of `/metrics` after a warm-up of 5 "
         "(and, after creating tables or databases, 5 s for the server to settle), "
         "the two exporters alternating, each scrape a new HTTP connection from Python's `urllib` "
         "(so every latency includes one TCP connect). **CPU/scrape** is the utime+stime delta of the "
         "exporter process over the run divided by the scrapes (the threads' `/proc/<pid>/task/*/schedstat` "
         "run time in ns when no thread came or went during the run, else utime+stime from `/proc/<pid>/stat` "
         "in 10 ms ticks); "
         "**RSS** is `VmRSS` after the run. For PostgreSQL, **statements** and **server ms** per scrape "
         "come from `pg_stat_statements` for each exporter's own `pg_monitor` role. The server is configured as in "
         "the das-tern report (`max_connections=20`, `TimeZone=Asia/Phnom_Penh`, "
         "`log_min_duration_statement=1000`) plus `pg_stat_statements` and `log_connections`; "
         "ours runs with `--postgres.log-file` as deployed. postgres_exporter runs with its defaults.", "",
         "![Latency, CPU and RSS per series](performance.svg)", "",
         "## Summary", ""] + headline(results) + [""]
    L += ["## Where the time goes", "", "<!-- analysis:begin -->", analysis.rstrip("\n"), "<!-- analysis:end -->", ""]
    for kind, title in [("postgres-tables", "PostgreSQL 15: number of tables"),
                        ("postgres-databases", "PostgreSQL 15: number of databases"),
                        ("postgres-tables-2db", "PostgreSQL 15: tables in each of two databases")]:
        if kind not in results:
            continue
        rows = results[kind]
        extra = {"postgres-tables": "Tables `CREATE TABLE s<k>.t_<i> (id int)`, spread over 10 schemas of the "
                                    "`postgres` database that both exporters connect to.",
                 "postgres-databases": "Empty databases `bench_db_<i>` created from `template1`; the count "
                                       "includes `postgres` (the templates come on top).",
                 "postgres-tables-2db": "The same tables in `postgres` and in a second database `bench_t2` "
                                        "(a fresh server; at 0 both are empty). Ours at 3,000 × 2 against ours "
                                        "at 0 shows whether the scrape's cost depends on the data."}[kind]
        L += [f"## {title}", "", extra, ""] + pg_table(kind, rows) + [""]
        L += ["Server time of the parts of a scrape (ms, median of 5 on a kept connection, measured "
              "after the scrapes):", ""] + parts_table(kind, rows) + [""]
        L += [f"Statements per scrape at {size_label(kind, rows[-1]['size'])} (`pg_stat_statements`, "
              "by each exporter's role; mean execution time on the server):", ""] + statements_table(rows[-1]) + [""]
    if "docker-volumes" in results:
        L += ["## Docker: number of volumes (ours only)", "",
              "postgres_exporter and redis_exporter have no Docker counterpart. Volumes `pe-bench-*` "
              "(local driver) are created on the shared Engine on top of whatever else exists; "
              "`/system/df` runs in the background every `--docker.disk-usage-interval` (5 m) and is "
              "never on the scrape path. The floor is the Engine's own `GET /v1.41/volumes` on its unix "
              "socket (median of 9).", "",
              "| extra volumes | volumes in all | median ms | p99 ms | CPU ms/scrape | RSS MiB | Engine `GET /volumes` ms |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in results["docker-volumes"]:
            v = r["m"][OURS]
            L.append(f"| {r['size']:,} | {v['all_volumes']:,} | {fmt(v['median_ms'])} | {fmt(v['p99_ms'])} | "
                     f"{cpu_fmt(v)} | {fmt(v['rss_mib'], 1)} | {fmt(v['list_ms'])} |")
        L.append("")
    if "redis" in results:
        o, p, fl = results["redis"]["m"][OURS], results["redis"]["m"][REDIS_PEER], results["redis"]["floor"]
        L += ["## Redis 7.0, das-tern configuration", "",
              "`requirepass`, `maxmemory 512mb`, `allkeys-lru`, `save 60 1000`, `appendonly yes`, "
              "`appendfsync everysec`. The floor is what no exporter can beat: an HTTP round trip to our "
              "trivial `/-/healthy` plus one `INFO` on a kept connection (raw socket from Python).", "",
              "| exporter | median ms | p99 ms | CPU ms/scrape | RSS MiB | ours/peer median | p99 | CPU | RSS |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| {OURS} | {fmt(o['median_ms'])} | {fmt(o['p99_ms'])} | {cpu_fmt(o)} | {fmt(o['rss_mib'], 1)} | "
              f"{ratio(o['median_ms'], p['median_ms'])} | {ratio(o['p99_ms'], p['p99_ms'])} | "
              f"{ratio(o['cpu_ms'], p['cpu_ms'])} | {ratio(o['rss_mib'], p['rss_mib'])} |",
              f"| {REDIS_PEER} | {fmt(p['median_ms'])} | {fmt(p['p99_ms'])} | {cpu_fmt(p)} | {fmt(p['rss_mib'], 1)} | | | | |",
              f"| floor: `/-/healthy` + `INFO` | {fmt(fl['median_ms'])} | – | – | – | | | | |", "",
              f"`/-/healthy` alone: median {fmt(fl['healthy_ms'])} ms, p99 {fmt(fl['healthy_p99_ms'])} ms; "
              f"`INFO` alone: median {fmt(fl['info_ms'])} ms, p99 {fmt(fl['info_p99_ms'])} ms. "
              f"Ours is within {o['median_ms'] / fl['median_ms']:.2f}× of the floor (median), "
              f"redis_exporter {p['median_ms'] / fl['median_ms']:.1f}×.", ""]
    if "redis-probe" in results:
        rp = results["redis-probe"]
        o, p = rp["m"][OURS], rp["m"][REDIS_PEER]
        L += [f"## Redis: {rp['targets']} targets through one exporter", "",
              f"{rp['targets']} Redis targets: 7 servers (no persistence), each listening on up to 16 loopback "
              "addresses `127.0.0.<n>`, so every target is a distinct `host:port`. A round asks for every target "
              f"once, {rp['parallel']} requests at a time, as Prometheus does for a probe job: ours through "
              "`/probe?module=…&target=host:port` (a kept connection per target), redis_exporter through "
              f"`/scrape?target=redis://host:port` (a new connection per scrape). {rp['rounds']} rounds after one "
              "warm-up round, the exporters alternating; CPU per round from utime+stime ticks.", "",
              "| exporter | median ms per round | max ms | CPU ms per round | RSS MiB after |",
              "| --- | ---: | ---: | ---: | ---: |",
              f"| {OURS} | {fmt(o['median_ms'], 1)} | {fmt(o['p99_ms'], 1)} | {fmt(o['cpu_ms'], 1)} | {fmt(o['rss_mib'], 1)} |",
              f"| {REDIS_PEER} | {fmt(p['median_ms'], 1)} | {fmt(p['p99_ms'], 1)} | {fmt(p['cpu_ms'], 1)} | {fmt(p['rss_mib'], 1)} |", ""]
    if results.get("perf"):
        L += ["## CPU profile of persistence_exporter (`perf record`, self time)", "",
              f"`perf record -F 9999 -g -p <ours>` over {args.profile_scrapes} back-to-back scrapes of ours "
              "alone, after the measured run of the largest size; symbols with at least 1 % self time.", ""]
        for kind, (size, rows) in results["perf"].items():
            L += [f"**{kind}** ({size_label(kind, size) if isinstance(size, int) else size}), self time:", "",
                  "| self % | object | symbol |", "| ---: | --- | --- |"]
            L += [f"| {p_:.1f} | {dso} | `{sym.replace('|', '/')}` |" for p_, dso, sym in rows] + [""]
    with open(page, "w") as f:
        f.write("\n".join(L).rstrip("\n") + "\n")
    with open(os.path.join(ROOT, "docs", "performance.svg"), "w") as f:
        f.write(svg(results, started))
    readme = os.path.join(ROOT, "README.md")
    text = open(readme).read()
    block = "\n".join(headline(results)) + "\n"
    new = re.sub(r"(<!-- bench:begin -->\n).*?(<!-- bench:end -->)", lambda m: m.group(1) + block + m.group(2),
                 text, flags=re.S)
    if new != text:
        with open(readme, "w") as f:
            f.write(new)
    print(f"wrote {page}, docs/performance.svg" + (", README.md" if new != text else ""))


# ---------------------------------------------------------------- SVG

COLORS = {OURS: "#1f77b4", PG_PEER: "#d62728", REDIS_PEER: "#d62728", "floor": "#7f7f7f"}


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_max(v):
    if v <= 0:
        return 1
    e = 10 ** len(str(int(v))) / 10 if v >= 1 else 10 ** -len(str(int(1 / v)))
    for m in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10):  # quarters stay round
        if m * e >= v:
            return m * e
    return 10 * e


def axis(x, y, w, h, ymax, unit, title):
    g = [f'<text x="{x}" y="{y - 8}" class="t">{esc(title)}</text>']
    for i in range(5):
        yy = y + h - h * i / 4
        val = ymax * i / 4
        g.append(f'<line x1="{x}" y1="{yy:.1f}" x2="{x + w}" y2="{yy:.1f}" class="g"/>')
        g.append(f'<text x="{x - 4}" y="{yy + 3:.1f}" class="y">{val:g}</text>')
    g.append(f'<text x="{x - 4}" y="{y - 8}" class="y">{esc(unit)}</text>')
    return g


def line_panel(x, y, w, h, title, unit, xlabels, series):
    """series: [(label, color, dash, [values])]; x categorical."""
    ymax = nice_max(max([v for *_, vs in series for v in vs] + [0]))
    g = axis(x, y, w, h, ymax, unit, title)
    n = len(xlabels)
    xs = [x + (w * (i + 0.5) / n) for i in range(n)]
    for xx, lbl in zip(xs, xlabels):
        g.append(f'<text x="{xx:.1f}" y="{y + h + 14}" class="x">{esc(lbl)}</text>')
    for _, color, dash, vs in series:
        pts = " ".join(f"{xx:.1f},{y + h - h * v / ymax:.1f}" for xx, v in zip(xs, vs))
        g.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2" '
                 f'{"stroke-dasharray=" + chr(34) + dash + chr(34) if dash else ""}/>')
        for xx, v in zip(xs, vs):
            g.append(f'<circle cx="{xx:.1f}" cy="{y + h - h * v / ymax:.1f}" r="2.5" fill="{color}"/>')
    return g


def bar_panel(x, y, w, h, title, unit, bars):
    """bars: [(label, color, value)]."""
    ymax = nice_max(max([v for *_, v in bars] + [0]))
    g = axis(x, y, w, h, ymax, unit, title)
    bw = w / len(bars)
    for i, (lbl, color, v) in enumerate(bars):
        bh = h * v / ymax
        g.append(f'<rect x="{x + i * bw + bw * 0.15:.1f}" y="{y + h - bh:.1f}" width="{bw * 0.7:.1f}" '
                 f'height="{bh:.1f}" fill="{color}"/>')
        g.append(f'<text x="{x + i * bw + bw / 2:.1f}" y="{y + h + 14}" class="x">{esc(lbl)}</text>')
        g.append(f'<text x="{x + i * bw + bw / 2:.1f}" y="{y + h - bh - 3:.1f}" class="x">{v:.2f}</text>')
    return g


def svg(results, started):
    W, PW_, PH, LM, TOP = 960, 250, 130, 60, 60
    rows = [k for k in ["postgres-tables", "postgres-databases", "docker-volumes", "redis"] if k in results]
    H = TOP + len(rows) * (PH + 70) + 10
    g = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="11">',
         "<style>.t{font-weight:bold;font-size:12px}.g{stroke:#ddd;stroke-width:1}"
         ".y{text-anchor:end;fill:#555}.x{text-anchor:middle;fill:#333}</style>",
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{LM}" y="20" class="t">persistence_exporter (blue) vs Debian\'s peers (red); '
         f'solid = median, dashed = p99 — {started:%Y-%m-%d}, scripts/bench</text>']
    lx = LM
    for lbl, color, dash in [(f"{OURS} median", COLORS[OURS], ""), (f"{OURS} p99", COLORS[OURS], "5,3"),
                             ("peer median", COLORS[PG_PEER], ""), ("peer p99", COLORS[PG_PEER], "5,3"),
                             ("floor", COLORS["floor"], "")]:
        g.append(f'<line x1="{lx}" y1="36" x2="{lx + 22}" y2="36" stroke="{color}" stroke-width="2" '
                 f'{"stroke-dasharray=" + chr(34) + dash + chr(34) if dash else ""}/>')
        g.append(f'<text x="{lx + 26}" y="40">{esc(lbl)}</text>')
        lx += 40 + 7 * len(lbl)
    for ri, kind in enumerate(rows):
        y = TOP + 30 + ri * (PH + 70)
        xs = [LM + c * (PW_ + 70) for c in range(3)]
        if kind == "redis":
            o, p, fl = results["redis"]["m"][OURS], results["redis"]["m"][REDIS_PEER], results["redis"]["floor"]
            g += bar_panel(xs[0], y, PW_, PH, "Redis: median latency", "ms",
                           [("ours", COLORS[OURS], o["median_ms"]), ("redis_exporter", COLORS[REDIS_PEER], p["median_ms"]),
                            ("floor", COLORS["floor"], fl["median_ms"])])
            g += bar_panel(xs[1], y, PW_, PH, "Redis: p99 latency / CPU per scrape", "ms",
                           [("ours p99", COLORS[OURS], o["p99_ms"]), ("peer p99", COLORS[REDIS_PEER], p["p99_ms"]),
                            ("ours CPU", COLORS[OURS], o["cpu_ms"]), ("peer CPU", COLORS[REDIS_PEER], p["cpu_ms"])])
            g += bar_panel(xs[2], y, PW_, PH, "Redis: RSS", "MiB",
                           [("ours", COLORS[OURS], o["rss_mib"]), ("redis_exporter", COLORS[REDIS_PEER], p["rss_mib"])])
            continue
        data = results[kind]
        what = {"postgres-tables": "PostgreSQL tables", "postgres-databases": "PostgreSQL databases",
                "docker-volumes": "Docker volumes (ours only)"}[kind]
        labels = [f"{r['size']:,}" if r["size"] < 1000 else f"{r['size'] // 1000}k" for r in data]
        names = [OURS] + ([PG_PEER] if kind.startswith("postgres") else [])
        lat = []
        for nm in names:
            lat.append((nm, COLORS[nm], "", [r["m"][nm]["median_ms"] for r in data]))
            lat.append((nm, COLORS[nm], "5,3", [r["m"][nm]["p99_ms"] for r in data]))
        if kind == "docker-volumes":
            lat.append(("floor", COLORS["floor"], "", [r["m"][OURS]["list_ms"] for r in data]))
        g += line_panel(xs[0], y, PW_, PH, f"{what}: latency", "ms", labels, lat)
        g += line_panel(xs[1], y, PW_, PH, f"{what}: CPU per scrape", "ms", labels,
                        [(nm, COLORS[nm], "", [r["m"][nm]["cpu_ms"] for r in data]) for nm in names])
        g += line_panel(xs[2], y, PW_, PH, f"{what}: RSS", "MiB", labels,
                        [(nm, COLORS[nm], "", [r["m"][nm]["rss_mib"] for r in data]) for nm in names])
    g.append("</svg>")
    return "\n".join(g) + "\n"
