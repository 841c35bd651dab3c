// A C++ program built against an installed gcdn with CMake's find_package(gcdn), linked
// once with gcdn::gcdn (shared) and once with gcdn::gcdn_static. Same checks as
// ../c/consumer.c: purge a URL of resource 5 (succeeds), then of 404 (not found).
#include <cstdio>
#include <memory>
#include <string>

#include <gcdn.h>

namespace {

struct ClientFree {
    void operator()(gcdn_client *c) const { gcdn_client_free(c); }
};

// The message of a failed call, freed.
std::string take(char *error) {
    std::string s = error ? error : "";
    gcdn_string_free(error);
    return s;
}

// Each request is logged through the library's log hook: count them, print them.
void on_log(const gcdn_log_record *record, void *user_data) {
    if (record->event != nullptr && std::string(record->event) == "request") {
        ++*static_cast<int *>(user_data);
        std::printf("log: %s %s -> %d\n", record->method ? record->method : "?", record->path ? record->path : "?",
                    static_cast<int>(record->http_status));
    }
}

}  // namespace

int main(int argc, char **argv) {
    const std::string name = argc > 1 ? argv[1] : "c++";
    gcdn_client *raw = nullptr;
    char *error = nullptr;
    int logged = 0;
    gcdn_options *options = gcdn_options_new();
    int32_t made = options == nullptr ? GCDN_ERR_INVALID_ARGUMENT
                                      : gcdn_options_set_log(options, on_log, &logged, GCDN_LOG_DEBUG, &error);
    if (made == GCDN_OK) made = gcdn_client_new(nullptr, options, &raw, &error);
    gcdn_options_free(options);
    if (made != GCDN_OK) {
        std::fprintf(stderr, "%s: gcdn_client_new: %s\n", name.c_str(), take(error).c_str());
        return 1;
    }
    std::unique_ptr<gcdn_client, ClientFree> client(raw);
    const char *urls[] = {"/install-test.html"};
    int32_t status = gcdn_purge_urls(client.get(), 5, urls, 1, &error);
    if (status != GCDN_OK) {
        std::fprintf(stderr, "%s: purge 5: %s: %s\n", name.c_str(), gcdn_status_str(status), take(error).c_str());
        return 1;
    }
    status = gcdn_purge_urls(client.get(), 404, urls, 1, &error);
    const std::string message = take(error);
    if (status != GCDN_ERR_NOT_FOUND || message.find("404") == std::string::npos) {
        std::fprintf(stderr, "%s: purge 404: want not found, got %s: %s\n", name.c_str(), gcdn_status_str(status),
                     message.c_str());
        return 1;
    }
    client.reset();
    if (logged < 2) {
        std::fprintf(stderr, "%s: want a log record per request, got %d\n", name.c_str(), logged);
        return 1;
    }
    std::printf("%s: ok, gcdn %s\n", name.c_str(), gcdn_version());
    return 0;
}
