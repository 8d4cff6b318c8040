#!/usr/bin/env bash
# Installs the conduit built in BUILD_DIR into a prefix under it, builds the
# consumer project in SOURCE_DIR/tests/consumer against that prefix with
# find_package(conduit), and runs the result.
# Usage: run.sh BUILD_DIR SOURCE_DIR [CXX_COMPILER] [CONFIG]
set -euo pipefail

build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
cxx=${3:-}
config=${4:-}

prefix="$build_dir/consumer/install"
consumer_build="$build_dir/consumer/build"
rm -rf "$prefix" "$consumer_build"

install_args=(--install "$build_dir" --prefix "$prefix")
[[ -n "$config" ]] && install_args+=(--config "$config")
cmake "${install_args[@]}"

configure_args=(-S "$source_dir/tests/consumer" -B "$consumer_build"
                -DCMAKE_PREFIX_PATH="$prefix")
[[ -n "$cxx" ]] && configure_args+=(-DCMAKE_CXX_COMPILER="$cxx")
[[ -n "$config" ]] && configure_args+=(-DCMAKE_BUILD_TYPE="$config")
cmake "${configure_args[@]}"
cmake --build "$consumer_build"

"$consumer_build/consumer"
