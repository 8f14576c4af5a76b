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

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
DEPS     := $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d

.PHONY: all run test test-unit test-integration test-asan install clean deps
all: $(BUILD)/petrel $(UNIT_BIN) $(BUILD)/tests/dialogue

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libpetrel.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/petrel: $(BUILD)/src/main.o $(BUILD)/libpetrel.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test_util.h $(BUILD)/libpetrel.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libpetrel.a $(LDLIBS) -lcmocka

$(BUILD)/tests/dialogue: tests/dialogues/run_dialogue.c $(BUILD)/libpetrel.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpetrel.a $(LDLIBS)

# Installs the Debian packages the build and the tests need, when missing (root: apt-get).
deps:
	@sh tools/install-deps

run: deps
	$(MAKE) $(BUILD)/petrel
	$(BUILD)/petrel serve -c etc/petrel.conf

test: deps
	$(MAKE) all
	$(MAKE) BUILD=build-asan CC=clang \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all
	@python3 tests/run.py --build $(BUILD) --asan-build build-asan

install: $(BUILD)/petrel
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/doc/petrel
	install -m 755 $(BUILD)/petrel $(DESTDIR)$(PREFIX)/sbin/petrel
	install -m 644 etc/petrel.conf $(DESTDIR)$(PREFIX)/share/doc/petrel/petrel.conf.example

clean:
	rm -rf build build-asan

-include $(DEPS)
