/* fuzz_main.h -- the corpus runner shared by the fuzz drivers.
 *
 * Built as a libFuzzer target (clang -fsanitize=fuzzer) a driver only provides
 * LLVMFuzzerTestOneInput. Built with HM_FUZZ_REPLAY_MAIN (any compiler) it also
 * gets this main(): every argument is a file or a directory of files, each is
 * fed to LLVMFuzzerTestOneInput once, in name order. A crash or failed check
 * aborts; an empty or missing corpus is an error so a wrong path cannot pass. */
#ifndef HM_FUZZ_MAIN_H
#define HM_FUZZ_MAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A failed invariant: report and abort so both libFuzzer and ctest see a crash. */
#define FUZZ_ASSERT(expr) do { \
    if (!(expr)) { \
        fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #expr); \
        abort(); \
    } \
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef HM_FUZZ_REPLAY_MAIN
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int fuzz_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf == NULL)
        return -1;
    /* an exact-size copy so ASan catches reads past the end */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int fuzz_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    size_t runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "no such corpus: %s\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (fuzz_run_file(argv[i]) != 0)
                return 1;
            runs++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (d == NULL)
            return 1;
        char **names = NULL;
        size_t nn = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char **nv = realloc(names, (nn + 1) * sizeof(*names));
            if (nv == NULL)
                return 1;
            names = nv;
            size_t pl = strlen(argv[i]) + strlen(e->d_name) + 2;
            names[nn] = malloc(pl);
            snprintf(names[nn], pl, "%s/%s", argv[i], e->d_name);
            nn++;
        }
        closedir(d);
        qsort(names, nn, sizeof(*names), fuzz_cmp);
        for (size_t k = 0; k < nn; k++) {
            if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode)) {
                if (fuzz_run_file(names[k]) != 0)
                    return 1;
                runs++;
            }
            free(names[k]);
        }
        free(names);
    }
    if (runs == 0) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE... (no inputs found)\n", argv[0]);
        return 1;
    }
    fprintf(stderr, "%s: %zu inputs ok\n", argv[0], runs);
    return 0;
}
#endif

#endif
