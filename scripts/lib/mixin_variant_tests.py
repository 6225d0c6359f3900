#!/usr/bin/env python3
"""scripts/lib/mixin_variant_tests.py — the promtool unit tests of alerts/tests/, rewritten
for the mixin rendered with another exporter selector and a cluster label.

    mixin_variant_tests.py SRC_DIR DST_DIR JOB CLUSTER

Every input series of job="persistence_exporter" gets job=JOB and cluster=CLUSTER (series
of other jobs stay as they are); every expected alert of that job gets the same labels,
except PersistenceExporterAbsent (absent() only carries the selector's labels); the job
name in annotations and recorded series follow. The rule files are referenced as in the
originals (../<file>), so DST_DIR is <rendered>/alerts/tests.
"""
import pathlib
import sys

import yaml

DEFAULT_JOB = "persistence_exporter"
ABSENT_ONLY_SELECTOR = {"PersistenceExporterAbsent"}


def convert(doc, job, cluster):
    old_sel = f'job="{DEFAULT_JOB}"'
    new_sel = f'job="{job}",cluster="{cluster}"'
    for t in doc.get("tests", []):
        for s in t.get("input_series", []):
            s["series"] = s["series"].replace(old_sel, new_sel)
        for case in t.get("alert_rule_test", []):
            for a in case.get("exp_alerts") or []:
                labels = a.get("exp_labels", {})
                if labels.get("job") == DEFAULT_JOB:
                    labels["job"] = job
                    if case["alertname"] not in ABSENT_ONLY_SELECTOR:
                        labels["cluster"] = cluster
                for k, v in (a.get("exp_annotations") or {}).items():
                    a["exp_annotations"][k] = v.replace(old_sel, f'job="{job}"')
        for case in t.get("promql_expr_test", []):
            for s in case.get("exp_samples") or []:
                name, brace, rest = s["labels"].partition("{")
                rest = rest.rstrip("}")
                labels = [f'cluster="{cluster}"'] + ([rest] if rest else [])
                s["labels"] = name + "{" + ",".join(labels) + "}"
    return doc


def main():
    src, dst, job, cluster = sys.argv[1:5]
    out = pathlib.Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in sorted(pathlib.Path(src).glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        (out / path.name).write_text(yaml.safe_dump(convert(doc, job, cluster), sort_keys=False))
        n += 1
    if n == 0:
        sys.exit(f"no unit tests in {src}")
    print(f"{n} unit test files rewritten for job={job} cluster={cluster} into {dst}")


if __name__ == "__main__":
    main()
