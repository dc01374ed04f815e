# sandbox-agent build. Plain make; every target documented in README.md.
CC      ?= gcc
CFLAGS_BASE := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -g
OPT     ?= -O2
LIBS    := -luv -lhttp_parser -lwslay -ljansson -lsqlite3 -lnettle -lutil -lm -lpthread -ldl

SRCS    := $(shell find src -name '*.c' | sort)
LIBSRCS := $(filter-out src/cli/main.c,$(SRCS))
UNIT    := $(wildcard tests/unit/test_*.c)

# Normal build.
OBJDIR  := build/obj
OBJS    := $(patsubst src/%.c,$(OBJDIR)/%.o,$(SRCS))
LIBOBJS := $(patsubst src/%.c,$(OBJDIR)/%.o,$(LIBSRCS))

# Sanitizer build, kept apart so both can coexist.
ASANDIR  := build/asan
ASANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASANOBJS := $(patsubst src/%.c,$(ASANDIR)/obj/%.o,$(SRCS))
ASANLIB  := $(patsubst src/%.c,$(ASANDIR)/obj/%.o,$(LIBSRCS))

.PHONY: all run test unit asan fuzz bench deps clean format

all: build/sandbox-agent

build/sandbox-agent: $(OBJS)
	$(CC) $(CFLAGS_BASE) $(OPT) -o $@ $^ $(LIBS)

$(OBJDIR)/%.o: src/%.c $(wildcard src/*/*.h) src/agents/catalog.json web/index.html
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -MMD -c -o $@ $<

$(ASANDIR)/sandbox-agent: $(ASANOBJS)
	$(CC) $(CFLAGS_BASE) -O1 $(ASANFLAGS) -o $@ $^ $(LIBS)

$(ASANDIR)/obj/%.o: src/%.c $(wildcard src/*/*.h) src/agents/catalog.json web/index.html
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(ASANFLAGS) -c -o $@ $<

$(ASANDIR)/unit/%: tests/unit/%.c $(ASANLIB) tests/unit/unit.h
	@mkdir -p $(ASANDIR)/unit
	$(CC) $(CFLAGS_BASE) -O1 $(ASANFLAGS) -Itests/unit -o $@ $< $(ASANLIB) $(LIBS)

build/unit/%: tests/unit/%.c $(LIBOBJS) tests/unit/unit.h
	@mkdir -p build/unit
	$(CC) $(CFLAGS_BASE) $(OPT) -Itests/unit -o $@ $< $(LIBOBJS) $(LIBS)

deps:
	@bash scripts/deps.sh test

# Build with defaults and start the server on 127.0.0.1:2468 (extra flags: ARGS="...").
run:
	@bash scripts/deps.sh build
	@$(MAKE) --no-print-directory build/sandbox-agent
	exec build/sandbox-agent server $(ARGS)

unit: $(patsubst tests/unit/%.c,build/unit/%,$(UNIT))

# The whole suite: deps, build, unit tests, integration tests.
test: deps build/sandbox-agent unit
	@bash tests/run.sh build/sandbox-agent

asan: deps $(ASANDIR)/sandbox-agent $(patsubst tests/unit/%.c,$(ASANDIR)/unit/%,$(UNIT))
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1 \
	  SANDBOX_AGENT_SANITIZED=1 UNIT_DIR=$(ASANDIR)/unit bash tests/run.sh $(ASANDIR)/sandbox-agent

fuzz: deps
	@bash tests/fuzz/run.sh

bench: deps build/sandbox-agent
	@bash bench/run.sh

format:
	clang-format -i $(SRCS) $(wildcard src/*/*.h) $(UNIT)

clean:
	rm -rf build

-include $(OBJS:.o=.d)
