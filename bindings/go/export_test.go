package gcdn

// Unexported helpers made available to the external test package (gcdn_test). They are
// defined in non-test files because cgo cannot be used in _test.go files.

// DebugPanic calls gcdn_debug_panic: it returns an error with StatusInternal.
var DebugPanic = debugPanic

// Finalized returns how many clients their finalizer has closed so far.
func Finalized() int64 { return finalized.Load() }

// UserAgentSuffix is what the binding appends to the library's User-Agent.
var UserAgentSuffix = userAgentSuffix
