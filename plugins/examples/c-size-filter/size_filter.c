/*
 * size_filter.c - a peex filter plugin written in C.
 *
 * Filter "size": local files larger than the option max_bytes are ignored (not uploaded, and
 * their remote counterparts left alone). Everything else: no opinion.
 *
 *   cc -shared -fPIC -I plugins/include -o libsize_filter.so size_filter.c
 */
#include "peex_plugin.h"

#include <stdlib.h>
#include <string.h>

typedef struct SizeFilter {
    const PeexHostApi *host;
    uint64_t max_bytes;
} SizeFilter;

static void fail(const PeexHostApi *host, PeexErrorSlot *err, PeexStatus status, const char *msg) {
    if (host && host->error_set) {
        PeexStr s = {(const uint8_t *)msg, strlen(msg)};
        host->error_set(err, status, 0, s);
    }
}

static int str_eq(PeexStr s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

static PeexStatus size_create(const PeexFilterVTable *self, const PeexHostApi *host,
                              const PeexKv *options, size_t n_options, PeexFilter **out_filter,
                              PeexErrorSlot *err) {
    (void)self;
    const PeexKv *max = NULL;
    for (size_t i = 0; i < n_options; i++) {
        if (str_eq(options[i].key, "max_bytes")) max = &options[i];
    }
    if (!max) {
        fail(host, err, PEEX_CONFIG_INVALID, "size: option max_bytes is required");
        return PEEX_CONFIG_INVALID;
    }
    char buf[32];
    if (max->value.len == 0 || max->value.len >= sizeof buf) {
        fail(host, err, PEEX_CONFIG_INVALID, "size: max_bytes must be a number of bytes");
        return PEEX_CONFIG_INVALID;
    }
    memcpy(buf, max->value.ptr, max->value.len);
    buf[max->value.len] = 0;
    char *end = NULL;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end != 0 || buf[0] == '-') {
        fail(host, err, PEEX_CONFIG_INVALID, "size: max_bytes must be a number of bytes");
        return PEEX_CONFIG_INVALID;
    }
    SizeFilter *f = malloc(sizeof *f);
    if (!f) {
        fail(host, err, PEEX_UNEXPECTED, "size: out of memory");
        return PEEX_UNEXPECTED;
    }
    f->host = host;
    f->max_bytes = (uint64_t)v;
    *out_filter = (PeexFilter *)f;
    return PEEX_OK;
}

static PeexStatus size_decide(PeexFilter *filter, PeexStr path, const PeexEntry *entry,
                              uint32_t side, uint32_t *out_verdict, PeexErrorSlot *err) {
    (void)path;
    (void)err;
    const SizeFilter *f = (const SizeFilter *)filter;
    *out_verdict = PEEX_VERDICT_NO_OPINION;
    if (side == PEEX_SIDE_LOCAL && entry->kind == PEEX_KIND_FILE && entry->size > f->max_bytes)
        *out_verdict = PEEX_VERDICT_IGNORE;
    return PEEX_OK;
}

static void size_destroy(PeexFilter *filter) { free(filter); }

static const PeexOptionSpec size_options[] = {
    {PEEX_STR_INIT("max_bytes"), PEEX_STR_INIT("local files larger than this many bytes are ignored"),
     PEEX_OPT_REQUIRED},
};

static const PeexFilterVTable size_filter = {
    sizeof(PeexFilterVTable),
    PEEX_STR_INIT("size"),
    PEEX_STR_INIT("ignores local files larger than max_bytes"),
    size_options,
    sizeof size_options / sizeof size_options[0],
    size_create,
    size_decide,
    size_destroy,
};

static const PeexFilterVTable *const filters[] = {&size_filter};

static const PeexPluginDescriptor descriptor = {
    PEEX_MAGIC,
    PEEX_ABI_MAJOR,
    PEEX_ABI_MINOR,
    0,
    sizeof(PeexPluginDescriptor),
    PEEX_STR_INIT("size-filter"),
    PEEX_STR_INIT("1.0.0"),
    PEEX_STR_INIT("C"),
    NULL,
    NULL,
    0,
    filters,
    1,
};

PEEX_EXPORT const PeexPluginDescriptor *peex_plugin_v2(void) { return &descriptor; }
