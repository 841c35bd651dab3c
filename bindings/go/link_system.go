//go:build gcdn_system

package gcdn

// With `-tags gcdn_system` the package links a system-installed libgcdn found through
// pkg-config (gcdn.pc, written by `make install`).

/*
#cgo pkg-config: gcdn
*/
import "C"
