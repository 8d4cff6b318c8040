#!/usr/bin/env bash
# Builds the Debian packages of BUILD_DIR (cpack -G DEB), installs them with
# dpkg -i, builds examples/fanout.c through pkg-config and
# examples/work_queue.cpp through find_package(conduit) (linking
# conduit::shared, so the C++ API is used from libconduit.so), runs both,
# runs a small program with /usr/bin/python3 against python3-conduit, then
# purges the packages. Needs root (or sudo) and a configured,
# built BUILD_DIR. Usage: check-packages.sh [BUILD_DIR]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=$(cd "${1:-build}" && pwd)
source_dir=$PWD
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

work=$(mktemp -d)
installed=()
cleanup() {
  if (( ${#installed[@]} > 0 )); then "${sudo[@]}" dpkg -P "${installed[@]}" >/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

rm -rf "$build_dir/packages"
(cd "$build_dir" && cpack -G DEB >/dev/null)
debs=("$build_dir"/packages/*.deb)
for deb in "${debs[@]}"; do
  echo "check-packages: $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
done
for deb in "${debs[@]}"; do
  pkg=$(dpkg-deb -f "$deb" Package)
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    echo "check-packages: $pkg is installed already; not touching it" >&2
    exit 1
  fi
done
for deb in "${debs[@]}"; do installed+=("$(dpkg-deb -f "$deb" Package)"); done
"${sudo[@]}" dpkg -i "${debs[@]}" >/dev/null

# C through pkg-config, against /usr.
cc -std=c99 -Wall -Wextra -Werror "$source_dir/examples/fanout.c" -o "$work/fanout_c" \
   $(pkg-config --cflags --libs conduit)
# Linked dynamically, to the installed library (/lib is /usr/lib where usr is merged).
ldd "$work/fanout_c" | grep -qE 'libconduit\.so\.[0-9.]+ => (/usr)?/lib/libconduit' ||
  { echo "check-packages: fanout_c did not link the installed libconduit.so" >&2; ldd "$work/fanout_c" >&2; exit 1; }
"$work/fanout_c" >/dev/null

# C++ through find_package, against the shared library.
mkdir -p "$work/cxx"
cat >"$work/cxx/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.22)
project(packaged_consumer LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(conduit REQUIRED)
add_executable(work_queue work_queue.cpp)
target_link_libraries(work_queue PRIVATE conduit::shared)
CMAKE
cp "$source_dir/examples/work_queue.cpp" "$work/cxx/"
cmake -S "$work/cxx" -B "$work/cxx/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cxx/build" >/dev/null
"$work/cxx/build/work_queue" >/dev/null
command -v conduit-log >/dev/null || { echo "check-packages: conduit-tools installed no conduit-log" >&2; exit 1; }

# Python: Debian's interpreter imports the installed python3-conduit (built
# with the package when CONDUIT_BUILD_PYTHON is on), from outside the tree.
python_note=""
if grep -q '^CONDUIT_BUILD_PYTHON:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
  [[ " ${installed[*]} " == *" python3-conduit "* ]] ||
    { echo "check-packages: no python3-conduit package" >&2; exit 1; }
  (cd "$work" && env -u PYTHONPATH /usr/bin/python3 - <<'PY')
import conduit
assert conduit.__file__.startswith("/usr/lib/python3/dist-packages/conduit/"), conduit.__file__
with conduit.Engine() as e:
    t = e.create_topic("t")
    s = t.subscribe(start="earliest")
    t.publish(b"hello", key="k")
    got = [(bytes(r.payload), r.key) for r in s.poll(timeout=1.0)]
    s.close()
assert got == [(b"hello", "k")], got
PY
  python_note=", Python (/usr/bin/python3)"
fi

"${sudo[@]}" dpkg -P "${installed[@]}" >/dev/null
installed=()
if [[ -e /usr/lib/libconduit.so || -e /usr/include/conduit/conduit_c.h || -e /usr/lib/python3/dist-packages/conduit ]]; then
  echo "check-packages: dpkg -P left files behind" >&2
  exit 1
fi
echo "check-packages: ${#debs[@]} packages built, installed, used from C (pkg-config), C++ (find_package)$python_note, removed"
