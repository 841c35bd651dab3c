/* A C program built against an installed gcdn with `pkg-config --cflags --libs gcdn`.
 * Usage: consumer NAME (GCORE_API_KEY and GCORE_BASE_URL point at a gcdn-emulator that has
 * resource 5 and no resource 404). Purges one URL of 5 (must succeed), then one of 404 (must
 * fail with GCDN_ERR_NOT_FOUND): two real requests. */
#include <stdio.h>
#include <string.h>

#include <gcdn.h>

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "c";
    gcdn_client *client = NULL;
    char *error = NULL;
    if (gcdn_client_new(NULL, NULL, &client, &error) != GCDN_OK) {
        fprintf(stderr, "%s: gcdn_client_new: %s\n", name, error);
        gcdn_string_free(error);
        return 1;
    }
    const char *urls[] = {"/install-test.html"};
    int32_t status = gcdn_purge_urls(client, 5, urls, 1, &error);
    if (status != GCDN_OK) {
        fprintf(stderr, "%s: purge 5: %s: %s\n", name, gcdn_status_str(status), error);
        gcdn_string_free(error);
        gcdn_client_free(client);
        return 1;
    }
    status = gcdn_purge_urls(client, 404, urls, 1, &error);
    if (status != GCDN_ERR_NOT_FOUND || error == NULL || strstr(error, "404") == NULL) {
        fprintf(stderr, "%s: purge 404: want not found, got %s: %s\n", name, gcdn_status_str(status),
                error ? error : "(no message)");
        gcdn_string_free(error);
        gcdn_client_free(client);
        return 1;
    }
    gcdn_string_free(error);
    gcdn_client_free(client);
    printf("%s: ok, gcdn %s\n", name, gcdn_version());
    return 0;
}
