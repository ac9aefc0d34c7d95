"""FAKE kubectl for tests: answers the preflight's API questions from recorded JSON files.

Run as ``kubectl`` (a wrapper script execs it): ``get --raw PATH`` and ``create --raw PATH -f
FILE`` print the matching file of ``$FAKE_KUBE_ANSWERS`` (tests/fixtures/kube-apiserver/<v>/);
``kustomize`` and ``annotate --local`` are offline and go to the real kubectl
(``$REAL_KUBECTL``), so the manifests are rendered for real. Every call is appended to
``$FAKE_KUBE_ANSWERS_LOG`` (the dry-run's submitted pod included).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROUTES = (
    (re.compile(r"^/version$"), "version.json"),
    (re.compile(r"^/api/v1/nodes$"), "nodes.json"),
    (re.compile(r"^/api/v1/namespaces/[^/]+/pods\?dryRun=All$"), "pod-dry-run.json"),
    (re.compile(r"^/api/v1/namespaces/[^/]+$"), "namespace.json"),
)


def main(args: list[str]) -> int:
    if args[:1] == ["kustomize"] or (args[:1] == ["annotate"] and "--local" in args):
        real = subprocess.run([os.environ["REAL_KUBECTL"], *args], check=False)
        return real.returncode
    log: dict[str, object] = {"args": args}
    if "-f" in args:
        log["body"] = json.loads(Path(args[args.index("-f") + 1]).read_text())
    with open(os.environ["FAKE_KUBE_ANSWERS_LOG"], "a") as f:
        f.write(json.dumps(log) + "\n")
    if args[:1] not in (["get"], ["create"]) or "--raw" not in args:
        print(f"fake kubectl: no recorded answer for {args}", file=sys.stderr)
        return 1
    path = args[args.index("--raw") + 1]
    answers = Path(os.environ["FAKE_KUBE_ANSWERS"])
    for route, name in ROUTES:
        if route.match(path) and (answers / name).exists():
            text = (answers / name).read_text()
            print(text.replace("SECCOMP_DIGEST", os.environ.get("FAKE_SECCOMP_DIGEST", "")))
            return 0
    print(f'Error from server (NotFound): the server could not find "{path}"', file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
