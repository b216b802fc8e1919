/* The tripwire (tripwire.c): a walk of every object of every namespace, each checked as the file
 * its mapping shows. The preload face runs it before main() and after each guarded load; the
 * audit face runs it at the end of each load operation, for what ld.so loaded without telling it
 * (an auditing namespace: what an audit module listed after ours loads). */
#ifndef EXECCHECK_TRIPWIRE_H
#define EXECCHECK_TRIPWIRE_H

#include <link.h>
#include "check.h"
#include "sys.h"

/* Checks every object of every namespace (full = 1), or only those not seen by an earlier sweep
 * nor met by ec_tripwire_met (full = 0). Enforced denials are said on stderr and recorded for
 * `face` (EC_FACE_PRELOAD, EC_FACE_AUDIT); returns 1 if there was one (the caller stops the
 * process), 0 otherwise. main_map: the program's link map, where there is no libc to ask (the
 * audit face), else NULL. Serialized by ld.so's dl_load_write_lock (with libc), or by its load
 * lock (the audit face's callbacks). */
int ec_tripwire_sweep(int full, int face, const struct link_map *main_map) __attribute__((visibility("hidden")));
/* Before a load: forgets what was unloaded since the last walk (its memory may hold the newcomer).
 * Under ld.so's dl_load_write_lock. */
void ec_tripwire_forget_unloaded(void) __attribute__((visibility("hidden")));
/* The audit face decided on this object itself (la_objopen): a sweep leaves it alone. */
void ec_tripwire_met(const struct link_map *l) __attribute__((visibility("hidden")));
/* The object is being unloaded (la_objclose): a sweep passes over it while it is still listed
 * (objects closed at exit stay listed for good), and la_objopen of a new object in its memory
 * (ec_tripwire_met) makes it a decided one again. */
void ec_tripwire_gone(const struct link_map *l) __attribute__((visibility("hidden")));
/* The guard decided without a load (refused, or handed to libc as is): no sweep follows, so what
 * its checks kept is let go (the maps fd, the verdicts). */
void ec_tripwire_no_sweep(void) __attribute__((visibility("hidden")));
/* For the object that dl_iterate_phdr reports with this name pointer (its l_name) and load
 * address, loaded by a relative name: the directory that was current when it was loaded, as the
 * walk that first met it noted it (*cwd NULL: not known, the program changed directory before that
 * walk). Returns 1, or 0 when no walk has met it yet. Under ld.so's dl_load_write_lock. */
int ec_tripwire_load_cwd(const char *name, uintptr_t addr, const char **cwd) __attribute__((visibility("hidden")));
/* The start-up tripwire: a full sweep, exit 126 on an enforced denial. Nothing under the audit face. */
void ec_tripwire_start(void) __attribute__((visibility("hidden")));

#endif
