module github.com/gcdn-project/gcdn/bindings/go

go 1.21
