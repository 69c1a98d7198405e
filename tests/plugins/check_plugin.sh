#!/usr/bin/env bash
# Runs avgraph-plugin-check on a built plugin bundle under a virtual X display (JUCE's GUI code, and
# the editor screenshot, need one), with a real ESC-10 recording the shipped classifier never saw
# in training (fold 5): the rain clip of examples/audio, decoded with sox (Debian's JUCE reads no Ogg).
# The bundle is copied out of the build tree first, as a user installs it: it must need nothing there.
#
#   tests/plugins/check_plugin.sh CHECK_HOST BUNDLE [extra check-host arguments]
set -euo pipefail
check_host=$1
bundle=$2
shift 2
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sox "$here/examples/audio/rain-5-188655-A.ogg" "$work/rain.wav"
mkdir "$work/installed"
cp -r "$bundle" "$work/installed/"
bundle="$work/installed/$(basename "$bundle")"
# Class 1 of the ESC-10 preset is "Rain" (presets/scene/esc10-logmel-cnn.json): LV2 hosts show the index.
exec timeout 600 xvfb-run -a -s "-screen 0 1280x800x24" \
    "$check_host" "$bundle" --wav "$work/rain.wav" --expect Rain --expect-index 1 "$@"
