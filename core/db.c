/* db.c -- process-wide SQLite connections (see db.h). */
#include "hotelmux/db.h"
#include "hotelmux/common.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hm_db_s {
    char *path;
    sqlite3 *conn;
    pthread_mutex_t lock;
    struct hm_db_s *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static hm_db_t *registry;

static int setup(sqlite3 *c, char *err, size_t errlen)
{
    static const char *const pragmas =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
    char *msg = NULL;
    sqlite3_busy_timeout(c, 5000);
    if (sqlite3_exec(c, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up the database: %s", msg ? msg : sqlite3_errmsg(c));
        sqlite3_free(msg);
        return HM_EIO;
    }
    return HM_OK;
}

int hm_db_open(const char *path, hm_db_t **out, char *err, size_t errlen)
{
    if (path == NULL || path[0] == '\0') {
        snprintf(err, errlen, "empty database path");
        return HM_EINVAL;
    }
    pthread_mutex_lock(&registry_lock);
    for (hm_db_t *d = registry; d; d = d->next) {
        if (strcmp(d->path, path) == 0) {
            *out = d;
            pthread_mutex_unlock(&registry_lock);
            return HM_OK;
        }
    }
    int rc = HM_OK;
    hm_db_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = HM_ENOMEM;
        goto fail;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &d->conn, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 d->conn ? sqlite3_errmsg(d->conn) : "out of memory");
        rc = HM_EIO;
        goto fail;
    }
    if ((rc = setup(d->conn, err, errlen)) != HM_OK)
        goto fail;
    pthread_mutex_init(&d->lock, NULL);
    d->next = registry;
    registry = d;
    *out = d;
    pthread_mutex_unlock(&registry_lock);
    return HM_OK;
fail:
    pthread_mutex_unlock(&registry_lock);
    if (d) {
        if (d->conn)
            sqlite3_close(d->conn);
        free(d->path);
        free(d);
    }
    return rc;
}

void hm_db_value_free(hm_db_value_t *v)
{
    if (v->type == HM_DBV_TEXT)
        free(v->s);
    v->s = NULL;
    v->type = HM_DBV_NULL;
}

void hm_db_result_free(hm_db_result_t *res)
{
    for (size_t i = 0; i < res->ncols; i++)
        free(res->cols[i]);
    free(res->cols);
    for (size_t i = 0; i < res->nrows * res->ncols; i++)
        hm_db_value_free(&res->cells[i]);
    free(res->cells);
    res->cols = NULL;
    res->cells = NULL;
    res->ncols = res->nrows = 0;
}

static void set_error(hm_db_result_t *res, sqlite3 *c, int rc)
{
    const char *kind = "error";
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: kind = "constraint"; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: kind = "busy"; break;
    case SQLITE_ERROR: kind = "sql"; break;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN: kind = "io"; break;
    default: break;
    }
    snprintf(res->err, sizeof(res->err), "%s: %s", kind, sqlite3_errmsg(c));
    res->ok = 0;
}

static int bind_all(sqlite3_stmt *st, const hm_db_value_t *params, size_t nparams,
                    hm_db_result_t *res)
{
    int n = sqlite3_bind_parameter_count(st);
    if ((size_t)n > nparams) {
        snprintf(res->err, sizeof(res->err), "sql: statement has %d parameters, %zu given", n,
                 nparams);
        return HM_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        const hm_db_value_t *v = &params[i];
        int rc;
        switch (v->type) {
        case HM_DBV_INT: rc = sqlite3_bind_int64(st, i + 1, v->i); break;
        case HM_DBV_REAL: rc = sqlite3_bind_double(st, i + 1, v->d); break;
        case HM_DBV_TEXT: rc = sqlite3_bind_text(st, i + 1, v->s, (int)v->len, SQLITE_TRANSIENT); break;
        default: rc = sqlite3_bind_null(st, i + 1); break;
        }
        if (rc != SQLITE_OK) {
            snprintf(res->err, sizeof(res->err), "sql: cannot bind parameter %d", i + 1);
            return HM_EINVAL;
        }
    }
    return HM_OK;
}

/* Append the current row of st to res (columns set up on the first row). */
static int add_row(sqlite3_stmt *st, hm_db_result_t *res, size_t *cap)
{
    size_t nc = res->ncols;
    if (res->nrows == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        hm_db_value_t *p = realloc(res->cells, ncap * (nc ? nc : 1) * sizeof(*p));
        if (p == NULL)
            return HM_ENOMEM;
        res->cells = p;
        *cap = ncap;
    }
    hm_db_value_t *row = res->cells + res->nrows * nc;
    for (size_t i = 0; i < nc; i++) {
        hm_db_value_t *v = &row[i];
        memset(v, 0, sizeof(*v));
        switch (sqlite3_column_type(st, (int)i)) {
        case SQLITE_INTEGER:
            v->type = HM_DBV_INT;
            v->i = sqlite3_column_int64(st, (int)i);
            break;
        case SQLITE_FLOAT:
            v->type = HM_DBV_REAL;
            v->d = sqlite3_column_double(st, (int)i);
            break;
        case SQLITE_TEXT:
        case SQLITE_BLOB: {
            const void *p = sqlite3_column_type(st, (int)i) == SQLITE_TEXT
                                ? (const void *)sqlite3_column_text(st, (int)i)
                                : sqlite3_column_blob(st, (int)i);
            size_t len = (size_t)sqlite3_column_bytes(st, (int)i);
            v->type = HM_DBV_TEXT;
            v->len = len;
            v->s = malloc(len + 1);
            if (v->s == NULL) {
                for (size_t j = 0; j < i; j++)
                    hm_db_value_free(&row[j]);
                v->type = HM_DBV_NULL;
                return HM_ENOMEM;
            }
            if (len)
                memcpy(v->s, p, len);
            v->s[len] = '\0';
            break;
        }
        default:
            v->type = HM_DBV_NULL;
            break;
        }
    }
    res->nrows++;
    return HM_OK;
}

static int set_columns(sqlite3_stmt *st, hm_db_result_t *res)
{
    hm_db_result_free(res);
    int nc = sqlite3_column_count(st);
    res->ncols = (size_t)nc;
    res->cols = calloc((size_t)(nc ? nc : 1), sizeof(char *));
    if (res->cols == NULL)
        return HM_ENOMEM;
    for (int i = 0; i < nc; i++) {
        const char *name = sqlite3_column_name(st, i);
        if ((res->cols[i] = strdup(name ? name : "?")) == NULL)
            return HM_ENOMEM;
    }
    return HM_OK;
}

int hm_db_exec(hm_db_t *db, const char *sql, const hm_db_value_t *params, size_t nparams,
               hm_db_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->ok = 1;
    int rc = HM_OK;
    pthread_mutex_lock(&db->lock);
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(db->conn, tail, -1, &st, &tail);
        if (src != SQLITE_OK) {
            set_error(res, db->conn, src);
            rc = HM_EINVAL;
            break;
        }
        if (st == NULL) /* whitespace or a comment */
            continue;
        if ((rc = bind_all(st, params, nparams, res)) != HM_OK) {
            res->ok = 0;
            sqlite3_finalize(st);
            break;
        }
        int query = sqlite3_column_count(st) > 0;
        size_t cap = 0;
        if (query) {
            if ((rc = set_columns(st, res)) != HM_OK) {
                snprintf(res->err, sizeof(res->err), "out of memory");
                res->ok = 0;
                sqlite3_finalize(st);
                break;
            }
            res->is_query = 1;
        }
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            if (query && (rc = add_row(st, res, &cap)) != HM_OK) {
                snprintf(res->err, sizeof(res->err), "out of memory");
                res->ok = 0;
                break;
            }
        }
        if (rc == HM_OK && src != SQLITE_DONE) {
            set_error(res, db->conn, sqlite3_extended_errcode(db->conn));
            rc = HM_EIO;
        }
        sqlite3_finalize(st);
        if (rc != HM_OK)
            break;
        if (!query) {
            res->is_query = 0;
            res->changes = sqlite3_changes(db->conn);
            res->last_id = sqlite3_last_insert_rowid(db->conn);
        }
    }
    pthread_mutex_unlock(&db->lock);
    if (rc != HM_OK)
        hm_db_result_free(res);
    return rc;
}

void hm_db_close_all(void)
{
    pthread_mutex_lock(&registry_lock);
    hm_db_t *d = registry;
    registry = NULL;
    pthread_mutex_unlock(&registry_lock);
    while (d) {
        hm_db_t *next = d->next;
        sqlite3_close_v2(d->conn);
        pthread_mutex_destroy(&d->lock);
        free(d->path);
        free(d);
        d = next;
    }
}
