package gcdn

// The functions the library calls back. A file with //export may only declare C in its
// preamble, so the helpers live next to their users (log.go, job.go).

/*
#include "gcdn.h"
*/
import "C"

import "unsafe"

// gcdnGoLog is the gcdn_log_fn of clients made WithLogger.
//
//export gcdnGoLog
func gcdnGoLog(record *C.gcdn_log_record, userData unsafe.Pointer) {
	logFromC(record, userData)
}

// gcdnGoProgress is the gcdn_progress_fn of runs with a Progress function.
//
//export gcdnGoProgress
func gcdnGoProgress(event *C.gcdn_event, userData unsafe.Pointer) C.int32_t {
	return progressFromC(event, userData)
}
