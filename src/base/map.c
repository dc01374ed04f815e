/* map.c - a string-keyed hash map (open addressing, linear probing, FNV-1a).
 *
 * Used where a module needs to find a record by name among many (the journal's event-id
 * heads per ACP server). Keys are copied; values are opaque pointers the caller owns. */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

typedef struct base_map_slot {
    char *key; /* NULL = empty; BASE_MAP_TOMB = deleted */
    uint64_t hash;
    void *value;
} base_map_slot;

static char base_map_tomb_mark;
#define BASE_MAP_TOMB (&base_map_tomb_mark)

struct base_map {
    base_map_slot *slots;
    size_t cap;  /* power of two */
    size_t used; /* live + tombstones */
    size_t live;
};

static uint64_t base_map_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

base_map *base_map_new(void) {
    base_map *m = base_xcalloc(1, sizeof *m);
    m->cap = 16;
    m->slots = base_xcalloc(m->cap, sizeof *m->slots);
    return m;
}

static base_map_slot *base_map_find(const base_map *m, const char *key, uint64_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        base_map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != BASE_MAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static void base_map_grow(base_map *m) {
    base_map_slot *old = m->slots;
    size_t oldcap = m->cap;
    if (m->live * 2 >= m->cap)
        m->cap *= 2;
    m->slots = base_xcalloc(m->cap, sizeof *m->slots);
    m->used = m->live;
    size_t mask = m->cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key || old[i].key == BASE_MAP_TOMB)
            continue;
        size_t j = old[i].hash & mask;
        while (m->slots[j].key)
            j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void *base_map_get(const base_map *m, const char *key) {
    base_map_slot *s = base_map_find(m, key, base_map_hash(key));
    return s ? s->value : NULL;
}

void *base_map_put(base_map *m, const char *key, void *value) {
    uint64_t h = base_map_hash(key);
    base_map_slot *s = base_map_find(m, key, h);
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    /* Keep at most 3/4 of the slots in use, tombstones included, so probes stay short
     * and always end at an empty slot. */
    if ((m->used + 1) * 4 > m->cap * 3)
        base_map_grow(m);
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != BASE_MAP_TOMB)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (base_map_slot){base_xstrdup(key), h, value};
    m->live++;
    return NULL;
}

void *base_map_del(base_map *m, const char *key) {
    base_map_slot *s = base_map_find(m, key, base_map_hash(key));
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = BASE_MAP_TOMB;
    s->value = NULL;
    m->live--;
    return v;
}

size_t base_map_count(const base_map *m) {
    return m->live;
}

void base_map_each(const base_map *m, void (*fn)(const char *key, void *value, void *ud),
                   void *ud) {
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != BASE_MAP_TOMB)
            fn(m->slots[i].key, m->slots[i].value, ud);
}

void base_map_free(base_map *m, void (*free_value)(void *value)) {
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key || m->slots[i].key == BASE_MAP_TOMB)
            continue;
        if (free_value)
            free_value(m->slots[i].value);
        free(m->slots[i].key);
    }
    free(m->slots);
    free(m);
}
