/* commit.h — the streaming commit: POST /v1/datasets/{name}/-/versions.
 *
 * The body is NDJSON (docs/API.md, "Commit"): a header line, then one line
 * per entry in canonical order, a large file's object ids possibly spread
 * over continuation lines. It is processed as it arrives, line by line, with
 * memory bounded by one line (at most 1 MiB) and the depth of the tree,
 * never by the number of entries.
 *
 * Contract: either the whole manifest is valid, every object it names is
 * stored with the size its position implies, and the version is published
 * in one synced batch (201 and the version), or nothing is visible and the
 * version's staged keys are gone — removed at once when the commit fails or
 * the client goes away, or at the next start after a crash.
 */
#ifndef CATALOGD_COMMIT_H
#define CATALOGD_COMMIT_H

#include "catalog.h"
#include "http.h"

/* Takes over the request's body; ds is borrowed (its id and name are
 * copied). Always responds, now (bad request) or when the body ends. */
void commit_start(struct catalog *c, struct http_req *r, const struct cat_dataset *ds);

#endif
