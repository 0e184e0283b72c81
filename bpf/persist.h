/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Persistence (ipvsadm -p / -M): a template per (service, client prefix)
 * sends every new flow of that client to the same real while it lives. It
 * lives persist_ns after its last use: a new flow through it (as IPVS
 * restarts the template's timer for each connection it sends), or a forward
 * packet of one of its flows (refreshed when the flow's own deadline is, at
 * most once a second). As in IPVS, a quiescent real (weight 0) keeps its
 * persistent clients; a real removed from the service does not, nor one that
 * health checks evicted (XLVS_REAL_F_EVICT_*: its flows are being ended, so a
 * client's next flow must go to a real that is up; the new pick replaces the
 * template).
 */
#ifndef XLVS_PERSIST_H
#define XLVS_PERSIST_H

#include "maps.h"
#include "addr.h"
#include "conns.h"

static __always_inline void persist_key_of(struct xlvs_persist_key *pk, __u32 svc_id,
					   const struct xlvs_svc *svc, const __be32 *client, __u8 family)
{
	addr_copy(pk->client, client);
	addr_mask(pk->client, svc->persist_plen, family);
	pk->svc_id = svc_id;
	pk->family = family;
	pk->pad[0] = pk->pad[1] = pk->pad[2] = 0;
}

/* The real a live template holds for this client, or XLVS_NO_REAL. Taking
 * it is a use, so the template lives persist_ns from now: without this, a
 * client whose flows never send a forward packet after the first (one UDP
 * datagram per flow, or a TCP connection the real closes first) would lose
 * its real persist_ns after the template was made, however busy it is. */
static __always_inline __u32 persist_lookup(__u32 svc_id, const struct xlvs_svc *svc, const __be32 *client,
					    __u8 family, __u64 now)
{
	struct xlvs_persist_key pk;
	struct xlvs_persist *t;
	struct xlvs_real *r;
	__u32 real_id;

	persist_key_of(&pk, svc_id, svc, client, family);
	t = bpf_map_lookup_elem(&persist, &pk);
	if (!t || t->expires_ns < now)
		return XLVS_NO_REAL;
	real_id = t->real_id;
	r = bpf_map_lookup_elem(&reals, &real_id);
	if (!real_member(r, svc_id) || (r->flags & XLVS_REAL_F_EVICT))
		return XLVS_NO_REAL;
	if (t->expires_ns < now + svc->persist_ns)
		t->expires_ns = now + svc->persist_ns;
	return real_id;
}

static __always_inline void persist_store(__u32 svc_id, const struct xlvs_svc *svc, const __be32 *client,
					  __u8 family, __u32 real_id, __u64 now)
{
	struct xlvs_persist_key pk;
	struct xlvs_persist t = { .expires_ns = now + svc->persist_ns, .real_id = real_id };

	persist_key_of(&pk, svc_id, svc, client, family);
	bpf_map_update_elem(&persist, &pk, &t, BPF_ANY);
}

/* A forward packet of a persistent flow keeps its template alive. */
static __always_inline void persist_refresh(__u32 svc_id, const __be32 *client, __u8 family, __u64 now)
{
	struct xlvs_persist_key pk;
	struct xlvs_persist *t;
	struct xlvs_svc *svc = bpf_map_lookup_elem(&svcs, &svc_id);

	if (!svc || !(svc->flags & XLVS_SVC_F_PERSIST))
		return;
	persist_key_of(&pk, svc_id, svc, client, family);
	t = bpf_map_lookup_elem(&persist, &pk);
	if (t && t->expires_ns < now + svc->persist_ns)
		t->expires_ns = now + svc->persist_ns;
}

#endif /* XLVS_PERSIST_H */
