/* The preload face's parts (preload_face.c starts them). Main namespace only: they need libc. */
#ifndef EXECCHECK_PRELOAD_FACE_H
#define EXECCHECK_PRELOAD_FACE_H

#include "check.h"
#include "sys.h"
#include "tripwire.h"

/* The dlopen guard (dlopen_guard.c): freezes what ld.so froze at start (LD_LIBRARY_PATH,
 * LD_PRELOAD, the program's path), before main() can change the environment. */
void ec_dlopen_guard_start(void) __attribute__((visibility("hidden")));
/* Finds libc's dlopen and dlmopen (each may be missing: musl has no dlmopen), once: at start, or at
 * the first dlopen() if that comes from a library's constructor first. */
void ec_dlopen_guard_resolve(void) __attribute__((visibility("hidden")));

/* Will the shim's constructor, when it runs, arm propagation (a preloaded shim beside glibc)? For
 * an exec made before it, from a constructor of a library glibc initializes first. */
int ec_preload_face_will_propagate(void) __attribute__((visibility("hidden")));

/* Finds libc's fopen and fopen64 for the wrappers of python_fopen.c, once, at start. */
void ec_fopen_start(void) __attribute__((visibility("hidden")));
/* The same for open and open64 (python_open.c). */
void ec_open_start(void) __attribute__((visibility("hidden")));

/* 1 when each of needed[0..n-1] (n <= 64) names an object of the main namespace by its l_name or
 * SONAME - ld.so would load none of them - and target is no object's l_name; 0 otherwise
 * (loaded_deps.c). Serialized by ld.so's dl_load_write_lock. */
/* dl_iterate_phdr (0 without libc) with signals held back until the walk is over: every walk of
 * the preload face goes through it. */
struct dl_phdr_info;
int ec_loaded_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data) __attribute__((visibility("hidden")));
int ec_loaded_satisfies(const char *target, const char *const *needed, int n) __attribute__((visibility("hidden")));
/* dlsym(RTLD_DEFAULT, name) without dlsym(): the default-version definition in the first object of
 * the link maps that has one, read from the objects' own hash tables in memory (loaded_deps.c).
 * NULL where there is none (or an IFUNC, or TLS). Unlike a dlsym() that fails, it leaves no
 * dlerror() and makes glibc allocate nothing, and it needs no libdl (before glibc 2.34). */
void *ec_loaded_symbol(const char *name) __attribute__((visibility("hidden")));
/* The same for n <= 16 names in one walk (each object's tables read once): out[i] for names[i]. */
void ec_loaded_symbol_many(const char *const *names, void **out, int n) __attribute__((visibility("hidden")));
/* dlsym(RTLD_NEXT, name) from this shim, read the same way: from the objects after this one. */
void *ec_loaded_next(const char *name) __attribute__((visibility("hidden")));
/* The same for n <= 16 names in one walk (each object's tables read once): out[i] for names[i]. */
void ec_loaded_next_many(const char *const *names, void **out, int n) __attribute__((visibility("hidden")));
/* ec_loaded_next(name), kept in *slot: the libc function behind a wrapper, found at start (in one
 * thread: dl_iterate_phdr takes a lock of ld.so that fork() does not reset, so a lookup in the
 * child of a threaded parent could wait forever), or here, for a call that comes first, from
 * another library's constructor. */
void *ec_loaded_next_once(void **slot, const char *name) __attribute__((visibility("hidden")));
/* ec_loaded_next of n <= 16 names in one walk, each kept in *slots[i] (found at start). */
void ec_loaded_next_into(const char *const *names, void **const *slots, int n) __attribute__((visibility("hidden")));
/* The link-map name (l_name) of the object that holds addr, NULL if none does. */
const char *ec_loaded_name_of(const void *addr) __attribute__((visibility("hidden")));
/* The directories the ld.so of this process searches last, read once from its memory
 * (ldsysdirs.h: "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib:/usr/lib"); NULL when not
 * found (ld.so run as the program, or another thread is reading them this moment). */
const char *ec_loaded_loader_dirs(void) __attribute__((visibility("hidden")));
/* This process's $LIB ("lib/x86_64-linux-gnu", "lib64", "lib32") in out, NUL-terminated, from
 * those directories; returns its length, 0 when they are not found or it is longer than cap - 1. */
size_t ec_loaded_loader_lib(char *out, size_t cap) __attribute__((visibility("hidden")));
/* The directory of the process's libc.so.6 as ld.so named it, without its leading '/'
 * ("lib/x86_64-linux-gnu"; "usr/lib/x86_64-linux-gnu" when found through LD_LIBRARY_PATH); the
 * same conventions. */
size_t ec_loaded_libc_dir(char *out, size_t cap) __attribute__((visibility("hidden")));
struct dl_phdr_info;
/* Does one of the object's loadable segments hold addr? */
int ec_object_holds(const struct dl_phdr_info *info, uintptr_t addr) __attribute__((visibility("hidden")));

#endif
