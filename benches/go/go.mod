module gcdn-bench/go

go 1.21

require github.com/gcdn-project/gcdn/bindings/go v0.0.0

replace github.com/gcdn-project/gcdn/bindings/go => ../../bindings/go
