#!/usr/bin/env bash
# Checks the systemd units in deploy/systemd/ offline: `systemd-analyze verify` (syntax,
# dependencies, the executable) and `systemd-analyze security --offline=true` (the
# sandbox's exposure score, which must stay at or below STRICTDOT_MAX_EXPOSURE, default
# 2.0). Called by .ci/run; says SKIPPED (and exits 0) where systemd-analyze is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "************************************************************************"
    echo "SKIPPED: systemd-analyze not found; deploy/systemd/ was NOT checked"
    echo "(apt-get install systemd, or run scripts/check-systemd.sh on a systemd host)"
    echo "************************************************************************"
    exit 0
fi

max="${STRICTDOT_MAX_EXPOSURE:-2.0}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/strictdot-systemd.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# verify wants ExecStart's binary to exist: point it at the one cargo built (or any
# executable when there is none), in copies of the units.
bin="$(pwd)/target/debug/strictdot"
[[ -x $bin ]] || bin="$(pwd)/target/release/strictdot"
[[ -x $bin ]] || bin="$(command -v true)"
for unit in deploy/systemd/strictdot.socket deploy/systemd/strictdot.service; do
    sed "s#^ExecStart=/usr/local/bin/strictdot#ExecStart=$bin#" "$unit" >"$scratch/$(basename "$unit")"
done

echo "==> systemd-analyze verify deploy/systemd/strictdot.{socket,service} ($(systemd-analyze --version | head -n 1))"
# verify prints problems and exits non-zero on errors; warnings about this host's own
# units (not ours) are filtered out of the decision by checking only our unit names.
out="$(systemd-analyze verify "$scratch/strictdot.socket" "$scratch/strictdot.service" 2>&1)" || {
    echo "$out"
    echo "check-systemd.sh: systemd-analyze verify failed" >&2
    exit 1
}
if grep -i "strictdot" <<<"$out"; then
    echo "check-systemd.sh: systemd-analyze verify complained about the units above" >&2
    exit 1
fi
echo "verify: no complaints"

echo "==> systemd-analyze security --offline=true strictdot.service (threshold $max)"
systemd-analyze security --offline=true --no-pager "$scratch/strictdot.service" >"$scratch/security.txt" 2>&1 || true
score_line="$(grep -i "overall exposure level" "$scratch/security.txt" || true)"
if [[ -z $score_line ]]; then
    cat "$scratch/security.txt"
    echo "check-systemd.sh: no exposure score from systemd-analyze security" >&2
    exit 1
fi
# The lines that still count against the unit, for the log.
grep -E "^✗" "$scratch/security.txt" || true
echo "$score_line"
score="$(sed -E 's/.*: *([0-9]+\.[0-9]+).*/\1/' <<<"$score_line")"
if ! awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
    echo "check-systemd.sh: exposure $score is above $max" >&2
    exit 1
fi
echo "systemd units: verified, exposure $score (at most $max)"
