# A thin wrapper over CMake and ctest; see README.md.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2

.PHONY: deps build run test check check-asan fuzz clean dist

deps:
	sh scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DRAYCAI_WERROR=ON
	cmake --build $(BUILD) -j$(JOBS)

run: build
	$(BUILD)/raycai-run recipes/gpu_cluster.lua

# The whole suite: a -Werror build, the same specs under ASan and UBSan, then the fuzzers
# for 20 s each.
test: check check-asan fuzz

check: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

check-asan:
	cmake -S . -B $(ASAN_BUILD) -DRAYCAI_WERROR=ON -DRAYCAI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS)

fuzz:
	sh fuzz/run.sh 20

# The relocatable tarball build/raycai-<version>-linux-<arch>.tar.gz (docs/install.md).
dist: build
	cmake --build $(BUILD) --target dist

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Performance benchmark (minutes; not part of test): table on stdout, JSON in bench/results/.
.PHONY: bench
bench: build
	RAYCAI_BUILD_DIR=$(BUILD) lua5.4 bench/bench.lua
