/* test_db.c -- the SQLite ledger layer (core/db.c). */
#include "hm_test.h"
#include "hotelmux/common.h"
#include "hotelmux/db.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static char dbpath[256];

static hm_db_t *open_db(void)
{
    hm_db_t *db = NULL;
    char err[256];
    int rc = hm_db_open(dbpath, &db, err, sizeof(err));
    if (rc != HM_OK)
        fprintf(stderr, "open: %s\n", err);
    HM_CHECK_INT(rc, HM_OK);
    return db;
}

static hm_db_value_t text(const char *s)
{
    hm_db_value_t v = { .type = HM_DBV_TEXT, .s = (char *)s, .len = strlen(s) };
    return v;
}

static hm_db_value_t num(int64_t i)
{
    hm_db_value_t v = { .type = HM_DBV_INT, .i = i };
    return v;
}

static void setup(void)
{
    snprintf(dbpath, sizeof(dbpath), "/tmp/hm-test-db-%d.sqlite", (int)getpid());
    unlink(dbpath);
    char wal[300];
    snprintf(wal, sizeof(wal), "%s-wal", dbpath);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", dbpath);
    unlink(wal);
}

HM_TEST(schema_insert_select)
{
    setup();
    hm_db_t *db = open_db();
    hm_db_result_t r;
    HM_CHECK_INT(hm_db_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, ref TEXT UNIQUE, n INTEGER, x REAL);"
                                "CREATE INDEX t_n ON t(n);", NULL, 0, &r), HM_OK);
    HM_CHECK(r.ok && !r.is_query);
    hm_db_result_free(&r);
    hm_db_value_t p[3] = { text("A-1"), num(42), { .type = HM_DBV_REAL, .d = 1.5 } };
    HM_CHECK_INT(hm_db_exec(db, "INSERT INTO t(ref, n, x) VALUES (?, ?, ?)", p, 3, &r), HM_OK);
    HM_CHECK_INT(r.changes, 1);
    HM_CHECK_INT(r.last_id, 1);
    hm_db_result_free(&r);
    hm_db_value_t q[3] = { text("B-2"), { .type = HM_DBV_NULL }, { .type = HM_DBV_NULL } };
    HM_CHECK_INT(hm_db_exec(db, "INSERT INTO t(ref, n, x) VALUES (?, ?, ?)", q, 3, &r), HM_OK);
    HM_CHECK_INT(r.last_id, 2);
    hm_db_result_free(&r);
    HM_CHECK_INT(hm_db_exec(db, "SELECT id, ref, n, x FROM t ORDER BY id", NULL, 0, &r), HM_OK);
    HM_CHECK(r.is_query);
    HM_CHECK_INT(r.nrows, 2);
    HM_CHECK_INT(r.ncols, 4);
    HM_CHECK_STR(r.cols[1], "ref");
    HM_CHECK_STR(r.cells[1].s, "A-1");
    HM_CHECK_INT(r.cells[2].i, 42);
    HM_CHECK(r.cells[3].type == HM_DBV_REAL && r.cells[3].d == 1.5);
    HM_CHECK(r.cells[4 + 2].type == HM_DBV_NULL);
    hm_db_result_free(&r);
    /* an empty query result is a query with no rows */
    hm_db_value_t z = text("none");
    HM_CHECK_INT(hm_db_exec(db, "SELECT * FROM t WHERE ref = ?", &z, 1, &r), HM_OK);
    HM_CHECK(r.is_query && r.nrows == 0 && r.ncols == 4);
    hm_db_result_free(&r);
    /* the same path is the same connection */
    HM_CHECK(open_db() == db);
    hm_db_close_all();
}

HM_TEST(errors_are_recognisable)
{
    setup();
    hm_db_t *db = open_db();
    hm_db_result_t r;
    HM_CHECK_INT(hm_db_exec(db, "CREATE TABLE o(app TEXT, ref TEXT, PRIMARY KEY(app, ref))", NULL, 0, &r), HM_OK);
    hm_db_result_free(&r);
    hm_db_value_t p[2] = { text("demo"), text("R1") };
    HM_CHECK_INT(hm_db_exec(db, "INSERT INTO o VALUES (?, ?)", p, 2, &r), HM_OK);
    hm_db_result_free(&r);
    HM_CHECK(hm_db_exec(db, "INSERT INTO o VALUES (?, ?)", p, 2, &r) < 0);
    HM_CHECK(!r.ok);
    HM_CHECK(strncmp(r.err, "constraint: UNIQUE", 18) == 0);
    HM_CHECK(strstr(r.err, "o.app") != NULL);
    hm_db_result_free(&r);
    HM_CHECK(hm_db_exec(db, "SELEKT 1", NULL, 0, &r) < 0);
    HM_CHECK(strncmp(r.err, "sql: ", 5) == 0);
    hm_db_result_free(&r);
    /* too few parameters */
    HM_CHECK(hm_db_exec(db, "INSERT INTO o VALUES (?, ?)", p, 1, &r) < 0);
    HM_CHECK(strstr(r.err, "parameters") != NULL);
    hm_db_result_free(&r);
    /* an update reports its changes */
    hm_db_value_t u[1] = { text("R1") };
    HM_CHECK_INT(hm_db_exec(db, "UPDATE o SET app = 'x' WHERE ref = ?", u, 1, &r), HM_OK);
    HM_CHECK_INT(r.changes, 1);
    hm_db_result_free(&r);
    char err[128];
    hm_db_t *bad;
    HM_CHECK(hm_db_open("/nonexistent-dir/x/y.sqlite", &bad, err, sizeof(err)) < 0);
    hm_db_close_all();
}

HM_TEST(wal_mode)
{
    setup();
    hm_db_t *db = open_db();
    hm_db_result_t r;
    HM_CHECK_INT(hm_db_exec(db, "PRAGMA journal_mode", NULL, 0, &r), HM_OK);
    HM_CHECK(r.nrows == 1 && r.cells[0].type == HM_DBV_TEXT);
    if (r.nrows == 1)
        HM_CHECK_STR(r.cells[0].s, "wal");
    hm_db_result_free(&r);
    hm_db_close_all();
}

#define THREADS 4
#define PER 200

static void *writer(void *arg)
{
    intptr_t id = (intptr_t)arg;
    hm_db_t *db = NULL;
    char err[128];
    if (hm_db_open(dbpath, &db, err, sizeof(err)) != HM_OK)
        return (void *)1;
    for (int i = 0; i < PER; i++) {
        char ref[64];
        snprintf(ref, sizeof(ref), "T%d-%d", (int)id, i);
        hm_db_value_t p[1] = { text(ref) };
        hm_db_result_t r;
        if (hm_db_exec(db, "INSERT INTO c(ref) VALUES (?)", p, 1, &r) != HM_OK || r.changes != 1)
            return (void *)1;
        hm_db_result_free(&r);
    }
    return NULL;
}

HM_TEST(threads_share_one_connection)
{
    setup();
    hm_db_t *db = open_db();
    hm_db_result_t r;
    HM_CHECK_INT(hm_db_exec(db, "CREATE TABLE c(id INTEGER PRIMARY KEY, ref TEXT UNIQUE)", NULL, 0, &r), HM_OK);
    hm_db_result_free(&r);
    pthread_t th[THREADS];
    for (intptr_t i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, writer, (void *)i);
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        HM_CHECK(ret == NULL);
    }
    HM_CHECK_INT(hm_db_exec(db, "SELECT count(*) AS n FROM c", NULL, 0, &r), HM_OK);
    HM_CHECK_INT(r.cells[0].i, THREADS * PER);
    hm_db_result_free(&r);
    hm_db_close_all();
    /* durable: a fresh connection sees the rows */
    db = open_db();
    HM_CHECK_INT(hm_db_exec(db, "SELECT count(*) AS n FROM c", NULL, 0, &r), HM_OK);
    HM_CHECK_INT(r.cells[0].i, THREADS * PER);
    hm_db_result_free(&r);
    hm_db_close_all();
    setup();
}

HM_TEST_MAIN(HM_TEST_ENTRY(schema_insert_select), HM_TEST_ENTRY(errors_are_recognisable),
             HM_TEST_ENTRY(wal_mode), HM_TEST_ENTRY(threads_share_one_connection))
