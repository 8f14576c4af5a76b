# Petrel build. GNU make + pkg-config; everything lands in $(BUILD) (out of tree).
#   make / make all   build build/petrel
#   make run          install missing Debian packages, build, run on 127.0.0.1:2525
#   make test         unit + dialogue + integration tests, normal and ASan/UBSan builds
#   make install      PREFIX=/usr/local DESTDIR=

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
PKGS    := libevent libevent_pthreads libevent_openssl openssl zlib libcares
OPT     ?= -O2 -g
ALL_CFLAGS = $(OPT) -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt -lpthread

# The version `petrel --version` prints: this release, and the commit it
# was built from when built in a git checkout (a tarball builds without).
VERSION  := 0.9
GIT_REV  := $(if $(wildcard .git),$(shell git describe --always --dirty 2>/dev/null))
PETREL_VERSION := $(VERSION)$(if $(GIT_REV), ($(GIT_REV)))

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
DEPS     := $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d

.PHONY: all run test test-unit test-integration test-asan install clean deps test-deps FORCE
all: $(BUILD)/petrel $(UNIT_BIN) $(BUILD)/tests/dialogue

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libpetrel.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

# Rewritten only when the version changes, so main.o is rebuilt just then.
$(BUILD)/version.h: FORCE
	@mkdir -p $(BUILD)
	@echo '#define PETREL_VERSION "$(PETREL_VERSION)"' > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

$(BUILD)/src/main.o: $(BUILD)/version.h
$(BUILD)/src/main.o: ALL_CFLAGS += -I$(BUILD)

$(BUILD)/petrel: $(BUILD)/src/main.o $(BUILD)/libpetrel.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libpetrel.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libpetrel.a $(LDLIBS) -lcmocka

$(BUILD)/tests/dialogue: tests/dialogues/run_dialogue.c $(BUILD)/libpetrel.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpetrel.a $(LDLIBS)

# Installs the Debian packages missing (root: apt-get): deps for building and
# running, test-deps also for the tests and their peers (Postfix, Dovecot...).
deps:
	@sh tools/install-deps

test-deps:
	@sh tools/install-deps test

run: deps
	$(MAKE) $(BUILD)/petrel
	$(BUILD)/petrel serve -c etc/petrel.conf

test: test-deps
	$(MAKE) all
	$(MAKE) BUILD=build-asan CC=clang \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all
	$(MAKE) fuzz-build
	@python3 tests/run.py --build $(BUILD) --asan-build build-asan --fuzz-smoke

install: $(BUILD)/petrel
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/doc/petrel
	install -m 755 $(BUILD)/petrel $(DESTDIR)$(PREFIX)/sbin/petrel
	# The names scripts call: petrel acts as sendmail/mailq when run so.
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sf petrel $(DESTDIR)$(PREFIX)/sbin/sendmail
	ln -sf ../sbin/petrel $(DESTDIR)$(PREFIX)/bin/mailq
	# The example with the tables it names, beside it: its relative paths
	# are taken from its own directory.
	install -m 644 etc/petrel.conf $(DESTDIR)$(PREFIX)/share/doc/petrel/petrel.conf.example
	install -m 644 etc/aliases etc/relocated $(DESTDIR)$(PREFIX)/share/doc/petrel/
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 644 man/petrel.8 $(DESTDIR)$(PREFIX)/share/man/man8/petrel.8
	install -m 644 man/petrel.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/petrel.conf.5
	sed 's|/usr/local/sbin/petrel|$(PREFIX)/sbin/petrel|g' etc/petrel.service \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/petrel.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/petrel.service

clean:
	rm -rf build build-asan

# Benchmark (not a test; never part of `make test`): Petrel vs a private Postfix
# instance, side by side; needs root and the Debian package postfix. Quick run:
#   make bench BENCH_ARGS="--messages 2000 --rounds 1"
# Figures of a full run go into bench/RESULTS.md; see docs/performance.md.
.PHONY: bench
bench: all
	python3 bench/bench.py --petrel $(BUILD)/petrel $(BENCH_ARGS)

-include $(DEPS)

# ---- Fuzzing (libFuzzer, clang) ----
#   make fuzz [FUZZ_TIME=600] [FUZZ_JOBS=2]   every fuzz/fuzz_<name>.c for FUZZ_TIME s
#   make fuzz-smoke                           every harness for 3 s ("ok fuzz <name>" lines)
# The library is rebuilt with coverage and ASan/UBSan into build-fuzz/; each
# harness runs on a scratch copy of fuzz/corpus/<name>/ (the committed seeds
# never grow) and a crash lands in build-fuzz/crashes/<name>/.
FUZZ_BUILD := build-fuzz
FUZZ_TIME  ?= 60
FUZZ_JOBS  ?= 1
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-bins fuzz-clean
fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins

fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(BUILD)/libpetrel.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(BUILD)/libpetrel.a $(LDLIBS)

fuzz: fuzz-build
	@printf '%s\n' $(FUZZ_NAMES) | xargs -P $(FUZZ_JOBS) -I{} \
	  sh fuzz/run.sh $(FUZZ_BUILD) {} $(FUZZ_TIME) keep

fuzz-smoke: fuzz-build
	@printf '%s\n' $(FUZZ_NAMES) | xargs -I{} sh fuzz/run.sh $(FUZZ_BUILD) {} 3 fresh

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
clean: fuzz-clean

-include $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%.d)
