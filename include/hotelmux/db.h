/* db.h -- the SQLite order ledger: one process-wide connection per database
 * file, shared by every worker, used from libuv's thread pool (lua_db.c).
 *
 * A connection is opened in WAL mode with a busy timeout and synchronous=FULL
 * (a committed booking survives a crash); every use holds the connection's
 * mutex, so changes/last_id belong to the statement that produced them.
 * Connections stay open for the life of the process (a ledger has a handful
 * of paths); hm_db_close_all() closes them at exit and in tests. */
#ifndef HM_DB_H
#define HM_DB_H

#include <stddef.h>
#include <stdint.h>

typedef struct hm_db_s hm_db_t;

typedef enum { HM_DBV_NULL = 0, HM_DBV_INT, HM_DBV_REAL, HM_DBV_TEXT } hm_db_type_t;

typedef struct {
    hm_db_type_t type;
    int64_t i;
    double d;
    char *s;        /* HM_DBV_TEXT: owned, NUL-terminated (may contain NULs: see len) */
    size_t len;
} hm_db_value_t;

typedef struct {
    int ok;                 /* 1: success; 0: err holds the reason */
    int is_query;           /* the last statement returned columns */
    size_t ncols, nrows;
    char **cols;            /* ncols names */
    hm_db_value_t *cells;   /* nrows * ncols, row-major */
    int64_t changes, last_id;
    char err[512];          /* "constraint: UNIQUE constraint failed: ..." etc. */
} hm_db_result_t;

/* The shared connection for path (opened on first use). Blocking: call from
 * the thread pool or at load time. On failure returns < 0 with err set. */
int hm_db_open(const char *path, hm_db_t **out, char *err, size_t errlen);

/* Run sql (one or more statements; params bind to every statement that has
 * parameters, by position) and fill res. Blocking. Returns HM_OK or < 0 (res->err). */
int hm_db_exec(hm_db_t *db, const char *sql, const hm_db_value_t *params, size_t nparams,
               hm_db_result_t *res);

void hm_db_result_free(hm_db_result_t *res);
void hm_db_value_free(hm_db_value_t *v);

/* Close every connection (no call may be in flight). */
void hm_db_close_all(void);

#endif
