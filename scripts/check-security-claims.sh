#!/usr/bin/env bash
# Every test SECURITY.md names must exist: `it::MODULE::NAME` in tests/it/MODULE.rs, `dnssec::NAME` in tests/dnssec.rs,
# `lib::PATH::tests::NAME` as a #[test] fn NAME under src/, `fuzz::TARGET` as
# fuzz/fuzz_targets/TARGET.rs. Run by .ci/run; exits 1 naming each missing one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
missing=0
for ref in $(grep -o '`\(it\|lib\|fuzz\|dnssec\|module_graph\|fuzz_corpus\)::[a-z0-9_:]*`' SECURITY.md | tr -d '`' | sort -u); do
    name=${ref##*::}
    [[ -n $name ]] || continue
    case $ref in
    it::*)
        module=${ref#it::}
        module=${module%%::*}
        grep -q "fn $name\b" "tests/it/$module.rs" 2>/dev/null || {
            echo "SECURITY.md names $ref, which does not exist" >&2
            missing=1
        }
        ;;
    lib::*)
        grep -rq "fn $name\b" src/ || {
            echo "SECURITY.md names $ref, which does not exist" >&2
            missing=1
        }
        ;;
    dnssec::* | module_graph::* | fuzz_corpus::*)
        grep -q "fn $name\b" "tests/${ref%%::*}.rs" || {
            echo "SECURITY.md names $ref, which does not exist" >&2
            missing=1
        }
        ;;
    fuzz::*)
        [[ -f fuzz/fuzz_targets/$name.rs ]] || {
            echo "SECURITY.md names $ref, which does not exist" >&2
            missing=1
        }
        ;;
    esac
done
if ((missing)); then
    exit 1
fi
echo "SECURITY.md: every named test exists"
