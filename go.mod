module github.com/servicecomb/servicecomb_exporter

go 1.26.8

require github.com/go-kit/log v0.2.1

require github.com/go-logfmt/logfmt v0.6.1 // indirect
