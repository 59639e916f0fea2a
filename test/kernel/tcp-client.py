#!/usr/bin/env python3
"""A tiny HTTP client for kernel tests: what curl cannot do.

tcp-client.py HOST PORT [--local-port N] [--reset] [--hold]
  --local-port N  bind N first with SO_REUSEADDR (reuses a TIME_WAIT 4-tuple
                  when net.ipv4.tcp_tw_reuse allows it)
  --reset         close with SO_LINGER {1, 0}: an RST instead of a FIN
  --hold          after the response, print "ready" and keep the connection
                  open until stdin closes
"""
import socket
import struct
import sys

args = sys.argv[1:]
host, port = args[0], int(args[1])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
if "--local-port" in args:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", int(args[args.index("--local-port") + 1])))
s.connect((host, port))
s.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
data = b""
while not data.endswith(b"ok\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
if "--hold" in args:
    print("ready", flush=True)
    sys.stdin.read()
if "--reset" in args:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
