/* Telling `pdb -p`'s attacher that its script was refused (pdb_attacher.c). */
#ifndef EXECCHECK_PDB_ATTACHER_H
#define EXECCHECK_PDB_ATTACHER_H

#include "shim.h"

/* fd: the refused remote debugger script, open for reading. If it is pdb.attach's, its attacher
 * gets message (pdb's protocol: printed as "*** message") and its connection closed. */
void ec_pdb_attacher_refused(int fd, const char *message) EC_HIDDEN;

#endif
