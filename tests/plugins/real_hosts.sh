#!/usr/bin/env bash
# Loads the built avgraph plugin into real, unmodified hosts, as our users do.
# Unit tests only exercise our own code; a plugin can still be rejected by a
# DAW because of a bad bundle layout, missing metadata or a crash on load. So
# this script runs (1) Ardour 7's VST3 scanner on the VST3 bundle and checks
# the index it writes, (2) lilv's lv2ls/lv2info on the LV2 bundle, and (3) a
# headless Ardour 7 session (ardour7-lua, Dummy engine) that puts the LV2 on a
# stereo and a mono track, plays a sine through it for a few seconds and
# checks that avgraph ran and passed the audio through unchanged. Each check
# prints PASS or FAIL; the script exits non-zero if any check fails.
#
# Usage: tests/plugins/real_hosts.sh <avgraph.vst3> <avgraph.lv2>
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 <path/to/avgraph.vst3> <path/to/avgraph.lv2>" >&2
    exit 2
fi

# The caller (CTest) may run us from any directory: work with absolute paths.
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vst3_bundle=$(realpath -m -- "$1")
lv2_bundle=$(realpath -m -- "$2")

# The identity users' sessions refer to; changing it breaks their projects.
expected_name=avgraph
expected_vendor=avgraph
lv2_uri=${AVGRAPH_LV2_URI:-https://avgraph.org/plugins/scene}

ardour_lib=/usr/lib/ardour7
vst3_scanner=$ardour_lib/ardour-vst3-scanner
ardour_lua=${ARDOUR_LUA:-/usr/bin/ardour7-lua}

# Everything the hosts write (scan caches, Ardour's config, the test session)
# goes to a private directory, so the developer's own Ardour setup and the
# repository stay untouched, and repeated runs never see stale caches.
work=$(mktemp -d "${TMPDIR:-/tmp}/avgraph-real-hosts.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
export HOME=$work/home
export XDG_CONFIG_HOME=$work/config
export XDG_CACHE_HOME=$work/cache
export XDG_DATA_HOME=$work/data
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME"

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# Indent a host's output so it reads as detail under the check's verdict.
show() { sed 's/^/    | /' "$@"; }

require_tool() {
    if [[ ! -x $1 ]] && ! command -v "$1" >/dev/null 2>&1; then
        fail "$2: host tool '$1' is not installed"
        return 1
    fi
}

# --- 1. Ardour's VST3 scanner ------------------------------------------------
# Ardour loads every VST3 in a separate scanner process and only offers
# plugins that made it into the scanner's index (a .v3i cache file), so a
# plugin missing from that index is invisible to Ardour users.
check_vst3_scanner() {
    local log=$work/vst3-scan.log rc=0 index info
    require_tool "$vst3_scanner" "VST3 scan" || return 0
    if [[ ! -d $vst3_bundle ]]; then
        fail "VST3 scan: bundle $vst3_bundle does not exist"
        return 0
    fi
    # -f: always rescan, never trust an earlier cache.
    LD_LIBRARY_PATH=$ardour_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
        timeout 60 "$vst3_scanner" -v -f "$vst3_bundle" >"$log" 2>&1 || rc=$?
    index=$(find "$XDG_CACHE_HOME" -name '*.v3i' -type f -print -quit)
    if [[ $rc -ne 0 ]]; then
        show "$log"
        fail "VST3 scan: ardour-vst3-scanner exited with status $rc"
        return 0
    fi
    if [[ -z $index ]]; then
        show "$log"
        fail "VST3 scan: the scanner wrote no .v3i index under $XDG_CACHE_HOME"
        return 0
    fi
    info=$(grep -o '<VST3Info [^>]*>' "$index" || true)
    echo "    Ardour's VST3 index ($index):"
    echo "$info" | show
    local problems=()
    [[ $(grep -c '<VST3Info ' "$index") -eq 1 ]] || problems+=("expected exactly one plugin class in the index")
    grep -q " name=\"$expected_name\"" <<<"$info" || problems+=("name is not \"$expected_name\"")
    grep -q " vendor=\"$expected_vendor\"" <<<"$info" || problems+=("vendor is not \"$expected_vendor\"")
    # An analyser is an effect: Ardour must offer it as an insert, not an instrument.
    grep -q ' category="Fx[|"]' <<<"$info" || problems+=("category is not an Fx category")
    grep -Eq ' uid="[0-9A-F]{32}"' <<<"$info" || problems+=("no 128-bit class UID")
    grep -q ' n_inputs="2" n_outputs="2"' <<<"$info" || problems+=("main bus is not stereo in / stereo out")
    grep -q "bundle=\"$vst3_bundle\"" "$index" || problems+=("index does not point at $vst3_bundle")
    if [[ ${#problems[@]} -eq 0 ]]; then
        pass "VST3 scan: Ardour indexed '$expected_name' ($(grep -o ' category="[^"]*"' <<<"$info" | cut -d'"' -f2)), scanner exit status 0"
    else
        show "$log"
        fail "VST3 scan: $(IFS=';'; echo "${problems[*]}")"
    fi
}

# --- 2. lilv (the LV2 library most Linux hosts use) ----------------------------
# LV2 hosts discover plugins only through the bundle's Turtle metadata; lilv
# parsing it and finding the audio ports is what every lilv-based host relies on.
check_lv2_lilv() {
    local ls_log=$work/lv2ls.log info_log=$work/lv2info.log rc=0
    require_tool lv2ls "LV2 lilv" || return 0
    require_tool lv2info "LV2 lilv" || return 0
    if [[ ! -f $lv2_bundle/manifest.ttl ]]; then
        fail "LV2 lilv: $lv2_bundle has no manifest.ttl"
        return 0
    fi
    # LV2_PATH names directories that contain bundles, not the bundle itself.
    LV2_PATH=$(dirname "$lv2_bundle") timeout 30 lv2ls >"$ls_log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]] || ! grep -Fxq "$lv2_uri" "$ls_log"; then
        show "$ls_log"
        fail "LV2 lilv: lv2ls (status $rc) does not list $lv2_uri"
        return 0
    fi
    pass "LV2 lilv: lv2ls lists $lv2_uri"

    rc=0
    LV2_PATH=$(dirname "$lv2_bundle") timeout 30 lv2info "$lv2_uri" >"$info_log" 2>&1 || rc=$?
    # lv2info prints each port's types on consecutive lines: AudioPort, then
    # InputPort or OutputPort.
    local audio_in audio_out name
    audio_in=$(grep -A1 'lv2core#AudioPort' "$info_log" | grep -c 'lv2core#InputPort' || true)
    audio_out=$(grep -A1 'lv2core#AudioPort' "$info_log" | grep -c 'lv2core#OutputPort' || true)
    name=$(sed -n 's/^[[:space:]]*Name:[[:space:]]*//p' "$info_log" | head -n1)
    echo "    lv2info: name '$name', $audio_in audio input(s), $audio_out audio output(s)"
    if [[ $rc -eq 0 && $name == "$expected_name" && $audio_in -eq 2 && $audio_out -eq 2 ]]; then
        pass "LV2 lilv: lv2info shows '$name' with stereo audio in and out"
    else
        show "$info_log"
        fail "LV2 lilv: lv2info (status $rc) expected '$expected_name' with 2 audio inputs and 2 outputs"
    fi
}

# --- 3. The LV2 on real tracks in Ardour ---------------------------------------
# Scanning proves discovery; this proves that a DAW can instantiate avgraph,
# run it in its process graph and get the audio back unchanged.
check_ardour_track() {
    local log=$work/ardour.log rc=0 lua=$script_dir/ardour_lv2_track.lua
    require_tool "$ardour_lua" "Ardour LV2 track" || return 0
    if [[ ! -f $lv2_bundle/manifest.ttl ]]; then
        fail "Ardour LV2 track: $lv2_bundle has no manifest.ttl"
        return 0
    fi
    # LV2_PATH replaces the default search path and HOME is private, so Ardour
    # can only find the avgraph bundle under test, never an installed copy.
    # -X: end at once if the engine halts instead of waiting on a dead engine.
    LV2_PATH=$(dirname "$lv2_bundle") \
        timeout 90 "$ardour_lua" -X "$lua" "$lv2_uri" "$work/session" >"$log" 2>&1 </dev/null || rc=$?
    show "$log"
    if [[ $rc -eq 0 ]] && grep -q '^AVGRAPH_ARDOUR_LV2_TRACK_OK$' "$log"; then
        pass "Ardour LV2 track: avgraph ran on a stereo and a mono track and passed the audio through"
    elif [[ $rc -eq 124 ]]; then
        fail "Ardour LV2 track: ardour7-lua did not finish within 90 s"
    else
        fail "Ardour LV2 track: ardour7-lua exited with status $rc: $(grep -m1 -E '^Error:|check failed' "$log" || echo 'no error message')"
    fi
}

check_vst3_scanner
check_lv2_lilv
check_ardour_track

if [[ $failures -ne 0 ]]; then
    echo "real_hosts: $failures check(s) FAILED"
    exit 1
fi
echo "real_hosts: all checks PASSED"
