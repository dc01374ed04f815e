# sandbox-agent build. Plain make; every target documented in README.md.
CC      ?= gcc
CFLAGS_BASE := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -g
OPT     ?= -O2
LIBS    := -luv -lwslay -ljansson -lnettle -lutil -lm -lpthread -ldl
# Unit tests may call libraries the server only dlopens (test_journal sets up databases;
# test_desktop_image decodes what the encoders wrote).
UNITLIBS := $(LIBS) -lsqlite3 -lpng16 -ljpeg -lwebp

# llhttp (strict HTTP/1.1 parser) is compiled in from Debian's node-llhttp C sources: the
# installed package if there is one, else the copy scripts/deps.sh unpacks into .cache/ (kept by make clean).
LLHTTP_ROOT := $(if $(wildcard /usr/share/llhttp/llhttp.c),,.cache/node-llhttp)
LLHTTP_SRC ?= $(LLHTTP_ROOT)/usr/share/llhttp
LLHTTP_INC ?= $(LLHTTP_ROOT)/usr/share/include/llhttp
# Strict mode: the loose build accepts obs-fold, junk after chunk data and requests without
# a version, the framing tricks request smuggling is made of.
LLHTTP_FLAGS := -I$(LLHTTP_INC) -DLLHTTP_STRICT_MODE=1
CFLAGS_BASE += $(LLHTTP_FLAGS)
# libpq's headers (libpq-dev); the library itself is dlopened (src/base/lpq.c).
CFLAGS_BASE += $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
# GStreamer's headers (libgstreamer1.0-dev, libgstreamer-plugins-base1.0-dev) for the desktop
# stream; the libraries themselves are dlopened on first use (src/desktop/gstload.h).
CFLAGS_BASE += $(shell pkg-config --cflags gstreamer-1.0 gstreamer-sdp-1.0 2>/dev/null)
LLHTTP_NAMES := api http llhttp

SRCS    := $(shell find src -name '*.c' | sort)
LIBSRCS := $(filter-out src/cli/main.c,$(SRCS))
UNIT    := $(wildcard tests/unit/test_*.c)

# The Inspector's files (web/) are gzipped and embedded by scripts/embed_web.sh into one
# generated source (web/README.md). Its inputs: our files, listed in web_files.txt (rewritten
# only when the list changes, so a deleted file also regenerates), and three vendored files
# from web/node_modules (npm ci in web/, done by scripts/deps.sh).
GEN       := build/gen
UIGEN     := $(GEN)/ui_assets.c
WEB_FILES := $(shell find web -type f ! -path 'web/node_modules/*' ! -name package.json \
               ! -name package-lock.json ! -name README.md 2>/dev/null | LC_ALL=C sort)
WEB_VENDOR := web/node_modules/@xterm/xterm/lib/xterm.js web/node_modules/@xterm/xterm/css/xterm.css \
              web/node_modules/@xterm/addon-fit/lib/addon-fit.js

# Normal build.
OBJDIR  := build/obj
LLOBJS  := $(patsubst %,$(OBJDIR)/llhttp/%.o,$(LLHTTP_NAMES))
OBJS    := $(patsubst src/%.c,$(OBJDIR)/%.o,$(SRCS)) $(LLOBJS) $(OBJDIR)/gen/ui_assets.o
LIBOBJS := $(patsubst src/%.c,$(OBJDIR)/%.o,$(LIBSRCS)) $(LLOBJS) $(OBJDIR)/gen/ui_assets.o

# Sanitizer build, kept apart so both can coexist.
ASANDIR  := build/asan
ASANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASANLL   := $(patsubst %,$(ASANDIR)/obj/llhttp/%.o,$(LLHTTP_NAMES))
ASANOBJS := $(patsubst src/%.c,$(ASANDIR)/obj/%.o,$(SRCS)) $(ASANLL) $(ASANDIR)/obj/gen/ui_assets.o
ASANLIB  := $(patsubst src/%.c,$(ASANDIR)/obj/%.o,$(LIBSRCS)) $(ASANLL) $(ASANDIR)/obj/gen/ui_assets.o

.PHONY: all run test unit asan fuzz bench deps clean format FORCE

all: build/sandbox-agent

build/sandbox-agent: $(OBJS)
	$(CC) $(CFLAGS_BASE) $(OPT) -o $@ $^ $(LIBS)

$(OBJDIR)/%.o: src/%.c $(wildcard src/*/*.h) src/agents/catalog.json
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -MMD -MP -c -o $@ $<

# The embedded Inspector (see WEB_FILES above).
$(GEN)/web_files.txt: FORCE
	@mkdir -p $(GEN)
	@printf '%s\n' $(WEB_FILES) $(WEB_VENDOR) > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(UIGEN): scripts/embed_web.sh $(GEN)/web_files.txt $(WEB_FILES) $(WEB_VENDOR)
	bash scripts/embed_web.sh $@

$(WEB_VENDOR):
	@echo "missing $@: run 'bash scripts/deps.sh build' (it runs npm ci in web/)" >&2; exit 1

$(OBJDIR)/gen/ui_assets.o: $(UIGEN) src/ui/ui.h src/http/http.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -c -o $@ $<

$(ASANDIR)/obj/gen/ui_assets.o: $(UIGEN) src/ui/ui.h src/http/http.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(ASANFLAGS) -c -o $@ $<

# Third-party code: its own warning level, not ours.
$(OBJDIR)/llhttp/%.o: $(LLHTTP_SRC)/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -std=c17 $(LLHTTP_FLAGS) $(OPT) -g -w -c -o $@ $<

$(ASANDIR)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -std=c17 $(LLHTTP_FLAGS) -O1 -g -w $(ASANFLAGS) -c -o $@ $<

# libjpeg-turbo is linked into the sanitizer build instead of dlopened: it has thread-local
# storage, and LeakSanitizer's thread scan (GCC 12 with glibc 2.36) crashes on the dynamic
# TLS of a library loaded later ("Tracer caught signal 11"). Loaded at startup, its TLS is
# static; the server's dlopen then finds it already there.
ASANLIBS := $(LIBS) -Wl,--push-state,--no-as-needed -ljpeg -Wl,--pop-state

$(ASANDIR)/sandbox-agent: $(ASANOBJS)
	$(CC) $(CFLAGS_BASE) -O1 $(ASANFLAGS) -o $@ $^ $(ASANLIBS)

$(ASANDIR)/obj/%.o: src/%.c $(wildcard src/*/*.h) src/agents/catalog.json
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(ASANFLAGS) -c -o $@ $<

$(ASANDIR)/unit/%: tests/unit/%.c $(ASANLIB) $(wildcard tests/unit/*.h)
	@mkdir -p $(ASANDIR)/unit
	$(CC) $(CFLAGS_BASE) -O1 $(ASANFLAGS) -Itests/unit -o $@ $< $(ASANLIB) $(UNITLIBS)

build/unit/%: tests/unit/%.c $(LIBOBJS) $(wildcard tests/unit/*.h)
	@mkdir -p build/unit
	$(CC) $(CFLAGS_BASE) $(OPT) -Itests/unit -o $@ $< $(LIBOBJS) $(UNITLIBS)

deps:
	@bash scripts/deps.sh test

# Build with defaults and start the server on 127.0.0.1:2468 (extra flags: ARGS="...").
run:
	@bash scripts/deps.sh build
	@$(MAKE) --no-print-directory build/sandbox-agent
	exec build/sandbox-agent server $(ARGS)

unit: $(patsubst tests/unit/%.c,build/unit/%,$(UNIT))

# The whole suite: deps, build, unit tests, integration tests.
# Targets that need deps build in a sub-make: deps may unpack llhttp's sources, and this make
# already decided (and cached) which files exist when it read the Makefile.
test: deps
	@$(MAKE) --no-print-directory build/sandbox-agent unit
	@bash tests/run.sh build/sandbox-agent

asan: deps
	@$(MAKE) --no-print-directory $(ASANDIR)/sandbox-agent $(patsubst tests/unit/%.c,$(ASANDIR)/unit/%,$(UNIT))
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  SANDBOX_AGENT_SANITIZED=1 UNIT_DIR=$(ASANDIR)/unit bash tests/run.sh $(ASANDIR)/sandbox-agent

fuzz: deps
	@bash tests/fuzz/run.sh

bench:
	@bash scripts/deps.sh bench
	@$(MAKE) --no-print-directory build/sandbox-agent
	@bash bench/run.sh

format:
	clang-format -i $(SRCS) $(wildcard src/*/*.h) $(UNIT)

clean:
	rm -rf build

-include $(OBJS:.o=.d)
