/* insncount: exact guest instruction counter, a TCG plugin for qemu-system-arm
 * 7.2 (plugin API v1). Every store to the marker address (default 0x21000000,
 * argument marker=0x...) prints "insncount: mark N total=T delta=D", where T is
 * the number of instructions executed so far (including the marking store) and
 * D = T - the previous mark. Prints the total at exit. Assumes one vCPU
 * (Cortex-M). Built and used by `cargo xtask report`. */
#include "qemu_plugin_v1_min.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t insns;
static uint64_t last;
static uint64_t marker = 0x21000000ULL;
static unsigned nmark;

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *ud)
{
    (void)vcpu; (void)ud;
    if (vaddr != marker || !qemu_plugin_mem_is_store(info)) return;
    char buf[128];
    snprintf(buf, sizeof buf, "insncount: mark %u total=%llu delta=%llu\n", nmark++,
             (unsigned long long)insns, (unsigned long long)(insns - last));
    last = insns;
    qemu_plugin_outs(buf);
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insns, 1);
        qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_W, NULL);
    }
}

static void on_atexit(qemu_plugin_id_t id, void *ud)
{
    (void)id; (void)ud;
    char buf[64];
    snprintf(buf, sizeof buf, "insncount: total=%llu\n", (unsigned long long)insns);
    qemu_plugin_outs(buf);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "marker=", 7) == 0) marker = strtoull(argv[i] + 7, NULL, 0);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
