module gcdn-bench/go-sdk

go 1.22
