/* The directories a glibc ld.so searches last, read from that ld.so itself.
 *
 * Where a library is found when nothing else names it depends on the loader's built-in list
 * (SYSTEM_DIRS: its slibdir and libdir, and /lib and /usr/lib as Debian builds it): Debian's
 * x86_64 one searches /lib/x86_64-linux-gnu, Fedora's /lib64 and /usr/lib64, Arch's /usr/lib.
 * No interface tells it (dlinfo's RTLD_DI_SERINFO mixes in the program's RPATH and
 * LD_LIBRARY_PATH, unmarked), but glibc keeps the list as one constant: NUL-separated absolute
 * directories, each ending in '/' ("/lib64/\0/usr/lib64/\0"), which no other string of ld.so
 * resembles. The dlopen guard reads it from the ld.so mapped in its process, the audit from the
 * image's ld.so file. $LIB is the first of them (glibc's DL_DST_LIB, its slibdir) without the
 * leading "/" or "/usr/". */
#ifndef EXECCHECK_LDSYSDIRS_H
#define EXECCHECK_LDSYSDIRS_H

#include <stddef.h>

/* The longest such list in image[0..len) (the first of the longest): written to out as "/lib64:/usr/lib64" (':'-separated,
 * without the trailing '/'), terminated. Returns its length, or 0 when there is none (or it does
 * not fit in cap). An entry must be 2..255 printable bytes with a "/lib" in it; a list
 * has 1..8 of them. */
size_t ec_ld_sysdirs_find(const void *image, size_t len, char *out, size_t cap);

/* The same list in the loader mapped at base (its load address, AT_BASE): read from its read-only
 * data segments first, then from its code, where a linker without separate code puts the
 * constants (aarch64's: 150 KB). base must hold a whole mapped ELF object (its ELF header and
 * program headers in its first segment, as ld.so's are). Returns the length, or 0. */
size_t ec_ld_sysdirs_mapped(const void *base, char *out, size_t cap);

/* $LIB of the loader whose system directories are sysdirs (as found above): the first one
 * without its leading "/" or "/usr/" ("lib64", "lib/x86_64-linux-gnu", "lib" for /usr/lib).
 * Returns its length, or 0. */
size_t ec_ld_sysdirs_lib(const char *sysdirs, char *out, size_t cap);

#endif
