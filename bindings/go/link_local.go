//go:build !gcdn_system

package gcdn

// By default the package links the library from the repository's build tree
// (`cargo build --release` at the repository root), with an rpath so that `go test`
// and `go run` find libgcdn.so without LD_LIBRARY_PATH.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lgcdn -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
