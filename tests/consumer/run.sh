#!/usr/bin/env bash
# Installs the conduit built in BUILD_DIR into a prefix under it, builds the
# consumer project in SOURCE_DIR/tests/consumer against that prefix with
# find_package(conduit), and runs the result. The program it builds is the
# README's embedding example: the first ```cpp block of README.md, so the
# README's example is compiled and run on every CI run. With BRIDGE 1 (conduit
# was built with its bridge) it also builds bridge_main.cpp against
# find_package(conduit COMPONENTS bridge), with doc/bridge.md's example
# (the first ```cpp block of its "## In code" section) compiled in, and
# runs it (no nats-server needed).
# Usage: run.sh BUILD_DIR SOURCE_DIR [CXX_COMPILER] [CONFIG] [BRIDGE]
set -euo pipefail

build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
cxx=${3:-}
config=${4:-}
bridge=${5:-0}

prefix="$build_dir/consumer/install"
consumer_build="$build_dir/consumer/build"
consumer_src="$build_dir/consumer/src"
rm -rf "$prefix" "$consumer_build" "$consumer_src"
mkdir -p "$consumer_src"
cp "$source_dir/tests/consumer/CMakeLists.txt" "$consumer_src/"
awk '/^```cpp$/ && !done {on=1; next} /^```$/ && on {on=0; done=1} on' \
    "$source_dir/README.md" >"$consumer_src/main.cpp"
if [[ ! -s "$consumer_src/main.cpp" ]]; then
  echo "run.sh: README.md has no \`\`\`cpp example block" >&2
  exit 1
fi
if [[ "$bridge" == 1 ]]; then
  cp "$source_dir/tests/consumer/bridge_main.cpp" "$consumer_src/"
  awk '/^## In code/ {section=1} section && /^```cpp$/ && !done {on=1; next}
       /^```$/ && on {on=0; done=1} on' "$source_dir/doc/bridge.md" >"$consumer_src/readme_bridge.inc"
  if [[ ! -s "$consumer_src/readme_bridge.inc" ]]; then
    echo "run.sh: doc/bridge.md's \"## In code\" section has no \`\`\`cpp example block" >&2
    exit 1
  fi
fi

install_args=(--install "$build_dir" --prefix "$prefix")
[[ -n "$config" ]] && install_args+=(--config "$config")
cmake "${install_args[@]}"

configure_args=(-S "$consumer_src" -B "$consumer_build"
                -DCMAKE_PREFIX_PATH="$prefix")
[[ "$bridge" == 1 ]] && configure_args+=(-DCONSUMER_BRIDGE=ON)
[[ -n "$cxx" ]] && configure_args+=(-DCMAKE_CXX_COMPILER="$cxx")
[[ -n "$config" ]] && configure_args+=(-DCMAKE_BUILD_TYPE="$config")
cmake "${configure_args[@]}"
cmake --build "$consumer_build"

"$consumer_build/consumer"
if [[ "$bridge" == 1 ]]; then
  "$consumer_build/consumer_bridge"
fi
