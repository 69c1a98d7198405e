#!/usr/bin/env bash
# The Debian package on a clean Debian 12: cpack -G DEB, a fresh bookworm root made with debootstrap,
# `apt-get install ./avgraph_*.deb` inside it (apt resolves the dependencies dpkg-shlibdeps wrote), then
# the installed avgraph classifies the shipped example clip; then python3-avgraph_*.deb, and the system
# interpreter imports avgraph and classifies it too. Needs root, the Debian mirror and ~2 GB,
# so it runs only when AVGRAPH_TEST_DEB_ROOT=1; otherwise it reports itself skipped (exit 77).
# Usage: deb_clean_root.sh BUILD_DIR WORK_DIR
set -euo pipefail
if [ "${AVGRAPH_TEST_DEB_ROOT:-0}" != 1 ]; then
  echo "deb_clean_root: skipped (set AVGRAPH_TEST_DEB_ROOT=1 to build a Debian 12 root and install the package)"
  exit 77
fi
build=$(realpath "$1")
work=$2
mirror=${AVGRAPH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
fail() { echo "deb_clean_root: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap

rm -rf "$work/debs"
mkdir -p "$work/debs"
(cd "$work/debs" && cpack -G DEB --config "$build/CPackConfig.cmake" >cpack.log) \
  || { cat "$work/debs/cpack.log"; fail "cpack -G DEB failed"; }
runtime=$(ls "$work/debs"/avgraph_*.deb)
dpkg-deb -f "$runtime" Depends

root=$work/root
if [ ! -x "$root/usr/bin/apt-get" ]; then
  rm -rf "$root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" \
    || { tail -20 "$work/debootstrap.log"; fail "debootstrap failed"; }
fi
cp "$runtime" "$root/tmp/"
cleanup() { umount "$root/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$root/proc"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$runtime")" >"$work/apt.log" || { tail -30 "$work/apt.log"; fail "apt-get install failed"; }
out=$(chroot "$root" avgraph run /usr/share/avgraph/presets/scene/esc10-logmel-cnn.json \
        --input /usr/share/avgraph/examples/audio/rain-5-188655-A.ogg --output /tmp/example)
echo "$out"
grep -q "Rain 0\.7" <<<"$out" || fail "the packaged avgraph did not hear rain"
python=$(ls "$work/debs"/python3-avgraph_*.deb 2>/dev/null || true)
if [ -n "$python" ]; then
  # The Python package from its own .deb: the system interpreter imports it with no PYTHONPATH.
  cp "$python" "$root/tmp/"
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "/tmp/$(basename "$python")" >"$work/apt-python.log" || { tail -30 "$work/apt-python.log"; fail "apt-get install of $(basename "$python") failed"; }
  py=$(chroot "$root" python3 -c '
import numpy as np, avgraph
out = avgraph.Graph("/usr/share/avgraph/presets/scene/esc10-logmel-cnn.json").run(
    "/usr/share/avgraph/examples/audio/rain-5-188655-A.ogg")
p = out["probabilities"]
print(avgraph.__file__, out.meta["probabilities"]["class_names"][int(np.argmax(p))], round(float(p.max()), 1))')
  echo "$py"
  [ "$py" = "/usr/lib/python3/dist-packages/avgraph/__init__.py Rain 0.7" ] \
    || fail "the packaged Python avgraph did not hear rain: $py"
fi
echo "deb_clean_root: $(basename "$runtime") installed on a clean Debian 12 root and ran"
