# myelin in a Makefile project (STM32Cube's generated Makefile, a bare-metal
# project, or a Zephyr app built with make-style rules): include this file
# after setting MYELIN_DIR, MYELIN_TARGET and MYELIN_MODEL, then add
# $(MYELIN_SRCS) to your C sources, $(MYELIN_INCLUDES) to CFLAGS and
# $(MYELIN_LIB) to the link line (after your objects).
#
#   MYELIN_DIR    := path/to/myelin            # this repository
#   MYELIN_TARGET := thumbv7em-none-eabihf     # thumbv6m-none-eabi (M0/M0+), thumbv8m.main-none-eabihf (M33)
#   MYELIN_MODEL  := models/kws-int8.myl       # a model file from myelin quantize / import
#   MYELIN_NAME   := kws                       # C prefix: kws.h, kws_model, KWS_ARENA_SIZE
#   include $(MYELIN_DIR)/examples/c/myelin.mk
#
# Needs cargo (rustup target add $(MYELIN_TARGET)) and the myelin CLI.

MYELIN_NAME ?= model
MYELIN_OUT ?= build/myelin
MYELIN_CARGO ?= cargo
MYELIN_RUSTFLAGS ?=
MYELIN_CLI ?= $(MYELIN_CARGO) run --quiet --release --manifest-path $(MYELIN_DIR)/Cargo.toml --bin myelin --

MYELIN_LIB := $(MYELIN_DIR)/capi/target/$(MYELIN_TARGET)/release/libmyelin.a
MYELIN_SRCS := $(MYELIN_OUT)/$(MYELIN_NAME).c
MYELIN_INCLUDES := -I$(MYELIN_DIR)/capi/include -I$(MYELIN_OUT)

# The runtime: libmyelin.a for the board's core (no_std, panic = abort).
$(MYELIN_LIB): $(shell find $(MYELIN_DIR)/capi/src $(MYELIN_DIR)/core/src -name '*.rs')
	RUSTFLAGS="$(MYELIN_RUSTFLAGS)" $(MYELIN_CARGO) build --release \
	    --manifest-path $(MYELIN_DIR)/capi/Cargo.toml --target $(MYELIN_TARGET)

# The model: NAME.h and NAME.c (the model file as an aligned const array).
$(MYELIN_OUT)/$(MYELIN_NAME).c $(MYELIN_OUT)/$(MYELIN_NAME).h: $(MYELIN_MODEL)
	mkdir -p $(MYELIN_OUT)
	$(MYELIN_CLI) export --c $(abspath $(MYELIN_MODEL)) --out $(abspath $(MYELIN_OUT)) --name $(MYELIN_NAME)

.PHONY: myelin
myelin: $(MYELIN_LIB) $(MYELIN_SRCS)
