/* Holding a checked file until the loader has mapped it (see pins.h). */
#include "pins.h"
#include "vcache.h"

#define PIN_PAGE 4096

int ec_pins_hold(struct ec_pins *ps, int fd, const struct ec_statx *st)
{
    void *p;
    if (!ps || ps->n >= EC_PINS_MAX || (st->stx_mode & EC_S_IFMT) != EC_S_IFREG) return 0;
    p = ec_mmap(0, PIN_PAGE, EC_PROT_NONE, EC_MAP_PRIVATE, fd, 0);
    if (ec_mmap_failed(p)) return 0; /* an O_PATH descriptor, no memory: not held */
    ps->pin[ps->n].addr = p;
    ps->pin[ps->n].dev = ec_makedev(st->stx_dev_major, st->stx_dev_minor);
    ps->pin[ps->n].ino = st->stx_ino;
    ps->pin[ps->n].counted = ec_vcache_hold(ps->pin[ps->n].dev, ps->pin[ps->n].ino);
    ps->n++;
    return 1;
}

void ec_pins_let_go(struct ec_pins *ps)
{
    while (ps && ps->n > 0) {
        ps->n--;
        /* the cache first: once unmapped, the inode may be freed and its number handed on */
        if (ps->pin[ps->n].counted) ec_vcache_let_go(ps->pin[ps->n].dev, ps->pin[ps->n].ino);
        ec_munmap(ps->pin[ps->n].addr, PIN_PAGE);
    }
}
