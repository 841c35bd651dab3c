/*
 * Time from loading the library to the first completed call, in a fresh process:
 * dlopen, look the functions up, create a client (or easy handle), make one DELETE on a new
 * connection, and stop the clock when it returns.
 *
 *   bench_load gcdn LIBGCDN_SO BASE_URL
 *   bench_load curl LIBCURL_SO BASE_URL
 *
 * Prints one JSON line. Built without linking either library.
 */
#include <dlfcn.h>

#include "common.h"

typedef struct gcdn_client gcdn_client;
typedef struct gcdn_options gcdn_options;

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "bench_load: %s: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

static int load_gcdn(const char *path, const char *base) {
    uint64_t t0 = now_ns();
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "bench_load: %s\n", dlerror());
        return 1;
    }
    gcdn_options *(*options_new)(void) = (gcdn_options * (*)(void)) sym(lib, "gcdn_options_new");
    int32_t (*set_base)(gcdn_options *, const char *, char **) =
        (int32_t(*)(gcdn_options *, const char *, char **))sym(lib, "gcdn_options_set_base_url");
    void (*options_free)(gcdn_options *) = (void (*)(gcdn_options *))sym(lib, "gcdn_options_free");
    int32_t (*client_new)(const char *, const gcdn_options *, gcdn_client **, char **) =
        (int32_t(*)(const char *, const gcdn_options *, gcdn_client **, char **))sym(lib, "gcdn_client_new");
    int32_t (*delete_resource)(const gcdn_client *, int64_t, uint32_t, char **) =
        (int32_t(*)(const gcdn_client *, int64_t, uint32_t, char **))sym(lib, "gcdn_delete_resource");
    void (*client_free)(gcdn_client *) = (void (*)(gcdn_client *))sym(lib, "gcdn_client_free");
    uint64_t t_loaded = now_ns();

    gcdn_options *o = options_new();
    gcdn_client *c = NULL;
    if (set_base(o, base, NULL) != 0 || client_new(BENCH_API_KEY, o, &c, NULL) != 0) return 1;
    options_free(o);
    uint64_t t_client = now_ns();
    int32_t st = delete_resource(c, BENCH_RESOURCE_ID, 0, NULL);
    uint64_t t1 = now_ns();
    if (st != 0) {
        fprintf(stderr, "bench_load: first call failed with status %d\n", st);
        return 1;
    }
    printf("{\"name\":\"gcdn load\",\"load_us\":%.1f,\"client_us\":%.1f,\"first_call_us\":%.1f,"
           "\"total_us\":%.1f}\n",
           (t_loaded - t0) / 1e3, (t_client - t_loaded) / 1e3, (t1 - t_client) / 1e3, (t1 - t0) / 1e3);
    client_free(c);
    return 0;
}

/* The subset of curl.h used here, so that the program needs no libcurl to build. */
typedef void CURL;
#define CURLOPT_URL 10002
#define CURLOPT_HTTPHEADER 10023
#define CURLOPT_CUSTOMREQUEST 10036
#define CURLOPT_USERAGENT 10018
#define CURLOPT_WRITEFUNCTION 20011
#define CURL_GLOBAL_DEFAULT 3L

static size_t discard(char *data, size_t size, size_t nmemb, void *user) {
    (void)data;
    (void)user;
    return size * nmemb;
}

static int load_curl(const char *path, const char *base) {
    uint64_t t0 = now_ns();
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "bench_load: %s\n", dlerror());
        return 1;
    }
    int (*global_init)(long) = (int (*)(long))sym(lib, "curl_global_init");
    CURL *(*easy_init)(void) = (CURL * (*)(void)) sym(lib, "curl_easy_init");
    int (*setopt)(CURL *, int, ...) = (int (*)(CURL *, int, ...))sym(lib, "curl_easy_setopt");
    int (*perform)(CURL *) = (int (*)(CURL *))sym(lib, "curl_easy_perform");
    void (*cleanup)(CURL *) = (void (*)(CURL *))sym(lib, "curl_easy_cleanup");
    void *(*slist_append)(void *, const char *) = (void *(*)(void *, const char *))sym(lib, "curl_slist_append");
    uint64_t t_loaded = now_ns();

    global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s/cdn/resources/%d", base, BENCH_RESOURCE_ID);
    void *headers = slist_append(NULL, "Authorization: APIKey " BENCH_API_KEY);
    headers = slist_append(headers, "Accept: application/json");
    setopt(h, CURLOPT_URL, url);
    setopt(h, CURLOPT_HTTPHEADER, headers);
    setopt(h, CURLOPT_USERAGENT, "gcdn/0.1.0");
    setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    setopt(h, CURLOPT_WRITEFUNCTION, discard);
    uint64_t t_client = now_ns();
    int rc = perform(h);
    uint64_t t1 = now_ns();
    if (rc != 0) {
        fprintf(stderr, "bench_load: curl_easy_perform failed: %d\n", rc);
        return 1;
    }
    printf("{\"name\":\"libcurl load\",\"load_us\":%.1f,\"client_us\":%.1f,\"first_call_us\":%.1f,"
           "\"total_us\":%.1f}\n",
           (t_loaded - t0) / 1e3, (t_client - t_loaded) / 1e3, (t1 - t_client) / 1e3, (t1 - t0) / 1e3);
    cleanup(h);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_load gcdn|curl LIBRARY BASE_URL\n");
        return 2;
    }
    if (!strcmp(argv[1], "gcdn")) return load_gcdn(argv[2], argv[3]);
    if (!strcmp(argv[1], "curl")) return load_curl(argv[2], argv[3]);
    return 2;
}
