#!/usr/bin/env bash
# The install test (make test-install): `make install` into a temporary prefix, and once with
# DESTDIR; then, from directories outside the checkout, build and run programs that use only
# what was installed:
#   - C with `pkg-config --cflags --libs gcdn` (the .pc's rpath, no LD_LIBRARY_PATH);
#   - C++ with CMake's find_package(gcdn), linked with gcdn::gcdn and with gcdn::gcdn_static;
#   - Go with `go build -tags gcdn_system` (PKG_CONFIG_PATH of the prefix);
# each making real requests to the installed gcdn-emulator, started here on loopback.
# Needs: cc, c++, cmake, pkg-config, go, curl. Takes well under a minute once `make build` is done.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MAKE=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gcdn-install-test.XXXXXX")
emulator_pid=
cleanup() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
step() { echo "test-install: $*"; }
for tool in cc c++ cmake pkg-config go curl readelf; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

prefix=$tmp/prefix
step "make install PREFIX=$prefix"
$MAKE -s -C "$REPO" install PREFIX="$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "make install"; }

# What is installed, and how.
for f in lib/libgcdn.so.0 lib/libgcdn.a include/gcdn.h lib/pkgconfig/gcdn.pc \
         lib/cmake/gcdn/gcdnConfig.cmake lib/cmake/gcdn/gcdnConfigVersion.cmake bin/gcdn-emulator; do
  [ -f "$prefix/$f" ] || fail "$f is not installed"
done
[ "$(readlink "$prefix/lib/libgcdn.so")" = libgcdn.so.0 ] || fail "lib/libgcdn.so is not a link to libgcdn.so.0"
grep -q 'Library soname: \[libgcdn.so.0\]' <<<"$(readelf -d "$prefix/lib/libgcdn.so.0")" || fail "SONAME is not libgcdn.so.0"
! grep -q '\.symtab' <<<"$(readelf -S "$prefix/lib/libgcdn.so.0")" || fail "libgcdn.so.0 is not stripped"
grep -q ' gcdn_purge_urls$' <<<"$(readelf --dyn-syms "$prefix/lib/libgcdn.so.0")" || fail "stripping removed the exports"
if [ -x "$REPO/target/release/gcdn" ]; then [ -x "$prefix/bin/gcdn" ] || fail "bin/gcdn is not installed"; fi
# gcdn's completions where bash-completion, zsh and fish look, and its manual pages.
for f in share/bash-completion/completions/gcdn share/zsh/site-functions/_gcdn \
         share/fish/vendor_completions.d/gcdn.fish share/man/man1/gcdn.1 share/man/man1/gcdn-purge.1; do
  [ -s "$prefix/$f" ] || fail "$f is not installed"
done
bash -n "$prefix/share/bash-completion/completions/gcdn" || fail "the bash completion script does not parse"
head -1 "$prefix/share/zsh/site-functions/_gcdn" | grep -qx '#compdef gcdn' || fail "_gcdn is not a zsh completion function"
grep -q '^\.TH gcdn 1 ' "$prefix/share/man/man1/gcdn.1" || fail "gcdn.1 has no .TH line"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)
[ "$(pkg-config --modversion gcdn)" = "$version" ] || fail "pkg-config --modversion: $(pkg-config --modversion gcdn), want $version"
grep -q -- "-Wl,-rpath,$prefix/lib" <<<"$(pkg-config --libs gcdn)" || fail "gcdn.pc offers no rpath for $prefix: $(pkg-config --libs gcdn)"

# DESTDIR: everything lands under it, and the files name the final PREFIX.
step "make install DESTDIR=$tmp/stage PREFIX=/opt/gcdn"
$MAKE -s -C "$REPO" install DESTDIR="$tmp/stage" PREFIX=/opt/gcdn >"$tmp/install-destdir.log" 2>&1 \
  || { cat "$tmp/install-destdir.log" >&2; fail "make install DESTDIR"; }
[ -f "$tmp/stage/opt/gcdn/lib/libgcdn.so.0" ] && [ -x "$tmp/stage/opt/gcdn/bin/gcdn-emulator" ] || fail "DESTDIR install incomplete"
grep -qx 'prefix=/opt/gcdn' "$tmp/stage/opt/gcdn/lib/pkgconfig/gcdn.pc" || fail "gcdn.pc under DESTDIR does not name /opt/gcdn"
grep -q 'ldconfig' "$tmp/install-destdir.log" && fail "ldconfig ran for a DESTDIR install"
# A system prefix gets no rpath.
$MAKE -s -C "$REPO" install DESTDIR="$tmp/stage-usr" PREFIX=/usr >/dev/null 2>&1 || fail "make install DESTDIR PREFIX=/usr"
grep -q 'rpath' "$tmp/stage-usr/usr/lib/pkgconfig/gcdn.pc" && fail "gcdn.pc for /usr offers an rpath"

# The installed emulator, on loopback; the API key never leaves this script.
key=install-test-key-4Qw8
"$prefix/bin/gcdn-emulator" --port 0 --quiet --seed 5 --api-key "$key" >"$tmp/emulator.out" 2>"$tmp/emulator.err" &
emulator_pid=$!
for _ in $(seq 200); do grep -q '^GCDN_EMULATOR_URL=' "$tmp/emulator.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^GCDN_EMULATOR_URL=//p' "$tmp/emulator.out")
[ -n "$url" ] || { cat "$tmp/emulator.err" >&2; fail "the installed emulator printed no URL"; }
curl -fsS -X POST -d '{"url_requests": 1000000}' "$url/__emulator/config" >/dev/null
export GCORE_API_KEY=$key GCORE_BASE_URL=$url
unset LD_LIBRARY_PATH GCDN_LIBRARY
purges() { local r; r=$(curl -fsS "$url/__emulator/requests"); { grep -o '"path": *"/cdn/resources/5/purge"' <<<"$r" || true; } | wc -l; }

# Run a program from a directory of its own, with nothing pointing at the checkout; it must
# load libgcdn from the prefix (or not at all, when static) and make its two requests.
run_outside() { # NAME BINARY [expect-shared]
  local name=$1 bin=$2 before after
  mkdir -p "$tmp/run-$name"
  if [ "${3:-}" = shared ]; then
    grep -q "libgcdn.so.0 => $prefix/lib/libgcdn.so.0" <<<"$(ldd "$bin")" || { ldd "$bin" >&2; fail "$name does not load $prefix/lib/libgcdn.so.0"; }
  else
    grep -q 'libgcdn' <<<"$(readelf -d "$bin")" && fail "$name (static) needs libgcdn.so at run time"
  fi
  before=$(purges)
  (cd "$tmp/run-$name" && "$bin" "$name") || fail "$name failed"
  after=$(purges)
  [ "$after" -eq $((before + 1)) ] || fail "$name: the emulator saw $((after - before)) purges of resource 5, want 1"
}

step "C with pkg-config"
mkdir -p "$tmp/c" && cp "$REPO/tests/install/c/consumer.c" "$tmp/c/"
# shellcheck disable=SC2046
(cd "$tmp/c" && cc -std=c11 -Wall -Wextra -Werror -pedantic consumer.c -o consumer $(pkg-config --cflags --libs gcdn)) || fail "C build"
run_outside c-pkg-config "$tmp/c/consumer" shared
# shellcheck disable=SC2046
(cd "$tmp/c" && cc -std=c11 -Wall -Wextra -Werror consumer.c -o consumer-static \
   $(pkg-config --cflags gcdn) "$prefix/lib/libgcdn.a" $(pkg-config --libs-only-l --static gcdn | sed 's/-lgcdn//')) || fail "C static build"
run_outside c-pkg-config-static "$tmp/c/consumer-static"

step "C++ with CMake find_package(gcdn)"
cp -r "$REPO/tests/install/cmake" "$tmp/cmake-src"
cmake -S "$tmp/cmake-src" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 \
  || { cat "$tmp/cmake.log" >&2; fail "cmake configure"; }
cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log" >&2; fail "cmake build"; }
run_outside cmake-shared "$tmp/cmake-build/consumer_shared" shared
run_outside cmake-static "$tmp/cmake-build/consumer_static"
# The version file: 0.<minor> is found, a later minor is not.
mkdir -p "$tmp/cmake-ver"
IFS=. read -r major minor _ <<<"$version"
cat >"$tmp/cmake-ver/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(v LANGUAGES C)
find_package(gcdn $version EXACT REQUIRED CONFIG)
find_package(gcdn $major.$((minor + 1)) QUIET CONFIG)
if(gcdn_FOUND)
  message(FATAL_ERROR "gcdn $version satisfied a request for $major.$((minor + 1))")
endif()
CMAKE
cmake -S "$tmp/cmake-ver" -B "$tmp/cmake-ver/b" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake-ver.log" 2>&1 \
  || { cat "$tmp/cmake-ver.log" >&2; fail "the CMake version file"; }

step "Go with -tags gcdn_system"
mkdir -p "$tmp/go"
cp "$REPO/tests/install/go/main.go" "$tmp/go/"
cat >"$tmp/go/go.mod" <<GOMOD
module example.com/gcdn-install-test

go 1.21

require github.com/gcdn-project/gcdn/bindings/go v0.0.0

replace github.com/gcdn-project/gcdn/bindings/go => $REPO/bindings/go
GOMOD
# A build cache of its own: Go's does not notice that gcdn.pc changed (another prefix, other
# flags), and would link with the flags of an earlier run.
(cd "$tmp/go" && GOCACHE=$tmp/go-cache GOFLAGS=-mod=mod go build -tags gcdn_system -o gcdn-go-consumer .) \
  || fail "go build -tags gcdn_system"
run_outside go "$tmp/go/gcdn-go-consumer" shared
grep -q "$REPO/target" <<<"$(readelf -d "$tmp/go/gcdn-go-consumer")" && fail "the Go binary has the checkout's target/ in its rpath"

kill "$emulator_pid"; wait "$emulator_pid" 2>/dev/null || true; emulator_pid=

step "make uninstall"
$MAKE -s -C "$REPO" uninstall DESTDIR="$tmp/stage" PREFIX=/opt/gcdn >/dev/null 2>&1 || fail "make uninstall"
left=$(find "$tmp/stage" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "test-install: 7 passed, 0 failed"
