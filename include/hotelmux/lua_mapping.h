/* lua_mapping.h -- hm.mapping: room-name attributes and similarity for Lua
 * (the model is core/roomname.c; the tunable rules are
 * scripts/policies/mapping.lua).
 *
 *   hm.mapping.parse(name) -> { normalised=, tier={..}, unit={..}, beds={..},
 *       bed_count=, bed_alt=, view={..}, partial_view=, tower=, accessible=,
 *       smoking="yes"|"no"|nil, occupancy=, bedrooms=, sofa_bed=, rate_words={..} }
 *   hm.mapping.score(a, b [, explain]) -> score 0..1 [, { tokens=, chars=,
 *       similarity=, penalty=, conflicts={"bed_type", ...} }]
 *   hm.mapping.best(query, candidates) -> index (1-based), score | nil
 *   hm.mapping.assign(names, rooms, threshold [, margin]) -> { { room = j | nil,
 *       score =, merged = bool }, ... }: one supplier's names one-to-one onto
 *       rooms (each a name or a list of names; core/roomassign.c): best pairs
 *       first, a merged room is taken
 *   hm.mapping.read_table(path) -> CSV text | nil, err: a mapping table file
 *       (".csv" only; a relative path is looked up like require: the
 *       config's directory, then the lua_path folders; the config key
 *       room_mapping_csv names it)
 * parse/score/best/assign are pure functions; assign's buffers are Lua
 * userdata (collected, never leaked on an error). */
#ifndef HM_LUA_MAPPING_H
#define HM_LUA_MAPPING_H
#include <lua.h>
/* Pushes the hm.mapping table. */
void hm_lua_mapping_open(lua_State *L);
#endif
