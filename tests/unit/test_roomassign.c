/* test_roomassign.c -- greedy one-to-one room assignment (core/roomassign.c). */
#include "hm_test.h"

#include "hotelmux/common.h"
#include "hotelmux/roomassign.h"

#define T 0.55
#define MG 0.02

HM_TEST(empty_and_invalid)
{
    hm_room_pick_t p[2];
    HM_CHECK_INT(hm_room_assign(NULL, 0, 0, NULL, T, MG, NULL), HM_OK);
    HM_CHECK_INT(hm_room_assign(NULL, 2, 0, NULL, T, MG, p), HM_OK);   /* no candidates */
    HM_CHECK_INT(p[0].cand, -1);
    HM_CHECK_INT(p[1].merged, 0);
    float s[2] = {0.9f, 0.8f};
    int bad[2] = {0, 2};
    HM_CHECK_INT(hm_room_assign(s, 1, 2, bad, T, MG, p), HM_EINVAL);
    HM_CHECK_INT(hm_room_assign(s, 1, 2, NULL, T, MG, NULL), HM_EINVAL);
}

/* The case argmax gets wrong: both queries score candidate 0 best; the
 * stronger pair is decided first, and the other query gets candidate 1
 * though it scored it lower. */
HM_TEST(taken_room_goes_to_next_best)
{
    /*            c0: upgraded  c1: plain */
    float s[4] = {0.82f, 0.58f,   /* q0 "King Room" */
                  1.00f, 0.40f};  /* q1 "Deluxe King Room" */
    hm_room_pick_t p[2];
    HM_CHECK_INT(hm_room_assign(s, 2, 2, NULL, T, MG, p), HM_OK);
    HM_CHECK_INT(p[1].cand, 0);
    HM_CHECK_INT(p[1].merged, 1);
    HM_CHECK_INT(p[0].cand, 1);
    HM_CHECK_INT(p[0].merged, 1);
    HM_CHECK(p[0].score == 0.58f);
    HM_CHECK(p[0].second < 0);            /* no other free room when decided */
}

/* Below the threshold: reported, not merged, and the room stays free. */
HM_TEST(unmerged_takes_nothing)
{
    float s[4] = {0.50f, 0.10f,
                  0.45f, 0.00f};
    hm_room_pick_t p[2];
    HM_CHECK_INT(hm_room_assign(s, 2, 2, NULL, T, MG, p), HM_OK);
    HM_CHECK_INT(p[0].cand, 0);
    HM_CHECK_INT(p[0].merged, 0);
    HM_CHECK_INT(p[1].cand, 0);           /* still free for q1 */
    HM_CHECK_INT(p[1].merged, 0);
    float z[2] = {0.0f, 0.0f};            /* shares nothing: no candidate at all */
    HM_CHECK_INT(hm_room_assign(z, 1, 2, NULL, T, MG, p), HM_OK);
    HM_CHECK_INT(p[0].cand, -1);
    HM_CHECK(p[0].score == 0.0f);
}

/* The margin counts free rooms only: a look-alike room already merged with
 * a better query does not make the decision ambiguous. */
HM_TEST(margin_over_free_rooms)
{
    float alone[2] = {0.80f, 0.79f};
    hm_room_pick_t p[2];
    HM_CHECK_INT(hm_room_assign(alone, 1, 2, NULL, T, MG, p), HM_OK);
    HM_CHECK_INT(p[0].cand, 0);
    HM_CHECK_INT(p[0].merged, 0);         /* 0.80 vs 0.79: do not guess */
    HM_CHECK(p[0].second == 0.79f);
    float s[4] = {0.80f, 0.79f,
                  0.10f, 0.95f};          /* q1 takes c1 first */
    HM_CHECK_INT(hm_room_assign(s, 2, 2, NULL, T, MG, p), HM_OK);
    HM_CHECK_INT(p[1].cand, 1);
    HM_CHECK_INT(p[0].cand, 0);
    HM_CHECK_INT(p[0].merged, 1);
}

/* Candidates of one group are names of one room: taking one takes all, and
 * the margin is against other rooms. */
HM_TEST(groups)
{
    int g[3] = {0, 0, 2};
    float s[6] = {0.90f, 0.89f, 0.30f,
                  0.88f, 0.20f, 0.70f};
    hm_room_pick_t p[2];
    HM_CHECK_INT(hm_room_assign(s, 2, 3, g, T, MG, p), HM_OK);
    HM_CHECK_INT(p[0].cand, 0);
    HM_CHECK_INT(p[0].merged, 1);         /* 0.89 is the same room: no ambiguity */
    HM_CHECK(p[0].second == 0.30f);
    HM_CHECK_INT(p[1].cand, 2);           /* c0 and c1 both taken */
    HM_CHECK_INT(p[1].merged, 1);
}

/* Equal scores: the lower query, then the lower candidate. More queries
 * than rooms: the last one finds nothing free. */
HM_TEST(ties_and_leftovers)
{
    float s[6] = {0.9f, 0.9f,
                  0.9f, 0.9f,
                  0.9f, 0.9f};
    hm_room_pick_t p[3];
    for (int rep = 0; rep < 3; rep++) {
        HM_CHECK_INT(hm_room_assign(s, 3, 2, NULL, T, 0, p), HM_OK);
        HM_CHECK_INT(p[0].cand, 0);
        HM_CHECK_INT(p[1].cand, 1);
        HM_CHECK_INT(p[2].cand, -1);
        HM_CHECK_INT(p[2].merged, 0);
    }
}

HM_TEST_MAIN(HM_TEST_ENTRY(empty_and_invalid), HM_TEST_ENTRY(taken_room_goes_to_next_best),
             HM_TEST_ENTRY(unmerged_takes_nothing), HM_TEST_ENTRY(margin_over_free_rooms),
             HM_TEST_ENTRY(groups), HM_TEST_ENTRY(ties_and_leftovers))
