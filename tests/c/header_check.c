/*
 * gcdn.h on its own, compiled (not linked) by tests/header.rs as C89, C99, C11 and C17 and
 * as C++11 and C++17, with -pedantic -Wall -Wextra -Werror. Written in C89 (no // comments,
 * declarations first) so that the header, not this file, is what is under test.
 */
#include "gcdn.h"
#include "gcdn.h" /* the include guard holds */

#if !defined(GCDN_VERSION_MAJOR) || !defined(GCDN_VERSION_MINOR) || !defined(GCDN_VERSION_PATCH)
#error "gcdn.h lacks its version macros"
#endif
#if GCDN_VERSION_MAJOR < 0 || GCDN_VERSION_MINOR < 0 || GCDN_VERSION_PATCH < 0
#error "the version macros are not preprocessor numbers"
#endif

/* Each prototype, taken as a pointer of the type a caller would write. */
typedef int32_t (*purge_fn)(const gcdn_client *, int64_t, const char *const *, size_t, char **);

int check(void);

int check(void) {
    purge_fn urls = gcdn_purge_urls;
    purge_fn patterns = gcdn_purge_patterns;
    int32_t (*debug)(char **) = gcdn_debug_panic;
    const char *(*status_str)(int32_t) = gcdn_status_str;
    unsigned long max_items = GCDN_MAX_ITEMS;
    unsigned int flags = GCDN_DELETE_DEACTIVATE_FIRST | GCDN_DELETE_MISSING_OK;
    return urls != 0 && patterns != 0 && debug != 0 && status_str != 0 && max_items > 0 &&
           flags == 3u && GCDN_OK == 0;
}
