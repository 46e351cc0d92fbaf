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

step "weir-csi, and the static provisioners csi-sanity creates volumes with"
csi_start --allow-no-pod-info --view-grace 1
# ctrl.sock: Controller only (+ Identity forwarded); node.sock: also forwards the Node service and
# says CONTROLLER_SERVICE, for the lifecycle specs csi-sanity runs only for plugins with one
"$CSI_CALL" "$TMP/ctrl.sock" serve-controller "$TMP/csi.sock" </dev/null >>"$TMP/ctrl.log" 2>&1 &
CTRL_PID=$!
pid_track "$CTRL_PID"
"$CSI_CALL" "$TMP/node.sock" serve-controller "$TMP/csi.sock" --with-node </dev/null >>"$TMP/ctrl.log" 2>&1 &
NODE_PID=$!
pid_track "$NODE_PID"
at_exit 'pid_stop $CTRL_PID $NODE_PID'
for i in $(seq 1 50); do [ -S "$TMP/ctrl.sock" ] && [ -S "$TMP/node.sock" ] && break; sleep 0.1; done
printf 'namespace: development\ndataset: spark\nreadOnly: "true"\n' >"$TMP/params.yaml"
ok "weir-csi pid $CSI_PID, provisioners pid $CTRL_PID and $NODE_PID"

# sanity NAME ENDPOINT CONTROLLER-ENDPOINT GINKGO-ARGS...: one csi-sanity run; prints its counts
# and each skip reason; fails the test on any failed spec or none passed.
sanity() {
	local name="$1" ep="$2" ctrl="$3" rc=0
	shift 3
	mkdir -p "$TMP/$name"
	(cd "$TMP/$name" && timeout -k 5 600 "$SANITY" \
		-csi.endpoint "unix://$ep" -csi.controllerendpoint "unix://$ctrl" \
		-csi.mountdir "$TMP/$name/mnt" -csi.stagingdir "$TMP/$name/staging" \
		-csi.testvolumeparameters "$TMP/params.yaml" \
		-ginkgo.junit-report "$TMP/$name/junit.xml" -ginkgo.no-color "$@") >"$TMP/$name/out" 2>&1 || rc=$?
	grep -E "^(Ran |FAIL!|SUCCESS!)" "$TMP/$name/out" | sed 's/^/  /' || true
	[ -s "$TMP/$name/junit.xml" ] || { tail -n 40 "$TMP/$name/out" >&2; fail "csi-sanity ($name) wrote no report (exit $rc)"; }
	python3 - "$TMP/$name/junit.xml" <<'PY' || { tail -n 80 "$TMP/$name/out" >&2; fail "csi-sanity ($name): failures (above; full output in $TMP/$name/out)"; }
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
        msg = (tc.find("skipped").get("message", "") or "").replace("skipped - ", "").strip()
        msg = msg.splitlines()[0] if msg else "pending in csi-sanity itself"
        if "[Controller Server]" in name or "[GroupController" in name:
            msg = "a Controller suite: it would test the stand-in, not weir-csi (-ginkgo.skip)"
        elif msg.startswith("skipped"):
            msg = "not in this run's -ginkgo.focus/skip"
        skipped[msg] += 1
    else:
        passed.append(name)
print(f"  csi-sanity: {len(passed)} passed, {len(failed)} failed, {sum(skipped.values())} skipped")
for msg, n in skipped.most_common():
    print(f"    skipped {n:3d}: {msg}")
for p in passed:
    print(f"    passed: {p}")
for f in failed:
    print(f"    FAILED: {f}")
sys.exit(1 if failed or not passed else 0)
PY
	[ "$rc" -eq 0 ] || fail "csi-sanity ($name) exited with $rc although its report has no failure"
}

step "csi-sanity $SANITY: Identity and Node on weir-csi's own endpoint"
sanity node-only "$TMP/csi.sock" "$TMP/ctrl.sock" -ginkgo.skip '\[Controller Server\]|\[GroupController'
ok "csi-sanity passed on weir-csi's endpoint"

step "csi-sanity: the publish/stats/unpublish lifecycle specs, weir-csi's Node service behind the stand-in"
sanity lifecycle "$TMP/node.sock" "$TMP/node.sock" -ginkgo.focus 'Node Service should (work|be idempotent)'
ok "csi-sanity lifecycle specs passed"
