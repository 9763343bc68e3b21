/*
 * peex_plugin.h - the peex plugin C ABI, version 1.0.
 *
 * Mirrors the Rust crate `peex-plugin-abi` (plugins/abi/src/lib.rs) field for field; keep
 * both in sync. A plugin is a shared library exporting
 *
 *     const PeexPluginDescriptor *peex_plugin_v1(void);
 *
 * returning a pointer to static data that lives as long as the library.
 *
 * Rules:
 *  - Version: abi_major must equal the host's; abi_minor must not exceed the host's.
 *  - Tables (descriptor, vtables, host API) carry struct_size and only grow at the end.
 *    Set struct_size = sizeof(the struct) as compiled against this header.
 *  - Strings are UTF-8 pointer + length (PeexStr), no NUL needed, borrowed for one call;
 *    descriptor strings must be static.
 *  - Every call returns a PeexStatus (int32_t). On failure, describe the error with
 *    host->error_set(err, status, flags, msg): the host copies the message. Never free
 *    memory you did not allocate; the host never frees yours (except through close/destroy).
 *  - list() pushes entries into sink->emit(); if emit returns non-OK, stop and return it.
 *  - upload() pulls bytes with reader->read(); 0 bytes with PEEX_OK means end of data.
 *  - Connections are used by one thread at a time; filters' decide() may be called from
 *    several threads at once.
 *  - Paths are relative to the sync root, '/'-separated, "" is the root. Names you report
 *    must not contain '/', '\\' or NUL, nor be "." or "..": the host refuses them.
 */
#ifndef PEEX_PLUGIN_H
#define PEEX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PEEX_MAGIC 0x50454558u /* "PEEX" */
#define PEEX_ABI_MAJOR 1u
#define PEEX_ABI_MINOR 0u
#define PEEX_PLUGIN_SYMBOL "peex_plugin_v1"

typedef int32_t PeexStatus;
#define PEEX_OK 0
#define PEEX_NOT_FOUND 1
#define PEEX_PERMISSION_DENIED 2
#define PEEX_ALREADY_EXISTS 3
#define PEEX_NOT_A_DIR 4
#define PEEX_DIR_NOT_EMPTY 5
#define PEEX_UNSUPPORTED 6
#define PEEX_CONFIG_INVALID 7
#define PEEX_INVALID_NAME 8
#define PEEX_PROTOCOL 9
#define PEEX_CONNECTION_FAILED 10
#define PEEX_AUTH_FAILED 11
#define PEEX_HOST_IDENTITY 12
#define PEEX_RATE_LIMITED 13
#define PEEX_CANCELLED 14
#define PEEX_UNEXPECTED 15
#define PEEX_PANICKED 16

#define PEEX_ERR_TEMPORARY 1u
#define PEEX_ERR_FATAL 2u

#define PEEX_OPT_REQUIRED 1u
#define PEEX_OPT_SECRET 2u

#define PEEX_KIND_FILE 1u
#define PEEX_KIND_DIR 2u
#define PEEX_KIND_OTHER 3u

#define PEEX_SIDE_LOCAL 1u
#define PEEX_SIDE_REMOTE 2u

#define PEEX_VERDICT_NO_OPINION 0u
#define PEEX_VERDICT_IGNORE 1u
#define PEEX_VERDICT_PROTECT 2u

#define PEEX_RENAME_ATOMIC 0u
#define PEEX_RENAME_REMOVE_THEN_RENAME 1u

#define PEEX_LOG_ERROR 1u
#define PEEX_LOG_WARN 2u
#define PEEX_LOG_INFO 3u
#define PEEX_LOG_DEBUG 4u

/* Option passed to every filter's create(): the local source directory. */
#define PEEX_FILTER_SOURCE_ROOT "source_root"

typedef struct PeexStr {
    const uint8_t *ptr;
    size_t len;
} PeexStr;

/* A PeexStr for a string literal. */
#define PEEX_STR(lit) ((PeexStr){(const uint8_t *)(lit), sizeof(lit) - 1})
#define PEEX_STR_INIT(lit) {(const uint8_t *)(lit), sizeof(lit) - 1}

typedef struct PeexEntry {
    PeexStr name;
    uint32_t kind;      /* PEEX_KIND_* */
    uint32_t has_mtime; /* 1 if mtime is set (always for files) */
    uint64_t size;
    int64_t mtime; /* whole seconds since the epoch, UTC */
} PeexEntry;

typedef struct PeexKv {
    PeexStr key;
    PeexStr value;
} PeexKv;

typedef struct PeexOptionSpec {
    PeexStr name;
    PeexStr help;
    uint32_t flags; /* PEEX_OPT_* */
} PeexOptionSpec;

typedef struct PeexCaps {
    uint32_t set_mtime;   /* 1 if set_mtime works */
    uint32_t get_mtime;   /* 1 if get_mtime works */
    uint32_t rename_over; /* PEEX_RENAME_* */
} PeexCaps;

typedef struct PeexErrorSlot PeexErrorSlot; /* host-owned, opaque */
typedef struct PeexConn PeexConn;           /* plugin-owned, opaque to the host */
typedef struct PeexFilter PeexFilter;       /* plugin-owned, opaque to the host */

typedef struct PeexHostApi {
    size_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;
    PeexStr host_version;
    void (*error_set)(PeexErrorSlot *slot, PeexStatus status, uint32_t flags, PeexStr msg);
    void (*log)(uint32_t level, PeexStr msg);
} PeexHostApi;

typedef struct PeexEntrySink {
    void *ctx;
    PeexStatus (*emit)(void *ctx, const PeexEntry *entry);
} PeexEntrySink;

typedef struct PeexReader {
    void *ctx;
    PeexStatus (*read)(void *ctx, uint8_t *buf, size_t cap, size_t *out_len);
} PeexReader;

typedef struct PeexTransportVTable PeexTransportVTable;
typedef struct PeexFilterVTable PeexFilterVTable;

/* Site parameters passed to connect() as key/value pairs:
 *   host, port (absent if none), user, password (absent if none), root, timeout_ms,
 *   option.NAME for each transport option, secret.NAME for each secret option. */
struct PeexTransportVTable {
    size_t struct_size;
    PeexStr scheme;
    PeexStr description;
    const PeexOptionSpec *options;
    size_t n_options;
    uint32_t default_port; /* 0 = none */
    PeexCaps caps;         /* declared; connect() may refine its copy */
    PeexStatus (*connect)(const PeexTransportVTable *self, const PeexHostApi *host,
                          const PeexKv *params, size_t n_params, PeexCaps *caps,
                          PeexConn **out_conn, PeexErrorSlot *err);
    PeexStatus (*list)(PeexConn *conn, PeexStr dir, const PeexEntrySink *sink, PeexErrorSlot *err);
    PeexStatus (*upload)(PeexConn *conn, PeexStr path, const PeexReader *reader, uint64_t size,
                         PeexErrorSlot *err);
    PeexStatus (*delete_)(PeexConn *conn, PeexStr path, PeexErrorSlot *err);
    PeexStatus (*mkdir)(PeexConn *conn, PeexStr path, PeexErrorSlot *err);
    PeexStatus (*rmdir)(PeexConn *conn, PeexStr path, PeexErrorSlot *err);
    PeexStatus (*rename)(PeexConn *conn, PeexStr from, PeexStr to, PeexErrorSlot *err);
    /* optional (NULL = unsupported) */
    PeexStatus (*set_mtime)(PeexConn *conn, PeexStr path, int64_t mtime, PeexErrorSlot *err);
    /* optional (NULL = unsupported) */
    PeexStatus (*get_mtime)(PeexConn *conn, PeexStr path, int64_t *out, PeexErrorSlot *err);
    void (*close)(PeexConn *conn);
};

/* Filters receive every option from the config plus "source_root". */
struct PeexFilterVTable {
    size_t struct_size;
    PeexStr name;
    PeexStr description;
    const PeexOptionSpec *options;
    size_t n_options;
    PeexStatus (*create)(const PeexFilterVTable *self, const PeexHostApi *host,
                         const PeexKv *options, size_t n_options, PeexFilter **out_filter,
                         PeexErrorSlot *err);
    PeexStatus (*decide)(PeexFilter *filter, PeexStr path, const PeexEntry *entry, uint32_t side,
                         uint32_t *out_verdict, PeexErrorSlot *err);
    void (*destroy)(PeexFilter *filter);
};

typedef struct PeexPluginDescriptor {
    uint32_t magic;     /* PEEX_MAGIC */
    uint32_t abi_major; /* PEEX_ABI_MAJOR */
    uint32_t abi_minor; /* PEEX_ABI_MINOR */
    uint32_t flags;     /* reserved, 0 */
    size_t struct_size; /* sizeof(PeexPluginDescriptor) */
    PeexStr name;
    PeexStr version;
    PeexStr built_with;
    PeexStatus (*init)(const PeexHostApi *host, PeexErrorSlot *err); /* optional */
    const PeexTransportVTable *const *transports;
    size_t n_transports;
    const PeexFilterVTable *const *filters;
    size_t n_filters;
} PeexPluginDescriptor;

#if defined(_WIN32)
#define PEEX_EXPORT __declspec(dllexport)
#else
#define PEEX_EXPORT __attribute__((visibility("default")))
#endif

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(void *) != 8 || sizeof(PeexEntry) == 40, "PeexEntry layout");
_Static_assert(sizeof(void *) != 8 || sizeof(PeexTransportVTable) == 152, "transport layout");
_Static_assert(sizeof(void *) != 8 || sizeof(PeexFilterVTable) == 80, "filter layout");
_Static_assert(sizeof(void *) != 8 || sizeof(PeexPluginDescriptor) == 112, "descriptor layout");
#endif

#ifdef __cplusplus
}
#endif

#endif /* PEEX_PLUGIN_H */
