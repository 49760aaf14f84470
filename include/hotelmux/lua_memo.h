/* lua_memo.h -- hm.memo: the script's side of the answer memo (answer_memo.h).
 *
 *   hm.memo.put(route, currency, body, answer_key, opts) -> true | nil, err
 *       the request to `route` with this Currency header (false: none) and
 *       this exact body is answered by the stored answer `answer_key`. opts:
 *         prefix          text before the answer (up to the session id)
 *         after           when given, a new random 16-hex-digit session id
 *                         goes between prefix and after on each hit
 *         session_header  send that id as Session-Id too
 *         live_at         wall-clock time from which the request is not
 *                         answered from the memo (the stay turns live)
 *         ra_fraction, ra_min_reads   refresh-ahead: such an answer goes
 *                         to the script about once a second per entry
 *         ra_per_s        ... and at most this many a second in all (this
 *                         worker; 0 or absent: no bound)
 *         handle          an integer the script knows the entry by
 *       Refused (nil, "ari") in ARI requests.
 *   hm.memo.ticket(authorization, exp, limits) -> true | nil, err
 *       a verified ticket: the exact header, its expiry, and its app's
 *       limits as { { key, rate, burst }, ... } (what hm.limit.take takes)
 *   hm.memo.drain() -> { [handle] = hits }   entries served since last drain
 *   hm.memo.clear()                           forget the entries (not the tickets)
 *   hm.memo.stats() -> { entries, tickets }
 * The memo belongs to this worker's Lua state: a reload starts empty. */
#ifndef HM_LUA_MEMO_H
#define HM_LUA_MEMO_H
#include "hotelmux/lua_vm.h"
/* Sets hm.memo on the table at the top of the stack. */
void hm_lua_memo_open(lua_State *L, hm_vm_t *vm);
#endif
