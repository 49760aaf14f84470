/* mapcmd.h -- `hotelmux map`: explain, batch-match and benchmark the room
 * mapping model (roomname.h) from the command line.
 *
 *   hotelmux map [--policy F] [--threshold T] "NAME A" "NAME B"
 *       both parsed attribute sets, the score components and the decision
 *       (merge_threshold and min_margin of scripts/policies/mapping.lua, the
 *       file hotelRates uses, unless --threshold overrides)
 *   hotelmux map --best QUERIES CANDIDATES
 *       (files, one name a line) prints query<TAB>best<TAB>score<TAB>same|new
 *       per query (same: the policy would merge)
 *   hotelmux map --suggest [--supplier S] [--hotel H] ROOMS CANONICAL
 *       a review sheet (TSV): decision yes|no, score, supplier, hotel_id, room,
 *       room_name, canonical_room_id, canonical_name; lines "ID<TAB>NAME"
 *   hotelmux map --write-table REVIEW [--table EXISTING.csv]
 *       the mapping-table CSV (room_mapping_csv) from the confirmed ("yes")
 *       lines of a review sheet, merged into EXISTING; on stdout
 *   hotelmux map --matrix QUERIES CANDIDATES
 *       every score, one line per query (tab-separated, candidate file order,
 *       empty candidate lines skipped), for evaluation programs
 *   hotelmux map --bench [PAIRS]
 *       pairs scored per second on one core
 *   hotelmux map --classify TRAIN TEST
 *       TRAIN lines "label<TAB>text"; prints the predicted label per TEST line */
#ifndef HM_MAPCMD_H
#define HM_MAPCMD_H
/* Placeholder only: every decision takes the threshold from the policy file
 * or --threshold (the command fails when it has neither). */
#define HM_MAP_DEFAULT_THRESHOLD 1.0
/* argv: the arguments after "map". Returns the exit code (0 ok, 1 error, 2 usage). */
int hm_mapcmd_main(int argc, char **argv);
#endif
