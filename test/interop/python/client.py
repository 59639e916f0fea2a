"""A tcpstate client in Python, generated from proto/ with Debian's protoc and
grpc_python_plugin: proof that clients in other languages work.

Usage: client.py GEN_DIR ADDRESS status
Prints the answer as JSON (proto3 JSON mapping) on stdout.
"""
import json
import sys

gen_dir, address, command = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, gen_dir)

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from tcpstate.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(address)
agent = agent_pb2_grpc.AgentServiceStub(channel)

if command == "status":
    reply = agent.GetStatus(agent_pb2.GetStatusRequest(), timeout=10)
    print(json_format.MessageToJson(reply))
else:
    print(json.dumps({"error": f"unknown command {command}"}))
    sys.exit(2)
