/*
 * dir_transport.c - a peex transport plugin in plain C: scheme "cdir" stores the site in a
 * local directory (the config's `dest`, an absolute path or one relative to peex's working
 * directory). It needs no host (PEEX_TRANSPORT_NO_HOST), sets and reads times, renames
 * directories (so new trees are staged), and implements the optional upload_stream and
 * (ABI 2.1) mkdir_batch.
 *
 *   cc -std=c11 -shared -fPIC -I plugins/include -o libcdir.so dir_transport.c
 *   cc ... -DPEEX_ABI_MINOR=0 ...   builds it for ABI 2.0 (no mkdir_batch)
 *
 * Site:  [site] transport=cdir  source=public  dest=/srv/mirror   (no host)
 * Option: fsync (true/false, default false): fsync every file before renaming it.
 */
#define _POSIX_C_SOURCE 200809L
#include "peex_plugin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct Conn {
    const PeexHostApi *host;
    char *root; /* NUL-terminated, no trailing '/' */
    int fsync;
} Conn;

/* The one errno -> status mapping of this plugin (the table in peex_plugin.h). */
static PeexStatus status_of(int e) {
    switch (e) {
    case ENOENT: return PEEX_NOT_FOUND;
    case EACCES: case EPERM: case EROFS: return PEEX_PERMISSION_DENIED;
    case EEXIST: return PEEX_ALREADY_EXISTS;
    case ENOTDIR: return PEEX_NOT_A_DIR;
    case ENOTEMPTY: return PEEX_DIR_NOT_EMPTY;
    case ENOTSUP: case ENOSYS: return PEEX_UNSUPPORTED;
    case EILSEQ: case ENAMETOOLONG: return PEEX_INVALID_NAME;
    default: return PEEX_UNEXPECTED; /* EIO, ENOSPC, EDQUOT, EISDIR, ... */
    }
}

static PeexStatus fail(const PeexHostApi *host, PeexErrorSlot *err, PeexStatus st,
                       const char *what, int e) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s: %s", what, e ? strerror(e) : "failed");
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    PeexStr s = {(const uint8_t *)msg, (size_t)n};
    host->error_set(err, st, 0, s); /* the host copies msg */
    return st;
}

static PeexStatus fail_errno(const Conn *c, PeexErrorSlot *err, const char *what) {
    int e = errno;
    return fail(c->host, err, status_of(e), what, e);
}

/* root + "/" + rel as a malloc'd C string ("" = the root itself). */
static char *join(const Conn *c, PeexStr rel) {
    size_t rl = strlen(c->root);
    char *p = malloc(rl + 1 + rel.len + 1);
    if (!p) return NULL;
    memcpy(p, c->root, rl);
    if (rel.len) {
        p[rl] = '/';
        memcpy(p + rl + 1, rel.ptr, rel.len);
        p[rl + 1 + rel.len] = 0;
    } else {
        p[rl] = 0;
    }
    return p;
}

#define WITH_PATH(c, rel, err, var)                                                      \
    char *var = join(c, rel);                                                            \
    if (!var) return fail((c)->host, err, PEEX_UNEXPECTED, "out of memory", 0)

static int str_eq(PeexStr s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static PeexStatus d_connect(const PeexTransportVTable *self, const PeexHostApi *host,
                            const PeexKv *params, size_t n, PeexCaps *caps, PeexConn **out,
                            PeexErrorSlot *err) {
    (void)self;
    PeexStr root = {NULL, 0};
    int want_fsync = 0;
    for (size_t i = 0; i < n; i++) {
        if (str_eq(params[i].key, "root")) root = params[i].value;
        if (str_eq(params[i].key, "option.fsync")) {
            if (str_eq(params[i].value, "true")) want_fsync = 1;
            else if (!str_eq(params[i].value, "false"))
                return fail(host, err, PEEX_CONFIG_INVALID, "option fsync: expected true or false", 0);
        }
        /* other keys (host, user, timeout_ms, keys of a newer host) are ignored */
    }
    if (root.len == 0)
        return fail(host, err, PEEX_CONFIG_INVALID, "dest (the directory) is empty", 0);
    Conn *c = calloc(1, sizeof *c);
    if (!c) return fail(host, err, PEEX_UNEXPECTED, "out of memory", 0);
    c->host = host;
    c->fsync = want_fsync;
    c->root = malloc(root.len + 1);
    if (!c->root) { free(c); return fail(host, err, PEEX_UNEXPECTED, "out of memory", 0); }
    memcpy(c->root, root.ptr, root.len); /* root arrives exactly as written: use it as is */
    c->root[root.len] = 0;
    while (strlen(c->root) > 1 && c->root[strlen(c->root) - 1] == '/')
        c->root[strlen(c->root) - 1] = 0;
    struct stat st;
    if (stat(c->root, &st) != 0) {
        PeexStatus s = fail_errno(c, err, "root");
        free(c->root); free(c);
        return s;
    }
    if (!S_ISDIR(st.st_mode)) {
        free(c->root); free(c);
        return fail(host, err, PEEX_NOT_A_DIR, "root is not a directory", 0);
    }
    /* every 2.0 field of caps lies within caps->struct_size */
    caps->flags = PEEX_CAP_SET_MTIME | PEEX_CAP_GET_MTIME | PEEX_CAP_RENAME_DIRS;
    caps->rename_over = PEEX_RENAME_ATOMIC; /* rename(2) replaces in one step */
    *out = (PeexConn *)c;
    return PEEX_OK;
}

static void d_close(PeexConn *conn) {
    Conn *c = (Conn *)conn;
    free(c->root);
    free(c);
}

static PeexStatus d_list(PeexConn *conn, PeexStr dir, const PeexEntrySink *sink,
                         PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, dir, err, path);
    DIR *d = opendir(path);
    if (!d) { PeexStatus s = fail_errno(c, err, "opendir"); free(path); return s; }
    PeexStatus result = PEEX_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue; /* removed meanwhile */
            result = fail_errno(c, err, "stat");
            break;
        }
        PeexEntry e;
        e.name.ptr = (const uint8_t *)de->d_name; /* borrowed for emit(): the host copies it */
        e.name.len = strlen(de->d_name);
        if (S_ISREG(st.st_mode)) {
            e.kind = PEEX_KIND_FILE;
            e.size = (uint64_t)st.st_size;
            e.has_mtime = 1;
            e.mtime = (int64_t)st.st_mtime;
        } else {
            e.kind = S_ISDIR(st.st_mode) ? PEEX_KIND_DIR : PEEX_KIND_OTHER;
            e.size = 0;
            e.has_mtime = 0; /* ignored for directories */
            e.mtime = 0;
        }
        PeexStatus s = sink->emit(sink->ctx, &e);
        if (s != PEEX_OK) { result = s; break; } /* pass the host's status on, no error_set */
    }
    closedir(d);
    free(path);
    return result;
}

/* Writes exactly `size` bytes from `reader` to `path`. */
static PeexStatus write_file(Conn *c, const char *path, const PeexReader *reader, uint64_t size,
                             PeexErrorSlot *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fail_errno(c, err, "open");
    uint8_t buf[65536];
    uint64_t total = 0;
    PeexStatus result = PEEX_OK;
    for (;;) {
        size_t got = 0;
        PeexStatus s = reader->read(reader->ctx, buf, sizeof buf, &got);
        if (s != PEEX_OK) { result = s; break; } /* the host knows why: no error_set */
        if (got == 0) break;
        total += got;
        if (total > size) {
            result = fail(c->host, err, PEEX_UNEXPECTED, "the local file has more bytes than announced", 0);
            break;
        }
        size_t off = 0;
        while (off < got) {
            ssize_t w = write(fd, buf + off, got - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                result = fail_errno(c, err, "write");
                break;
            }
            off += (size_t)w;
        }
        if (result != PEEX_OK) break;
    }
    if (result == PEEX_OK && total != size)
        result = fail(c->host, err, PEEX_UNEXPECTED, "the local file has fewer bytes than announced", 0);
    if (result == PEEX_OK && c->fsync && fsync(fd) != 0) result = fail_errno(c, err, "fsync");
    if (close(fd) != 0 && result == PEEX_OK) result = fail_errno(c, err, "close");
    return result;
}

static PeexStatus d_upload(PeexConn *conn, PeexStr rel, const PeexReader *reader, uint64_t size,
                           PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, rel, err, path);
    PeexStatus s = write_file(c, path, reader, size, err);
    free(path);
    return s;
}

static PeexStatus d_delete(PeexConn *conn, PeexStr rel, PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, rel, err, path);
    PeexStatus s = PEEX_OK;
    if (unlink(path) != 0 && errno != ENOENT) s = fail_errno(c, err, "unlink");
    free(path);
    return s;
}

static PeexStatus d_mkdir(PeexConn *conn, PeexStr rel, PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, rel, err, path);
    PeexStatus s = PEEX_OK;
    if (mkdir(path, 0755) != 0) {
        struct stat st;
        if (!(errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
            s = fail_errno(c, err, "mkdir");
    }
    free(path);
    return s;
}

static PeexStatus d_rmdir(PeexConn *conn, PeexStr rel, PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, rel, err, path);
    PeexStatus s = PEEX_OK;
    if (rmdir(path) != 0 && errno != ENOENT) {
        int e = errno;
        s = fail(c->host, err, e == EEXIST ? PEEX_DIR_NOT_EMPTY : status_of(e), "rmdir", e);
    }
    free(path);
    return s;
}

static PeexStatus d_rename(PeexConn *conn, PeexStr from, PeexStr to, PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, from, err, a);
    char *b = join(c, to);
    if (!b) { free(a); return fail(c->host, err, PEEX_UNEXPECTED, "out of memory", 0); }
    PeexStatus s = PEEX_OK;
    if (rename(a, b) != 0) s = fail_errno(c, err, "rename");
    free(a);
    free(b);
    return s;
}

static PeexStatus set_time(Conn *c, const char *path, int64_t mtime, PeexErrorSlot *err) {
    struct timespec ts[2];
    ts[0].tv_sec = (time_t)mtime; ts[0].tv_nsec = 0;
    ts[1] = ts[0];
    if (utimensat(AT_FDCWD, path, ts, 0) != 0) return fail_errno(c, err, "utimensat");
    return PEEX_OK;
}

static PeexStatus d_set_mtime(PeexConn *conn, PeexStr rel, int64_t mtime, PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, rel, err, path);
    PeexStatus s = set_time(c, path, mtime, err);
    free(path);
    return s;
}

static PeexStatus d_get_mtime(PeexConn *conn, PeexStr rel, int64_t *out, PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    WITH_PATH(c, rel, err, path);
    struct stat st;
    PeexStatus s = PEEX_OK;
    if (stat(path, &st) != 0) s = fail_errno(c, err, "stat");
    else *out = (int64_t)st.st_mtime;
    free(path);
    return s;
}

/* The error slot of one job: the host's done() takes status, flags and message directly,
 * so each job's failure is described here and passed on. */
static PeexStatus d_upload_stream(PeexConn *conn, const PeexUploadQueue *q, PeexErrorSlot *err) {
    Conn *c = (Conn *)conn;
    (void)err;
    for (;;) {
        PeexUploadJob job;
        job.struct_size = sizeof job; /* the host writes at most this many bytes */
        if (!q->next(q->ctx, &job)) return PEEX_OK;
        int direct = job.tmp.len == 0;
        char *final = join(c, job.path);
        char *tmp = direct ? NULL : join(c, job.tmp);
        PeexStatus s = PEEX_OK;
        const char *why = "";
        int e = 0;
        if (!final || (!direct && !tmp)) { s = PEEX_UNEXPECTED; why = "out of memory"; }
        const char *target = direct ? final : tmp;
        if (s == PEEX_OK) {
            /* a private slot-less write: errors are reported through done() */
            int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) { e = errno; s = status_of(e); why = "open"; }
            uint8_t buf[65536];
            uint64_t total = 0;
            while (s == PEEX_OK) {
                size_t got = 0;
                PeexStatus r = job.reader.read(job.reader.ctx, buf, sizeof buf, &got);
                if (r != PEEX_OK) { s = r; why = "reading the local file"; break; }
                if (got == 0) break;
                total += got;
                size_t off = 0;
                while (off < got) {
                    ssize_t w = write(fd, buf + off, got - off);
                    if (w < 0 && errno == EINTR) continue;
                    if (w < 0) { e = errno; s = status_of(e); why = "write"; break; }
                    off += (size_t)w;
                }
            }
            if (s == PEEX_OK && total != job.size) { s = PEEX_UNEXPECTED; why = "the local file changed size"; }
            if (s == PEEX_OK && c->fsync && fsync(fd) != 0) { e = errno; s = status_of(e); why = "fsync"; }
            if (fd >= 0) close(fd);
        }
        if (s == PEEX_OK && job.has_mtime) {
            struct timespec ts[2];
            ts[0].tv_sec = (time_t)job.mtime; ts[0].tv_nsec = 0;
            ts[1] = ts[0];
            if (utimensat(AT_FDCWD, target, ts, 0) != 0) { e = errno; s = status_of(e); why = "utimensat"; }
        }
        if (s == PEEX_OK && !direct && rename(tmp, final) != 0) { e = errno; s = status_of(e); why = "rename"; }
        char msg[512];
        int n = 0;
        if (s != PEEX_OK) {
            n = snprintf(msg, sizeof msg, "%s%s%s", why, e ? ": " : "", e ? strerror(e) : "");
            if (n < 0) n = 0;
            if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
        }
        PeexStr m = {(const uint8_t *)msg, (size_t)n};
        free(final);
        free(tmp);
        q->done(q->ctx, job.id, s, 0, m); /* after this the job's strings are gone */
    }
}

#if PEEX_ABI_MINOR >= 1
static PeexStatus d_mkdir_batch(PeexConn *conn, const PeexStr *paths, size_t n,
                                PeexStatus *results, size_t *n_done, PeexErrorSlot *err) {
    PeexStatus first = PEEX_OK;
    *n_done = 0;
    for (size_t i = 0; i < n; i++) {
        /* only the first failure is described in err */
        PeexStatus s = d_mkdir(conn, paths[i], first == PEEX_OK ? err : NULL);
        results[i] = s;
        *n_done = i + 1;
        if (s != PEEX_OK && first == PEEX_OK) first = s;
    }
    return first;
}
#endif

static const PeexOptionSpec options[] = {
    {PEEX_STR_INIT("fsync"), PEEX_STR_INIT("fsync every file before renaming it (default false)"), 0},
};

static const PeexCaps declared = {
    sizeof(PeexCaps), PEEX_CAP_SET_MTIME | PEEX_CAP_GET_MTIME | PEEX_CAP_RENAME_DIRS,
    PEEX_RENAME_ATOMIC,
};

static const PeexTransportVTable transport = {
    .struct_size = sizeof(PeexTransportVTable),
    .scheme = PEEX_STR_INIT("cdir"),
    .description = PEEX_STR_INIT("a local directory, through a plugin written in C"),
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .default_port = 0,
    .flags = PEEX_TRANSPORT_NO_HOST,
    .caps = &declared,
    .connect = d_connect,
    .close = d_close,
    .list = d_list,
    .upload = d_upload,
    .delete_ = d_delete,
    .mkdir = d_mkdir,
    .rmdir = d_rmdir,
    .rename = d_rename,
    .set_mtime = d_set_mtime,
    .get_mtime = d_get_mtime,
    .upload_stream = d_upload_stream,
#if PEEX_ABI_MINOR >= 1
    .mkdir_batch = d_mkdir_batch,
#endif
};
static const PeexTransportVTable *const transports[] = {&transport};

static const PeexPluginDescriptor descriptor = {
    .magic = PEEX_MAGIC,
    .abi_major = PEEX_ABI_MAJOR,
    .abi_minor = PEEX_ABI_MINOR,
    .flags = 0,
    .struct_size = sizeof(PeexPluginDescriptor),
    .name = PEEX_STR_INIT("cdir"),
    .version = PEEX_STR_INIT("1.0.0"),
    .built_with = PEEX_STR_INIT("C11, peex_plugin.h 2.x"),
    .init = NULL,
    .transports = transports,
    .n_transports = 1,
    .filters = NULL,
    .n_filters = 0,
};

PEEX_EXPORT const PeexPluginDescriptor *peex_plugin_v2(void) { return &descriptor; }
