/*
 * peex_plugin.h - the peex plugin C ABI, version 2.1.
 *
 * Mirrors the Rust crate `peex-plugin-abi` (plugins/abi/src/lib.rs) field for field; a test
 * (peex/tests/e2e_plugins.rs, header_matches_the_rust_definitions) compiles a C program against
 * this header and compares every size, offset and constant with the Rust side.
 *
 * A plugin is a shared library exporting
 *
 *     const PeexPluginDescriptor *peex_plugin_v2(void);
 *
 * returning a pointer to static data that lives as long as the library (the host never
 * unloads a library). A library exporting only `peex_plugin_v1` (ABI 1.x) is refused with
 * a message saying how to rebuild.
 *
 * ---------------------------------------------------------------------------------------
 * VERSIONS AND GROWTH (SQLite's versioned tables, GStreamer's major rule)
 *  - abi_major must equal the host's (2). Any abi_minor of major 2 loads:
 *    every table (descriptor, transport and filter vtables, PeexCaps, PeexUploadJob, the
 *    host API) starts with struct_size and only ever grows at the END. The host reads
 *    min(struct_size, its own size) bytes: slots beyond your struct_size are absent (NULL),
 *    slots the host does not know are ignored. Set struct_size = sizeof(the struct) and
 *    abi_minor = PEEX_ABI_MINOR as compiled against this header.
 *  - To build for an older minor (to run on an older peex and say so), define
 *    PEEX_ABI_MINOR before including this header (e.g. -DPEEX_ABI_MINOR=0): the fields
 *    added later disappear from the structs.
 *  - A table smaller than its declared minor requires is refused ("truncated").
 *  - Unknown flag bits are ignored. Keys you do not know in connect()'s params: ignore.
 *  - 2.0: the base tables. 2.1: PeexTransportVTable.mkdir_batch.
 *
 * ---------------------------------------------------------------------------------------
 * STRINGS AND MEMORY
 *  - Strings are UTF-8 pointer + length (PeexStr), no NUL terminator, never NUL inside.
 *  - Every string and struct the host passes you is BORROWED FOR THE CALL ONLY; copy what
 *    you keep. Exception: an upload job's strings and reader live until done() for it.
 *  - Strings you pass the host (entry names to sink->emit, messages to error_set and log)
 *    are borrowed for that one call: the host copies them before returning, so a stack
 *    buffer reused for the next entry is fine.
 *  - Descriptor, vtable, option and declared-caps data must be static.
 *  - Never free memory you did not allocate; the host never frees yours (except by calling
 *    close()/destroy() on what your connect()/create() returned).
 *
 * ---------------------------------------------------------------------------------------
 * CALL ORDER (what the host does with a transport)
 *  1. dlopen, peex_plugin_v2(), validation; init(host) once if non-NULL.
 *  2. connect(self, host, params, caps) per connection; the host keeps several connections
 *     open at once (each used by one thread at a time; different connections may be used
 *     from different threads concurrently). connect() must check that `root` exists and is
 *     a directory (PEEX_NOT_FOUND / PEEX_NOT_A_DIR otherwise).
 *  3. list("") then list() of every directory, recursively (scan). A missing directory is
 *     PEEX_NOT_FOUND.
 *  4. For a new directory: mkdir(parent) always comes before anything inside it (or
 *     mkdir_batch with parents first). With PEEX_CAP_RENAME_DIRS, a new tree is built under a
 *     temporary name in the same parent, its files uploaded directly into it (no temporary
 *     name per file), then rename(tmpdir, dir) onto a name where nothing exists.
 *  5. For each file, upload to a temporary name in the same directory, set_mtime(tmp) if
 *     the site sets times, rename(tmp, final) over the old file. With upload_stream the
 *     host hands you the same three steps as jobs and you may overlap them.
 *  6. delete() removed files, rmdir() removed directories (children first).
 *  7. Times are only ever set on files, never on directories.
 *  8. get_mtime(file) only with `srcutime` (reading back what the server chose).
 *  9. close(conn) once per connection, also after errors; never twice.
 *
 * ---------------------------------------------------------------------------------------
 * THE SITE PARAMETERS connect() RECEIVES (key/value pairs)
 *   host        as written ("" when the site has none: declare PEEX_TRANSPORT_NO_HOST,
 *               or the host refuses such a site before connecting)
 *   port        decimal, absent when the site names none (use your default)
 *   user        may be ""
 *   password    absent when none
 *   root        the config's `dest` EXACTLY as written: not resolved, not normalised; you
 *               resolve it (against the login directory, a base URL, the filesystem)
 *   timeout_ms  connect/read timeout for one network operation
 *   option.NAME each transport option; only names you declared in `options` get here
 *               (the host rejects others, naming the closest declared one)
 *   secret.NAME each secret option (declared with PEEX_OPT_SECRET)
 * Paths given to the operations are relative to root, '/'-separated, "" is the root.
 *
 * ---------------------------------------------------------------------------------------
 * LISTING
 *  - Push each entry with sink->emit(); if it returns non-OK, stop and return that status
 *    (no error_set: the host knows why).
 *  - Never emit "." or ".."; names must not contain '/', '\\' or NUL: the host refuses the
 *    whole listing (PEEX_INVALID_NAME) rather than skip one.
 *  - Files: size in bytes and has_mtime = 1 with the time in whole seconds UTC (a file
 *    without a time fails the listing). Directories: size 0 and has_mtime 0 are right
 *    (the host ignores both for directories).
 *  - PEEX_KIND_OTHER (symlink, device, socket...): the host never uploads over it by
 *    following it; one with no local counterpart is REMOVED with delete(), like a file.
 *
 * ---------------------------------------------------------------------------------------
 * UPLOAD
 *  - upload(path, reader, size): create or truncate `path`, pull exactly `size` bytes with
 *    reader->read(). 0 bytes with PEEX_OK is end of data. If the reader returns non-OK,
 *    stop and return ITS status as is WITHOUT error_set (the host reports its own error).
 *  - If the reader ends before `size` bytes or has more: PEEX_UNEXPECTED (the local file
 *    changed). If the server stored a different size: PEEX_PROTOCOL | PEEX_ERR_TEMPORARY.
 *
 * ---------------------------------------------------------------------------------------
 * RENAME
 *  - PEEX_RENAME_ATOMIC: rename(from, to) replaces an existing `to` in one step; a
 *    reader sees the old or the new file, never nothing.
 *  - PEEX_RENAME_REMOVE_THEN_RENAME: your rename() removes an existing `to` first; for a
 *    moment `to` is missing, but it is never half-written. The host reports this.
 *  - PEEX_CAP_RENAME_DIRS: rename() also moves a directory with its content; the host
 *    only does so onto a name where nothing exists.
 *
 * ---------------------------------------------------------------------------------------
 * STATUSES: which one for which failure (flags: T = PEEX_ERR_TEMPORARY, the host may
 * reconnect and retry; F = PEEX_ERR_FATAL, the connection is dead, the host closes it)
 *
 *   status                   errno / protocol cases
 *   PEEX_NOT_FOUND           ENOENT; HTTP 404/409 (missing parent); FTP 550 no such file;
 *                            root missing at connect
 *   PEEX_PERMISSION_DENIED   EACCES, EPERM, EROFS; HTTP 401 after login, 403; FTP 550/553
 *                            permission
 *   PEEX_ALREADY_EXISTS      EEXIST where the operation does not replace
 *   PEEX_NOT_A_DIR           ENOTDIR; root or a listed path is a file
 *   PEEX_DIR_NOT_EMPTY       ENOTEMPTY, EEXIST from rmdir
 *   PEEX_UNSUPPORTED         ENOTSUP, ENOSYS; HTTP 405/501; the server lacks a feature
 *                            you need (say which)
 *   PEEX_CONFIG_INVALID      a bad or missing option value (name it)
 *   PEEX_INVALID_NAME        EILSEQ, a name the server cannot store or returned unsafely
 *   PEEX_PROTOCOL            a reply you cannot parse; the server stored a different
 *                            size (T)
 *   PEEX_CONNECTION_FAILED   ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, DNS failure, connect
 *                            timeout (T when it may pass)
 *   PEEX_AUTH_FAILED         login refused; HTTP 401 at connect
 *   PEEX_HOST_IDENTITY       TLS certificate or SSH host key not verified
 *   PEEX_RATE_LIMITED        HTTP 429/503 with Retry-After; FTP 421 too many users (T)
 *   PEEX_CANCELLED           a host callback (emit, read) returned non-OK: return its
 *                            status instead when you can
 *   PEEX_UNEXPECTED          EIO, ENOSPC, EDQUOT, EISDIR, EFBIG, anything else;
 *                            ECONNRESET, EPIPE, ETIMEDOUT mid-operation (T)
 *   PEEX_PANICKED            (set by the Rust SDK for a caught panic; F)
 *   any other value          treated as PEEX_UNEXPECTED
 *
 * Describe every failure with host->error_set(err, status, flags, msg) before returning
 * the status (except when passing on a callback's status). Operations need not name the
 * path: the host adds the operation and the path.
 *
 * ---------------------------------------------------------------------------------------
 * THREADS: a connection is used by one thread at a time; filters' decide() may be called
 * from several threads at once. error_set, log, sink, reader and queue callbacks may only
 * be called from the thread of the call that received them.
 *
 * DESCRIPTOR TEXT: `name` non-empty; `version` free text shown as is, semver ("1.2.0")
 * recommended; `built_with` free text naming compiler and SDK ("gcc 12.2", "rustc 1.85,
 * peex-plugin-sdk 0.1.0").
 */
#ifndef PEEX_PLUGIN_H
#define PEEX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PEEX_MAGIC 0x50454558u /* "PEEX" */
#define PEEX_ABI_MAJOR 2u
/* The newest minor this header describes; define PEEX_ABI_MINOR to build for an older one. */
#define PEEX_ABI_MINOR_CURRENT 1u
#ifndef PEEX_ABI_MINOR
#define PEEX_ABI_MINOR PEEX_ABI_MINOR_CURRENT
#endif
#define PEEX_PLUGIN_SYMBOL "peex_plugin_v2"

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

/* PeexTransportVTable.flags */
#define PEEX_TRANSPORT_NO_HOST 1u /* sites of this transport need no `host` */

/* PeexCaps.flags */
#define PEEX_CAP_SET_MTIME 1u   /* set_mtime works (cleared if the slot is NULL) */
#define PEEX_CAP_GET_MTIME 2u   /* get_mtime works (cleared if the slot is NULL) */
#define PEEX_CAP_RENAME_DIRS 4u /* rename() moves directories too: new trees are staged */

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
    PeexStr name;       /* borrowed for the emit() call */
    uint32_t kind;      /* PEEX_KIND_* */
    uint32_t has_mtime; /* 1 if mtime is set (required for files; ignored for dirs) */
    uint64_t size;      /* files; ignored (0) for directories */
    int64_t mtime;      /* whole seconds since the epoch, UTC */
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

/* Capabilities: the host allocates this, sets struct_size to its size, fills it with the
 * declared value (vtable.caps, or zeros) and passes it to connect(), which may change any
 * field within struct_size (every field below is always within it). */
typedef struct PeexCaps {
    size_t struct_size;
    uint32_t flags;       /* PEEX_CAP_* */
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

/* One file of an upload stream, filled by queue->next(). Its strings and reader stay
 * valid until queue->done() is called for its id. */
typedef struct PeexUploadJob {
    size_t struct_size;
    uint64_t id;
    PeexStr tmp;  /* len 0: write `path` directly (inside a staged new directory) */
    PeexStr path; /* final name */
    PeexReader reader;
    uint64_t size;
    uint32_t has_mtime;
    uint32_t reserved;
    int64_t mtime;
} PeexUploadJob;

/* The host's queue for upload_stream(): take jobs with next() until it returns 0; report
 * each job exactly once with done() (PEEX_OK = in place under its final name, time set).
 * You may take several jobs before reporting any (to overlap them). After a temporary
 * error report every job taken (unknown outcome: the temporary error), take no more, and
 * return that error; after a permanent one go on. */
typedef struct PeexUploadQueue {
    void *ctx;
    int32_t (*next)(void *ctx, PeexUploadJob *job);
    void (*done)(void *ctx, uint64_t id, PeexStatus status, uint32_t flags, PeexStr msg);
} PeexUploadQueue;

typedef struct PeexTransportVTable PeexTransportVTable;
typedef struct PeexFilterVTable PeexFilterVTable;

struct PeexTransportVTable {
    size_t struct_size;
    PeexStr scheme; /* lowercase letter, then lowercase letters, digits, + - . */
    PeexStr description;
    const PeexOptionSpec *options; /* the only options a site may give */
    size_t n_options;
    uint32_t default_port; /* 0 = none */
    uint32_t flags;        /* PEEX_TRANSPORT_* */
    const PeexCaps *caps;  /* declared (NULL = none); connect() may refine its copy */
    /* required */
    PeexStatus (*connect)(const PeexTransportVTable *self, const PeexHostApi *host,
                          const PeexKv *params, size_t n_params, PeexCaps *caps,
                          PeexConn **out_conn, PeexErrorSlot *err);
    void (*close)(PeexConn *conn);
    PeexStatus (*list)(PeexConn *conn, PeexStr dir, const PeexEntrySink *sink, PeexErrorSlot *err);
    PeexStatus (*upload)(PeexConn *conn, PeexStr path, const PeexReader *reader, uint64_t size,
                         PeexErrorSlot *err);
    PeexStatus (*delete_)(PeexConn *conn, PeexStr path, PeexErrorSlot *err); /* missing = OK */
    PeexStatus (*mkdir)(PeexConn *conn, PeexStr path, PeexErrorSlot *err);   /* exists = OK */
    PeexStatus (*rmdir)(PeexConn *conn, PeexStr path, PeexErrorSlot *err);   /* missing = OK */
    PeexStatus (*rename)(PeexConn *conn, PeexStr from, PeexStr to, PeexErrorSlot *err);
    /* optional (NULL = unsupported) */
    PeexStatus (*set_mtime)(PeexConn *conn, PeexStr path, int64_t mtime, PeexErrorSlot *err);
    PeexStatus (*get_mtime)(PeexConn *conn, PeexStr path, int64_t *out, PeexErrorSlot *err);
    PeexStatus (*upload_stream)(PeexConn *conn, const PeexUploadQueue *queue, PeexErrorSlot *err);
#if PEEX_ABI_MINOR >= 1
    /* 2.1, optional: create n directories in order (parents first); one status per
     * directory attempted in results[], their count in *n_done (< n only after a temporary
     * error); err describes the first failure. */
    PeexStatus (*mkdir_batch)(PeexConn *conn, const PeexStr *paths, size_t n,
                              PeexStatus *results, size_t *n_done, PeexErrorSlot *err);
#endif
};

/* Filters receive every option from the config plus "source_root". */
struct PeexFilterVTable {
    size_t struct_size;
    PeexStr name; /* ASCII letters, digits, _ - . */
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
    PeexStr version;    /* semver recommended */
    PeexStr built_with; /* compiler and SDK, free text */
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

#ifdef __cplusplus
}
#endif

#endif /* PEEX_PLUGIN_H */
