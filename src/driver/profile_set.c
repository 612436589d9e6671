/*
 * driver/profile_set.c - the lifetime of a loaded profiles file
 * (driver/profile_set.h) and what the public API reads of it.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "worker-runtime.h"
#include "driver/exec.h"
#include "driver/profile_set.h"

static void
exec_profile_clear(struct wr__exec_profile *p)
{
	size_t i;

	free(p->name);
	for (i = 0; i < p->argc; i++)
		free(p->argv[i]);
	free(p->argv);
	for (i = 0; i < p->n_env; i++)
		free(p->env[i]);
	free(p->env);
	free(p->cwd);
}

bool
wr_profile_set_same_source(const struct wr_profile_set *a,
                           const struct wr_profile_set *b)
{
	return a != NULL && b != NULL && a->source_len == b->source_len &&
	       memcmp(a->source, b->source, a->source_len) == 0;
}

void
wr_profile_set_free(struct wr_profile_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		exec_profile_clear(&set->exec[i]);
	free(set->exec);
	free(set->profiles);
	free(set->default_name);
	free(set->source);
	free(set);
}

const struct wr_profile *
wr_profile_set_profiles(const struct wr_profile_set *set, size_t *n)
{
	if (set == NULL) {
		if (n != NULL)
			*n = 0;
		return NULL;
	}
	if (n != NULL)
		*n = set->n;
	return set->profiles;
}

const char *
wr_profile_set_default(const struct wr_profile_set *set)
{
	return set != NULL ? set->default_name : NULL;
}
