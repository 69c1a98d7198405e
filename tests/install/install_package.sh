#!/usr/bin/env bash
# The installed avgraph as a third party meets it (docs/install.md):
#   1. `cmake --install BUILD --prefix P` into an empty prefix;
#   2. the example node library and the embedding example, copied out of P/share/avgraph/examples,
#      configured and built out of tree against P with find_package(avgraph), nothing of the source tree;
#   3. the embedding program run on the shipped example clip: the trained model must hear rain;
#   4. the installed CLI runs the same preset, and loads the node library built in 2;
#   5. the installed Python package runs it too, with the installed libraries.
# Usage: install_package.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$(realpath "$1")
work=$2
rm -rf "$work"
mkdir -p "$work"
work=$(realpath "$work")
prefix=$work/prefix

fail() { echo "install_package: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in bin/avgraph lib/libavgraph_engine.so lib/libavgraph_nodes.so lib/libavgraph_io.so \
         include/avgraph/graph/node_library.h include/avgraph/io/runtime.h \
         lib/cmake/avgraph/avgraphConfig.cmake share/avgraph/presets/scene/esc10-logmel-cnn.pt; do
  [ -e "$prefix/$f" ] || fail "cmake --install left out $f"
done
# The package must stand on its own: nothing in it may point back into the build or source tree.
if grep -rlF "$build" "$prefix/lib/cmake"; then fail "the CMake package refers to the build tree $build"; fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
for example in node_library embed; do
  cp -r "$prefix/share/avgraph/examples/$example" "$work/$example-src"
  cmake -S "$work/$example-src" -B "$work/$example" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >"$work/$example-configure.log" \
    || { cat "$work/$example-configure.log"; fail "configuring examples/$example against $prefix failed"; }
  cmake --build "$work/$example" >"$work/$example-build.log" \
    || { cat "$work/$example-build.log"; fail "building examples/$example against $prefix failed"; }
done

# The embedding program resolves the installed libraries, not the build tree's.
ldd "$work/embed/avgraph_embed" | grep -F libavgraph_engine.so | grep -qF "$prefix/lib/" \
  || { ldd "$work/embed/avgraph_embed" | grep avgraph; fail "avgraph_embed does not load $prefix/lib/libavgraph_engine.so"; }

clip=$prefix/share/avgraph/examples/audio/rain-5-188655-A.ogg
preset=$prefix/share/avgraph/presets/scene/esc10-logmel-cnn.json
out=$("$work/embed/avgraph_embed" "$preset" "$clip")
echo "$out"
grep -q '^probabilities \[probabilities\] \[1, 10\]  Rain 0\.7' <<<"$out" \
  || fail "avgraph_embed did not hear rain in $clip with probability 0.7x: $out"

"$prefix/bin/avgraph" run "$preset" --input "$clip" --output "$work/run" >"$work/run.log"
grep -q "Rain 0\.7" "$work/run.log" || { cat "$work/run.log"; fail "the installed avgraph run did not hear rain"; }

# The Python package, installed for the interpreter under the prefix, resolves the installed libraries.
if [ -e "$build/python/avgraph/__init__.py" ]; then
  site=$(/usr/bin/python3 -c 'import sys; print(f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/dist-packages")')
  [ -e "$prefix/$site/avgraph/__init__.py" ] || fail "cmake --install did not put the Python package in $prefix/$site"
  py=$(cd "$work" && PYTHONPATH="$prefix/$site" /usr/bin/python3 -c '
import sys, numpy as np, avgraph
assert avgraph.__file__.startswith(sys.argv[1]), avgraph.__file__
out = avgraph.Graph(sys.argv[2]).run(sys.argv[3])
p = out["probabilities"]
print(out.meta["probabilities"]["class_names"][int(np.argmax(p))], round(float(p.max()), 1))
' "$prefix" "$preset" "$clip") || fail "the installed Python package failed: $py"
  [ "$py" = "Rain 0.7" ] || fail "the installed Python package did not hear rain: $py"
  ldd "$prefix/$site"/avgraph/_avgraph*.so | grep -F libavgraph_engine.so | grep -qF "$prefix/lib/" \
    || fail "the installed Python module does not load $prefix/lib/libavgraph_engine.so"
fi

nodes=$("$prefix/bin/avgraph" --nodes "$work/node_library/libavgraph_example_nodes.so" nodes example.gain)
grep -q "example.gain" <<<"$nodes" || fail "the installed avgraph did not load the node library: $nodes"
echo "install_package: installed into $prefix; the node library and avgraph_embed built against it and ran"
