-- wrk: the delete request every client in the benchmark makes. Static, as purge.lua.
wrk.method = "DELETE"
wrk.path = "/cdn/resources/100"
wrk.headers["Authorization"] = "APIKey bench-key-0123456789abcdef"
wrk.headers["User-Agent"] = "gcdn/0.1.0"
wrk.headers["Accept"] = "application/json"
