/* mapcmd.h -- `hotelmux map`: explain, batch-match and benchmark the room
 * mapping model (roomname.h) from the command line.
 *
 *   hotelmux map [--threshold T] "NAME A" "NAME B"
 *       both parsed attribute sets, the score components and the decision
 *   hotelmux map --best QUERIES CANDIDATES
 *       (files, one name a line) prints query<TAB>best<TAB>score per query
 *   hotelmux map --matrix QUERIES CANDIDATES
 *       every score, one line per query (tab-separated, candidate file order,
 *       empty candidate lines skipped), for evaluation programs
 *   hotelmux map --bench [PAIRS]
 *       pairs scored per second on one core
 *   hotelmux map --classify TRAIN TEST
 *       TRAIN lines "label<TAB>text"; prints the predicted label per TEST line */
#ifndef HM_MAPCMD_H
#define HM_MAPCMD_H
/* Default merge threshold (scripts/policies/mapping.lua holds the tuned one). */
#define HM_MAP_DEFAULT_THRESHOLD 0.55
/* argv: the arguments after "map". Returns the exit code (0 ok, 1 error, 2 usage). */
int hm_mapcmd_main(int argc, char **argv);
#endif
