/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one record shared by the BPF object (tcpstate.bpf.c), the N-API addon
 * and the TypeScript decoder (libs/kernel/src/record.ts). Fixed-width types
 * only, explicit padding, no bitfields: the layout is checked against the
 * compiled object's BTF by libs/kernel/src/record-layout.test.ts.
 */
#ifndef TCPSTATE_H
#define TCPSTATE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TCPSTATE_RECORD_VERSION 1
#define TCPSTATE_COMM_LEN 16

/* What a record is (the common header's kind). */
enum tcpstate_record_kind {
	/* One state transition of a connection. */
	TCPSTATE_KIND_TRANSITION = 1,
	/* One socket as it is now (iter/tcp snapshot): new_state is its state. */
	TCPSTATE_KIND_SOCKET = 2,
};

/* How a transition was observed (= proto Observation values). */
enum tcpstate_observation {
	TCPSTATE_OBS_TRACEPOINT = 1,    /* inet_sock_set_state, as the kernel gave it */
	TCPSTATE_OBS_HANDOVER = 2,      /* full socket handed over to a timewait socket (tcp_time_wait) */
	TCPSTATE_OBS_TIMEWAIT_HOOK = 3, /* hook on the timewait socket (fexit/kprobe/timer tracepoints) */
	TCPSTATE_OBS_SWEEP = 4,         /* periodic iter/tcp sweep: time known within uncertainty_ns */
	TCPSTATE_OBS_SNAPSHOT = 5,      /* listing of sockets now */
};

/* Which end of the connection this host is (= proto Side values). */
enum tcpstate_side {
	TCPSTATE_SIDE_UNKNOWN = 0,
	TCPSTATE_SIDE_CLIENT = 1,
	TCPSTATE_SIDE_SERVER = 2,
};

/* Record flags. */
enum tcpstate_record_flags {
	/* time_in_old_state_ns is known (the connection was followed since it entered the old state). */
	TCPSTATE_FLAG_TIME_IN_OLD_STATE = 1 << 0,
	/* The full socket was released by an abort (reset or socket error), not handed over. */
	TCPSTATE_FLAG_ABORT = 1 << 1,
	/* Side was decided from a configured server endpoint, not from the connection's history. */
	TCPSTATE_FLAG_SIDE_FROM_ENDPOINT = 1 << 2,
};

/* Common header of every record, as Tetragon's msg_common: kind, size, kernel time. */
struct tcpstate_header {
	__u8 kind;        /* enum tcpstate_record_kind */
	__u8 version;     /* TCPSTATE_RECORD_VERSION */
	__u16 size;       /* sizeof the whole record */
	__u32 pad;
	__u64 ktime_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
};

/*
 * One transition (or one socket of a snapshot). Addresses are 16 bytes in
 * network order, IPv4 mapped as ::ffff:a.b.c.d (family says which). Ports in
 * host order.
 */
struct tcpstate_record {
	struct tcpstate_header header;
	__u64 cookie;               /* socket cookie: the connection's identity for the boot */
	__u64 time_in_old_state_ns; /* valid with TCPSTATE_FLAG_TIME_IN_OLD_STATE; snapshot: time in state so far */
	__u64 uncertainty_ns;       /* SWEEP: the event happened within this long before ktime_ns */
	__u64 cgroup_id;            /* the socket's cgroup (v2) */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u32 netns;                /* network namespace inode number */
	__u32 pid;                  /* process that opened the connection (listener's for accepted ones) */
	__u16 local_port;
	__u16 remote_port;
	__u8 family;                /* 4 or 6 */
	__u8 old_state;             /* kernel TCP state numbering; 0 in snapshots */
	__u8 new_state;
	__u8 side;                  /* enum tcpstate_side */
	__u8 observed_by;           /* enum tcpstate_observation */
	__u8 flags;                 /* enum tcpstate_record_flags */
	__u8 pad[6];
	char comm[TCPSTATE_COMM_LEN];
};

/*
 * Tunables written into the object's .rodata by the loader before load
 * (const volatile, so the verifier prunes disabled paths).
 */
struct tcpstate_config {
	__u32 filter_endpoints;  /* 1: only connections touching a configured server endpoint */
	__u32 filter_ports;      /* 1: only connections with a configured port at either end */
	__u32 filter_netns;      /* 1: only sockets in a configured network namespace */
	__u32 timewait_hooks;    /* 1: hooks (fexit, kprobe or timer tracepoints) follow TIME_WAIT; 0: the sweep does */
	__u64 wakeup_bytes;      /* wake user space only when this much data waits in the ring */
	__u64 tw_timer_handler;  /* timer strategy: address of tw_timer_handler (kallsyms), the timewait timer's function */
};

/* Timer strategy: a timewait timer cancelled on this CPU, not (yet) known to be re-armed. */
struct tcpstate_tw_cancel {
	__u64 timer;     /* address of the timer; 0 = none pending */
	__u64 cookie;
	__u64 ktime_ns;  /* when it was cancelled */
	__u64 jiffies;   /* jiffies then */
	__u64 expires;   /* the timer's expiry (jiffies) then */
	__u8 substate;   /* the timewait socket's substate then */
	__u8 pad[7];
};

/* Which sweep runs now (written by the loader before each iter/tcp read). */
struct tcpstate_sweep {
	__u64 gen;    /* incremented per sweep */
	__u32 netns;  /* the namespace the iterator walks: only its connections can expire */
	__u32 pad;
};

/* Key of the server-endpoint map: IPv4 as ::ffff:a.b.c.d, wildcard as all zero (any family). */
struct tcpstate_endpoint {
	__u8 addr[16];
	__u16 port;
	__u16 pad;
};

#endif /* TCPSTATE_H */
