SWIFT ?= swift
.PHONY: deps build release demo test bench clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product lockstep --static-swift-stdlib

demo: release
	@scripts/demo.sh "$$($(SWIFT) build -c release --show-bin-path)/lockstep"

test: deps
	@scripts/test.sh

bench: deps
	@scripts/bench.sh $(BENCH_ARGS)

clean:
	rm -rf .build
