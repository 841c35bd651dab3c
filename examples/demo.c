/*
 * demo.c: the main job end to end, from C. Purges by URL, by pattern and everything,
 * deactivates and deletes, and shows what comes back when something is refused.
 *
 * The key and the API address come from GCORE_API_KEY and GCORE_BASE_URL, as for the
 * official SDKs; `make demo` points them at the bundled emulator (no account, no network).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gcdn.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Print one step's outcome, free the message, and return the status. */
static int32_t report(const char *step, int32_t status, char *error, double started) {
    printf("%-58s %s (%.2f s)\n", step, status == GCDN_OK ? "ok" : gcdn_status_str(status),
           now() - started);
    if (error != NULL) {
        printf("    %s\n", error);
        gcdn_string_free(error);
    }
    return status;
}

/* `call` writes its message, if any, to `&error`: evaluate it before reading `error`. */
#define STEP(description, call)                                   \
    do {                                                          \
        char *error = NULL;                                       \
        double started = now();                                   \
        int32_t status = (call);                                  \
        report(description, status, error, started);              \
    } while (0)

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    gcdn_options *options = gcdn_options_new();
    /* No purge interval is set: the client's pacer keeps to the account's limits, read when
       a resource's second purge needs its slot (the demo's emulator allows 2 URL purges per
       6 s, not per minute), so it meets no 429 and waits only for its slots. */
    gcdn_options_set_user_agent_suffix(options, "gcdn-demo/1", NULL);

    gcdn_client *client = NULL;
    char *error = NULL;
    /* NULL key: GCORE_API_KEY; the base URL falls back to GCORE_BASE_URL. */
    if (gcdn_client_new(NULL, options, &client, &error) != GCDN_OK) {
        fprintf(stderr, "cannot create a client: %s\n", error);
        gcdn_string_free(error);
        gcdn_options_free(options);
        return 1;
    }
    gcdn_options_free(options);
    printf("gcdn %s\n\n", gcdn_version());

    const char *urls[] = {"/index.html", "/css/site.css?v=42", "/index.html"};
    STEP("purge 3 URLs (2 unique) of resource 1", gcdn_purge_urls(client, 1, urls, 3, &error));

    static char storage[250][40];
    const char *many[250];
    for (int i = 0; i < 250; i++) {
        snprintf(storage[i], sizeof storage[i], "/assets/chunk-%03d.js", i % 230);
        many[i] = storage[i];
    }
    STEP("purge 250 URLs (230 unique, 3 requests, paced)",
         gcdn_purge_urls(client, 1, many, 250, &error));

    const char *patterns[] = {"/images/*", "/video/"};
    STEP("purge 2 patterns of resource 1", gcdn_purge_patterns(client, 1, patterns, 2, &error));
    STEP("purge everything of resource 2", gcdn_purge_all(client, 2, &error));

    const char *full[] = {"https://cdn.example.com/logo.png"};
    STEP("purge a full URL (refused before sending)", gcdn_purge_urls(client, 1, full, 1, &error));

    STEP("delete resource 3 while it is active", gcdn_delete_resource(client, 3, 0, &error));
    STEP("deactivate resource 3", gcdn_deactivate_resource(client, 3, &error));
    STEP("delete resource 3", gcdn_delete_resource(client, 3, 0, &error));
    STEP("delete resource 3 again", gcdn_delete_resource(client, 3, 0, &error));
    STEP("delete resource 3 again, missing counts as deleted",
         gcdn_delete_resource(client, 3, GCDN_DELETE_MISSING_OK, &error));
    STEP("deactivate and delete resource 4 in one call",
         gcdn_delete_resource(client, 4, GCDN_DELETE_DEACTIVATE_FIRST, &error));

    gcdn_client_free(client);
    return 0;
}
