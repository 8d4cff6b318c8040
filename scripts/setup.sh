#!/usr/bin/env bash
# Installs conduit's dependencies from Debian packages and builds it (Release)
# into build/. Safe to run again: apt-get skips what is installed, cmake
# rebuilds only what changed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(g++ cmake make pkg-config jq python3
          libconcurrentqueue-dev libmimalloc-dev liburing-dev
          libbenchmark-dev doctest-dev
          nats-server libnats-dev  # conduit::bridge (libnats) and its tests (a real JetStream server)
          clang libclang-rt-14-dev  # the fuzz targets: clang and its libFuzzer runtime
          gnuplot-nox  # tools/bench-plot plot (bench/run-standard.sh's plots)
          e2fsprogs mount util-linux  # tests/power_loss/run.sh: mkfs.ext4, losetup and mount, mountpoint and flock
          pybind11-dev python3-dev python3-pytest  # the Python package (python/) and its pytest suite
          dpkg-dev file  # scripts/check-packages.sh: cpack -G DEB's dependency scan (dpkg-shlibdeps, file)
          libcpp-httplib-dev prometheus  # conduit-log stat --listen; promtool checks stat --prometheus
          doxygen)  # the API reference (doc/Doxyfile.in), the test api_docs

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if (( ${#missing[@]} > 0 )); then
  echo "setup: installing ${missing[*]}"
  # Refresh the package lists only when they are empty or the install fails.
  if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null) ]]; then
    "${sudo[@]}" apt-get update
  fi
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
