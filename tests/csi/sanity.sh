#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# csi-sanity v5.6.0 against weir-csi with a real weir-controller + weir-node behind it.
#
# weir-csi is a node-only plugin (no CONTROLLER_SERVICE: a volume is a Dataset weir-controller
# already made into a PV). csi-sanity still "creates" a volume through a Controller before its
# node specs publish one, so, as node-only drivers do, it gets a separate controller endpoint
# (-csi.controllerendpoint): csi-call serve-controller, a static provisioner whose CreateVolume
# names the Dataset given in -csi.testvolumeparameters. The Controller suites ([Controller
# Server], [GroupController]) test that stand-in, not weir, and are skipped by -ginkgo.skip;
# csi-sanity also asks Identity of the controller endpoint, which forwards it to weir-csi.
# csi-sanity sends no pod info, so weir-csi runs with --allow-no-pod-info here (publish.sh tests
# the pod-namespace check). Every spec that runs must pass; skipped ones are listed with why.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../helpers/lib.sh"
. "$here/../helpers/weir.sh"
. "$here/../helpers/walkthrough.sh"
. "$here/lib.sh"

require_root_fuse
find_weir_bins
find_controller_bin
csi_find_bins
SANITY="$("$here/peer.sh")" || fail "could not build csi-sanity (tests/csi/peer.sh, output above)"
TMP="$(mktemp -d /tmp/weir-csi-sanity.XXXXXX)"
at_exit 'rm -rf "$TMP"'
weir_setup "$TMP"
WT_POLL_SECONDS=30
D="$TMP/data"
mkdir -p "$D"
rand_file "$D/file" 1000000 csi-sanity

step "weir up with development/spark over local://$D"
csi_datasets "$D"

step "weir-csi, and the static provisioner csi-sanity creates volumes with"
csi_start --allow-no-pod-info --view-grace 1
"$CSI_CALL" "$TMP/ctrl.sock" serve-controller "$TMP/csi.sock" </dev/null >>"$TMP/ctrl.log" 2>&1 &
CTRL_PID=$!
at_exit 'kill -TERM $CTRL_PID 2>/dev/null; wait $CTRL_PID 2>/dev/null'
for i in $(seq 1 50); do [ -S "$TMP/ctrl.sock" ] && break; sleep 0.1; done
printf 'namespace: development\ndataset: spark\nreadOnly: "true"\n' >"$TMP/params.yaml"
ok "weir-csi pid $CSI_PID, provisioner pid $CTRL_PID"

step "csi-sanity $SANITY"
rc=0
(cd "$TMP" && timeout -k 5 600 "$SANITY" \
	-csi.endpoint "unix://$TMP/csi.sock" \
	-csi.controllerendpoint "unix://$TMP/ctrl.sock" \
	-csi.mountdir "$TMP/mnt" -csi.stagingdir "$TMP/staging" \
	-csi.testvolumeparameters "$TMP/params.yaml" \
	-ginkgo.skip '\[Controller Server\]|\[GroupController' \
	-ginkgo.junit-report "$TMP/junit.xml" -ginkgo.no-color) >"$TMP/sanity.out" 2>&1 || rc=$?
grep -E "^(Ran |FAIL|PASS|SUCCESS|[0-9]+ Passed)|Passed \|" "$TMP/sanity.out" | sed 's/^/  /' || true
[ -s "$TMP/junit.xml" ] || { tail -n 40 "$TMP/sanity.out" >&2; fail "csi-sanity wrote no report (exit $rc)"; }
python3 - "$TMP/junit.xml" <<'PY' || { tail -n 80 "$TMP/sanity.out" >&2; fail "csi-sanity: failures (above; full output in $TMP/sanity.out)"; }
import collections, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
passed, failed, skipped = [], [], collections.Counter()
for tc in root.iter("testcase"):
    name = tc.get("name", "")
    if name.startswith("[BeforeSuite]") or name.startswith("[AfterSuite]"):
        continue
    if tc.find("failure") is not None or tc.find("error") is not None:
        failed.append(name)
    elif tc.find("skipped") is not None:
        msg = tc.find("skipped").get("message", "") or ""
        msg = msg.replace("skipped - ", "").strip().splitlines()[0] if msg.strip() else "?"
        if "[Controller Server]" in name or "[GroupController" in name:
            msg = "-ginkgo.skip: a Controller suite (weir-csi has no Controller service)"
        skipped[msg] += 1
    else:
        passed.append(name)
print(f"  csi-sanity: {len(passed)} passed, {len(failed)} failed, {sum(skipped.values())} skipped")
for msg, n in skipped.most_common():
    print(f"    skipped {n:3d}: {msg}")
for f in failed:
    print(f"    FAILED: {f}")
sys.exit(1 if failed or not passed else 0)
PY
[ "$rc" -eq 0 ] || fail "csi-sanity exited with $rc although its report has no failure"
ok "csi-sanity passed"
