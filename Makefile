# gort - top-level shortcuts over the CMake presets (CMakePresets.json).
#
#   make demo    install what is missing (Debian 12), build the release preset, run the demo
#   make test    for each preset (release debug tsan ucontext): configure, build, ctest;
#                stops at the first failure and prints a summary
#   make bench   build the release preset and run bench/run.sh
#   make clean   remove build/
#   make format  clang-format -i over the sources
#
# A preset is configured again only when CMakePresets.json changed (cmake --build
# itself re-runs CMake when a CMakeLists.txt changed), except by `make test`,
# which configures every preset afresh: packages it has just installed (valgrind)
# must be found even when `make demo` configured the release preset before.

SHELL   := /bin/bash
PRESETS := release debug tsan ucontext
JOBS    ?= 2
CMAKE   ?= cmake
CTEST   ?= ctest

FORMAT_DIRS := include runtime sched gc tests stress bench examples

.PHONY: all demo test bench clean format deps-demo deps-test deps-bench \
        $(addprefix configure-,$(PRESETS)) $(addprefix build-,$(PRESETS)) \
        $(addprefix test-,$(PRESETS))
.PRECIOUS: build/%/.configured

all: demo

deps-demo deps-test deps-bench: deps-%:
	@bash scripts/deps.sh $*

build/%/.configured: CMakePresets.json
	$(CMAKE) --preset $*
	@touch $@

$(addprefix configure-,$(PRESETS)): configure-%: build/%/.configured
	@:

$(addprefix build-,$(PRESETS)): build-%: build/%/.configured
	$(CMAKE) --build --preset $* -j$(JOBS) -- --no-print-directory

# ctest's output is kept in build/<preset>/ctest.log for the summary.
$(addprefix test-,$(PRESETS)): test-%: build-%
	@set -o pipefail; $(CTEST) --preset $* 2>&1 | tee build/$*/ctest.log

demo: deps-demo build/release/.configured
	$(CMAKE) --build --preset release -j$(JOBS) --target demo -- --no-print-directory
	./build/release/examples/demo

test: deps-test
	@start=$$(date +%s); summary=""; passed=0; failed=0; status=0; \
	for p in $(PRESETS); do \
	    t0=$$(date +%s); rm -f build/$$p/ctest.log build/$$p/.configured; \
	    echo "=== $$p ==="; \
	    if $(MAKE) --no-print-directory test-$$p; then result=passed; else result=FAILED; status=1; fi; \
	    line=$$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' build/$$p/ctest.log 2>/dev/null | tail -1); \
	    total=$$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$$line"); \
	    nfail=$$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$$line"); \
	    if [ -n "$$line" ]; then passed=$$((passed + total - nfail)); failed=$$((failed + nfail)); \
	        counts="$$((total - nfail))/$$total tests"; else counts="no test results: configure, build or ctest failed"; fi; \
	    [ $$result = FAILED ] && [ -z "$$line" ] && failed=$$((failed + 1)); \
	    summary="$$summary  $$p: $$result ($$counts, $$(( $$(date +%s) - t0 )) s)\n"; \
	    [ $$status -eq 0 ] || break; \
	done; \
	echo; echo "=== summary ($$(( $$(date +%s) - start )) s) ==="; printf "$$summary"; \
	[ $$status -eq 0 ] || echo "  stopped at the first failing preset"; \
	echo "total: $$passed passed, $$failed failed"; \
	exit $$status

bench: deps-bench build-release
	bash bench/run.sh

clean:
	rm -rf build

format:
	find $(FORMAT_DIRS) -name '*.[ch]' -print0 2>/dev/null | xargs -0 -r clang-format -i
