// SPDX-License-Identifier: GPL-2.0
/*
 * tcpstate: every TCP state transition of every connection, both sides, and
 * the whole TIME_WAIT lifecycle, as fixed-size records (tcpstate.h) in one
 * ring buffer.
 *
 * The spine is tp_btf/inet_sock_set_state (full sockets, IPv4 and IPv6).
 * A full socket ends with X -> CLOSE also when the kernel hands the
 * connection over to a timewait socket (end of tcp_time_wait); that case is
 * reported as the connection's logical step X -> TIME_WAIT (or X -> FIN_WAIT2,
 * the timewait socket's substate) and the timewait phase is then followed by
 * one of four strategies, picked by the loader (the losers are not loaded):
 *   1. fexit/inet_twsk_alloc + fentry/inet_twsk_put (+ fexit/tcp_timewait_state_process)
 *   2. the same as kprobes/kretprobes
 *   3. the timewait socket's own timer, through the timer tracepoints (tp_btf)
 *   4. sweep_timewait, an iter/tcp program the loader runs periodically
 * Per connection, a map keyed by socket cookie keeps endpoints, side,
 * process, and when the current state was entered.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tcpstate.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Set by the loader through .rodata before load. */
const volatile struct tcpstate_config settings = {};

/*
 * Never read: keeps struct tcpstate_record in the object's BTF, where the
 * layout test compares it with the TypeScript decoder (Tetragon's alignchecker idea).
 */
const volatile struct tcpstate_record record_layout = {};

/* What the kernel knows about one followed connection. */
struct conn {
	__u64 state_since_ns;   /* when the current (logical) state was entered; 0 = unknown */
	__u64 cgroup_id;
	__u64 timewait_gen;     /* sweep generation of the hand-over or of the last sweep that saw it */
	__u64 timewait_seen_ns; /* last time the timewait socket was known alive */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u32 netns;
	__u32 pid;
	__u16 local_port;
	__u16 remote_port;
	__u8 family;
	__u8 state;             /* logical state: TIME_WAIT / FIN_WAIT2 after the hand-over */
	__u8 side;
	__u8 side_flags;        /* TCPSTATE_FLAG_SIDE_FROM_ENDPOINT */
	__u8 reset;             /* a reset was sent or received: the close is an abort */
	__u8 timewait;          /* handed over to a timewait socket */
	__u8 hook_substate;     /* timewait hooks: substate given to inet_twsk_alloc, 0 = none */
	__u8 fin_listed;        /* timer strategy: listed in fin_waits */
	char comm[TCPSTATE_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

/* Listening sockets' process, inherited by their accepted children. */
struct listener_key {
	__u32 netns;
	__u16 port;
	__u16 pad;
};

struct listener_proc {
	__u32 pid;
	char comm[TCPSTATE_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct listener_key);
	__type(value, struct listener_proc);
} listeners SEC(".maps");

/*
 * Older kernels (seen on 6.1 and 6.12) report a listener's child LISTEN -> SYN_RECV
 * from inet_csk_clone_lock() before the child has its peer, its ports and its own
 * cookie: at that moment it still carries the listener's. The step is kept here,
 * keyed by the child's address, and reported under the child's own identity at
 * its next transition. Newer kernels (6.18) report it after, and skip this.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64); /* ktime of the LISTEN -> SYN_RECV step */
} pending_children SEC(".maps");

/* Configured server endpoints (filter and side); written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tcpstate_endpoint);
	__type(value, __u8);
} server_endpoints SEC(".maps");

/* Ports of the configured server endpoints: a listener bound to a wildcard address matches them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} server_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} filter_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} filter_netns SEC(".maps");

/* The records. Size set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* Records lost because the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/*
 * Written by the loader before each sweep. iter/tcp only walks the network
 * namespace the iterator was created in, so the loader sweeps each namespace
 * holding handed-over connections in turn and says which one here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcpstate_sweep);
} sweep_state SEC(".maps");

/* kprobe strategy: arguments saved at entry for the return probe, per thread. */
struct twsk_alloc_args {
	const struct sock *sk;
	int state;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct twsk_alloc_args);
} twsk_alloc_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} twsk_process_calls SEC(".maps");

/* Timer strategy: a timewait timer cancelled on this CPU, decided later (see handle_timer_cancel). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcpstate_tw_cancel);
} tw_cancels SEC(".maps");

/* ---------------------------------------------------------------- records */

static __always_inline void submit_record(struct tcpstate_record *r)
{
	/*
	 * No wake-up per record (it costs microseconds per event); wake the
	 * reader only once enough data waits. The reader also polls on a timer,
	 * which bounds the latency of a quiet ring.
	 */
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(r, waiting >= settings.wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void emit(const struct conn *c, __u64 cookie, __u8 old_state, __u8 new_state,
				 __u8 observed_by, __u8 flags, __u64 now, __u64 uncertainty_ns)
{
	struct tcpstate_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_drop();
		return;
	}
	r->header.kind = TCPSTATE_KIND_TRANSITION;
	r->header.version = TCPSTATE_RECORD_VERSION;
	r->header.size = sizeof(*r);
	r->header.pad = 0;
	r->header.ktime_ns = now;
	r->cookie = cookie;
	if (c->state_since_ns && now >= c->state_since_ns) {
		r->time_in_old_state_ns = now - c->state_since_ns;
		flags |= TCPSTATE_FLAG_TIME_IN_OLD_STATE;
	} else {
		r->time_in_old_state_ns = 0;
	}
	r->uncertainty_ns = uncertainty_ns;
	r->cgroup_id = c->cgroup_id;
	__builtin_memcpy(r->local_addr, c->local_addr, 16);
	__builtin_memcpy(r->remote_addr, c->remote_addr, 16);
	r->netns = c->netns;
	r->pid = c->pid;
	r->local_port = c->local_port;
	r->remote_port = c->remote_port;
	r->family = c->family;
	r->old_state = old_state;
	r->new_state = new_state;
	r->side = c->side;
	r->observed_by = observed_by;
	r->flags = flags | c->side_flags;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	__builtin_memcpy(r->comm, c->comm, TCPSTATE_COMM_LEN);
	submit_record(r);
}

/* ---------------------------------------------------------------- sockets */

static __always_inline void set_v4_mapped(__u8 *addr, __be32 v4)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(addr + 12, &v4, 4);
}

static __always_inline bool is_v4_mapped(const __u8 *addr)
{
	__u64 hi;
	__u32 mid;
	__builtin_memcpy(&hi, addr, 8);
	__builtin_memcpy(&mid, addr + 8, 4);
	return hi == 0 && mid == bpf_htonl(0x0000ffff);
}

static __always_inline bool is_zero_addr(const __u8 *addr)
{
	__u64 a, b;
	__builtin_memcpy(&a, addr, 8);
	__builtin_memcpy(&b, addr + 8, 8);
	return a == 0 && b == 0;
}

/* A 16-byte address field of the socket, copied as four plain loads. */
static __always_inline void copy_addr(__u8 *to, const __u32 *from)
{
	__u32 w[4] = { from[0], from[1], from[2], from[3] };
	__builtin_memcpy(to, w, 16);
}

/*
 * Addresses always as 16 bytes, IPv4 mapped (::ffff:a.b.c.d); an IPv6
 * socket carrying an IPv4 connection is reported as IPv4, so both ends of a
 * connection describe it the same way. skc is a BTF pointer (tp_btf, iter):
 * its fields are read with plain loads, CO-RE relocated.
 */
static __always_inline void read_addresses(const struct sock_common *skc, struct conn *c)
{
	__u16 family = skc->skc_family;
	if (family == AF_INET6) {
		copy_addr(c->local_addr, skc->skc_v6_rcv_saddr.in6_u.u6_addr32);
		copy_addr(c->remote_addr, skc->skc_v6_daddr.in6_u.u6_addr32);
		bool v4 = is_v4_mapped(c->remote_addr) ||
			  (is_zero_addr(c->remote_addr) && is_v4_mapped(c->local_addr));
		c->family = v4 ? 4 : 6;
	} else {
		set_v4_mapped(c->local_addr, skc->skc_rcv_saddr);
		set_v4_mapped(c->remote_addr, skc->skc_daddr);
		c->family = 4;
	}
	c->remote_port = bpf_ntohs(skc->skc_dport);
	c->netns = skc->skc_net.net->ns.inum;
}

/*
 * The local port of a full socket. skc_num reads 0 on X -> CLOSE (the port
 * is released just before the tracepoint) while inet_sport still holds it;
 * both are 0 on CLOSE -> SYN_SENT (not picked yet). inet_sport lies outside
 * struct sock, where the BTF pointer does not reach: it is read only when
 * skc_num says 0.
 */
static __always_inline __u16 read_local_port(const struct sock *sk)
{
	__u16 port = sk->__sk_common.skc_num;
	if (!port)
		port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	return port;
}

static __always_inline __u64 read_cgroup_id(const struct sock *sk)
{
	return sk->sk_cgrp_data.cgroup->kn->id;
}

/* ---------------------------------------------------------------- filters and side */

static __always_inline bool is_server_endpoint(const __u8 *addr, __u16 port, __u8 family)
{
	struct tcpstate_endpoint key = {};
	key.port = port;
	__builtin_memcpy(key.addr, addr, 16);
	if (bpf_map_lookup_elem(&server_endpoints, &key))
		return true;
	/* Configured 0.0.0.0:PORT matches any IPv4 address, [::]:PORT any address. */
	if (family == 4) {
		set_v4_mapped(key.addr, 0);
		if (bpf_map_lookup_elem(&server_endpoints, &key))
			return true;
	}
	__builtin_memset(key.addr, 0, 16);
	return bpf_map_lookup_elem(&server_endpoints, &key) != NULL;
}

/* Side from the configured server endpoints, as the seed does it. */
static __always_inline __u8 side_from_endpoints(const struct conn *c)
{
	/* A socket bound to a wildcard address (a listener on 0.0.0.0 or ::) serves any configured address. */
	bool local_any = is_zero_addr(c->local_addr) ||
			 (is_v4_mapped(c->local_addr) && *(const __u32 *)(c->local_addr + 12) == 0);
	if (c->local_port && is_server_endpoint(c->local_addr, c->local_port, c->family))
		return TCPSTATE_SIDE_SERVER;
	if (c->local_port && local_any && bpf_map_lookup_elem(&server_ports, &c->local_port))
		return TCPSTATE_SIDE_SERVER;
	if (c->remote_port && is_server_endpoint(c->remote_addr, c->remote_port, c->family))
		return TCPSTATE_SIDE_CLIENT;
	return TCPSTATE_SIDE_UNKNOWN;
}

/* Side from the transition itself: who opened the connection. */
static __always_inline __u8 side_from_history(int oldstate, int newstate)
{
	if (newstate == TCP_SYN_SENT || oldstate == TCP_SYN_SENT)
		return TCPSTATE_SIDE_CLIENT;
	if (newstate == TCP_LISTEN || oldstate == TCP_LISTEN || oldstate == TCP_SYN_RECV)
		return TCPSTATE_SIDE_SERVER;
	return TCPSTATE_SIDE_UNKNOWN;
}

/* The in-kernel filters; a connection already followed has passed them. */
static __always_inline bool passes_filters(const struct conn *c)
{
	if (settings.filter_netns && !bpf_map_lookup_elem(&filter_netns, &c->netns))
		return false;
	if (settings.filter_ports && !bpf_map_lookup_elem(&filter_ports, &c->local_port) &&
	    !bpf_map_lookup_elem(&filter_ports, &c->remote_port))
		return false;
	if (settings.filter_endpoints && side_from_endpoints(c) == TCPSTATE_SIDE_UNKNOWN)
		return false;
	return true;
}

static __always_inline void set_process_from_current(struct conn *c)
{
	c->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&c->comm, sizeof(c->comm));
}

/* ---------------------------------------------------------------- the spine */

static __always_inline bool closing_state(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING;
}

static __always_inline __u64 current_sweep_gen(void)
{
	__u32 zero = 0;
	struct tcpstate_sweep *sweep = bpf_map_lookup_elem(&sweep_state, &zero);
	return sweep ? sweep->gen : 0;
}

static __always_inline __u32 current_sweep_netns(void)
{
	__u32 zero = 0;
	struct tcpstate_sweep *sweep = bpf_map_lookup_elem(&sweep_state, &zero);
	return sweep ? sweep->netns : 0;
}

/*
 * The full socket's X -> CLOSE at the end of tcp_time_wait: the connection
 * lives on in a timewait socket. Without hooks, tell it from an abort by the
 * reset tracepoints and sk_err; the timewait substate is FIN_WAIT2 unless the
 * peer's FIN was received (SOCK_DONE, set by tcp_fin) or we are CLOSING.
 */
static __always_inline bool handed_over(const struct sock *sk, const struct conn *c, int oldstate, __u8 *substate)
{
	if (!closing_state(oldstate))
		return false;
	if (settings.timewait_hooks) {
		*substate = c->hook_substate;
		return c->hook_substate != 0;
	}
	if (c->reset || sk->sk_err)
		return false;
	unsigned long flags = sk->__sk_common.skc_flags;
	bool fin_received = flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE));
	*substate = (oldstate == TCP_CLOSING || fin_received) ? TCP_TIME_WAIT : TCP_FIN_WAIT2;
	return true;
}

/*
 * The hot path: about ten runs per connection (five per socket), at up to a
 * few hundred thousand per second, and a tp_btf program the kernel skips
 * (recursion_misses) while another run of it is active on the CPU. So it is
 * kept short: the socket is read directly through its BTF pointer (plain
 * loads, no bpf_probe_read_kernel call per field), endpoints are read once
 * when the connection is first seen (again only while the local port is not
 * picked yet), and a followed connection's entry is changed in place through
 * the pointer the lookup returned: the map is written (one new element) only
 * for a connection's first transition, and the element removed at its last.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	__u64 now = bpf_ktime_get_ns();
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV && !sk->__sk_common.skc_dport) {
		__u64 sk_key = (__u64)sk;
		bpf_map_update_elem(&pending_children, &sk_key, &now, BPF_ANY);
		return 0;
	}
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct conn fresh = {};
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	bool known = c != NULL;
	__u64 deferred_ns = 0;
	if (known) {
		/* Endpoints are read where they are valid: not on X -> CLOSE, not before the port is picked. */
		if (!c->local_port && newstate != TCP_CLOSE) {
			__u16 port = read_local_port(sk);
			if (port) {
				read_addresses(&sk->__sk_common, c);
				c->local_port = port;
			}
		}
	} else {
		if (oldstate == TCP_SYN_RECV) {
			/* A child whose LISTEN -> SYN_RECV came under the listener's identity (see pending_children). */
			__u64 sk_key = (__u64)sk;
			__u64 *pending = bpf_map_lookup_elem(&pending_children, &sk_key);
			if (pending) {
				deferred_ns = *pending;
				bpf_map_delete_elem(&pending_children, &sk_key);
			}
		}
		c = &fresh;
		read_addresses(&sk->__sk_common, c);
		c->local_port = read_local_port(sk);
		c->cgroup_id = read_cgroup_id(sk);
		if (!passes_filters(c))
			return 0;
	}

	if (c->side == TCPSTATE_SIDE_UNKNOWN) {
		c->side = deferred_ns ? TCPSTATE_SIDE_SERVER : side_from_history(oldstate, newstate);
		if (c->side == TCPSTATE_SIDE_UNKNOWN) {
			c->side = side_from_endpoints(c);
			if (c->side != TCPSTATE_SIDE_UNKNOWN)
				c->side_flags = TCPSTATE_FLAG_SIDE_FROM_ENDPOINT;
		}
	}

	/* Process context: connect() and listen() run in the owning process; children inherit the listener's. */
	if (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN) {
		set_process_from_current(c);
	} else if ((oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) || deferred_ns) {
		struct listener_key lk = { .netns = c->netns, .port = c->local_port };
		struct listener_proc *l = bpf_map_lookup_elem(&listeners, &lk);
		if (l) {
			c->pid = l->pid;
			__builtin_memcpy(c->comm, l->comm, TCPSTATE_COMM_LEN);
		}
	} else if (!c->pid && (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK)) {
		/* close()/shutdown() of a connection older than the agent. */
		set_process_from_current(c);
	}

	if (newstate == TCP_LISTEN) {
		struct listener_key lk = { .netns = c->netns, .port = c->local_port };
		struct listener_proc l = { .pid = c->pid };
		__builtin_memcpy(l.comm, c->comm, TCPSTATE_COMM_LEN);
		bpf_map_update_elem(&listeners, &lk, &l, BPF_ANY);
	}

	if (deferred_ns) {
		emit(c, cookie, TCP_LISTEN, TCP_SYN_RECV, TCPSTATE_OBS_TRACEPOINT, 0, deferred_ns, 0);
		c->state_since_ns = deferred_ns;
		c->state = TCP_SYN_RECV;
	}

	if (newstate == TCP_CLOSE) {
		__u8 substate = 0;
		if (handed_over(sk, c, oldstate, &substate)) {
			/* A hand-over in every strategy (the hooks only tell its substate). */
			emit(c, cookie, oldstate, substate, TCPSTATE_OBS_HANDOVER, 0, now, 0);
			if (substate != oldstate)
				c->state_since_ns = now;
			c->state = substate;
			c->timewait = 1;
			c->timewait_gen = current_sweep_gen();
			c->timewait_seen_ns = now;
			if (!known)
				bpf_map_update_elem(&conns, &cookie, c, BPF_ANY);
			return 0;
		}
		__u8 flags = closing_state(oldstate) || oldstate == TCP_ESTABLISHED || oldstate == TCP_CLOSE_WAIT ||
					 c->reset ? TCPSTATE_FLAG_ABORT : 0;
		emit(c, cookie, oldstate, newstate, TCPSTATE_OBS_TRACEPOINT, flags, now, 0);
		if (oldstate == TCP_LISTEN) {
			struct listener_key lk = { .netns = c->netns, .port = c->local_port };
			bpf_map_delete_elem(&listeners, &lk);
		}
		if (known)
			bpf_map_delete_elem(&conns, &cookie);
		return 0;
	}

	emit(c, cookie, oldstate, newstate, TCPSTATE_OBS_TRACEPOINT, 0, now, 0);
	/* The kernel also reports X -> X (close() after shutdown()); the state did not change. */
	if (oldstate != newstate || !c->state_since_ns)
		c->state_since_ns = now;
	c->state = newstate;
	if (!known)
		bpf_map_update_elem(&conns, &cookie, c, BPF_ANY);
	return 0;
}

/* A reset sent or received makes the coming X -> CLOSE an abort. */
static __always_inline void mark_reset(const struct sock *sk)
{
	if (!sk)
		return;
	__u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (!cookie)
		return;
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (c)
		c->reset = 1;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(handle_receive_reset, struct sock *sk)
{
	mark_reset(sk);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(handle_send_reset, const struct sock *sk)
{
	mark_reset(sk);
	return 0;
}

/* ---------------------------------------------------------------- TIME_WAIT: hooks (strategies 1 and 2) */

/* inet_twsk_alloc(sk, dr, state) succeeded: the coming X -> CLOSE is a hand-over into `state`. */
static __always_inline void timewait_allocated(const struct sock *sk, int state)
{
	__u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (c)
		c->hook_substate = state;
}

/* inet_twsk_put drops a reference; the call that drops the last one ends the connection. */
static __always_inline void timewait_put(const struct inet_timewait_sock *tw)
{
	if (BPF_CORE_READ(tw, __tw_common.skc_refcnt.refs.counter) != 1)
		return;
	__u64 cookie = BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c || !c->timewait)
		return;
	emit(c, cookie, c->state, TCP_CLOSE, TCPSTATE_OBS_TIMEWAIT_HOOK, 0, bpf_ktime_get_ns(), 0);
	bpf_map_delete_elem(&conns, &cookie);
}

/* After tcp_timewait_state_process: the peer's FIN turns substate FIN_WAIT2 into TIME_WAIT. */
static __always_inline void timewait_processed(const struct inet_timewait_sock *tw)
{
	__u64 cookie = BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c || !c->timewait || c->state != TCP_FIN_WAIT2)
		return;
	if (BPF_CORE_READ(tw, tw_substate) != TCP_TIME_WAIT)
		return;
	__u64 now = bpf_ktime_get_ns();
	emit(c, cookie, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCPSTATE_OBS_TIMEWAIT_HOOK, 0, now, 0);
	c->state = TCP_TIME_WAIT;
	c->state_since_ns = now;
}

SEC("fexit/inet_twsk_alloc")
int BPF_PROG(fexit_inet_twsk_alloc, const struct sock *sk, struct inet_timewait_death_row *dr, const int state,
	     struct inet_timewait_sock *tw)
{
	if (tw)
		timewait_allocated(sk, state);
	return 0;
}

SEC("fentry/inet_twsk_put")
int BPF_PROG(fentry_inet_twsk_put, struct inet_timewait_sock *tw)
{
	timewait_put(tw);
	return 0;
}

SEC("fexit/tcp_timewait_state_process")
int BPF_PROG(fexit_tcp_timewait_state_process, struct inet_timewait_sock *tw)
{
	timewait_processed(tw);
	return 0;
}

SEC("kprobe/inet_twsk_alloc")
int BPF_KPROBE(kprobe_inet_twsk_alloc, const struct sock *sk, struct inet_timewait_death_row *dr, int state)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct twsk_alloc_args args = { .sk = sk, .state = state };
	bpf_map_update_elem(&twsk_alloc_calls, &tid, &args, BPF_ANY);
	return 0;
}

SEC("kretprobe/inet_twsk_alloc")
int BPF_KRETPROBE(kretprobe_inet_twsk_alloc, struct inet_timewait_sock *tw)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct twsk_alloc_args *args = bpf_map_lookup_elem(&twsk_alloc_calls, &tid);
	if (!args)
		return 0;
	if (tw)
		timewait_allocated(args->sk, args->state);
	bpf_map_delete_elem(&twsk_alloc_calls, &tid);
	return 0;
}

SEC("kprobe/inet_twsk_put")
int BPF_KPROBE(kprobe_inet_twsk_put, struct inet_timewait_sock *tw)
{
	timewait_put(tw);
	return 0;
}

SEC("kprobe/tcp_timewait_state_process")
int BPF_KPROBE(kprobe_tcp_timewait_state_process, struct inet_timewait_sock *tw)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u64 ptr = (__u64)tw;
	bpf_map_update_elem(&twsk_process_calls, &tid, &ptr, BPF_ANY);
	return 0;
}

SEC("kretprobe/tcp_timewait_state_process")
int BPF_KRETPROBE(kretprobe_tcp_timewait_state_process)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u64 *ptr = bpf_map_lookup_elem(&twsk_process_calls, &tid);
	if (!ptr)
		return 0;
	timewait_processed((const struct inet_timewait_sock *)*ptr);
	bpf_map_delete_elem(&twsk_process_calls, &tid);
	return 0;
}

/* ---------------------------------------------------------------- TIME_WAIT: the timer (strategy 3) */

/*
 * Where fentry/fexit and kprobes are refused, the timewait socket's own timer
 * still says nearly everything, through the timer tracepoints (tp_btf, like
 * the spine): tcp_time_wait arms it (timer_start, before the full socket's
 * X -> CLOSE: the hand-over and its substate), it fires at the end of
 * TIME_WAIT (timer_expire_entry, then tw_timer_handler kills the socket), or
 * inet_twsk_deschedule_put cancels it to end TIME_WAIT early (timer_cancel:
 * a reused 4-tuple, a reset). These tracepoints fire for every timer_list of
 * the kernel, so the first thing each program does is compare the timer's
 * function with tw_timer_handler, whose address the loader took from kallsyms.
 *
 * The peer's FIN in substate FIN_WAIT2 re-arms the timer to TCP_TIMEWAIT_LEN
 * (60 s) from then. Into another timer-wheel bucket, that is a cancel and a
 * start (seen); within the same bucket the kernel only rewrites
 * timer->expires and no tracepoint fires. So every timewait socket handed
 * over in FIN_WAIT2 is also listed in fin_waits, which the loader polls
 * (poll_fin_waits, every maxLatencyMs): its substate and expiry are read where
 * the socket lies, and the FIN's time is expires - 60 s.
 */

/*
 * Timewait sockets in substate FIN_WAIT2 (timer strategy): cookie -> the
 * socket's address. Most get their FIN within milliseconds, so few are listed
 * at once; walking a hash map visits every bucket, so the map is kept small
 * (a socket that does not fit has its FIN step reported at its end) and the
 * poll skips the walk while fin_wait_count says the map is empty.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u64);
} fin_waits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} fin_wait_count SEC(".maps");

static __always_inline void count_fin_waits(__s64 delta)
{
	__u32 zero = 0;
	__s64 *n = bpf_map_lookup_elem(&fin_wait_count, &zero);
	if (n)
		__sync_fetch_and_add(n, delta);
}

/* Takes a socket off fin_waits; true for the one caller that did. */
static __always_inline bool unlist_fin_wait(__u64 cookie)
{
	if (bpf_map_delete_elem(&fin_waits, &cookie) != 0)
		return false;
	count_fin_waits(-1);
	return true;
}

/* The kernel's jiffy in ns, measured once from two (ktime, jiffies) readings (timer strategy). */
struct jiffy_clock {
	__u64 ns0;
	__u64 jiffies0;
	__u64 jiffy_ns; /* 0 until measured */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct jiffy_clock);
} jiffy_clock SEC(".maps");

static __always_inline bool is_timewait_timer(const struct timer_list *timer)
{
	return settings.tw_timer_handler && (__u64)timer->function == settings.tw_timer_handler;
}

/* The timewait socket around its timer (container_of), read through probe reads, and its cookie. */
static __always_inline const struct inet_timewait_sock *timer_owner(const struct timer_list *timer, __u64 *cookie)
{
	const struct inet_timewait_sock *tw = (const void *)timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
	*cookie = BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
	return tw;
}

/*
 * Jiffies to ns: the tick measured between the first reading and one at
 * least 20 jiffies later, snapped to the HZ values Linux builds with (100,
 * 250, 300, 1000); 0 while not known yet.
 */
static __always_inline __u64 kernel_jiffy_ns(__u64 now, __u64 jiffies)
{
	__u32 zero = 0;
	struct jiffy_clock *k = bpf_map_lookup_elem(&jiffy_clock, &zero);
	if (!k)
		return 0;
	if (k->jiffy_ns)
		return k->jiffy_ns;
	if (!k->ns0) {
		k->ns0 = now;
		k->jiffies0 = jiffies;
		return 0;
	}
	if (jiffies < k->jiffies0 + 20 || now <= k->ns0)
		return 0;
	__u64 ns = (now - k->ns0) / (jiffies - k->jiffies0);
	k->jiffy_ns = ns > 6666666 ? 10000000 : ns > 3666666 ? 4000000 : ns > 2166666 ? 3333333 : 1000000;
	return k->jiffy_ns;
}

/*
 * The peer's FIN turned substate FIN_WAIT2 into TIME_WAIT, found after the
 * fact (poll or end): its time is the re-armed expiry minus 60 s, within two
 * jiffies; without a measured jiffy, anywhere since the hand-over.
 */
static __always_inline void report_found_fin(struct conn *c, __u64 cookie, __u64 expires, __u64 now, __u64 jiffies)
{
	__u64 at = now;
	__u64 uncertainty = now > c->state_since_ns ? now - c->state_since_ns : 0;
	__u64 jiffy_ns = kernel_jiffy_ns(now, jiffies);
	if (jiffy_ns) {
		__u64 fin_jiffies = expires - 60 * (1000000000ULL / jiffy_ns);
		if (jiffies >= fin_jiffies) {
			__u64 back = (jiffies - fin_jiffies) * jiffy_ns;
			if (back + jiffy_ns < uncertainty) {
				at = now - back + jiffy_ns;
				uncertainty = 2 * jiffy_ns;
			}
		}
	}
	emit(c, cookie, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCPSTATE_OBS_TIMEWAIT_HOOK, 0, at, uncertainty);
	c->state = TCP_TIME_WAIT;
	c->state_since_ns = at;
}

/*
 * Who reports a FIN step: the one who takes the socket off fin_waits (a hash
 * map delete succeeds once), so the poll, a re-arm and the end never report
 * it twice; a socket that did not fit in fin_waits is reported by its end.
 */
static __always_inline bool claim_fin(const struct conn *c, __u64 cookie)
{
	if (!c->fin_listed)
		return true;
	return unlist_fin_wait(cookie);
}

/* The timewait socket ended (its timer fired or was cancelled for good): the connection's last step. */
static __always_inline void timewait_timer_ended(__u64 cookie, __u8 substate, __u64 expires, __u64 now,
						 __u64 jiffies)
{
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c || !c->timewait)
		return;
	__u8 old = c->state;
	if (old == TCP_FIN_WAIT2 && substate == TCP_TIME_WAIT) {
		if (claim_fin(c, cookie))
			report_found_fin(c, cookie, expires, now, jiffies);
		old = TCP_TIME_WAIT;
	} else if (c->fin_listed) {
		unlist_fin_wait(cookie);
	}
	emit(c, cookie, old, TCP_CLOSE, TCPSTATE_OBS_TIMEWAIT_HOOK, 0, now, 0);
	bpf_map_delete_elem(&conns, &cookie);
}

/*
 * Decides this CPU's pending cancel: a re-arm if the timer now started is the
 * same timer of the same timewait socket (a freed socket's memory, timer
 * included, is soon reused by the next one: the cookie tells them apart), an
 * end otherwise. Runs only where interrupts are off (timer_start and
 * timer_cancel hold the timer base lock; the loader's flush is an IPI), so it
 * never interleaves with itself on a CPU.
 */
static __always_inline struct tcpstate_tw_cancel *settle_cancel(const struct timer_list *started, __u64 started_cookie)
{
	__u32 zero = 0;
	struct tcpstate_tw_cancel *p = bpf_map_lookup_elem(&tw_cancels, &zero);
	if (!p || !p->timer)
		return p;
	if (p->timer != (__u64)started || p->cookie != started_cookie)
		timewait_timer_ended(p->cookie, p->substate, p->expires, p->ktime_ns, p->jiffies);
	p->timer = 0;
	return p;
}

SEC("tp_btf/timer_start")
int BPF_PROG(handle_timer_start, struct timer_list *timer)
{
	if (!is_timewait_timer(timer))
		return 0;
	__u64 cookie;
	const struct inet_timewait_sock *tw = timer_owner(timer, &cookie);
	settle_cancel(timer, cookie);
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c)
		return 0;
	__u8 substate = BPF_CORE_READ(tw, tw_substate);
	if (!c->timewait) {
		/* Armed inside tcp_time_wait: the coming X -> CLOSE is a hand-over into `substate`. */
		c->hook_substate = substate;
		if (substate == TCP_FIN_WAIT2) {
			__u64 address = (__u64)tw;
			c->fin_listed = bpf_map_update_elem(&fin_waits, &cookie, &address, BPF_NOEXIST) == 0;
			if (c->fin_listed)
				count_fin_waits(1);
		}
		return 0;
	}
	/* Re-armed into another wheel bucket: the peer's FIN, seen as it happens. */
	if (c->state == TCP_FIN_WAIT2 && substate == TCP_TIME_WAIT && claim_fin(c, cookie)) {
		__u64 now = bpf_ktime_get_ns();
		emit(c, cookie, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCPSTATE_OBS_TIMEWAIT_HOOK, 0, now, 0);
		c->state = TCP_TIME_WAIT;
		c->state_since_ns = now;
	}
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(handle_timer_expire, struct timer_list *timer)
{
	if (!is_timewait_timer(timer))
		return 0;
	__u64 cookie;
	const struct inet_timewait_sock *tw = timer_owner(timer, &cookie);
	timewait_timer_ended(cookie, BPF_CORE_READ(tw, tw_substate), timer->expires, bpf_ktime_get_ns(),
			     bpf_jiffies64());
	return 0;
}

/*
 * A cancelled timewait timer is either the end (inet_twsk_deschedule_put) or
 * the first half of a re-arm into another bucket (mod_timer: cancel, then
 * start, with interrupts off in between). What the socket needs for its last
 * record is read now, and the decision waits for this CPU's next timewait
 * timer event (a start of the same timer = re-arm) or the loader's flush.
 */
SEC("tp_btf/timer_cancel")
int BPF_PROG(handle_timer_cancel, struct timer_list *timer)
{
	if (!is_timewait_timer(timer))
		return 0;
	struct tcpstate_tw_cancel *p = settle_cancel(NULL, 0);
	if (!p)
		return 0;
	__u64 cookie;
	const struct inet_timewait_sock *tw = timer_owner(timer, &cookie);
	if (!bpf_map_lookup_elem(&conns, &cookie))
		return 0;
	p->cookie = cookie;
	p->ktime_ns = bpf_ktime_get_ns();
	p->jiffies = bpf_jiffies64();
	p->expires = timer->expires;
	p->substate = BPF_CORE_READ(tw, tw_substate);
	p->timer = (__u64)timer;
	return 0;
}

/*
 * Run by the loader (BPF_PROG_TEST_RUN on the CPU, an IPI) on each CPU whose
 * tw_cancels slot is set: a cancel no re-arm followed by now was an end.
 * Never attached.
 */
SEC("raw_tp")
int flush_timer_cancels(void *ctx)
{
	settle_cancel(NULL, 0);
	return 0;
}

struct fin_poll {
	__u64 now;
	__u64 jiffies;
};

static long poll_fin_wait(struct bpf_map *map, __u64 *cookie, __u64 *address, struct fin_poll *poll)
{
	const struct inet_timewait_sock *tw = (const void *)*address;
	__u64 cookie_now = 0;
	bpf_probe_read_kernel(&cookie_now, sizeof(cookie_now), &tw->__tw_common.skc_cookie.counter);
	struct conn *c = bpf_map_lookup_elem(&conns, cookie);
	if (cookie_now != *cookie || !c) {
		/* Gone without its end passing here (or no longer followed): forget it. */
		unlist_fin_wait(*cookie);
		return 0;
	}
	__u8 substate = 0;
	bpf_probe_read_kernel(&substate, sizeof(substate), &tw->tw_substate);
	if (substate != TCP_TIME_WAIT || c->state != TCP_FIN_WAIT2)
		return 0;
	__u64 expires = 0;
	bpf_probe_read_kernel(&expires, sizeof(expires), &tw->tw_timer.expires);
	if (claim_fin(c, *cookie))
		report_found_fin(c, *cookie, expires, poll->now, poll->jiffies);
	return 0;
}

/*
 * Run by the loader every maxLatencyMs (BPF_PROG_TEST_RUN), never attached:
 * each timewait socket still in FIN_WAIT2, read where it lies (the slab of
 * timewait sockets is SLAB_TYPESAFE_BY_RCU and the reads are probe reads; the
 * cookie confirms it is still the same socket).
 */
SEC("raw_tp")
int poll_fin_waits(void *ctx)
{
	struct fin_poll poll = { .now = bpf_ktime_get_ns(), .jiffies = bpf_jiffies64() };
	kernel_jiffy_ns(poll.now, poll.jiffies);
	__u32 zero = 0;
	__s64 *listed = bpf_map_lookup_elem(&fin_wait_count, &zero);
	if (listed && *listed > 0)
		bpf_for_each_map_elem(&fin_waits, poll_fin_wait, &poll, 0);
	return 0;
}

/* ---------------------------------------------------------------- TIME_WAIT: the sweep (strategy 4) */

struct sweep_ctx {
	__u64 gen;
	__u64 now;
	__u32 netns;
};

/* After a sweep: a handed-over connection whose timewait socket was not seen has ended. */
static long expire_timewait(struct bpf_map *map, __u64 *cookie, struct conn *c, struct sweep_ctx *ctx)
{
	if (!c->timewait || c->netns != ctx->netns || c->timewait_gen >= ctx->gen)
		return 0;
	__u64 uncertainty = ctx->now > c->timewait_seen_ns ? ctx->now - c->timewait_seen_ns : 0;
	emit(c, *cookie, c->state, TCP_CLOSE, TCPSTATE_OBS_SWEEP, 0, ctx->now, uncertainty);
	bpf_map_delete_elem(map, cookie);
	return 0;
}

/*
 * Run by the loader every sweep interval, once per network namespace that
 * holds handed-over connections (it reads the iterator to the end after
 * bumping sweep_state.gen). Marks each followed timewait socket as seen,
 * reports its FIN_WAIT2 -> TIME_WAIT step, and at the end reports the ones
 * that are gone. Writes nothing to the iterator: records go to the ring.
 */
SEC("iter/tcp")
int sweep_timewait(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct sweep_ctx sc = { .gen = current_sweep_gen(), .now = bpf_ktime_get_ns(), .netns = current_sweep_netns() };

	if (!skc) {
		bpf_for_each_map_elem(&conns, expire_timewait, &sc, 0);
		return 0;
	}
	if (skc->skc_state != TCP_TIME_WAIT)
		return 0;
	struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);
	if (!tw)
		return 0;
	__u64 cookie = tw->tw_sk.__tw_common.skc_cookie.counter;
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c || !c->timewait)
		return 0;
	if (c->state == TCP_FIN_WAIT2 && tw->tw_sk.tw_substate == TCP_TIME_WAIT) {
		__u64 uncertainty = sc.now > c->timewait_seen_ns ? sc.now - c->timewait_seen_ns : 0;
		emit(c, cookie, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCPSTATE_OBS_SWEEP, 0, sc.now, uncertainty);
		c->state = TCP_TIME_WAIT;
		c->state_since_ns = sc.now;
	}
	c->timewait_gen = sc.gen;
	c->timewait_seen_ns = sc.now;
	return 0;
}

/* ---------------------------------------------------------------- snapshot */

/*
 * Every TCP socket now (listeners, connections, timewait sockets), one
 * record each, written to the iterator for the loader to read. Request
 * sockets (SYN received, not yet accepted) are left out.
 */
SEC("iter/tcp")
int snapshot_sockets(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	int state = skc->skc_state;
	if (state == TCP_NEW_SYN_RECV)
		return 0;

	__u64 now = bpf_ktime_get_ns();
	__u64 cookie = bpf_get_socket_cookie(skc);
	struct conn fresh = {};
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c) {
		c = &fresh;
		read_addresses(skc, c);
		c->local_port = skc->skc_num;
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
		if (tp)
			c->cgroup_id = read_cgroup_id((const struct sock *)tp);
		if (!passes_filters(c))
			return 0;
		c->side = state == TCP_LISTEN ? TCPSTATE_SIDE_SERVER : side_from_endpoints(c);
	}
	if (state == TCP_TIME_WAIT) {
		struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (tw)
			state = tw->tw_sk.tw_substate;
	}

	struct tcpstate_record r = {};
	r.header.kind = TCPSTATE_KIND_SOCKET;
	r.header.version = TCPSTATE_RECORD_VERSION;
	r.header.size = sizeof(r);
	r.header.ktime_ns = now;
	r.cookie = cookie;
	if (c->state_since_ns && c->state == state && now >= c->state_since_ns) {
		r.time_in_old_state_ns = now - c->state_since_ns;
		r.flags = TCPSTATE_FLAG_TIME_IN_OLD_STATE;
	}
	r.cgroup_id = c->cgroup_id;
	__builtin_memcpy(r.local_addr, c->local_addr, 16);
	__builtin_memcpy(r.remote_addr, c->remote_addr, 16);
	r.netns = c->netns;
	r.pid = c->pid;
	r.local_port = c->local_port;
	r.remote_port = c->remote_port;
	r.family = c->family;
	r.new_state = state;
	r.side = c->side;
	r.observed_by = TCPSTATE_OBS_SNAPSHOT;
	r.flags |= c->side_flags;
	__builtin_memcpy(r.comm, c->comm, TCPSTATE_COMM_LEN);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
