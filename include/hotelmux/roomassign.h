/* roomassign.h -- one-to-one assignment of one supplier's rooms to candidate
 * rooms (room mapping).
 *
 * Within a hotel a supplier lists each of its rooms once, so mapping one
 * supplier's room list onto another list (a second supplier's, or the
 * canonical rooms) is an assignment problem, not n independent argmaxes:
 * when "Deluxe King Room" has taken "Deluxe Room, 1 King Bed", the plain
 * "King Room" must not take it too, and its best remaining candidate is the
 * right one even if it scored the deluxe room higher.
 *
 * hm_room_assign() decides greedily by score: the highest-scoring pair of
 * an undecided query and a free candidate is decided first, then the next.
 * A query is merged with its candidate when the score is at least the
 * threshold and beats the best *other still free* candidate room by the
 * margin (the policy's rule, with taken rooms out of the running); a merged
 * candidate room is then taken. A query that is not merged still reports its
 * best free candidate (for review sheets and ranking), but takes nothing.
 *
 * Greedy rather than the maximum-weight (Hungarian) assignment: each
 * decision is explained by one comparison ("the best pair left"), a strong
 * match is never traded for two medium ones, and queries left without a
 * partner (rooms only one supplier sells) simply stay unmerged.
 *
 * Pure function of its arguments: no globals, thread-safe. */
#ifndef HM_ROOMASSIGN_H
#define HM_ROOMASSIGN_H
#include <stddef.h>

typedef struct {
    int cand;     /* best free candidate when decided, -1: none scored above 0 */
    float score;  /* its score (0 when cand is -1) */
    float second; /* best free candidate of another room at that moment, -1: no other free room */
    int merged;   /* 1: score >= threshold and score - max(second, 0) >= margin */
} hm_room_pick_t;

/* scores: nq x nc, row-major (query i, candidate j). group: candidate j's
 * room (candidates with equal group are names of one room: taking one takes
 * all, and the margin compares against other rooms only); NULL = every
 * candidate is its own room. Values must be in 0..nc-1. out: nq picks.
 * Ties: the lower query, then the lower candidate index (deterministic).
 * Returns HM_OK, HM_EINVAL (bad argument) or HM_ENOMEM. */
int hm_room_assign(const float *scores, size_t nq, size_t nc, const int *group, double threshold,
                   double margin, hm_room_pick_t *out);

#endif
