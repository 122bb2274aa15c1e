# A thin wrapper over CMake and ctest; see README.md.
BUILD ?= build
JOBS ?= 2

.PHONY: deps build run test clean

deps:
	sh scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DRAYCAI_WERROR=ON
	cmake --build $(BUILD) -j$(JOBS)

run: build
	$(BUILD)/raycai-run recipes/gpu_cluster.lua

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

clean:
	rm -rf $(BUILD)
