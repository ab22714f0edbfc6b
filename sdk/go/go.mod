module github.com/cifer-io/sdk-go

go 1.19
