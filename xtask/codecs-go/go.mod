module odradek/xtask/codecs-go

go 1.25

require (
	github.com/klauspost/compress v1.20.4
	github.com/pierrec/lz4/v4 v4.1.33
)
