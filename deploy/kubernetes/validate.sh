#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/kubernetes/*.yaml, offline:
#
#   1. every YAML document against the Kubernetes OpenAPI schemas, strictly (unknown fields
#      are errors), with kubernetes-validate (PyPI), which ships the schemas: no cluster and
#      no network are needed once it is installed;
#   2. the ConfigMap strictdot-policy: its policy.toml must be byte-identical to
#      policy/kubernetes.toml, and the DaemonSet must mount it where --policy points; the
#      readiness probe must read the --ready-file strictdot writes, in an emptyDir;
#   3. if a strictdot binary is at hand, `strictdot check` on that policy.
#
# Exits non-zero on the first failure.
#
#   deploy/kubernetes/validate.sh [FILE.yaml ...]     # default: deploy/kubernetes/*.yaml
#
# Environment:
#   K8S_VERSIONS            Kubernetes versions to validate against (default "1.25.0 1.30.0 1.37.0")
#   KV_VERSION              kubernetes-validate version to install (default 1.37.0; it holds
#                           the schemas of Kubernetes 1.25 to 1.37)
#   STRICTDOT_VALIDATE_VENV a virtualenv to create once and reuse (default: a temporary one,
#                           installed from PyPI and deleted on exit)
#   STRICTDOT_BIN           strictdot binary for step 3 (default: target/release or
#                           target/debug in the repository, else strictdot on PATH, else skipped)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
K8S_VERSIONS="${K8S_VERSIONS:-1.25.0 1.30.0 1.37.0}"
KV_VERSION="${KV_VERSION:-1.37.0}"

if (($# > 0)); then
    files=("$@")
else
    shopt -s nullglob
    files=("$here"/*.yaml "$here"/*.yml)
    shopt -u nullglob
fi
if ((${#files[@]} == 0)); then
    echo "validate.sh: no YAML files to validate" >&2
    exit 1
fi

# The validator, in a virtualenv of its own.
if [[ -n "${STRICTDOT_VALIDATE_VENV:-}" ]]; then
    venv="$STRICTDOT_VALIDATE_VENV"
else
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/strictdot-validate.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    venv="$tmp/venv"
fi
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys, yaml
sys.exit(m.version("kubernetes-validate") != sys.argv[1])' "$KV_VERSION" 2>/dev/null; then
    echo "==> installing kubernetes-validate $KV_VERSION and PyYAML into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KV_VERSION" PyYAML
fi
kv="$venv/bin/kubernetes-validate"
echo "==> kubernetes-validate $("$kv" --version 2>&1 | tail -n 1)"

# 1. Schemas. kubernetes-validate exits non-zero if any document in any file fails.
for version in $K8S_VERSIONS; do
    echo "==> Kubernetes $version schemas (strict: unknown fields are errors)"
    "$kv" --strict --kubernetes-version "$version" "${files[@]}"
done

# 2. Consistency between the manifests and the repository.
echo "==> ConfigMap strictdot-policy vs policy/kubernetes.toml"
"$venv/bin/python" - "$repo/policy/kubernetes.toml" "${files[@]}" <<'PY'
import difflib
import sys

import yaml

policy_path, files = sys.argv[1], sys.argv[2:]
docs = []
for f in files:
    with open(f, encoding="utf-8") as fh:
        for d in yaml.safe_load_all(fh):
            if d is not None:
                docs.append((f, d))

def find(kind, name):
    found = [(f, d) for f, d in docs
             if d.get("kind") == kind and d.get("metadata", {}).get("name") == name]
    if len(found) != 1:
        sys.exit(f"FAIL: expected exactly one {kind} {name}, found {len(found)}")
    return found[0]

errors = []

f, cm = find("ConfigMap", "strictdot-policy")
got = (cm.get("data") or {}).get("policy.toml")
with open(policy_path, "rb") as fh:
    want_bytes = fh.read()
want = want_bytes.decode("utf-8")
if got is None:
    errors.append(f"{f}: ConfigMap strictdot-policy has no data key policy.toml")
elif got.encode("utf-8") != want_bytes:
    diff = difflib.unified_diff(
        want.splitlines(keepends=True), got.splitlines(keepends=True),
        fromfile=policy_path, tofile=f"{f}: ConfigMap strictdot-policy data.policy.toml")
    for line in diff:
        print(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n", end="")
    errors.append("policy.toml in the ConfigMap differs from policy/kubernetes.toml "
                  "(byte for byte, final newline included)")
else:
    print(f"ok: ConfigMap strictdot-policy data.policy.toml == {policy_path} "
          f"({len(want_bytes)} bytes)")

# The DaemonSet must read that ConfigMap at the path --policy names.
_, ds = find("DaemonSet", "strictdot")
pod = ds["spec"]["template"]["spec"]
ctr = next((c for c in pod.get("containers", []) if c.get("name") == "strictdot"), None)
if ctr is None:
    errors.append("DaemonSet strictdot has no container named strictdot")
else:
    args = ctr.get("args", [])
    policy_arg = args[args.index("--policy") + 1] if "--policy" in args[:-1] else None
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounted = []
    for m in ctr.get("volumeMounts", []):
        cmv = vols.get(m["name"], {}).get("configMap", {})
        if cmv.get("name") != "strictdot-policy":
            continue
        items = cmv.get("items") or [{"key": "policy.toml", "path": "policy.toml"}]
        for it in items:
            if it["key"] == "policy.toml" and m.get("readOnly"):
                mounted.append(m["mountPath"].rstrip("/") + "/" + it["path"])
    if policy_arg is None:
        errors.append("container strictdot has no --policy argument")
    elif policy_arg not in mounted:
        errors.append(f"--policy {policy_arg} is not the read-only mount of "
                      f"strictdot-policy/policy.toml (mounted: {mounted or 'nowhere'})")
    else:
        print(f"ok: --policy {policy_arg} is ConfigMap strictdot-policy, mounted read-only")

# Readiness must be the pod's own (during the surge both pods share 127.0.0.1:9153): the
# probe reads the --ready-file strictdot is started with, on a volume of the pod's own.
if ctr is not None:
    ready_arg = args[args.index("--ready-file") + 1] if "--ready-file" in args[:-1] else None
    probe = (ctr.get("readinessProbe") or {}).get("exec", {}).get("command", [])
    probe_file = probe[probe.index("--ready-file") + 1] if "--ready-file" in probe[:-1] else None
    own = [m["mountPath"].rstrip("/") for m in ctr.get("volumeMounts", [])
           if "emptyDir" in vols.get(m["name"], {}) and not m.get("readOnly")]
    if ready_arg is None or probe_file != ready_arg:
        errors.append(f"the readiness probe ({probe}) must check the --ready-file strictdot "
                      f"is started with ({ready_arg}), not the shared metrics port")
    elif not any(ready_arg.rsplit("/", 1)[0] == d for d in own):
        errors.append(f"--ready-file {ready_arg} is not in a writable emptyDir of the pod "
                      f"(emptyDir mounts: {own or 'none'})")
    else:
        print(f"ok: readiness probe reads --ready-file {ready_arg} (the pod's own emptyDir)")

# One namespace for everything namespaced, and the ServiceAccount the pods use exists.
namespaces = {d["metadata"].get("namespace") for _, d in docs if d.get("kind") != "Namespace"}
if len(namespaces) != 1 or None in namespaces:
    errors.append(f"documents are not all in one explicit namespace: {namespaces}")
sa = pod.get("serviceAccountName")
if not any(d.get("kind") == "ServiceAccount" and d["metadata"]["name"] == sa for _, d in docs):
    errors.append(f"ServiceAccount {sa} used by the DaemonSet is not defined")
if not errors:
    print(f"ok: namespace {namespaces.pop()}, ServiceAccount {sa}")

# Every container image names a version (a tag other than latest, or a digest): a node
# must run the release the manifest names, not whatever latest meant when it pulled.
for c in pod.get("initContainers", []) + pod.get("containers", []):
    image = c.get("image", "")
    last = image.rsplit("/", 1)[-1]  # a registry's :port is not a tag
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    if "@sha256:" not in image and tag in ("", "latest"):
        errors.append(f"container {c.get('name')}: image {image!r} is not pinned (a version tag or a digest, not latest)")
if not errors:
    print("ok: every image pinned: " + ", ".join(c.get("image", "") for c in pod.get("initContainers", []) + pod.get("containers", [])))

for e in errors:
    print(f"FAIL: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# 3. The policy itself, when a strictdot binary is available (the test suite checks every
# shipped policy too).
bin="${STRICTDOT_BIN:-}"
if [[ -z "$bin" ]]; then
    for b in "$repo/target/release/strictdot" "$repo/target/debug/strictdot"; do
        if [[ -x "$b" ]]; then bin="$b"; break; fi
    done
fi
if [[ -z "$bin" ]] && command -v strictdot >/dev/null 2>&1; then
    bin="$(command -v strictdot)"
fi
if [[ -n "$bin" ]]; then
    echo "==> $bin check --policy policy/kubernetes.toml"
    "$bin" check --policy "$repo/policy/kubernetes.toml"
else
    echo "==> strictdot check: skipped (no strictdot binary; set STRICTDOT_BIN)"
fi

echo "==> all manifests valid: ${files[*]#"$repo/"}"
