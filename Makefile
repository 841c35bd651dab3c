# gcdn: every job has a target here. The two that matter most:
#   make demo   build, start the emulator, run examples/demo.c against it
#   make test   every test in every language, plus the lints
SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
GO ?= go
PREFIX ?= /usr/local
REL := target/release
# Shared pacing on Redis, with rediss:// (cargo features `rate-store` and `rate-store-tls`,
# off in a bare `cargo build`) is on in every build and test here, the release library (and
# so the wheel) included.
FEATURES ?= --features gcdn/rate-store-tls

.PHONY: all build header demo test lint test-rust test-c-sanitizers test-c-valgrind \
        test-python test-go fuzz bench python-wheel install clean

all: build

# The release library (.so and .a), the emulator, and the SONAME link the linker's users need.
build:
	$(CARGO) build --release --workspace $(FEATURES)
	ln -sf libgcdn.so $(REL)/libgcdn.so.0

# Regenerate include/gcdn.h from src/ffi.rs with the pinned cbindgen.
header:
	GCDN_UPDATE_HEADER=1 $(CARGO) test --test header

demo: build
	examples/run-demo.sh

test: lint test-rust test-c-sanitizers test-c-valgrind test-python test-go
	@echo "make test: all suites passed"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets $(FEATURES) -- -D warnings
	cd bindings/go && $(GO) vet ./...

# Rust unit and integration tests, the header drift check, and the C harness (the debug
# libgcdn.so comes from `cargo build`: `cargo test` builds only the rlib).
test-rust:
	$(CARGO) build --workspace $(FEATURES)
	$(CARGO) test --workspace $(FEATURES)

# The C harness again, built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-c-sanitizers:
	$(CARGO) build --workspace $(FEATURES)
	GCDN_C_SANITIZE=address,undefined $(CARGO) test $(FEATURES) --test c_harness c_harness

# The C harness under valgrind memcheck: zero errors, zero bytes definitely lost.
test-c-valgrind:
	$(CARGO) build --workspace $(FEATURES)
	GCDN_C_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite" \
		$(CARGO) test $(FEATURES) --test c_harness c_harness

test-python: build
	$(PYTHON) -m pytest bindings/python/tests -q

test-go: build
	cd bindings/go && $(GO) test -race -count=1 ./...

# A long property-based fuzzing run (make test runs 2,000 cases per property).
fuzz:
	PROPTEST_CASES=$${PROPTEST_CASES:-200000} $(CARGO) test --release $(FEATURES) --test fuzz

bench: build
	benches/run

# A platform wheel with libgcdn.so inside: bindings/python/dist/*.whl
python-wheel: build
	$(PYTHON) bindings/python/build_wheel.py

# Install the library, header and a pkg-config file (used by the Go binding's gcdn_system tag).
install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(REL)/libgcdn.so $(DESTDIR)$(PREFIX)/lib/libgcdn.so.0
	ln -sf libgcdn.so.0 $(DESTDIR)$(PREFIX)/lib/libgcdn.so
	install -m 0644 $(REL)/libgcdn.a $(DESTDIR)$(PREFIX)/lib/libgcdn.a
	install -m 0644 include/gcdn.h $(DESTDIR)$(PREFIX)/include/gcdn.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -1)|" \
		gcdn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gcdn.pc

clean:
	$(CARGO) clean
