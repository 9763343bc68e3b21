/*
 * bad_plugin.c - misbehaving plugins for the host's tests, one per -D flag:
 *   -DBAD_MAGIC        wrong magic
 *   -DNEWER_MINOR      ABI 1.(host minor + 1)
 *   -DOLDER_MAJOR      ABI 0.x
 *   -DTRUNCATED        descriptor struct_size far too small
 *   -DTRUNCATED_VT     transport vtable struct_size too small
 *   -DSCHEME='"ftp"'   transport scheme (default "ctest")
 *   -DEMPTY_NAME       empty plugin name
 *   -DNO_SYMBOL        exports no peex_plugin_v1 at all
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
    const char *m = "ctest cannot connect";
    PeexStr s = {(const uint8_t *)m, 20};
    host->error_set(err, PEEX_CONNECTION_FAILED, PEEX_ERR_TEMPORARY, s);
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

static const PeexTransportVTable transport = {
#ifdef TRUNCATED_VT
    16,
#else
    sizeof(PeexTransportVTable),
#endif
    PEEX_STR_INIT(SCHEME), PEEX_STR_INIT("a C test transport"), NULL, 0, 0, {0, 0, 0},
    c_connect, c_list, c_upload, c_path, c_path, c_path, c_rename, NULL, NULL, c_close,
};
static const PeexTransportVTable *const transports[] = {&transport};

static const PeexPluginDescriptor descriptor = {
#ifdef BAD_MAGIC
    0x12345678u,
#else
    PEEX_MAGIC,
#endif
#ifdef OLDER_MAJOR
    0, 9,
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

#ifndef NO_SYMBOL
PEEX_EXPORT const PeexPluginDescriptor *peex_plugin_v1(void) { return &descriptor; }
#else
PEEX_EXPORT const PeexPluginDescriptor *not_a_peex_plugin(void) { return &descriptor; }
#endif
