/*
 * bad_plugin.c - misbehaving plugins for the host's tests, one per -D flag:
 *   -DBAD_MAGIC        wrong magic
 *   -DNEWER_MINOR      ABI 2.(host minor + 1), with a transport table longer than the
 *                      host's (a slot the host does not know): must be ACCEPTED
 *   -DOLDER_MAJOR      ABI 0.x
 *   -DV1_PLUGIN        an ABI 1.0 plugin: exports only peex_plugin_v1
 *   -DTRUNCATED        descriptor struct_size far too small
 *   -DTRUNCATED_VT     transport vtable struct_size too small
 *   -DSCHEME='"ftp"'   transport scheme (default "ctest")
 *   -DEMPTY_NAME       empty plugin name
 *   -DNO_SYMBOL        exports no peex_plugin_v2 at all
 * Without flags it is a valid (if useless) plugin with transport "ctest".
 */
#include "peex_plugin.h"

#ifndef SCHEME
#define SCHEME "ctest"
#endif

static PeexStatus c_connect(const PeexTransportVTable *self, const PeexHostApi *host,
                            const PeexKv *params, size_t n, PeexCaps *caps, PeexConn **out,
                            PeexErrorSlot *err) {
    (void)self; (void)params; (void)n; (void)caps; (void)out;
    host->error_set(err, PEEX_CONNECTION_FAILED, PEEX_ERR_TEMPORARY,
                    PEEX_STR("ctest cannot connect"));
    return PEEX_CONNECTION_FAILED;
}
static PeexStatus c_list(PeexConn *c, PeexStr d, const PeexEntrySink *s, PeexErrorSlot *e) {
    (void)c; (void)d; (void)s; (void)e; return 12345; /* unknown status */
}
static PeexStatus c_upload(PeexConn *c, PeexStr p, const PeexReader *r, uint64_t n, PeexErrorSlot *e) {
    (void)c; (void)p; (void)r; (void)n; (void)e; return PEEX_UNSUPPORTED;
}
static PeexStatus c_path(PeexConn *c, PeexStr p, PeexErrorSlot *e) {
    (void)c; (void)p; (void)e; return PEEX_UNSUPPORTED;
}
static PeexStatus c_rename(PeexConn *c, PeexStr a, PeexStr b, PeexErrorSlot *e) {
    (void)c; (void)a; (void)b; (void)e; return PEEX_UNSUPPORTED;
}
static void c_close(PeexConn *c) { (void)c; }

/* A table as a newer minor would lay it out: the host's fields, then one more. */
typedef struct {
    PeexTransportVTable base;
    void (*future_slot)(void);
} FutureVTable;

static const FutureVTable transport = {
    {
#ifdef TRUNCATED_VT
        16,
#elif defined(NEWER_MINOR)
        sizeof(FutureVTable),
#else
        sizeof(PeexTransportVTable),
#endif
        PEEX_STR_INIT(SCHEME), PEEX_STR_INIT("a C test transport"), NULL, 0, 0, 0, NULL,
        c_connect, c_close, c_list, c_upload, c_path, c_path, c_path, c_rename, NULL, NULL, NULL,
#if PEEX_ABI_MINOR >= 1
        NULL,
#endif
    },
    NULL,
};
static const PeexTransportVTable *const transports[] = {&transport.base};

static const PeexPluginDescriptor descriptor = {
#ifdef BAD_MAGIC
    0x12345678u,
#else
    PEEX_MAGIC,
#endif
#ifdef OLDER_MAJOR
    0, 9,
#elif defined(V1_PLUGIN)
    1, 0,
#elif defined(NEWER_MINOR)
    PEEX_ABI_MAJOR, PEEX_ABI_MINOR + 1,
#else
    PEEX_ABI_MAJOR, PEEX_ABI_MINOR,
#endif
    0,
#ifdef TRUNCATED
    24,
#else
    sizeof(PeexPluginDescriptor),
#endif
#ifdef EMPTY_NAME
    PEEX_STR_INIT(""),
#else
    PEEX_STR_INIT("ctest"),
#endif
    PEEX_STR_INIT("0.0.1"), PEEX_STR_INIT("C"), NULL, transports, 1, NULL, 0,
};

#if defined(NO_SYMBOL)
PEEX_EXPORT const PeexPluginDescriptor *not_a_peex_plugin(void) { return &descriptor; }
#elif defined(V1_PLUGIN)
PEEX_EXPORT const PeexPluginDescriptor *peex_plugin_v1(void) { return &descriptor; }
#else
PEEX_EXPORT const PeexPluginDescriptor *peex_plugin_v2(void) { return &descriptor; }
#endif
