/* lua_profile.c -- sampling profile of scripts (see lua_profile.h). */
#include "hotelmux/lua_profile.h"

#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/worker.h"

#define SLOTS 4096
#define KEY_MAX 160

typedef struct {
    char key[KEY_MAX];
    unsigned long n;
} slot_t;

typedef struct {
    hm_vm_t *vm;
    slot_t funcs[SLOTS], lines[SLOTS], incl[SLOTS];
    unsigned long total, states[128];
} profile_t;

static profile_t *active;   /* the one profiled vm (LuaJIT: one profiler per process) */

static void count(slot_t *tab, const char *key, size_t len, int samples)
{
    if (len >= KEY_MAX)
        len = KEY_MAX - 1;
    size_t i = hm_hash64(key, len) % SLOTS;
    for (size_t probe = 0; probe < SLOTS; probe++, i = (i + 1) % SLOTS) {
        if (tab[i].n == 0) {
            memcpy(tab[i].key, key, len);
            tab[i].key[len] = '\0';
        } else if (strncmp(tab[i].key, key, len) != 0 || tab[i].key[len] != '\0') {
            continue;
        }
        tab[i].n += (unsigned long)samples;
        return;
    }
}

static void on_sample(void *data, lua_State *L, int samples, int vmstate)
{
    profile_t *p = data;
    size_t len;
    const char *f = luaJIT_profile_dumpstack(L, "F", 1, &len);
    count(p->funcs, f, len, samples);
    const char *l = luaJIT_profile_dumpstack(L, "l", 1, &len);
    count(p->lines, l, len, samples);
    /* inclusive: every distinct function on the stack (root first, ';'
     * separated) counts the sample once, so a connector's total shows
     * whatever it calls */
    const char *st = luaJIT_profile_dumpstack(L, "F;", -24, &len);
    const char *seen[24];
    size_t seen_len[24], nseen = 0;
    for (size_t a = 0; a < len && nseen < 24;) {
        size_t b = a;
        while (b < len && st[b] != ';')
            b++;
        int dup = 0;
        for (size_t k = 0; k < nseen; k++)
            dup |= seen_len[k] == b - a && memcmp(seen[k], st + a, b - a) == 0;
        if (!dup && b > a) {
            count(p->incl, st + a, b - a, samples);
            seen[nseen] = st + a;
            seen_len[nseen++] = b - a;
        }
        a = b + 1;
    }
    p->total += (unsigned long)samples;
    p->states[vmstate & 127] += (unsigned long)samples;
}

void hm_lua_profile_maybe_start(hm_vm_t *vm)
{
    const char *on = getenv("HOTELMUX_LUA_PROFILE");
    if (!on || !*on || strcmp(on, "0") == 0 || active || !vm->worker || vm->worker->id != 0)
        return;
    active = calloc(1, sizeof(*active));
    if (!active)
        return;
    active->vm = vm;
    luaJIT_profile_start(vm->L, "i1", on_sample, active);
}

static int by_count(const void *a, const void *b)
{
    const slot_t *x = a, *y = b;
    return (y->n > x->n) - (y->n < x->n);
}

static void print_top(const char *title, slot_t *tab, unsigned long total)
{
    qsort(tab, SLOTS, sizeof(slot_t), by_count);
    fprintf(stderr, "  %s\n", title);
    for (int i = 0; i < 30 && tab[i].n; i++)
        fprintf(stderr, "  %6.2f%%  %s\n", 100.0 * (double)tab[i].n / (double)total, tab[i].key);
}

void hm_lua_profile_finish(hm_vm_t *vm)
{
    if (!active || active->vm != vm)
        return;
    luaJIT_profile_stop(vm->L);
    profile_t *p = active;
    active = NULL;
    if (p->total) {
        fprintf(stderr, "hotelmux Lua profile (worker 0, generation %llu): %lu samples of 1 ms;",
                (unsigned long long)vm->generation, p->total);
        static const char names[] = "NICGJ";
        for (const char *c = names; *c; c++)
            fprintf(stderr, " %c %.1f%%", *c, 100.0 * (double)p->states[(int)*c] / (double)p->total);
        fprintf(stderr, "\n  (C includes host work between two Lua runs, counted on the next Lua line run; "
                        "see lua_profile.h)\n");
        print_top("functions:", p->funcs, p->total);
        print_top("lines:", p->lines, p->total);
        print_top("functions with what they call (inclusive):", p->incl, p->total);
    }
    free(p);
}
