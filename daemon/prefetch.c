// SPDX-License-Identifier: Apache-2.0
// Prefetch policy: pure decisions of what to fetch ahead (see prefetch.h). Every rule here was
// taken as it stood from its caller (the view's READs and opens, the tracker, the loader, the
// fetcher's sizing); the measurements behind each are in the callers' comments.
#include "prefetch.h"

void prefetch_seq_init(struct prefetch_seq *s)
{
	s->next_off = 0;
	s->prefetched = 0;
	s->window = 1;
}

bool prefetch_seq_read(struct prefetch_seq *s, uint64_t off, size_t len, uint64_t last_block,
		       unsigned max_blocks, struct prefetch_range *ret_plan)
{
	bool new_stream = false;
	ret_plan->first = 0;
	ret_plan->count = 0;
	if (off == s->next_off && off != 0) {
		new_stream = s->window == 1;
		if (s->window < max_blocks)
			s->window = s->window * 2 > max_blocks ? max_blocks : s->window * 2;
		uint64_t start = last_block + 1;
		if (s->prefetched > start)
			start = s->prefetched;
		uint64_t end = last_block + 1 + s->window;
		if (end > start) {
			ret_plan->first = start;
			ret_plan->count = end - start;
			s->prefetched = end;
		}
	} else if (off != s->next_off) {
		s->window = 1;
		s->prefetched = 0;
	}
	s->next_off = off + len;
	return new_stream;
}

struct prefetch_range prefetch_head(uint64_t next, unsigned fill_blocks)
{
	struct prefetch_range r = {0, 0};
	if (next < fill_blocks) {
		r.first = next;
		r.count = fill_blocks - next;
	}
	return r;
}

bool prefetch_dir_is_next(const struct prefetch_dir *d, long idx)
{
	return idx > 0 && (size_t)idx == d->idx + 1;
}

void prefetch_dir_open(struct prefetch_dir *d, const struct prefetch_dir_open *in,
		       struct prefetch_dir_plan *ret_plan)
{
	struct prefetch_dir_plan p = {0};
	long idx = in->idx;
	bool same = idx >= 0 && in->same;
	if (same && (size_t)idx == d->idx + 1) {
		d->run++;
	} else if (!same || (size_t)idx != d->idx) {
		d->run = 0;
		d->ahead = 0;
		d->spared = 0;
		p.new_dir = !same;
	}
	if (idx >= 0)
		d->idx = (size_t)idx;
	if (idx >= 0 && d->run >= 1 && (size_t)idx + 1 < in->count &&
	    d->spared != (size_t)idx + 1) {
		p.spare = (size_t)idx + 1;
		d->spared = p.spare;
	}
	if (in->exact && idx >= 0 && d->run >= 2) {
		p.from = (size_t)idx + 1 > d->ahead ? (size_t)idx + 1 : d->ahead;
		p.to = (size_t)idx + 1 + in->readahead;
		if (p.to > in->count)
			p.to = in->count;
		if (p.to > p.from)
			d->ahead = p.to;
		else
			p.from = p.to = 0;
	}
	*ret_plan = p;
}

bool prefetch_fill_fits(uint64_t size, uint32_t block_size, unsigned readahead,
			uint64_t *ret_nblocks)
{
	uint64_t nblocks = (size + block_size - 1) / block_size;
	if (nblocks > readahead)
		return false;
	*ret_nblocks = nblocks;
	return true;
}

uint64_t prefetch_stream_window(const struct prefetch_stream *in)
{
	double secs = in->ts_ns > in->run_start_ns ? (in->ts_ns - in->run_start_ns) / 1e9 : 0;
	double speed = secs > 0 ? in->run_pages * (double)in->page_size / secs : 0;
	/* Four seconds of the stream's speed: a block from a UFS that caps each connection takes
	 * long to arrive, and only blocks in flight add throughput. */
	uint64_t window = speed > 0 ? (uint64_t)(speed * 4) : in->prefetch_max;
	if (window < 4 * in->block_size)
		window = 4 * in->block_size;
	if (window > in->cap)
		window = in->cap;
	return window;
}

struct prefetch_range prefetch_stream_blocks(uint64_t next, uint64_t window, uint32_t block_size)
{
	struct prefetch_range r = {next / block_size, (window + block_size - 1) / block_size};
	return r;
}

unsigned prefetch_load_window(unsigned fetch_concurrency)
{
	return fetch_concurrency / 2 ? fetch_concurrency / 2 : 1;
}

void prefetch_load_at(struct prefetch_load *s, uint64_t b)
{
	if (s->pf <= b) {
		s->pf = b + 1;
		s->ahead = 0;
	} else if (s->ahead) {
		s->ahead--; /* b was one of them */
	}
}

bool prefetch_load_next(struct prefetch_load *s, uint64_t nblocks, unsigned window,
			bool (*own)(void *arg, uint64_t b), void *arg, uint64_t *ret_block)
{
	for (; s->ahead < window && s->pf < nblocks; s->pf++)
		if (own(arg, s->pf)) {
			*ret_block = s->pf++;
			s->ahead++;
			return true;
		}
	return false;
}

unsigned prefetch_max_inflight(unsigned asked, uint64_t tier_quota, uint32_t block_size)
{
	unsigned n = asked ? asked : 16;
	/* Blocks fetched ahead must not push out blocks not yet read: a small tier gets a small
	 * window (a quarter of the top tier at most). */
	uint64_t room = tier_quota / 4 / block_size;
	if (room < 1)
		room = 1;
	if (n > room)
		n = (unsigned)room;
	return n;
}

unsigned prefetch_fill_blocks(unsigned max_requests, uint32_t part_size, uint32_t block_size)
{
	uint64_t bytes = (uint64_t)max_requests * part_size;
	uint64_t n = (bytes + block_size - 1) / block_size;
	return n ? (unsigned)n : 1;
}
