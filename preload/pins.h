/* Holding a checked file until the loader has mapped it (pins.c).
 *
 * A face checks a library on a descriptor of its own, closes it, and the loader opens the name a
 * moment later. If the checked inode is freed in between (its last name unlinked), its number can
 * be handed to a new file at once (ext4 does), and a verdict looked up by the mapped (dev, ino)
 * would be the old file's. Held by a one-page PROT_NONE mapping - no descriptor that the program
 * could see or close - the inode cannot be freed, so its entries in the verdict cache answer by
 * (dev, ino) alone (vcache.h, ec_vcache_hold) until they are let go: also when the name has
 * moved on since (a package upgrade renaming a new copy over it), where a look at the name would
 * find another file. */
#ifndef EXECCHECK_PINS_H
#define EXECCHECK_PINS_H

#include "sys.h"

#define EC_PINS_MAX 16

struct ec_pins {
    int n;
    struct {
        void *addr;
        uint64_t dev, ino;
        int counted; /* the verdict cache counted this hold (ec_vcache_hold) */
    } pin[EC_PINS_MAX];
};

#define EC_PINS_INIT {0, {{0, 0, 0, 0}}}

/* Holds the file fd (open for reading; st its statx): a regular file only, while there is room.
 * Returns 1 held, 0 not (then its verdict is found by the whole key of its name, or not at all). */
int ec_pins_hold(struct ec_pins *ps, int fd, const struct ec_statx *st) __attribute__((visibility("hidden")));
/* Lets every held file go (the loader's own mappings hold what it loaded). */
void ec_pins_let_go(struct ec_pins *ps) __attribute__((visibility("hidden")));

#endif
