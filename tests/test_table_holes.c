/*
 * test_table_holes.c - the creation-order array with holes (core/table.c)
 * against a model: wr__order_upper for every layout of holes and ties up
 * to 12 slots, then random inserts and removes checking, after each one,
 * that the last slot is never a hole, n_holes counts the holes, every
 * worker's idx is its slot, orders never decrease, wr__index_of finds
 * each worker and retain_cursor keeps its place across close-ups.
 * Builds a bare struct wr_runtime: only the table fields are used, so no
 * lock is needed.  Links src/libwr-core.la for the internal functions.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt.h"

#define SLOTS 12

/* wr__order_upper's contract: no worker before r is above order, none
 * at or after it is at or below it. */
static void
check_upper(const struct wr_runtime *rt, uint64_t order, const char *what)
{
	size_t r = wr__order_upper(rt, order);

	cr_assert_leq(r, rt->n_workers, "%s: %zu past the end", what, r);
	for (size_t i = 0; i < rt->n_workers; i++) {
		const struct worker *w = rt->workers[i];
		if (w == NULL)
			continue;
		if (i < r)
			cr_assert_leq(w->order, order, "%s, order %llu: slot %zu "
			              "(%llu) is before %zu", what,
			              (unsigned long long)order, i,
			              (unsigned long long)w->order, r);
		else
			cr_assert_gt(w->order, order, "%s, order %llu: slot %zu "
			             "(%llu) is at/after %zu", what,
			             (unsigned long long)order, i,
			             (unsigned long long)w->order, r);
	}
}

Test(table_holes, order_upper_every_layout)
{
	static struct worker ws[SLOTS];
	struct worker *slots[SLOTS];
	struct wr_runtime *rt = calloc(1, sizeof(*rt));
	char what[64];

	cr_assert_not_null(rt);
	rt->workers = slots;
	for (size_t n = 1; n <= SLOTS; n++) {
		/* mask: bit i set = slot i is a hole; the last is never one */
		for (unsigned mask = 0; mask < (1u << (n - 1)); mask++) {
			/* orders 2, 2, 4, 4, 6, ...: ties and gaps */
			for (size_t i = 0; i < n; i++) {
				ws[i].order = 2 * (i / 2 + 1);
				slots[i] = (mask >> i) & 1 ? NULL : &ws[i];
			}
			rt->n_workers = n;
			for (uint64_t o = 0; o <= 2 * (n / 2 + 2); o++) {
				snprintf(what, sizeof(what), "n %zu holes %#x", n,
				         mask);
				check_upper(rt, o, what);
			}
		}
	}
	free(rt);
}

/* ---- random inserts and removes against a model --------------------- */

#define OPS 20000
#define MAXW 600

static void
check_table(const struct wr_runtime *rt, struct worker **model, size_t nm)
{
	size_t holes = 0, k = 0;
	uint64_t prev = 0;

	cr_assert(rt->n_workers == 0 ||
	          rt->workers[rt->n_workers - 1] != NULL, "last slot a hole");
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w == NULL) {
			holes++;
			continue;
		}
		cr_assert_eq(w->idx, i, "idx %zu in slot %zu", w->idx, i);
		cr_assert_eq(wr__index_of(rt, w), i);
		cr_assert_geq(w->order, prev, "order goes back at %zu", i);
		prev = w->order;
		cr_assert_lt(k, nm);
		cr_assert_eq(w, model[k], "slot %zu is not model[%zu]", i, k);
		k++;
	}
	cr_assert_eq(k, nm, "%zu workers in the array, %zu in the model", k,
	             nm);
	cr_assert_eq(holes, rt->n_holes, "%zu holes, n_holes %zu", holes,
	             rt->n_holes);
	cr_assert_eq(wr__workers_held(rt), nm);
	cr_assert(holes <= 64 || holes * 4 <= rt->n_workers,
	          "%zu holes in %zu slots", holes, rt->n_workers);
	cr_assert_leq(rt->first_live, rt->n_workers);
	for (size_t i = 0; i < rt->first_live; i++)
		cr_assert_null(rt->workers[i], "a worker before first_live");
}

/* The model index of the worker at or after retain_cursor (nm if none). */
static size_t
cursor_model(const struct wr_runtime *rt)
{
	size_t k = 0;

	for (size_t i = 0; i < rt->n_workers; i++) {
		if (rt->workers[i] == NULL)
			continue;
		if (i >= rt->retain_cursor)
			return k;
		k++;
	}
	return k;
}

Test(table_holes, random_inserts_and_removes_keep_every_invariant)
{
	static struct worker *model[MAXW];
	struct wr_runtime *rt = calloc(1, sizeof(*rt));
	uint64_t next = 1;
	size_t nm = 0;

	cr_assert_not_null(rt);
	srand(12345);
	for (int op = 0; op < OPS; op++) {
		int r = rand() % 100;
		/* phases: mostly inserts, then mostly removes, by turns */
		bool grow = (op / 2000) % 2 == 0;

		if (nm < MAXW && (nm == 0 || r < (grow ? 70 : 25))) {
			struct worker *w = calloc(1, sizeof(*w));
			cr_assert_not_null(w);
			snprintf(w->info.ref.worker_id,
			         sizeof(w->info.ref.worker_id),
			         "w-%014llx-%08x", (unsigned long long)next++,
			         (unsigned)rand());
			cr_assert_eq(wr__reserve_worker_slot(rt), 0);
			wr__insert_worker(rt, w);
			model[nm++] = w;
		} else {
			/* oldest, newest or any, as retention, a Backend */
			size_t k = r % 3 == 0 ? 0
			         : r % 3 == 1 ? nm - 1
			                      : (size_t)rand() % nm;
			size_t before, after;
			struct worker *w = model[k];

			rt->retain_cursor = (size_t)rand() % (rt->n_workers + 1);
			before = cursor_model(rt);
			cr_assert_eq(wr__find_worker(rt, w->info.ref.worker_id), w);
			wr__remove_worker(rt, w);
			cr_assert_null(wr__find_worker(rt, w->info.ref.worker_id));
			memmove(&model[k], &model[k + 1],
			        (nm - k - 1) * sizeof(*model));
			nm--;
			after = cursor_model(rt);
			/* the worker the cursor was at (or the next one if it
			 * was the one removed) is still where it points */
			cr_assert_eq(after, before > k ? before - 1 : before,
			             "op %d: cursor moved from model %zu to %zu "
			             "(removed %zu)", op, before, after, k);
			free(w);
		}
		check_table(rt, model, nm);
		for (size_t i = 0; i < nm; i += 1 + nm / 16)
			check_upper(rt, model[i]->order, "random");
	}
	for (size_t i = 0; i < nm; i++)
		free(model[i]);
	free(rt->workers);
	free(rt->buckets);
	free(rt);
}
