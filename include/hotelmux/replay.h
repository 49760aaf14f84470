/* replay.h -- `hotelmux replay`: a connector operation against a saved
 * supplier answer, offline (see docs/connectors.md). */
#ifndef HM_REPLAY_H
#define HM_REPLAY_H
/* argv: the arguments after "replay". Returns the process exit code:
 * 0 the connector returned (a result or a typed error), 1 it raised, 2 usage. */
int hm_replay_main(int argc, char **argv);
#endif
