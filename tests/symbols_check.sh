#!/usr/bin/env bash
# What libconduit.so exports is its public API and nothing of the engine's
# insides: every function conduit_c.h declares is exported; every exported
# conduit:: symbol belongs to a name include/conduit/ declares, and none to
# the internal namespaces (detail, except the four the public headers
# declare; persistence, format, crc32c, disk) or an anonymous namespace; no
# mimalloc or liburing symbol is re-exported.
# Usage: symbols_check.sh LIBRARY INCLUDE_DIR
set -euo pipefail
lib=$1
include=$2
fail=0

exported=$(nm -D --defined-only "$lib" | awk '{print $3}')
# Each symbol's own name: its parameter list (which may name internal types
# held through a pointer) cut off.
demangled=$(printf '%s\n' "$exported" | c++filt | sed -E 's/^(typeinfo( name)? for|vtable for) //; s/\(.*//')

for fn in $(grep -o 'CONDUIT_EXPORT [^(]*(' "$include/conduit/conduit_c.h" | grep -o 'conduit_[a-z0-9_]*($' | tr -d '('); do
  if ! grep -qx "$fn" <<<"$exported"; then
    echo "symbols_check: $fn (conduit_c.h) is not exported by $lib" >&2
    fail=1
  fi
done

bad=$(grep -E 'conduit::(persistence|format|crc32c|disk)::|\(anonymous namespace\)|^(mi_|io_uring_)' <<<"$demangled" || true)
bad+=$(grep -E 'conduit::detail::' <<<"$demangled" | grep -vxE 'conduit::detail::(clock_of|life_of|throw_error|thread_hook_of)' || true)
if [[ -n "$bad" ]]; then
  echo "symbols_check: $lib exports internals:" >&2
  echo "$bad" >&2
  fail=1
fi

# conduit::NAME...: NAME must be declared in a public header.
for name in $(grep -oE '(^|[ <(,])conduit::[A-Za-z_]+' <<<"$demangled" | sed 's/.*conduit:://' | sort -u); do
  if ! grep -qE "\b(class|struct|enum class)( CONDUIT_EXPORT)? $name\b|\b$name\(|namespace conduit::$name\b" \
       "$include"/conduit/*.h; then
    echo "symbols_check: $lib exports conduit::$name, which no public header declares" >&2
    fail=1
  fi
done

count=$(grep -c '^conduit_' <<<"$exported" || true)
if [[ $fail -eq 0 ]]; then
  echo "symbols_check: $(wc -l <<<"$exported") symbols exported, $count of them the C API; no internals"
fi
exit $fail
